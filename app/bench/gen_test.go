package bench

import (
	"math/rand/v2"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"tally/app/enrich"
	"tally/app/ingest"
)

func TestUserAgentsAreBrowsers(t *testing.T) {
	p := enrich.NewUAParser(0)
	kinds := map[string]int{}
	seen := map[string]bool{}
	for _, ua := range userAgents {
		if seen[ua] {
			t.Errorf("duplicate UA %q", ua)
		}
		seen[ua] = true
		d := p.Parse(ua)
		if d.Bot != nil || d.Device == enrich.DeviceServer || d.Device == enrich.DeviceBot || d.Device == "" {
			t.Errorf("%q parses as %+v, want a browser", ua, d)
		}
		if d.OS == "" {
			t.Errorf("%q: no OS", ua)
		}
		kinds[d.Device]++
	}
	if len(userAgents) < 45 || kinds[enrich.DeviceMobile] < 10 || kinds[enrich.DeviceDesktop] < 20 || kinds[enrich.DeviceTablet] < 2 {
		t.Errorf("pool of %d agents is not varied enough: %v", len(userAgents), kinds)
	}
}

func TestGeneratedTraffic(t *testing.T) {
	g := NewGenerator(GenOptions{Visitors: 2000, Templates: 1000, Seed: 7, RunID: "abcd",
		Header: http.Header{"Openpanel-Client-Id": {"x"}}})
	for _, v := range g.Visitors {
		ip, err := netip.ParseAddr(v.IP)
		if err != nil || !enrich.IsPublic(ip) {
			t.Fatalf("visitor IP %q is not public", v.IP)
		}
		if v.Header.Get("X-Forwarded-For") != v.IP || v.Header.Get("User-Agent") != v.UA || v.Header.Get("Openpanel-Client-Id") != "x" {
			t.Fatalf("visitor headers %v", v.Header)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	names := map[string]int{}
	perVisitor := map[*Visitor]int{}
	var buf []byte
	const n = 20000
	for i := range n {
		var v *Visitor
		v, buf = g.Next(rng, int64(i+1), buf)
		perVisitor[v]++
		b, err := ingest.DecodeTrack(buf)
		if err != nil {
			t.Fatalf("body %s: %v", buf, err)
		}
		tr := b.Track
		names[tr.Name]++
		if got := tr.Properties["bench_seq"]; got == nil || got.(interface{ String() string }).String() != strconv.Itoa(i+1) {
			t.Fatalf("bench_seq = %v in %s", got, buf)
		}
		if tr.Properties["bench_run"] != "abcd" || !strings.HasPrefix(tr.Magic.Path, "https://"+Site+"/") {
			t.Fatalf("body %s decodes to %+v", buf, tr)
		}
	}
	if sv := names["screen_view"]; sv < n*3/4 || sv > n*95/100 || len(names) < 5 {
		t.Errorf("event names %v: want mostly screen_view and several custom events", names)
	}
	// Power law: visitors come back; the busiest is busy but not dominant.
	top := 0
	for _, c := range perVisitor {
		top = max(top, c)
	}
	if len(perVisitor) < 1000 || top > n/20 || float64(n)/float64(len(perVisitor)) < 3 {
		t.Errorf("%d visitors, busiest %d events: distribution off", len(perVisitor), top)
	}
}

func BenchmarkNext(b *testing.B) {
	g := NewGenerator(GenOptions{Seed: 1, RunID: "abcd", Header: http.Header{}})
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 0, 2048)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_, buf = g.Next(rng, int64(i), buf)
	}
}
