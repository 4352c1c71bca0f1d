package seed

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"

	"tally/app/enrich"
)

// The demo site: a software company's marketing site with docs, a blog and
// a shop for plans. Everything the generator draws from is a table here, and
// the fields ingest derives (referrer names and types, device fields, UTM
// values, paths) are derived by the same enrich functions ingest uses, so
// seeded rows look exactly like ingested ones.

// SiteOrigin is the seeded site.
const SiteOrigin = "https://www.example.com"

// SDK headers of the seeded events (what @openpanel/web sends).
const (
	sdkName    = "web"
	sdkVersion = "1.4.1"
)

// page is one URL of the site map.
type page struct {
	path, title, section string
	props                []byte // screen_view properties: {"__title": ...}
}

// sitePages returns ~200 paths ordered from most to least visited (the
// generator draws them by a power law over this order).
func sitePages() []page {
	var ps []page
	add := func(path, title, section string) {
		props, _ := json.Marshal(map[string]string{"__title": title})
		ps = append(ps, page{path: path, title: title, section: section, props: props})
	}
	add("/", "Example: analytics for teams", "home")
	add("/pricing", "Pricing", "pricing")
	add("/blog", "Blog", "blog")
	add("/docs", "Documentation", "docs")
	add("/features", "Features", "features")
	add("/signup", "Create your account", "signup")
	add("/login", "Log in", "login")
	add("/docs/getting-started", "Getting started", "docs")
	add("/changelog", "Changelog", "changelog")
	add("/customers", "Customers", "customers")
	add("/about", "About us", "about")
	add("/contact", "Contact sales", "contact")
	add("/integrations", "Integrations", "integrations")
	add("/security", "Security", "about")
	add("/careers", "Careers", "about")
	add("/privacy", "Privacy policy", "legal")
	add("/terms", "Terms of service", "legal")
	add("/checkout", "Checkout", "checkout")
	add("/checkout/success", "Thank you", "checkout")
	for _, f := range []string{"dashboards", "funnels", "retention", "realtime", "segments", "alerts", "exports", "api"} {
		add("/features/"+f, "Features: "+f, "features")
	}
	blog := []string{"cookieless-analytics", "utm-tracking-guide", "bounce-rate-explained", "postgres-at-scale",
		"self-hosting-analytics", "gdpr-and-analytics", "funnel-analysis", "retention-cohorts", "product-metrics",
		"core-web-vitals", "ab-testing-basics", "session-replay-privacy", "event-naming", "north-star-metric",
		"attribution-models", "churn-signals", "seo-for-saas", "launch-checklist", "pricing-pages", "onboarding-emails"}
	for i := range 100 {
		slug := blog[i%len(blog)]
		if i >= len(blog) {
			slug += "-part-" + strconv.Itoa(i/len(blog)+1)
		}
		add("/blog/"+slug, "Blog: "+strings.ReplaceAll(slug, "-", " "), "blog")
	}
	docs := map[string][]string{
		"sdk":       {"web", "react", "nextjs", "node", "python", "go", "ios", "android"},
		"api":       {"track", "identify", "export", "authentication", "rate-limits", "errors"},
		"guides":    {"events", "profiles", "revenue", "filters", "dashboards", "funnels", "retention", "alerts"},
		"self-host": {"docker", "kubernetes", "postgres", "backups", "upgrades", "geoip", "proxies"},
		"account":   {"members", "roles", "billing", "projects", "clients", "domains"},
	}
	for _, sec := range []string{"sdk", "api", "guides", "self-host", "account"} {
		for _, p := range docs[sec] {
			add("/docs/"+sec+"/"+p, "Docs: "+sec+" "+p, "docs")
		}
	}
	for _, c := range []string{"acme", "globex", "initech", "umbrella", "hooli", "stark"} {
		add("/customers/"+c, "Customer story: "+c, "customers")
	}
	for _, c := range []string{"google-analytics", "plausible", "mixpanel", "amplitude", "posthog", "matomo"} {
		add("/compare/"+c, "Compare with "+c, "compare")
	}
	for _, c := range []string{"slack", "segment", "stripe", "shopify", "wordpress", "webflow", "zapier", "hubspot", "bigquery", "vercel"} {
		add("/integrations/"+c, "Integration: "+c, "integrations")
	}
	for i := range 9 {
		add("/changelog/2025-"+strconv.Itoa(i+1), "Changelog "+strconv.Itoa(i+1), "changelog")
	}
	return ps
}

