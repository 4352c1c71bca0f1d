package enrich

import (
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	useragent "github.com/medama-io/go-useragent"
	"github.com/medama-io/go-useragent/agents"
	"github.com/x-way/crawlerdetect"
)

// Device kinds: the complete vocabulary of Device.Device.
const (
	DeviceDesktop = "desktop"
	DeviceMobile  = "mobile"
	DeviceTablet  = "tablet"
	// DeviceServer is a non-browser client: server-side SDKs, HTTP libraries
	// and requests without a User-Agent. These are real events, not bots.
	DeviceServer = "server"
	DeviceBot    = "bot"
)

// Bot types: the complete vocabulary of Bot.Type.
const (
	BotCrawler  = "crawler"  // search-engine and generic crawlers/spiders (also the fallback)
	BotAI       = "ai"       // AI training crawlers and assistant fetchers (GPTBot, ClaudeBot, PerplexityBot…)
	BotSEO      = "seo"      // SEO and backlink crawlers (AhrefsBot, SemrushBot…)
	BotPreview  = "preview"  // link-preview fetchers of social apps and messengers
	BotMonitor  = "monitor"  // uptime monitors and health checks
	BotHeadless = "headless" // automated browsers and page auditors (HeadlessChrome, Lighthouse…)
)

// DefaultUACacheSize is used when NewUAParser is given a size <= 0. A site
// sees a long tail of User-Agents, but a few thousand cover nearly all hits.
const DefaultUACacheSize = 8192

// maxUALen caps the User-Agent we look at. Real ones stay under ~500 bytes;
// the cap bounds both the regex work of crawler detection and the memory a
// cache entry can pin, whatever a hostile client sends.
const maxUALen = 1024

// Device is what a User-Agent says about the visitor's software and hardware.
type Device struct {
	Browser, BrowserVersion string // e.g. "Chrome", "126.0.0.0"
	OS, OSVersion           string // e.g. "Windows", "10"; "macOS", "iOS", "Android", "Linux"...
	Device                  string // one of "desktop","mobile","tablet","server","bot"
	Brand, Model            string // e.g. "Apple","iPhone"; "Samsung","SM-G991B" where derivable; may be ""
	Bot                     *Bot   // non-nil for known bots/crawlers; shared, treat as read-only
}

// Bot identifies an automated client. Type is one of the Bot* constants.
type Bot struct{ Name, Type string }

// UAParser classifies User-Agent strings. It is safe for concurrent use and
// meant to be created once per process: construction loads the browser trie
// and results are cached.
//
// Classification order matters and is deliberate:
//  1. empty UA or a known HTTP library / server SDK → "server", never a bot,
//     because server-side tracking sends events from such clients;
//  2. our own table of well-known bots (names and types);
//  3. crawlerdetect and medama's bot flag as a catch-all;
//  4. otherwise browser, OS and device from medama-io/go-useragent, refined
//     with OS versions, brand/model and tablet rules it does not provide.
type UAParser struct {
	ua    *useragent.Parser
	cache *uaCache
}

// NewUAParser returns a parser whose result cache holds about cacheSize
// User-Agents (DefaultUACacheSize when cacheSize <= 0).
func NewUAParser(cacheSize int) *UAParser {
	if cacheSize <= 0 {
		cacheSize = DefaultUACacheSize
	}
	return &UAParser{ua: useragent.NewParser(), cache: newUACache(cacheSize)}
}

// Parse classifies ua. Hits in the cache cost a hash and a map read;
// misses cost tens to hundreds of microseconds, dominated by crawlerdetect's
// large regular expression, which is why results are cached. Concurrent
// misses on the same string may each parse it; the results are identical.
func (p *UAParser) Parse(ua string) Device {
	ua = strings.TrimSpace(ua)
	if ua == "" {
		return Device{Device: DeviceServer}
	}
	if len(ua) > maxUALen {
		ua = truncateUTF8(ua, maxUALen)
	}
	if d, ok := p.cache.get(ua); ok {
		return d
	}
	d := p.parse(ua)
	// Clone the key: ua may be a slice of a large request buffer that the
	// cache would otherwise keep alive.
	p.cache.put(strings.Clone(ua), d)
	return d
}

