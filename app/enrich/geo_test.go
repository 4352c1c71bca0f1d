package enrich

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// geoTestDir returns a directory holding the pinned country DB (and the city
// DB when TALLY_TEST_GEOIP_CITY=1), installing into a per-user cache keyed by
// version so that only the first run downloads. Tests skip only when npm is
// missing; a failed install is a failure.
func geoTestDir(t testing.TB) string {
	t.Helper()
	if _, err := exec.LookPath("npm"); err != nil {
		t.Skip("npm not on PATH; cannot install the geolocation databases")
	}
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	dir := filepath.Join(base, "tally-test", "geoip", "country-"+GeoCountryVersion+"_city-"+GeoCityVersion)
	installOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		if !fileExists(filepath.Join(dir, countryIPv4File)) || !fileExists(filepath.Join(dir, countryIPv6File)) {
			installErr = Install(ctx, dir, false)
		}
		if installErr == nil && os.Getenv("TALLY_TEST_GEOIP_CITY") == "1" &&
			(!fileExists(filepath.Join(dir, cityIPv4File)) || !fileExists(filepath.Join(dir, cityIPv6File))) {
			installErr = Install(ctx, dir, true)
		}
	})
	if installErr != nil {
		t.Fatalf("Install: %v", installErr)
	}
	return dir
}

var (
	installOnce sync.Once
	installErr  error
)

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func TestGeoLookup(t *testing.T) {
	g, err := OpenGeo(geoTestDir(t))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()

	// Addresses whose country both databases agree on, so the test holds with
	// and without the city DB installed.
	for _, tc := range []struct{ ip, country string }{
		{"8.8.8.8", "US"},
		{"::ffff:8.8.8.8", "US"}, // must be unmapped: the DBs have no mapped subtree
		{"81.2.69.142", "GB"},
		{"85.214.132.117", "DE"}, // Strato, Berlin
		{"133.1.1.1", "JP"},      // Osaka University
		{"200.147.67.142", "BR"}, // UOL, São Paulo/Rio
		{"2400:cb00::1", "US"},   // Cloudflare IPv6
		{"192.168.1.1", ""},      // the country DB maps this to AU: must be filtered
		{"10.0.0.1", ""},         //
		{"127.0.0.1", ""},        //
		{"100.64.0.1", ""},       // CGNAT
		{"::1", ""},              //
		{"fe80::1", ""},          //
		{"0.0.0.0", ""},          //
		{"2001:db8::1", ""},      // documentation range
	} {
		loc := g.Lookup(netip.MustParseAddr(tc.ip))
		if loc.Country != tc.country {
			t.Errorf("Lookup(%s).Country = %q, want %q", tc.ip, loc.Country, tc.country)
		}
		if tc.country == "" && loc != (Location{}) {
			t.Errorf("Lookup(%s) = %+v, want empty", tc.ip, loc)
		}
		if !g.HasCity() && (loc.Region != "" || loc.City != "" || loc.Latitude != nil || loc.Longitude != nil) {
			t.Errorf("Lookup(%s) = %+v: city fields without a city DB", tc.ip, loc)
		}
	}
	if loc := g.Lookup(netip.Addr{}); loc != (Location{}) {
		t.Errorf("Lookup(zero) = %+v", loc)
	}

	if !g.HasCity() {
		t.Log("city DB not installed (set TALLY_TEST_GEOIP_CITY=1 to test it)")
		return
	}
	for _, tc := range []struct {
		ip, country, region, city string
		lat, lon                  float64
	}{
		{"8.8.8.8", "US", "California", "Mountain View", 37.422, -122.085},
		{"81.2.69.142", "GB", "England", "London", 51.5143, -0.0912244},
		{"85.214.132.117", "DE", "Berlin", "Berlin", 52.5234, 13.3224}, // "Berlin (Charlottenburg-Wilmersdorf)" in the DB
		{"2a00:1450:4001:82a::200e", "DE", "Hesse", "Frankfurt am Main", 50.1109, 8.68213},
	} {
		loc := g.Lookup(netip.MustParseAddr(tc.ip))
		if loc.Country != tc.country || loc.Region != tc.region || loc.City != tc.city ||
			loc.Latitude == nil || loc.Longitude == nil || *loc.Latitude != tc.lat || *loc.Longitude != tc.lon {
			t.Errorf("Lookup(%s) = %s, want %s/%s/%s (%v,%v)", tc.ip, fmtLoc(loc), tc.country, tc.region, tc.city, tc.lat, tc.lon)
		}
	}
}

func fmtLoc(l Location) string {
	s := fmt.Sprintf("%s/%s/%s", l.Country, l.Region, l.City)
	if l.Latitude != nil && l.Longitude != nil {
		s += fmt.Sprintf(" (%v,%v)", *l.Latitude, *l.Longitude)
	}
	return s
}

func TestOpenGeoEmptyDir(t *testing.T) {
	g, err := OpenGeo(t.TempDir())
	if err != nil {
		t.Fatalf("OpenGeo(empty dir): %v", err)
	}
	if g.HasCity() {
		t.Error("HasCity on empty dir")
	}
	if loc := g.Lookup(netip.MustParseAddr("8.8.8.8")); loc != (Location{}) {
		t.Errorf("Lookup = %+v, want empty", loc)
	}
	if err := g.Close(); err != nil {
		t.Error(err)
	}

	var nilDB *GeoDB
	if loc := nilDB.Lookup(netip.MustParseAddr("8.8.8.8")); loc != (Location{}) {
		t.Errorf("nil Lookup = %+v", loc)
	}
	if nilDB.HasCity() || nilDB.Close() != nil {
		t.Error("nil GeoDB misbehaves")
	}
	if _, err := OpenGeo(filepath.Join(t.TempDir(), "does-not-exist")); err != nil {
		t.Errorf("OpenGeo(missing dir): %v", err)
	}
}

func TestOpenGeoCorruptFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, cityIPv6File), []byte("not an mmdb"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenGeo(dir); err == nil {
		t.Fatal("OpenGeo accepted a corrupt database")
	}
}

// TestOpenGeoCombinedFallback checks that a combined country file serves a
// family whose split file is absent.
func TestOpenGeoCombinedFallback(t *testing.T) {
	src := geoTestDir(t)
	dir := t.TempDir()
	// The IPv6 split file doubles as a "combined" file for IPv6 lookups; the
	// IPv4 split file is absent, so IPv4 goes to the combined name too and
	// finds nothing there (an IPv6-only tree), which is fine for this check.
	data, err := os.ReadFile(filepath.Join(src, countryIPv6File))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, countryAllFile), data, 0o644); err != nil {
		t.Fatal(err)
	}
	g, err := OpenGeo(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if got := g.Lookup(netip.MustParseAddr("2400:cb00::1")).Country; got != "US" {
		t.Errorf("combined fallback: Country = %q, want US", got)
	}
	if g.country4 != g.country6 || len(g.readers) != 1 {
		t.Errorf("combined file should be opened once and shared")
	}
}

func TestExtractFiles(t *testing.T) {
	tgz := makeTarGz(t, []tarEntry{
		{name: "package/package.json", body: "{}"},
		{name: "package/README.md", body: "readme"},
		{name: "package/a.mmdb", body: "AAAA"},
		{name: "package/NRO_LICENSE", body: "licence"},
		{name: "package/sub/b.mmdb", body: "nested: must be ignored"},
		{name: "../b.mmdb", body: "escape attempt"},
		{name: "package/b.mmdb", typ: tar.TypeSymlink, link: "/etc/passwd"},
		{name: "package/b.mmdb", body: "BBBB"},
	})
	dir := t.TempDir()
	var verified []string
	verify := func(p string) error { verified = append(verified, filepath.Base(p)); return nil }
	if err := extractFiles(context.Background(), bytes.NewReader(tgz), dir, []string{"a.mmdb", "b.mmdb", "NRO_LICENSE"}, verify); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"a.mmdb": "AAAA", "b.mmdb": "BBBB", "NRO_LICENSE": "licence"} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", name, got, err, want)
		}
	}
	if len(verified) != 2 {
		t.Errorf("verified %v, want the two .mmdb files", verified)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 {
		t.Errorf("dir has %d entries, want exactly the 3 wanted files", len(entries))
	}

	// A missing file is an error.
	if err := extractFiles(context.Background(), bytes.NewReader(tgz), t.TempDir(), []string{"c.mmdb"}, nil); err == nil {
		t.Error("missing wanted file: want error")
	}

	// A file that fails verification never replaces the existing one, and no
	// temporary file is left behind.
	dir2 := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir2, "a.mmdb"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := errors.New("bad db")
	err := extractFiles(context.Background(), bytes.NewReader(tgz), dir2, []string{"a.mmdb"}, func(string) error { return bad })
	if !errors.Is(err, bad) {
		t.Errorf("err = %v, want %v", err, bad)
	}
	if got, _ := os.ReadFile(filepath.Join(dir2, "a.mmdb")); string(got) != "old" {
		t.Errorf("a.mmdb = %q after failed verify, want old content", got)
	}
	if entries, _ := os.ReadDir(dir2); len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}

	// Not gzip.
	if err := extractFiles(context.Background(), strings.NewReader("nope"), t.TempDir(), []string{"a.mmdb"}, nil); err == nil {
		t.Error("garbage tarball: want error")
	}

	// Cancelled context.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := extractFiles(ctx, bytes.NewReader(tgz), t.TempDir(), []string{"a.mmdb"}, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v", err)
	}
}

type tarEntry struct {
	name, body, link string
	typ              byte
}

func makeTarGz(t *testing.T, entries []tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		hdr := &tar.Header{Name: e.name, Typeflag: typ, Linkname: e.link, Mode: 0o644}
		if typ == tar.TypeReg {
			hdr.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestNormCountry(t *testing.T) {
	for in, want := range map[string]string{
		"US": "US", "us": "US", "gB": "GB", "ZZ": "", "xx": "", "": "", "USA": "", "1A": "", "é": "",
	} {
		if got := normCountry(in); got != want {
			t.Errorf("normCountry(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCleanCity(t *testing.T) {
	for in, want := range map[string]string{
		"Berlin (Charlottenburg-Wilmersdorf)": "Berlin",
		"London":                              "London",
		"(weird)":                             "(weird)",
		"":                                    "",
		"Foo (bar":                            "Foo (bar",
	} {
		if got := cleanCity(in); got != want {
			t.Errorf("cleanCity(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestF32to64(t *testing.T) {
	for _, f := range []float32{37.422, -122.085, -0.0912244, 51.5143, 0, 151.209, -33.8688, 8.68213, -43.1729, 179.99, -90} {
		got := f32to64(f)
		if float32(got) != f {
			t.Errorf("f32to64(%v) = %v: does not round-trip", f, got)
		}
	}
	if got := f32to64(37.422); got != 37.422 {
		t.Errorf("f32to64(37.422) = %v, want exactly 37.422", got)
	}
}

func BenchmarkGeoLookup(b *testing.B) {
	g, err := OpenGeo(geoTestDir(b))
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close()
	ips := []netip.Addr{
		netip.MustParseAddr("8.8.8.8"),
		netip.MustParseAddr("81.2.69.142"),
		netip.MustParseAddr("133.1.1.1"),
		netip.MustParseAddr("2400:cb00::1"),
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		g.Lookup(ips[i%len(ips)])
		i++
	}
}