// source is how a session arrives: a referrer and/or a campaign link.
type source struct {
	weight   float64
	referrer string // "" is direct (or an email client that sends none)
	query    string // the landing URL's query (UTM parameters)
	entry    string // the landing section it favours ("" any)
	// derived once, as ingest derives them:
	refName, refType string
}

var sources = []source{
	{weight: 34}, // direct
	{weight: 24, referrer: "https://www.google.com/", entry: "blog"},
	{weight: 3, referrer: "https://www.google.de/", entry: "blog"},
	{weight: 2, referrer: "https://www.google.com/", query: "utm_source=google&utm_medium=cpc&utm_campaign=brand&utm_term=web+analytics", entry: "home"},
	{weight: 1.5, referrer: "https://www.google.com/", query: "utm_source=google&utm_medium=cpc&utm_campaign=competitor&utm_term=google+analytics+alternative", entry: "compare"},
	{weight: 3, referrer: "https://www.bing.com/", entry: "blog"},
	{weight: 2.5, referrer: "https://duckduckgo.com/", entry: "docs"},
	{weight: 0.7, referrer: "https://www.ecosia.org/", entry: "blog"},
	{weight: 3, referrer: "https://t.co/", query: "utm_source=twitter&utm_medium=social&utm_campaign=product_launch", entry: "home"},
	{weight: 2, referrer: "https://t.co/"},
	{weight: 2, referrer: "https://www.linkedin.com/", entry: "blog"},
	{weight: 1, referrer: "https://www.linkedin.com/", query: "utm_source=linkedin&utm_medium=paid_social&utm_campaign=q2_awareness&utm_content=carousel", entry: "features"},
	{weight: 2, referrer: "https://www.reddit.com/", entry: "blog"},
	{weight: 2, referrer: "https://news.ycombinator.com/", entry: "blog"},
	{weight: 1, referrer: "https://bsky.app/"},
	{weight: 0.6, referrer: "https://l.facebook.com/", query: "utm_source=facebook&utm_medium=paid_social&utm_campaign=spring_sale", entry: "pricing"},
	{weight: 3, query: "utm_source=newsletter&utm_medium=email&utm_campaign=weekly_digest", entry: "blog"},
	{weight: 1.2, referrer: "https://mail.google.com/", query: "utm_source=newsletter&utm_medium=email&utm_campaign=spring_sale&utm_content=hero_button", entry: "pricing"},
	{weight: 0.8, referrer: "https://outlook.live.com/", query: "utm_source=newsletter&utm_medium=email&utm_campaign=weekly_digest"},
	{weight: 2.5, referrer: "https://github.com/", entry: "docs"},
	{weight: 1, referrer: "https://stackoverflow.com/", entry: "docs"},
	{weight: 1.5, referrer: "https://chatgpt.com/", entry: "docs"},
	{weight: 0.6, referrer: "https://www.perplexity.ai/", entry: "compare"},
	{weight: 0.8, referrer: "https://www.youtube.com/", entry: "features"},
	{weight: 0.7, referrer: "https://dev.to/", entry: "blog"},
	{weight: 0.7, referrer: "https://medium.com/", entry: "blog"},
	{weight: 0.8, referrer: "https://www.producthunt.com/", query: "utm_source=producthunt&utm_medium=referral&utm_campaign=launch_day", entry: "home"},
	{weight: 0.8, referrer: "https://indiehackers.example.net/posts/our-stack", entry: "blog"},
	{weight: 0.6, referrer: "https://partner-blog.example.org/review", query: "utm_source=partner&utm_medium=affiliate&utm_campaign=q3&utm_content=banner_a", entry: "pricing"},
	{weight: 0.5, referrer: "https://weekly.example.io/issues/142", entry: "blog"},
}

func init() {
	for i := range sources {
		s := &sources[i]
		if s.referrer == "" {
			continue
		}
		host, ref := enrich.ClassifyReferrer(s.referrer)
		s.refName, s.refType = ref.Name, ref.Type
		if s.refName == "" {
			s.refName = host // ingest names an unknown site by its host
		}
	}
}

