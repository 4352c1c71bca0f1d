package tests

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The published SDKs the compatibility tests run, pinned to the newest
// releases of the lines the protocol names (docs/protocol.md).
const (
	SDKPackage = "@openpanel/sdk@1.3.1"
	WebPackage = "@openpanel/web@1.4.1"
)

// inCI reports whether we run in CI, where a missing tool is a failure and
// not a reason to skip.
func inCI() bool { return os.Getenv("CI") == "true" }

// RequireTool returns the path of a program the tests need. Without it the
// test is skipped on a developer's machine and fails in CI.
func RequireTool(t testing.TB, name string, candidates ...string) string {
	t.Helper()
	for _, c := range append(candidates, name) {
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	msg := fmt.Sprintf("%s is not installed (looked for %s): this test needs it", name, strings.Join(append(candidates, name), ", "))
	if inCI() {
		t.Fatal(msg)
	}
	t.Skip(msg + "; it fails instead of skipping when CI=true")
	return ""
}

// NPMInstall installs pinned npm packages ("name@version") once per machine
// into a cache directory named after the package list, and returns that
// directory: its node_modules holds the packages. A lock file serializes
// the test binaries that need the same list at once, and a marker written
// last makes a half-finished install (a killed run) start over.
// TALLY_TEST_NPM_DIR replaces the cache directory (default
// $XDG_CACHE_HOME/tally-test or its platform equivalent).
func NPMInstall(t testing.TB, pkgs ...string) string {
	t.Helper()
	pkgs = slices.Sorted(slices.Values(pkgs))
	for _, p := range pkgs {
		if i := strings.LastIndexByte(p, '@'); i <= 0 || i == len(p)-1 || strings.ContainsAny(p[i+1:], "^~*<>= ") {
			t.Fatalf("npm package %q must be pinned as name@exact-version", p)
		}
	}
	sum := sha256.Sum256([]byte(strings.Join(pkgs, "\n")))
	base := os.Getenv("TALLY_TEST_NPM_DIR")
	if base == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		base = filepath.Join(cache, "tally-test")
	}
	dir := filepath.Join(base, "npm-"+hex.EncodeToString(sum[:8]))
	marker := filepath.Join(dir, ".tally-installed")
	want := strings.Join(pkgs, "\n") + "\n"
	if b, err := os.ReadFile(marker); err == nil && string(b) == want {
		return dir
	}

	npm := RequireTool(t, "npm") // only to install: a finished install serves without it
	if err := os.MkdirAll(base, 0o755); err != nil {
		t.Fatal(err)
	}
	lock, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := lockFile(lock); err != nil {
		t.Fatalf("lock %s: %v", lock.Name(), err)
	}
	defer func() { _ = unlockFile(lock) }()
	// Another binary may have installed while we waited for the lock.
	if b, err := os.ReadFile(marker); err == nil && string(b) == want {
		return dir
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	args := append([]string{"install", "--no-audit", "--no-fund", "--no-update-notifier", "--loglevel=error", "--prefix", dir}, pkgs...)
	cmd := exec.CommandContext(ctx, npm, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "npm_config_update_notifier=false")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("npm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	// npm resolved exactly what we pinned: check before trusting the cache.
	for _, p := range pkgs {
		i := strings.LastIndexByte(p, '@')
		name, version := p[:i], p[i+1:]
		var meta struct{ Version string }
		b, err := os.ReadFile(filepath.Join(dir, "node_modules", filepath.FromSlash(name), "package.json"))
		if err == nil {
			err = json.Unmarshal(b, &meta)
		}
		if err != nil || meta.Version != version {
			t.Fatalf("after npm install, %s is %q (%v), want %s", name, meta.Version, err, version)
		}
	}
	if err := os.WriteFile(marker, []byte(want), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("npm installed %s into %s in %s", strings.Join(pkgs, " "), dir, time.Since(start).Round(time.Millisecond))
	return dir
}

// NodeModule returns the path of a file inside an installed package.
func NodeModule(dir, pkg, file string) string {
	return filepath.Join(dir, "node_modules", filepath.FromSlash(pkg), filepath.FromSlash(file))
}
