package enrich

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// uaCases are real-world User-Agent strings (browser releases of 2024 and the
// published UAs of the bots). want.Bot is compared by value.
var uaCases = []struct {
	name string
	ua   string
	want Device
}{
	{"chrome windows",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
		Device{Browser: "Chrome", BrowserVersion: "126.0.0.0", OS: "Windows", OSVersion: "10", Device: DeviceDesktop}},
	{"chrome mac",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
		Device{Browser: "Chrome", BrowserVersion: "126.0.0.0", OS: "macOS", OSVersion: "10.15.7", Device: DeviceDesktop, Brand: "Apple", Model: "Mac"}},
	{"chrome linux",
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
		Device{Browser: "Chrome", BrowserVersion: "126.0.0.0", OS: "Linux", Device: DeviceDesktop}},
	{"chrome android reduced UA",
		"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36",
		Device{Browser: "Chrome", BrowserVersion: "126.0.0.0", OS: "Android", OSVersion: "10", Device: DeviceMobile}},
	{"chrome android pixel",
		"Mozilla/5.0 (Linux; Android 14; Pixel 8 Pro) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.71 Mobile Safari/537.36",
		Device{Browser: "Chrome", BrowserVersion: "126.0.6478.71", OS: "Android", OSVersion: "14", Device: DeviceMobile, Brand: "Google", Model: "Pixel 8 Pro"}},
	{"chrome android tablet",
		"Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
		Device{Browser: "Chrome", BrowserVersion: "126.0.0.0", OS: "Android", OSVersion: "13", Device: DeviceTablet, Brand: "Samsung", Model: "SM-X700"}},
	{"android webview facebook in-app",
		"Mozilla/5.0 (Linux; Android 13; SM-S911B Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/126.0.6478.71 Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/469.0.0.48.70;]",
		Device{Browser: "Chrome", BrowserVersion: "126.0.6478.71", OS: "Android", OSVersion: "13", Device: DeviceMobile, Brand: "Samsung", Model: "SM-S911B"}},
	{"safari iphone",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
		Device{Browser: "Safari", BrowserVersion: "17.5", OS: "iOS", OSVersion: "17.5", Device: DeviceMobile, Brand: "Apple", Model: "iPhone"}},
	{"safari ipad",
		"Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
		Device{Browser: "Safari", BrowserVersion: "17.5", OS: "iOS", OSVersion: "17.5", Device: DeviceTablet, Brand: "Apple", Model: "iPad"}},
	{"safari macos",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
		Device{Browser: "Safari", BrowserVersion: "17.5", OS: "macOS", OSVersion: "10.15.7", Device: DeviceDesktop, Brand: "Apple", Model: "Mac"}},
	{"chrome ios",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/126.0.6478.54 Mobile/15E148 Safari/604.1",
		Device{Browser: "Chrome", BrowserVersion: "126.0.6478.54", OS: "iOS", OSVersion: "17.5", Device: DeviceMobile, Brand: "Apple", Model: "iPhone"}},
	{"firefox windows",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0",
		Device{Browser: "Firefox", BrowserVersion: "127.0", OS: "Windows", OSVersion: "10", Device: DeviceDesktop}},
	{"firefox linux",
		"Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
		Device{Browser: "Firefox", BrowserVersion: "127.0", OS: "Linux", Device: DeviceDesktop}},
	{"firefox mac",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:127.0) Gecko/20100101 Firefox/127.0",
		Device{Browser: "Firefox", BrowserVersion: "127.0", OS: "macOS", OSVersion: "10.15", Device: DeviceDesktop, Brand: "Apple", Model: "Mac"}},
	{"edge windows",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.87",
		Device{Browser: "Edge", BrowserVersion: "126.0.2592.87", OS: "Windows", OSVersion: "10", Device: DeviceDesktop}},
	{"samsung internet",
		"Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36",
		Device{Browser: "Samsung Internet", BrowserVersion: "25.0", OS: "Android", OSVersion: "14", Device: DeviceMobile, Brand: "Samsung", Model: "SM-S918B"}},
	{"opera windows",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 OPR/111.0.0.0",
		Device{Browser: "Opera", BrowserVersion: "111.0.0.0", OS: "Windows", OSVersion: "10", Device: DeviceDesktop}},
	{"chromeos",
		"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
		Device{Browser: "Chrome", BrowserVersion: "126.0.0.0", OS: "ChromeOS", OSVersion: "14541.0.0", Device: DeviceDesktop}},
	{"ie11 windows 7",
		"Mozilla/5.0 (Windows NT 6.1; Win64; x64; Trident/7.0; rv:11.0) like Gecko",
		Device{Browser: "IE", BrowserVersion: "11.0", OS: "Windows", OSVersion: "7", Device: DeviceDesktop}},
	{"kindle fire silk",
		"Mozilla/5.0 (Linux; Android 11; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) Silk/126.2.1 like Chrome/126.0.6478.71 Safari/537.36",
		Device{Browser: "Amazon Silk", BrowserVersion: "126.2.1", OS: "Android", OSVersion: "11", Device: DeviceTablet, Brand: "Amazon", Model: "KFTRWI"}},
	{"old android with locale",
		"Mozilla/5.0 (Linux; U; Android 4.4.2; en-us; SM-T530 Build/KOT49H) AppleWebKit/534.30 (KHTML, like Gecko) Version/4.0 Safari/534.30",
		Device{Browser: "Android Browser", BrowserVersion: "4.0", OS: "Android", OSVersion: "4.4.2", Device: DeviceTablet, Brand: "Samsung", Model: "SM-T530"}},
	{"android app (Dalvik)",
		"Dalvik/2.1.0 (Linux; U; Android 13; SM-S918B Build/TP1A.220624.014)",
		Device{OS: "Android", OSVersion: "13", Device: DeviceMobile, Brand: "Samsung", Model: "SM-S918B"}},
	{"ios app (CFNetwork)",
		"MyApp/1.0 CFNetwork/1494.0.7 Darwin/23.4.0",
		Device{OS: "iOS", OSVersion: "17", Device: DeviceMobile, Brand: "Apple"}},

	// Bots.
	{"googlebot", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
		Device{Device: DeviceBot, Bot: &Bot{"Googlebot", BotCrawler}}},
	{"googlebot smartphone",
		"Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.126 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
		Device{Browser: "Chrome", BrowserVersion: "126.0.6478.126", OS: "Android", OSVersion: "6.0.1", Device: DeviceBot, Brand: "Google", Model: "Nexus 5X", Bot: &Bot{"Googlebot", BotCrawler}}},
	{"bingbot", "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
		Device{Device: DeviceBot, Bot: &Bot{"Bingbot", BotCrawler}}},
	{"ahrefs", "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
		Device{Device: DeviceBot, Bot: &Bot{"AhrefsBot", BotSEO}}},
	{"facebook preview", "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
		Device{Device: DeviceBot, Bot: &Bot{"Facebook", BotPreview}}},
	{"slack preview", "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
		Device{Device: DeviceBot, Bot: &Bot{"Slackbot", BotPreview}}},
	{"telegram preview", "TelegramBot (like TwitterBot)",
		Device{Device: DeviceBot, Bot: &Bot{"TelegramBot", BotPreview}}},
	{"whatsapp preview", "WhatsApp/2.23.20.0 A",
		Device{Device: DeviceBot, Bot: &Bot{"WhatsApp", BotPreview}}},
	{"uptimerobot", "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
		Device{Device: DeviceBot, Bot: &Bot{"UptimeRobot", BotMonitor}}},
	{"gptbot", "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
		Device{Browser: "Safari", Device: DeviceBot, Bot: &Bot{"GPTBot", BotAI}}},
	{"claudebot", "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; +claudebot@anthropic.com)",
		Device{Browser: "Safari", Device: DeviceBot, Bot: &Bot{"ClaudeBot", BotAI}}},
	{"headless chrome",
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/126.0.0.0 Safari/537.36",
		Device{Browser: "Chrome", BrowserVersion: "126.0.0.0", OS: "Linux", Device: DeviceBot, Bot: &Bot{"HeadlessChrome", BotHeadless}}},
	{"unknown crawler named by crawlerdetect",
		"Mozilla/5.0 (compatible; Qwantify/Bleriot/1.1; +https://help.qwant.com/bot)",
		Device{Device: DeviceBot, Bot: &Bot{"Qwantbot", BotCrawler}}},

	// Server-side clients: events, not bots.
	{"empty", "", Device{Device: DeviceServer}},
	{"blank", "   ", Device{Device: DeviceServer}},
	{"curl", "curl/8.4.0", Device{Device: DeviceServer}},
	{"go", "Go-http-client/2.0", Device{Device: DeviceServer}},
	{"python-requests", "python-requests/2.31.0", Device{Device: DeviceServer}},
	{"node-fetch", "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)", Device{Device: DeviceServer}},
	{"axios", "axios/1.6.7", Device{Device: DeviceServer}},
	{"okhttp", "okhttp/4.12.0", Device{Device: DeviceServer}},
	{"node fetch (undici)", "node", Device{Device: DeviceServer}},
	{"openpanel sdk", "@openpanel/sdk/1.0.0", Device{Device: DeviceServer}},
	{"unknown program", "SomeDaemon/3.1", Device{Device: DeviceServer}},
}

