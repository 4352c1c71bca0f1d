// Package static embeds the dashboard's CSS and JavaScript, the vendored
// front-end libraries (see vendor.sh) and the tracker served at /op1.js.
//
// Every file is addressed by a URL that carries a hash of its content
// ("app.css" is served as "/static/app.1a2b3c4d5e.css"), so browsers may
// cache it for a year and a new build is fetched at once.
package static

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed vendor app.css app.js op1.js favicon.svg world.json countries.json
var FS embed.FS

// hashes maps a file's name to the short hash of its content, and a hashed
// name back to the file.
var hashes, byHashed = func() (map[string]string, map[string]string) {
	h, b := map[string]string{}, map[string]string{}
	_ = fs.WalkDir(FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := FS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		h[p] = hex.EncodeToString(sum[:5])
		b[hashedName(p, h[p])] = p
		return nil
	})
	return h, b
}()

// hashedName inserts the hash before the first extension: vendor/htmx.min.js
// becomes vendor/htmx.<hash>.min.js.
func hashedName(p, hash string) string {
	dir, file := path.Split(p)
	base, ext, ok := strings.Cut(file, ".")
	if !ok {
		return dir + file + "." + hash
	}
	return dir + base + "." + hash + "." + ext
}

// URL is the cache-busting URL of an embedded file, e.g. URL("app.css").
// It panics on a name that is not embedded: a typo must fail every test.
func URL(name string) string {
	h, ok := hashes[name]
	if !ok {
		panic("static: no embedded file " + name)
	}
	return "/static/" + hashedName(name, h)
}

// Handler serves /static/*: hashed names are immutable for a year, plain
// names (for tools that cannot know the hash) revalidate.
func Handler() http.Handler {
	files := http.FileServerFS(FS)
	return http.StripPrefix("/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := strings.TrimPrefix(r.URL.Path, "/")
		if orig, ok := byHashed[p]; ok {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
			r2 := r.Clone(r.Context())
			r2.URL.Path = "/" + orig
			files.ServeHTTP(w, r2)
			return
		}
		if _, ok := hashes[p]; !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=0, must-revalidate")
		files.ServeHTTP(w, r)
	}))
}

// Tracker serves /op1.js, OpenPanel's browser tracker (see vendor.sh), to
// the sites that embed the snippet: any origin, cached for an hour (its URL
// has no hash: snippets pasted into sites must keep working).
func Tracker() http.Handler {
	data, err := FS.ReadFile("op1.js")
	if err != nil {
		panic("static: op1.js is not embedded")
	}
	etag := `"` + hashes["op1.js"] + `"`
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/javascript; charset=utf-8")
		h.Set("Cache-Control", "public, max-age=3600")
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Cross-Origin-Resource-Policy", "cross-origin")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("ETag", etag)
		http.ServeContent(w, r, "op1.js", time.Time{}, bytes.NewReader(data))
	})
}