// place is a city with its coordinates (as the DB-IP city database has them).
type place struct {
	country, region, city string
	lat, lon              float64
	weight                float64
}

var places = []place{
	{"US", "New York", "New York", 40.7128, -74.006, 9},
	{"US", "California", "San Francisco", 37.7749, -122.4194, 7},
	{"US", "California", "Los Angeles", 34.0522, -118.2437, 4},
	{"US", "Illinois", "Chicago", 41.8781, -87.6298, 3},
	{"US", "Texas", "Austin", 30.2672, -97.7431, 3},
	{"US", "Washington", "Seattle", 47.6062, -122.3321, 3},
	{"US", "Massachusetts", "Boston", 42.3601, -71.0589, 2},
	{"DE", "Berlin", "Berlin", 52.52, 13.405, 6},
	{"DE", "Bavaria", "Munich", 48.1351, 11.582, 4},
	{"DE", "Hamburg", "Hamburg", 53.5511, 9.9937, 3},
	{"DE", "Hesse", "Frankfurt am Main", 50.1109, 8.6821, 2},
	{"DE", "North Rhine-Westphalia", "Cologne", 50.9375, 6.9603, 2},
	{"GB", "England", "London", 51.5074, -0.1278, 7},
	{"GB", "England", "Manchester", 53.4808, -2.2426, 2},
	{"GB", "Scotland", "Edinburgh", 55.9533, -3.1883, 1},
	{"FR", "Île-de-France", "Paris", 48.8566, 2.3522, 5},
	{"FR", "Auvergne-Rhône-Alpes", "Lyon", 45.764, 4.8357, 1.5},
	{"NL", "North Holland", "Amsterdam", 52.3676, 4.9041, 3},
	{"IN", "Karnataka", "Bengaluru", 12.9716, 77.5946, 4},
	{"IN", "Maharashtra", "Mumbai", 19.076, 72.8777, 2.5},
	{"CA", "Ontario", "Toronto", 43.6532, -79.3832, 3},
	{"CA", "British Columbia", "Vancouver", 49.2827, -123.1207, 1.5},
	{"BR", "São Paulo", "São Paulo", -23.5505, -46.6333, 2.5},
	{"JP", "Tokyo", "Tokyo", 35.6762, 139.6503, 2},
	{"AU", "New South Wales", "Sydney", -33.8688, 151.2093, 2},
	{"AU", "Victoria", "Melbourne", -37.8136, 144.9631, 1},
	{"ES", "Madrid", "Madrid", 40.4168, -3.7038, 2},
	{"ES", "Catalonia", "Barcelona", 41.3874, 2.1686, 1.5},
	{"IT", "Lombardy", "Milan", 45.4642, 9.19, 1.5},
	{"SE", "Stockholm", "Stockholm", 59.3293, 18.0686, 1.2},
	{"PL", "Mazovia", "Warsaw", 52.2297, 21.0122, 1.5},
	{"CH", "Zurich", "Zurich", 47.3769, 8.5417, 1.2},
	{"AT", "Vienna", "Vienna", 48.2082, 16.3738, 1},
	{"SG", "Singapore", "Singapore", 1.3521, 103.8198, 1.2},
	{"MX", "Mexico City", "Mexico City", 19.4326, -99.1332, 1},
	{"ZA", "Gauteng", "Johannesburg", -26.2041, 28.0473, 0.6},
	{"NG", "Lagos", "Lagos", 6.5244, 3.3792, 0.6},
	{"KR", "Seoul", "Seoul", 37.5665, 126.978, 0.8},
	{"UA", "Kyiv City", "Kyiv", 50.4501, 30.5234, 0.8},
	{"", "", "", 0, 0, 1.5}, // no GeoIP answer
}