func TestUAParser(t *testing.T) {
	p := NewUAParser(64)
	for _, tc := range uaCases {
		t.Run(tc.name, func(t *testing.T) {
			// Twice: the second answer comes from the cache and must agree.
			for range 2 {
				got := p.Parse(tc.ua)
				if !sameDevice(got, tc.want) {
					t.Fatalf("Parse(%q)\n got %s\nwant %s", tc.ua, fmtDevice(got), fmtDevice(tc.want))
				}
			}
		})
	}
}

// TestUAParserBotNames checks bot naming/typing for UAs that we do not
// otherwise need full device expectations for.
func TestUAParserBotNames(t *testing.T) {
	p := NewUAParser(0)
	for _, tc := range []struct{ ua, name, typ string }{
		{"Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)", "YandexBot", BotCrawler},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)", "Applebot", BotCrawler},
		{"Mozilla/5.0 (compatible; PerplexityBot/1.0; +https://perplexity.ai/perplexitybot)", "PerplexityBot", BotAI},
		{"Mozilla/5.0 (compatible; Bytespider; spider-feedback@bytedance.com) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.0.0 Safari/537.36", "Bytespider", BotAI},
		{"Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)", "SemrushBot", BotSEO},
		{"Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)", "Pingdom", BotMonitor},
		{"Twitterbot/1.0", "Twitterbot", BotPreview},
		{"Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)", "Discordbot", BotPreview},
		{"LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)", "LinkedInBot", BotPreview},
		{"http.rb/5.1.1 (Mastodon/4.2.1; +https://mastodon.social/)", "Mastodon", BotPreview},
		{"kube-probe/1.29", "kube-probe", BotMonitor},
		{"Mozilla/5.0 (Linux; Android 11; moto g power (2022)) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/109.0.0.0 Mobile Safari/537.36 Chrome-Lighthouse", "Lighthouse", BotHeadless},
		{"Mozilla/5.0 (compatible; FancyNewCrawler/0.9; +https://example.org/bot)", "FancyNewCrawler", BotCrawler},
	} {
		d := p.Parse(tc.ua)
		if d.Bot == nil || d.Bot.Name != tc.name || d.Bot.Type != tc.typ || d.Device != DeviceBot {
			t.Errorf("Parse(%q) = %s, want bot %s/%s", tc.ua, fmtDevice(d), tc.name, tc.typ)
		}
	}
}