func (p *UAParser) parse(ua string) Device {
	if isServerClient(ua) {
		return Device{Device: DeviceServer}
	}
	lower := strings.ToLower(ua)
	r := p.ua.Parse(ua)

	d := Device{
		Browser:        browserName(r.Browser(), ua),
		BrowserVersion: r.BrowserVersion(),
		OS:             osName(r.OS()),
	}
	if d.Browser == "IE" {
		// medama reports the Trident engine version for IE 11.
		if v := versionAfter(ua, "rv:"); v != "" {
			d.BrowserVersion = v
		}
	}
	if d.Browser == "" {
		d.BrowserVersion = ""
	}
	if d.OS == "" && strings.Contains(ua, "CFNetwork/") {
		// Native Apple apps (URLSession) send "App/1 CFNetwork/x Darwin/y".
		// Far more of those are iOS than macOS, so that is our best guess.
		d.OS = "iOS"
	}
	d.OSVersion = osVersion(d.OS, ua)
	d.Brand, d.Model = brandModel(d.OS, ua)

	if bot := knownBot(lower); bot != nil {
		d.Bot = bot
	} else if r.IsBot() || crawlerdetect.IsCrawler(ua) {
		d.Bot = &Bot{Name: guessBotName(ua), Type: BotCrawler}
	}
	if d.Bot != nil {
		d.Device = DeviceBot
		return d
	}
	d.Device = deviceKind(r.Device(), d.OS, ua)
	return d
}

// deviceKind maps medama's device type onto our vocabulary and fixes the
// cases it gets wrong: Android tablets (no "Mobile" token), Kindle Fire, and
// clients it does not recognise at all.
func deviceKind(dev agents.Device, os, ua string) string {
	if strings.Contains(ua, "iPad") {
		return DeviceTablet
	}
	if os == "Android" && (strings.Contains(ua, "AppleWebKit") || strings.Contains(ua, "Gecko/")) {
		// Android browsers mark phones with "Mobile"; tablets omit it
		// (Chrome) or say "Tablet" (Firefox). Only browser UAs follow this
		// convention, hence the engine check (Dalvik app UAs never say Mobile).
		if strings.Contains(ua, "Tablet") || !strings.Contains(ua, "Mobile") {
			return DeviceTablet
		}
		return DeviceMobile
	}
	switch dev {
	case agents.DeviceMobile:
		return DeviceMobile
	case agents.DeviceTablet:
		return DeviceTablet
	case agents.DeviceDesktop, agents.DeviceTV:
		// Our vocabulary has no TV; a big-screen browser is closest to desktop.
		return DeviceDesktop
	}
	switch os {
	case "iOS", "Android":
		return DeviceMobile
	case "":
		// No OS and not a recognised browser: if it does not even pretend to
		// be a browser it is some program talking to us.
		if !strings.HasPrefix(ua, "Mozilla/") && !strings.HasPrefix(ua, "Opera/") {
			return DeviceServer
		}
	}
	return DeviceDesktop
}

// browserName normalises medama's names where they differ from the product's
// own, and drops the "browser" medama infers from Android's Dalvik HTTP
// library, which is an app, not a browser.
func browserName(b agents.Browser, ua string) string {
	switch b {
	case agents.BrowserSamsung:
		return "Samsung Internet"
	case agents.BrowserAndroid:
		if strings.HasPrefix(ua, "Dalvik/") {
			return ""
		}
	}
	return string(b)
}

func osName(o agents.OS) string {
	if o == agents.OSMacOS {
		return "macOS"
	}
	return string(o)
}

// windowsVersions maps the NT kernel version in the UA to the marketing name.
// Windows 11 still sends "Windows NT 10.0" (only client hints tell them
// apart), so both appear as "10".
var windowsVersions = map[string]string{
	"10.0": "10", "6.3": "8.1", "6.2": "8", "6.1": "7", "6.0": "Vista", "5.2": "XP", "5.1": "XP",
}