// userAgents are real browsers; ingest's parser turns them into the device
// fields, so the seeded ones are what ingest would store.
var userAgents = []struct {
	ua     string
	weight float64
}{
	{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36", 16},
	{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36", 6},
	{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.68", 5},
	{"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0", 4},
	{"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:115.0) Gecko/20100101 Firefox/115.0", 1},
	{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 OPR/111.0.0.0", 1},
	{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36", 10},
	{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15", 6},
	{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Safari/605.1.15", 1.5},
	{"Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:127.0) Gecko/20100101 Firefox/127.0", 2},
	{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36", 2.5},
	{"Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0", 1.5},
	{"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36", 0.7},
	{"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36", 8},
	{"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.71 Mobile Safari/537.36", 2},
	{"Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.6422.165 Mobile Safari/537.36", 2.5},
	{"Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36", 2},
	{"Mozilla/5.0 (Linux; Android 12; Redmi Note 11) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.179 Mobile Safari/537.36", 1.5},
	{"Mozilla/5.0 (Android 14; Mobile; rv:127.0) Gecko/127.0 Firefox/127.0", 0.7},
	{"Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36", 0.8},
	{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", 10},
	{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1", 3},
	{"Mozilla/5.0 (iPhone; CPU iPhone OS 16_7_8 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1", 1.5},
	{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/126.0.6478.54 Mobile/15E148 Safari/604.1", 1.5},
	{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Instagram 337.0.3.23.54 (iPhone14,5; iOS 17_5; en_US; en; scale=3.00; 1170x2532; 618923839)", 0.7},
	{"Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", 1.5},
}

// deviceInfo is what ingest's User-Agent parser says about an agent.
type deviceInfo struct {
	os, osVersion, browser, browserVersion, device, brand, model string
	mobile                                                       bool
}

var devices = func() []deviceInfo {
	p := enrich.NewUAParser(0)
	out := make([]deviceInfo, len(userAgents))
	for i, u := range userAgents {
		d := p.Parse(u.ua)
		out[i] = deviceInfo{d.OS, d.OSVersion, d.Browser, d.BrowserVersion, d.Device, d.Brand, d.Model, d.Device != "desktop"}
	}
	return out
}()

// outLinks are the outgoing link targets (link_out events).
var outLinks = []struct{ href, text string }{
	{"https://github.com/example/analytics", "GitHub"},
	{"https://github.com/example/analytics/releases", "Releases"},
	{"https://x.com/example", "Follow us"},
	{"https://www.npmjs.com/package/@openpanel/web", "npm package"},
	{"https://developer.mozilla.org/en-US/docs/Web/API/Navigator/sendBeacon", "sendBeacon on MDN"},
	{"https://www.postgresql.org/docs/current/sql-copy.html", "COPY"},
	{"https://discord.gg/example", "Join the Discord"},
	{"https://status.example.com/", "Status"},
}

var firstNames = []string{"Ada", "Grace", "Linus", "Margaret", "Ken", "Barbara", "Dennis", "Frances", "Alan", "Radia",
	"Edsger", "Hedy", "John", "Katherine", "Tim", "Shafi", "Niklaus", "Sophie", "Guido", "Yukihiro", "Anders", "Karen", "Leslie", "Donald"}
var lastNames = []string{"Lovelace", "Hopper", "Torvalds", "Hamilton", "Thompson", "Liskov", "Ritchie", "Allen", "Turing", "Perlman",
	"Dijkstra", "Lamarr", "McCarthy", "Johnson", "Berners-Lee", "Goldwasser", "Wirth", "Wilson", "van Rossum", "Matsumoto", "Hejlsberg", "Spärck Jones", "Lamport", "Knuth"}
var companies = []string{"Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark Industries", "Wayne Enterprises", "Soylent", "Cyberdyne", "Tyrell"}
var plans = []struct {
	name  string
	cents int64
}{{"starter", 900}, {"pro", 2900}, {"team", 9900}, {"enterprise", 49900}}

// cdf is a cumulative distribution of weights, normalised to 1.
type cdf []float64

func newCDF(n int, weight func(int) float64) cdf {
	c := make(cdf, n)
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

// pick draws an index (binary search: the tables are small or the draw rare).
func (c cdf) pick(u float64) int {
	lo, hi := 0, len(c)-1
	for lo < hi {
		mid := (lo + hi) / 2
		if c[mid] < u {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// diurnal is the share of a day's sessions starting in each local minute:
// quiet at night, a morning peak, a long afternoon and a smaller evening.
func diurnal() cdf {
	return newCDF(1440, func(m int) float64 {
		h := float64(m) / 60
		g := func(mu, sigma, a float64) float64 { d := (h - mu) / sigma; return a * math.Exp(-d*d/2) }
		return 0.08 + g(10.5, 1.8, 1) + g(15, 2.5, 1.1) + g(21, 1.6, 0.55)
	})
}
