package bench

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"sort"
	"strconv"
)

// Site is the host the generated pages live on; the bench sends it as the
// Origin, as @openpanel/web does from a page of that site.
const Site = "bench.example.com"

// userAgents are real browser User-Agents: desktop and mobile, Chrome,
// Firefox, Safari, Edge, Opera, Samsung Internet, in-app browsers, on
// Windows, macOS, Linux, ChromeOS, Android, iOS and iPadOS. None of them is a
// bot or a server client (see TestUserAgentsAreBrowsers).
var userAgents = []string{
	// Windows desktop
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.68",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36 Edg/125.0.2535.85",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:126.0) Gecko/20100101 Firefox/126.0",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:115.0) Gecko/20100101 Firefox/115.0",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 OPR/111.0.0.0",
	"Mozilla/5.0 (Windows NT 6.1; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/109.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 YaBrowser/24.4.0.0 Safari/537.36",
	// macOS desktop
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Safari/605.1.15",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:127.0) Gecko/20100101 Firefox/127.0",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:126.0) Gecko/20100101 Firefox/126.0",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.68",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 OPR/111.0.0.0",
	// Linux and ChromeOS desktop
	"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
	"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
	"Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
	"Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0",
	"Mozilla/5.0 (X11; Fedora; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
	"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
	// Android phones and tablets
	"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.71 Mobile Safari/537.36",
	"Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.6422.165 Mobile Safari/537.36",
	"Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-A536B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (Linux; Android 12; Redmi Note 11) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.179 Mobile Safari/537.36",
	"Mozilla/5.0 (Android 14; Mobile; rv:127.0) Gecko/127.0 Firefox/127.0",
	"Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36 EdgA/126.0.2592.80",
	"Mozilla/5.0 (Linux; Android 13; CPH2451) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.6312.118 Mobile Safari/537.36 OPR/82.0.4227.78600",
	// iPhone and iPad
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 16_7_8 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 15_8 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/15.6.6 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/126.0.6478.54 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/127.0 Mobile/15E148 Safari/605.1.15",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 EdgiOS/126.2592.56 Mobile/15E148 Safari/605.1.15",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/21F90 [FBAN/FBIOS;FBAV/468.0.0.35.111;FBBV/611839520;FBDV/iPhone15,2;FBMD/iPhone;FBSN/iOS;FBSV/17.5;FBSS/3;FBID/phone;FBLC/en_US;FBOP/5]",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Instagram 337.0.3.23.54 (iPhone14,5; iOS 17_5; en_US; en; scale=3.00; 1170x2532; 618923839)",
	"Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/125.0.6422.80 Mobile/15E148 Safari/604.1",
}

// uaWeights skew the pool as real traffic is skewed: the first (most common)
// agents of each group carry more weight than the tail.
func uaWeight(i int) float64 { return 1 / math.Sqrt(float64(i%8+1)) }

// publicNets are /8s of ordinary public unicast space (ISPs and hosting in
// America, Europe, Asia); addresses inside them, with the middle octets
// random, are never private, reserved or documentation ranges.
var publicNets = []byte{24, 31, 37, 46, 62, 77, 81, 86, 92, 109, 151, 176, 188, 201}

// Visitor is one simulated browser: its address and agent decide its device id.
type Visitor struct {
	IP     string
	UA     string
	Header http.Header // complete request headers, shared read-only by requests
	index  int         // in Generator.Visitors
}

// page is one URL of the site.
type page struct {
	path, title string
}

// referrers by share of traffic; "" is direct, "self" a link on the site.
var referrers = []struct {
	url    string
	weight float64
}{
	{"", 35},
	{"self", 30},
	{"https://www.google.com/", 20},
	{"https://t.co/", 3},
	{"https://news.ycombinator.com/", 3},
	{"https://www.bing.com/", 2},
	{"https://duckduckgo.com/", 2},
	{"https://www.reddit.com/", 2},
	{"https://www.linkedin.com/", 1.5},
	{"https://github.com/", 1.5},
}

var utms = []string{
	"utm_source=newsletter&utm_medium=email&utm_campaign=june_launch",
	"utm_source=twitter&utm_medium=social&utm_campaign=launch",
	"utm_source=google&utm_medium=cpc&utm_campaign=brand&utm_term=analytics",
	"utm_source=hn&utm_medium=referral",
	"utm_source=partner&utm_medium=affiliate&utm_campaign=q3&utm_content=banner_a",
}