// TestUAParserHostile makes sure pathological input is bounded and harmless.
func TestUAParserHostile(t *testing.T) {
	p := NewUAParser(16)
	long := "Mozilla/5.0 (Windows NT 10.0; Win64; x64) " + strings.Repeat("A(;/)", 100_000)
	for _, ua := range []string{
		long,
		strings.Repeat("é", 2000), // cut must not split a character
		"\x00\xff\xfe",
		strings.Repeat("(", 5000),
		"Mozilla/5.0 (Linux; Android",
		"Mozilla/5.0 (Linux; Android 14; ) AppleWebKit",
		"Mozilla/5.0 (Linux; Android 14; SAMSUNG ) AppleWebKit",
	} {
		d := p.Parse(ua)
		if d.Device == "" {
			t.Errorf("Parse(%.40q) gave no device kind", ua)
		}
	}
	if n := p.cache.len(); n > 16 {
		t.Errorf("cache holds %d entries, want <= 16", n)
	}
}

func TestUACacheBounded(t *testing.T) {
	for _, size := range []int{1, 10, 100, 1000, 5000} {
		c := newUACache(size)
		for i := range size * 10 {
			c.put(fmt.Sprintf("ua-%d", i), Device{Device: DeviceDesktop})
		}
		if n := c.len(); n > max(size, 2) || n < size/4 { // genMax >= 1, so two generations of one
			t.Errorf("size %d: cache holds %d entries", size, n)
		}
	}
}