// osVersion extracts the OS version, which medama does not provide.
func osVersion(os, ua string) string {
	switch os {
	case "Windows":
		return windowsVersions[versionAfter(ua, "Windows NT ")]
	case "macOS":
		return dotted(versionAfter(ua, "Mac OS X "))
	case "iOS":
		for _, marker := range [...]string{"iPhone OS ", "CPU OS ", "iOS "} {
			if v := versionAfter(ua, marker); v != "" {
				return dotted(v)
			}
		}
		// Darwin 20 shipped with iOS 14, and the offset has held since.
		if v := versionAfter(ua, "Darwin/"); v != "" {
			major, _, _ := strings.Cut(v, ".")
			if n := atoiSmall(major); n >= 20 && n < 100 {
				return itoaSmall(n - 6)
			}
		}
	case "Android":
		return versionAfter(ua, "Android ")
	case "ChromeOS":
		// "CrOS x86_64 14541.0.0": the platform version follows the arch.
		if _, rest, ok := strings.Cut(ua, "CrOS "); ok {
			if _, rest, ok = strings.Cut(rest, " "); ok {
				return versionAfter(rest, "")
			}
		}
	}
	return ""
}

// versionAfter returns the run of digits, dots and underscores that follows
// the first occurrence of marker in s.
func versionAfter(s, marker string) string {
	i := strings.Index(s, marker)
	if i < 0 {
		return ""
	}
	s = s[i+len(marker):]
	n := 0
	for n < len(s) && (s[n] >= '0' && s[n] <= '9' || s[n] == '.' || s[n] == '_') {
		n++
	}
	return strings.TrimRight(s[:n], "._")
}

// dotted turns Apple's "17_5_1" into "17.5.1".
func dotted(v string) string {
	if strings.IndexByte(v, '_') < 0 {
		return v
	}
	return strings.ReplaceAll(v, "_", ".")
}

// brandModel derives the hardware maker and model where the UA names them.
// Apple devices are identified by platform token; Android devices by the
// model token, with the brand from a prefix table (the UA rarely names it).
func brandModel(os, ua string) (brand, model string) {
	switch {
	case strings.Contains(ua, "iPhone"):
		return "Apple", "iPhone"
	case strings.Contains(ua, "iPad"):
		return "Apple", "iPad"
	case strings.Contains(ua, "iPod"):
		return "Apple", "iPod touch"
	case strings.Contains(ua, "Macintosh"):
		return "Apple", "Mac"
	case os == "iOS":
		return "Apple", "" // CFNetwork app UA: Apple, model unknown
	case os == "Android":
		model = androidModel(ua)
		return androidBrand(model, ua), model
	}
	return "", ""
}

// androidModel returns the device model from the UA's platform group, e.g.
// "(Linux; Android 14; SM-S918B Build/UP1A.231005.007; wv)" → "SM-S918B".
// Chrome's reduced UA always says "K" there, which carries no information.
func androidModel(ua string) string {
	i := strings.Index(ua, "Android")
	if i < 0 {
		return ""
	}
	start := strings.LastIndexByte(ua[:i], '(')
	end := strings.IndexByte(ua[i:], ')')
	if start < 0 || end < 0 {
		return ""
	}
	group := ua[start+1 : i+end]
	for part := range strings.SplitSeq(group, ";") {
		part = strings.TrimSpace(part)
		if b, _, ok := strings.Cut(part, "Build/"); ok {
			part = strings.TrimSpace(b)
		}
		if len(part) >= 8 && strings.EqualFold(part[:8], "SAMSUNG ") {
			part = strings.TrimSpace(part[8:])
		}
		if isNotModel(part) {
			continue
		}
		return part
	}
	return ""
}