// Template is a pre-encoded /track body, complete but for the sequence
// number that makes every event unique: Prefix + seq + Suffix.
type Template struct {
	Prefix, Suffix []byte
}

// Generator produces the bench traffic. It is built once; Next is cheap and
// safe for concurrent use with one *rand.Rand per goroutine.
type Generator struct {
	Visitors  []Visitor
	visitCDF  []float64
	Templates []Template
}

// GenOptions size the generated traffic.
type GenOptions struct {
	Visitors  int    // distinct browsers (default 20,000)
	Templates int    // distinct event bodies (default 8,192)
	Seed      uint64 // fixed seed: the same traffic every run
	RunID     string // bench_run property, to count this run's events
	Header    http.Header
}

// NewGenerator builds the visitor pool and the body templates. header holds
// the headers common to every request (client id, SDK, Origin, ...).
func NewGenerator(o GenOptions) *Generator {
	if o.Visitors <= 0 {
		o.Visitors = 20_000
	}
	if o.Templates <= 0 {
		o.Templates = 8192
	}
	rng := rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))
	g := &Generator{}

	uaCDF := cdf(len(userAgents), uaWeight)
	pages := sitePages()
	// Visitors: a power law (exponent 0.5) over the pool. With 200,000
	// events over 20,000 visitors the tail visitor sends about 5 events and
	// the busiest about 700 (0.4% of the traffic): every session has several
	// events, and no single device dominates, as on a real site.
	g.visitCDF = cdf(o.Visitors, func(i int) float64 { return 1 / math.Sqrt(float64(i+1)) })
	g.Visitors = make([]Visitor, o.Visitors)
	for i := range g.Visitors {
		ip := netip.AddrFrom4([4]byte{publicNets[rng.IntN(len(publicNets))], byte(rng.IntN(256)), byte(rng.IntN(256)), byte(1 + rng.IntN(254))})
		ua := userAgents[pick(uaCDF, rng)]
		h := make(http.Header, len(o.Header)+2)
		for k, v := range o.Header {
			h[k] = v // shared slices: never modified
		}
		h["User-Agent"] = []string{ua}
		h["X-Forwarded-For"] = []string{ip.String()}
		g.Visitors[i] = Visitor{IP: ip.String(), UA: ua, Header: h, index: i}
	}

	pageCDF := cdf(len(pages), func(i int) float64 { return 1 / float64(i+1) })
	var refTotal float64
	for _, r := range referrers {
		refTotal += r.weight
	}
	g.Templates = make([]Template, o.Templates)
	for i := range g.Templates {
		p := pages[pick(pageCDF, rng)]
		url := "https://" + Site + p.path
		if rng.IntN(10) == 0 {
			url += "?" + utms[rng.IntN(len(utms))]
		}
		ref := ""
		x := rng.Float64() * refTotal
		for _, r := range referrers {
			if x -= r.weight; x < 0 {
				ref = r.url
				break
			}
		}
		if ref == "self" {
			ref = "https://" + Site + pages[pick(pageCDF, rng)].path
		}
		props := map[string]any{"__path": url, "__title": p.title}
		if ref != "" {
			props["__referrer"] = ref
		}
		name := "screen_view"
		if rng.IntN(100) < 15 {
			name = customEvent(rng, props, p)
		}
		g.Templates[i] = encodeTemplate(name, props, o.RunID)
	}
	return g
}

// customEvent turns props into a custom event's and returns its name.
func customEvent(rng *rand.Rand, props map[string]any, p page) string {
	switch rng.IntN(6) {
	case 0:
		props["href"] = "https://github.com/example/project"
		props["text"] = "GitHub"
		return "link_out"
	case 1:
		props["button"] = []string{"signup", "get_started", "contact_sales", "download"}[rng.IntN(4)]
		props["location"] = []string{"hero", "navbar", "footer"}[rng.IntN(3)]
		return "button_click"
	case 2:
		props["plan"] = []string{"free", "pro", "team"}[rng.IntN(3)]
		props["interval"] = []string{"monthly", "yearly"}[rng.IntN(2)]
		return "signup"
	case 3:
		props["sku"] = "SKU-" + strconv.Itoa(1000+rng.IntN(500))
		props["price"] = 5 + rng.IntN(200)
		props["quantity"] = 1 + rng.IntN(3)
		props["cart"] = map[string]any{"items": 1 + rng.IntN(6), "currency": "EUR"}
		return "add_to_cart"
	case 4:
		props["query"] = []string{"pricing", "api key", "self host", "export csv", "retention"}[rng.IntN(5)]
		props["results"] = rng.IntN(40)
		return "search"
	default:
		props["form"] = "newsletter"
		props["page"] = p.path
		return "form_submit"
	}
}