// TestUACacheGenerationSize guards the copy-on-write cost: every miss copies
// one generation, so it must stay small however large the cache is.
func TestUACacheGenerationSize(t *testing.T) {
	for _, size := range []int{1, 64, DefaultUACacheSize, 50_000, 262_144} {
		c := newUACache(size)
		if c.genMax > 64 || len(c.shards)*2*c.genMax > max(size, 2) {
			t.Errorf("size %d: %d shards × genMax %d", size, len(c.shards), c.genMax)
		}
	}
}

func TestUACacheKeepsHotEntries(t *testing.T) {
	c := newUACache(64)
	c.put("hot", Device{Device: DeviceMobile})
	for i := range 10_000 {
		c.put(fmt.Sprintf("cold-%d", i), Device{})
		if _, ok := c.get("hot"); !ok {
			t.Fatalf("hot entry evicted after %d inserts", i)
		}
	}
}

func TestUAParserConcurrent(t *testing.T) {
	p := NewUAParser(32) // small: forces eviction while readers run
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				tc := uaCases[(g+i)%len(uaCases)]
				if got := p.Parse(tc.ua); !sameDevice(got, tc.want) {
					t.Errorf("concurrent Parse(%q) = %s", tc.ua, fmtDevice(got))
					return
				}
			}
		}()
	}
	wg.Wait()
}

func sameDevice(a, b Device) bool {
	if (a.Bot == nil) != (b.Bot == nil) || a.Bot != nil && *a.Bot != *b.Bot {
		return false
	}
	a.Bot, b.Bot = nil, nil
	return a == b
}

func fmtDevice(d Device) string {
	bot := "<nil>"
	if d.Bot != nil {
		bot = fmt.Sprintf("%+v", *d.Bot)
	}
	return fmt.Sprintf("{Browser:%q %q OS:%q %q Device:%q Brand:%q Model:%q Bot:%s}",
		d.Browser, d.BrowserVersion, d.OS, d.OSVersion, d.Device, d.Brand, d.Model, bot)
}

// benchUAs is a realistic mix: mostly browsers, some bots and servers.
func benchUAs() []string {
	uas := make([]string, 0, len(uaCases))
	for _, tc := range uaCases {
		uas = append(uas, tc.ua)
	}
	return uas
}

// BenchmarkParseCached is the steady state: every UA is already cached.
func BenchmarkParseCached(b *testing.B) {
	p := NewUAParser(0)
	uas := benchUAs()
	for _, ua := range uas {
		p.Parse(ua)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p.Parse(uas[i%len(uas)])
		i++
	}
}

// BenchmarkParseCachedParallel measures lock contention on the shards.
func BenchmarkParseCachedParallel(b *testing.B) {
	p := NewUAParser(0)
	uas := benchUAs()
	for _, ua := range uas {
		p.Parse(ua)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			p.Parse(uas[i%len(uas)])
			i++
		}
	})
}

// BenchmarkParseUncached is the cost of a first sighting: every iteration is
// a UA the cache has never seen (a browser UA with a unique version).
func BenchmarkParseUncached(b *testing.B) {
	p := NewUAParser(0)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p.Parse(fmt.Sprintf("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.%d.%d Safari/537.36", i/1000, i%1000))
		i++
	}
}