func isNotModel(p string) bool {
	switch p {
	case "", "K", "U", "Linux", "wv", "Mobile", "Tablet", "Android", "x86_64", "arm64", "aarch64":
		return true
	}
	if strings.HasPrefix(p, "Android") || strings.HasPrefix(p, "rv:") || strings.HasPrefix(p, "Linux ") {
		return true
	}
	// Locale tokens of old UAs: "en", "en-us", "en_US", "zh-CN".
	if (len(p) == 2 || len(p) == 5 && (p[2] == '-' || p[2] == '_')) && isLetters(p[:2]) {
		return len(p) == 2 || isLetters(p[3:])
	}
	return false
}

func isLetters(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// androidBrands maps model-number prefixes to makers. Matched
// case-insensitively, first match wins, so longer prefixes go first where
// they overlap.
var androidBrands = []struct{ prefix, brand string }{
	{"SM-", "Samsung"}, {"GT-", "Samsung"}, {"SCH-", "Samsung"}, {"SGH-", "Samsung"},
	{"Galaxy", "Samsung"},
	{"Pixel", "Google"}, {"Nexus", "Google"},
	{"Redmi", "Xiaomi"}, {"POCO", "Xiaomi"}, {"Mi ", "Xiaomi"}, {"Xiaomi", "Xiaomi"},
	{"OnePlus", "OnePlus"},
	{"CPH", "OPPO"}, {"OPPO", "OPPO"},
	{"RMX", "realme"},
	{"vivo", "vivo"},
	{"moto", "Motorola"}, {"XT", "Motorola"},
	{"Nokia", "Nokia"},
	{"LM-", "LG"}, {"LG-", "LG"},
	{"HUAWEI", "Huawei"}, {"HONOR", "Honor"},
	{"Infinix", "Infinix"}, {"TECNO", "Tecno"}, {"itel", "itel"},
	{"KF", "Amazon"},
	{"Lenovo", "Lenovo"}, {"ASUS", "ASUS"},
	{"SO-", "Sony"}, {"XQ-", "Sony"}, {"Xperia", "Sony"},
	{"HTC", "HTC"}, {"ZTE", "ZTE"}, {"TCL", "TCL"},
	{"Fairphone", "Fairphone"},
}

func androidBrand(model, ua string) string {
	for _, b := range androidBrands {
		if len(model) >= len(b.prefix) && strings.EqualFold(model[:len(b.prefix)], b.prefix) {
			return b.brand
		}
	}
	// Samsung Internet says "SAMSUNG SM-…"; the model check above already
	// covers that, but older Samsung UAs name only the brand.
	if strings.Contains(ua, "SAMSUNG") {
		return "Samsung"
	}
	return ""
}

// serverClients are the first product tokens (lower-case, before '/' or
// space) of HTTP libraries, CLI tools and server SDKs. Such clients send
// events from servers on purpose, so they are "server", not bots, even
// though crawlerdetect lists many of them.
var serverClients = map[string]bool{
	"curl": true, "libcurl": true, "wget": true, "wget2": true, "httpie": true,
	"go-http-client": true, "python-requests": true, "python-urllib": true,
	"python-httpx": true, "httpx": true, "aiohttp": true, "python": true, "urllib3": true,
	"node": true, "node-fetch": true, "undici": true, "axios": true, "got": true,
	"ky": true, "superagent": true, "node-superagent": true, "deno": true, "bun": true,
	"okhttp": true, "java": true, "apache-httpclient": true, "unirest-java": true,
	"ktor-client": true, "dart": true, "postmanruntime": true, "insomnia": true,
	"guzzlehttp": true, "php": true, "ruby": true, "faraday": true, "rest-client": true,
	"typhoeus": true, "reqwest": true, "hyper": true, "ureq": true, "restsharp": true,
	"dotnet": true, "winhttp": true, "libwww-perl": true, "lwp-trivial": true,
	"hackney": true, "req": true, "finch": true, "mint": true,
	"openpanel": true, "@openpanel": true,
}

// isServerClient reports whether ua is an HTTP library or server SDK (see
// serverClients). Only the first token counts: "LinkedInBot/1.0 (…
// Apache-HttpClient …)" is a bot that merely uses a library.
func isServerClient(ua string) bool {
	end := len(ua)
	for i := 0; i < len(ua); i++ {
		if c := ua[i]; c == '/' || c == ' ' || c == '(' || c == ';' {
			end = i
			break
		}
	}
	if end > 32 {
		return false
	}
	var buf [32]byte
	tok := buf[:end]
	for i := range end {
		c := ua[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		tok[i] = c
	}
	if serverClients[string(tok)] {
		return true
	}
	// Versioned SDK names such as "openpanel-node" or "openpanel_sdk".
	return strings.HasPrefix(string(tok), "openpanel")
}

// knownBot is our table of well-known bots, matched by lower-case substring
// of the whole UA. It exists to name and type bots; detection of the long
// tail is left to crawlerdetect. Order matters where substrings overlap.
var knownBots = []struct {
	needle string
	bot    Bot
}{
	// AI crawlers and assistant fetchers.
	{"gptbot", Bot{"GPTBot", BotAI}},
	{"chatgpt-user", Bot{"ChatGPT-User", BotAI}},
	{"oai-searchbot", Bot{"OAI-SearchBot", BotAI}},
	{"claudebot", Bot{"ClaudeBot", BotAI}},
	{"claude-user", Bot{"Claude-User", BotAI}},
	{"claude-searchbot", Bot{"Claude-SearchBot", BotAI}},
	{"claude-web", Bot{"Claude-Web", BotAI}},
	{"anthropic-ai", Bot{"anthropic-ai", BotAI}},
	{"perplexitybot", Bot{"PerplexityBot", BotAI}},
	{"perplexity-user", Bot{"Perplexity-User", BotAI}},
	{"ccbot", Bot{"CCBot", BotAI}},
	{"bytespider", Bot{"Bytespider", BotAI}},
	{"amazonbot", Bot{"Amazonbot", BotAI}},
	{"meta-externalagent", Bot{"Meta-ExternalAgent", BotAI}},
	{"meta-externalfetcher", Bot{"Meta-ExternalFetcher", BotAI}},
	{"facebookbot", Bot{"FacebookBot", BotAI}},
	{"diffbot", Bot{"Diffbot", BotAI}},
	{"youbot", Bot{"YouBot", BotAI}},
	{"cohere-", Bot{"Cohere", BotAI}},
	{"mistralai-user", Bot{"MistralAI-User", BotAI}},
	{"ai2bot", Bot{"AI2Bot", BotAI}},
	{"duckassistbot", Bot{"DuckAssistBot", BotAI}},
	{"google-cloudvertexbot", Bot{"Google-CloudVertexBot", BotAI}},
	{"timpibot", Bot{"Timpibot", BotAI}},
	{"imagesiftbot", Bot{"ImagesiftBot", BotAI}},
	{"firecrawl", Bot{"Firecrawl", BotAI}},

	// Link previews. WhatsApp is matched at the start only, see below.
	{"facebookexternalhit", Bot{"Facebook", BotPreview}},
	{"facebookcatalog", Bot{"Facebook", BotPreview}},
	{"telegrambot", Bot{"TelegramBot", BotPreview}},
	{"twitterbot", Bot{"Twitterbot", BotPreview}}, // after telegrambot: "TelegramBot (like TwitterBot)"
	{"slackbot", Bot{"Slackbot", BotPreview}},
	{"slack-imgproxy", Bot{"Slackbot", BotPreview}},
	{"discordbot", Bot{"Discordbot", BotPreview}},
	{"linkedinbot", Bot{"LinkedInBot", BotPreview}},
	{"skypeuripreview", Bot{"Skype", BotPreview}},
	{"pinterestbot", Bot{"Pinterestbot", BotPreview}},
	{"pinterest.com/bot", Bot{"Pinterestbot", BotPreview}},
	{"redditbot", Bot{"redditbot", BotPreview}},
	{"mastodon/", Bot{"Mastodon", BotPreview}},
	{"cardyb", Bot{"Bluesky", BotPreview}},
	{"bingpreview", Bot{"BingPreview", BotPreview}},
	{"google-pagerenderer", Bot{"Google-PageRenderer", BotPreview}},
	{"snap url preview", Bot{"Snapchat", BotPreview}},
	{"embedly", Bot{"Embedly", BotPreview}},
	{"iframely", Bot{"Iframely", BotPreview}},
	{"vkshare", Bot{"VK", BotPreview}},
	{"applenewsbot", Bot{"AppleNewsBot", BotPreview}},

	// Monitoring and health checks.
	{"uptimerobot", Bot{"UptimeRobot", BotMonitor}},
	{"pingdom", Bot{"Pingdom", BotMonitor}},
	{"statuscake", Bot{"StatusCake", BotMonitor}},
	{"site24x7", Bot{"Site24x7", BotMonitor}},
	{"betteruptime", Bot{"Better Stack", BotMonitor}},
	{"better uptime", Bot{"Better Stack", BotMonitor}},
	{"uptime-kuma", Bot{"Uptime Kuma", BotMonitor}},
	{"datadogsynthetics", Bot{"Datadog Synthetics", BotMonitor}},
	{"datadog/synthetics", Bot{"Datadog Synthetics", BotMonitor}},
	{"newrelicpinger", Bot{"New Relic", BotMonitor}},
	{"checkly", Bot{"Checkly", BotMonitor}},
	{"hetrixtools", Bot{"HetrixTools", BotMonitor}},
	{"freshping", Bot{"Freshping", BotMonitor}},
	{"nodeping", Bot{"NodePing", BotMonitor}},
	{"updown.io", Bot{"updown.io", BotMonitor}},
	{"gatus", Bot{"Gatus", BotMonitor}},
	{"cron-job.org", Bot{"cron-job.org", BotMonitor}},
	{"uptimebot", Bot{"Uptime.com", BotMonitor}},
	{"sentryuptimebot", Bot{"Sentry Uptime", BotMonitor}},
	{"googlestackdrivermonitoring", Bot{"Google Cloud Monitoring", BotMonitor}},
	{"amazon-route53-health-check", Bot{"Route 53 Health Check", BotMonitor}},
	{"elb-healthchecker", Bot{"ELB Health Checker", BotMonitor}},
	{"kube-probe", Bot{"kube-probe", BotMonitor}},
	{"elastic-heartbeat", Bot{"Elastic Heartbeat", BotMonitor}},
	{"zabbix", Bot{"Zabbix", BotMonitor}},
	{"nagios", Bot{"Nagios", BotMonitor}},
	{"uptrends", Bot{"Uptrends", BotMonitor}},

	// Automated browsers and auditors.
	{"headlesschrome", Bot{"HeadlessChrome", BotHeadless}},
	{"phantomjs", Bot{"PhantomJS", BotHeadless}},
	{"slimerjs", Bot{"SlimerJS", BotHeadless}},
	{"chrome-lighthouse", Bot{"Lighthouse", BotHeadless}},
	{"lighthouse", Bot{"Lighthouse", BotHeadless}},
	{"gtmetrix", Bot{"GTmetrix", BotHeadless}},
	{"pagespeed", Bot{"PageSpeed Insights", BotHeadless}},
	{"prerender", Bot{"Prerender", BotHeadless}},

	// SEO tools.
	{"ahrefs", Bot{"AhrefsBot", BotSEO}},
	{"semrushbot", Bot{"SemrushBot", BotSEO}},
	{"siteauditbot", Bot{"SemrushBot", BotSEO}},
	{"mj12bot", Bot{"MJ12bot", BotSEO}},
	{"dotbot", Bot{"DotBot", BotSEO}},
	{"rogerbot", Bot{"rogerbot", BotSEO}},
	{"screaming frog", Bot{"Screaming Frog", BotSEO}},
	{"dataforseobot", Bot{"DataForSeoBot", BotSEO}},
	{"blexbot", Bot{"BLEXBot", BotSEO}},
	{"serpstatbot", Bot{"SerpstatBot", BotSEO}},
	{"barkrowler", Bot{"Barkrowler", BotSEO}},
	{"seokicks", Bot{"SEOkicks", BotSEO}},
	{"sistrix", Bot{"SISTRIX", BotSEO}},

	// Search engines and archives.
	{"adsbot-google", Bot{"AdsBot-Google", BotCrawler}},
	{"mediapartners-google", Bot{"Mediapartners-Google", BotCrawler}},
	{"storebot-google", Bot{"Storebot-Google", BotCrawler}},
	{"google-inspectiontool", Bot{"Google-InspectionTool", BotCrawler}},
	{"googleother", Bot{"GoogleOther", BotCrawler}},
	{"googlebot", Bot{"Googlebot", BotCrawler}},
	{"bingbot", Bot{"Bingbot", BotCrawler}},
	{"adidxbot", Bot{"Bingbot", BotCrawler}},
	{"msnbot", Bot{"msnbot", BotCrawler}},
	{"yahoo! slurp", Bot{"Yahoo! Slurp", BotCrawler}},
	{"duckduckbot", Bot{"DuckDuckBot", BotCrawler}},
	{"baiduspider", Bot{"Baiduspider", BotCrawler}},
	{"yandex.com/bots", Bot{"YandexBot", BotCrawler}},
	{"yandexbot", Bot{"YandexBot", BotCrawler}},
	{"applebot", Bot{"Applebot", BotCrawler}},
	{"sogou web spider", Bot{"Sogou", BotCrawler}},
	{"sogou inst spider", Bot{"Sogou", BotCrawler}},
	{"360spider", Bot{"360Spider", BotCrawler}},
	{"seznambot", Bot{"SeznamBot", BotCrawler}},
	{"yeti/", Bot{"Naver Yeti", BotCrawler}},
	{"daum/", Bot{"Daum", BotCrawler}},
	{"petalbot", Bot{"PetalBot", BotCrawler}},
	{"qwantbot", Bot{"Qwantbot", BotCrawler}},
	{"qwantify", Bot{"Qwantbot", BotCrawler}},
	{"mojeekbot", Bot{"MojeekBot", BotCrawler}},
	{"coccocbot", Bot{"coccocbot", BotCrawler}},
	{"yisouspider", Bot{"YisouSpider", BotCrawler}},
	{"archive.org_bot", Bot{"Internet Archive", BotCrawler}},
	{"ia_archiver", Bot{"Internet Archive", BotCrawler}},
}

// knownBot returns the table entry for lowerUA, or nil. The returned pointer
// is shared by every Device carrying that bot, which keeps cache entries
// small; callers must not modify it.
func knownBot(lowerUA string) *Bot {
	if strings.HasPrefix(lowerUA, "whatsapp/") {
		// WhatsApp's preview fetcher; the in-app browser does not start so.
		return &whatsAppBot
	}
	for i := range knownBots {
		if strings.Contains(lowerUA, knownBots[i].needle) {
			return &knownBots[i].bot
		}
	}
	return nil
}

var whatsAppBot = Bot{"WhatsApp", BotPreview}

// guessBotName names a bot that only crawlerdetect recognised: the first
// token that calls itself a bot, spider or crawler, else the first product
// token, e.g. "Mozilla/5.0 (compatible; FooBot/1.2; +http://…)" → "FooBot".
func guessBotName(ua string) string {
	fields := strings.FieldsFunc(ua, func(r rune) bool {
		return r == ' ' || r == ';' || r == '(' || r == ')' || r == ','
	})
	first := ""
	for _, f := range fields {
		name, _, _ := strings.Cut(f, "/")
		name = strings.Trim(name, "+-_.:")
		if name == "" || strings.HasPrefix(name, "http") || strings.EqualFold(name, "compatible") {
			continue
		}
		if first == "" && !strings.EqualFold(name, "Mozilla") {
			first = name
		}
		l := strings.ToLower(name)
		if strings.Contains(l, "bot") || strings.Contains(l, "spider") || strings.Contains(l, "crawl") {
			return truncateUTF8(name, 64)
		}
	}
	if first == "" {
		return "Unknown"
	}
	return truncateUTF8(first, 64)
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func atoiSmall(s string) int {
	if s == "" || len(s) > 4 {
		return -1
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return -1
		}
		n = n*10 + int(s[i]-'0')
	}
	return n
}

func itoaSmall(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return string([]byte{byte('0' + n/10), byte('0' + n%10)})
}

// uaCache is a bounded, concurrency-safe map from User-Agent to Device.
//
// Reads vastly outnumber writes (a miss costs ~0.25 ms of parsing, a hit
// should cost well under a microsecond), so each shard is copy-on-write: a
// reader does one atomic load and plain map reads, never takes a lock and
// never writes shared memory, which keeps the hot UAs that every core hits
// from bouncing a lock's cache line between cores. Writers serialise on the
// shard mutex and publish a new state. The shard count grows with the cache
// size so that a generation stays at 64 entries or fewer, and maps hold
// pointers, so copying a shard (~2 KB) is cheap next to the parse that caused
// the write, even under a flood of never-seen User-Agents.
//
// Eviction is by generations: new entries go into cur; when cur is full it
// becomes prev and a fresh cur starts, dropping the old prev wholesale. Hits
// in prev are promoted, so anything used within the last generation survives.
// That approximates LRU with no per-entry bookkeeping and bounds a shard at
// 2*genMax entries.
type uaCache struct {
	seed   maphash.Seed
	shards []uaShard
	mask   uint64
	genMax int
}

type uaShard struct {
	state atomic.Pointer[uaShardState]
	mu    sync.Mutex // serialises writers only
	_     [48]byte   // keep neighbouring shards off one cache line
}

// uaShardState is immutable once published, and so are the Devices it
// points to.
type uaShardState struct {
	cur, prev map[string]*Device
}

func newUACache(size int) *uaCache {
	// Power-of-two shard count with 32–64 entries per generation, capped
	// so that huge sizes just get bigger generations.
	n := 1
	for n < 4096 && n*64 < size {
		n *= 2
	}
	c := &uaCache{
		seed:   maphash.MakeSeed(),
		shards: make([]uaShard, n),
		mask:   uint64(n - 1),
		genMax: max(1, size/(2*n)),
	}
	for i := range c.shards {
		c.shards[i].state.Store(&uaShardState{})
	}
	return c
}

func (c *uaCache) shard(key string) *uaShard {
	return &c.shards[maphash.String(c.seed, key)&c.mask]
}

func (c *uaCache) get(key string) (Device, bool) {
	s := c.shard(key)
	st := s.state.Load()
	if d, ok := st.cur[key]; ok {
		return *d, true
	}
	d, ok := st.prev[key]
	if !ok {
		return Device{}, false
	}
	// Promote so that a UA in steady use survives the next rotation. This is
	// a write, but at most once per entry per generation.
	s.insert(strings.Clone(key), d, c.genMax)
	return *d, true
}

func (c *uaCache) put(key string, d Device) {
	c.shard(key).insert(key, &d, c.genMax)
}

func (s *uaShard) insert(key string, d *Device, genMax int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.state.Load()
	if _, ok := old.cur[key]; ok {
		return // a concurrent miss got here first; results are identical
	}
	next := &uaShardState{prev: old.prev}
	if len(old.cur) >= genMax {
		next.prev = old.cur
		next.cur = make(map[string]*Device, genMax)
	} else {
		next.cur = make(map[string]*Device, len(old.cur)+1)
		for k, v := range old.cur {
			next.cur[k] = v
		}
	}
	next.cur[key] = d
	s.state.Store(next)
}

// len reports the number of cached entries (for tests). Entries promoted
// from prev are counted twice until the next rotation.
func (c *uaCache) len() int {
	n := 0
	for i := range c.shards {
		st := c.shards[i].state.Load()
		n += len(st.cur) + len(st.prev)
	}
	return n
}