// encodeTemplate encodes {"type":"track","payload":{"name":…,"properties":{…,
// "bench_run":…,"bench_seq":<seq>}}} and splits it where seq goes.
func encodeTemplate(name string, props map[string]any, runID string) Template {
	props["bench_run"] = runID
	props["bench_seq"] = json.Number("0")
	b, _ := json.Marshal(map[string]any{"type": "track", "payload": map[string]any{"name": name, "properties": props}})
	// Keys are sorted, so bench_seq is the one "bench_seq":0 in the body.
	marker := []byte(`"bench_seq":0`)
	i := bytes.Index(b, marker)
	if i < 0 {
		panic("bench: bench_seq not found in the encoded template")
	}
	i += len(marker) - 1
	return Template{Prefix: b[:i], Suffix: b[i+1:]}
}

// Next picks a visitor and appends a unique body (sequence number seq) to
// buf[:0].
func (g *Generator) Next(rng *rand.Rand, seq int64, buf []byte) (*Visitor, []byte) {
	v := &g.Visitors[pick(g.visitCDF, rng)]
	t := &g.Templates[rng.IntN(len(g.Templates))]
	buf = append(buf[:0], t.Prefix...)
	buf = strconv.AppendInt(buf, seq, 10)
	buf = append(buf, t.Suffix...)
	return v, buf
}

// cdf returns the cumulative distribution of n weights, normalised to 1.
func cdf(n int, weight func(int) float64) []float64 {
	c := make([]float64, n)
	sum := 0.0
	for i := range c {
		sum += weight(i)
		c[i] = sum
	}
	for i := range c {
		c[i] /= sum
	}
	return c
}

// pick draws an index from a CDF.
func pick(c []float64, rng *rand.Rand) int {
	i := sort.SearchFloat64s(c, rng.Float64())
	if i >= len(c) {
		i = len(c) - 1
	}
	return i
}

// sitePages is a marketing site with docs and a blog: a few hot pages and a
// long tail, ordered from most to least visited.
func sitePages() []page {
	ps := []page{
		{"/", "Tally: privacy-friendly analytics"},
		{"/pricing", "Pricing"},
		{"/docs", "Documentation"},
		{"/features", "Features"},
		{"/blog", "Blog"},
		{"/signup", "Sign up"},
		{"/login", "Log in"},
		{"/docs/getting-started", "Getting started"},
		{"/docs/install", "Install"},
		{"/about", "About us"},
		{"/contact", "Contact"},
		{"/changelog", "Changelog"},
		{"/docs/sdk/web", "Web SDK"},
		{"/docs/sdk/node", "Node SDK"},
		{"/docs/api/track", "Track API"},
		{"/docs/api/export", "Export API"},
		{"/integrations", "Integrations"},
		{"/customers", "Customers"},
		{"/security", "Security"},
		{"/privacy", "Privacy policy"},
		{"/terms", "Terms of service"},
		{"/careers", "Careers"},
	}
	topics := []string{"cookieless-analytics", "session-tracking", "funnels", "retention", "utm-guide",
		"self-hosting", "postgres-at-scale", "gdpr", "bot-filtering", "product-metrics"}
	for i := range 120 {
		t := topics[i%len(topics)]
		ps = append(ps, page{"/blog/" + t + "-" + strconv.Itoa(i), "Blog: " + t})
	}
	for i := range 60 {
		ps = append(ps, page{"/docs/reference/" + strconv.Itoa(i) + "#section-" + strconv.Itoa(i%4), "Reference " + strconv.Itoa(i)})
	}
	return ps
}
