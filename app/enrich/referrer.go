package enrich

import "strings"

// Referrer types. This is the whole vocabulary ClassifyReferrer can return;
// storage and UI code may switch on it.
const (
	RefSearch       = "search"       // web search engines
	RefSocial       = "social"       // social networks and messengers
	RefEmail        = "email"        // webmail clients and email-campaign link trackers
	RefAI           = "ai"           // AI assistants and answer engines
	RefVideo        = "video"        // video platforms
	RefNews         = "news"         // news sites, aggregators and feed readers
	RefShopping     = "shopping"     // marketplaces and shops
	RefCode         = "code"         // code hosting, developer Q&A and package registries
	RefCommunity    = "community"    // forums and community sites
	RefReference    = "reference"    // encyclopaedias, wikis, archives
	RefProductivity = "productivity" // work tools: docs, chat, project management
	RefBlog         = "blog"         // blogging and newsletter platforms
	RefMusic        = "music"        // music and podcast platforms
	RefUnknown      = "unknown"      // any other site (Name is then empty)
)

// Referrer says who sent a visitor. Type is one of the Ref* constants.
type Referrer struct {
	Name string // human-readable source, e.g. "Google", "Hacker News"; "" when unknown
	Type string // one of the Ref* constants; "" only when there was no referrer at all
}

// ClassifyReferrer extracts the host from a referrer URL and classifies it.
//
// The host is lower-cased, without port, userinfo, trailing dot and a leading
// "www.". Matching tries the exact host first, then strips leading labels one
// by one ("de.search.yahoo.com" → "search.yahoo.com" → "yahoo.com"), so link
// shims and mobile sites ("l.facebook.com", "lm.facebook.com",
// "m.youtube.com", "en.m.wikipedia.org") resolve to their parent site unless
// they have an entry of their own. Google's country domains
// ("google.de", "google.co.uk", "google.com.br", "news.google.fr") are mapped
// onto google.com before matching, so the table lists each Google property
// once. Android app referrers ("android-app://com.google.android.gm/") are
// matched on the package name.
//
// Empty or unparsable input yields "", Referrer{}. A host that is not in the
// table yields Referrer{Type: RefUnknown} with an empty Name; callers that
// want something to display can fall back to the host. ClassifyReferrer does
// not detect self-referrals: that needs the page's own host and is the
// caller's job.
func ClassifyReferrer(rawURL string) (host string, r Referrer) {
	host = referrerHost(rawURL)
	if host == "" {
		return "", Referrer{}
	}
	if ref, ok := lookupReferrer(host); ok {
		return host, ref
	}
	return host, Referrer{Type: RefUnknown}
}

// referrerHost pulls the host out of a URL without url.Parse: referrers are
// attacker-controlled and frequently malformed, and all we need is the
// authority, which we can slice out without allocating (ToLower only
// allocates when there is something to lower).
func referrerHost(raw string) string {
	s := strings.TrimSpace(raw)
	if s == "" {
		return ""
	}
	schemeless := false
	if i := strings.Index(s, "://"); i >= 0 {
		if !validScheme(s[:i]) {
			return ""
		}
		s = s[i+3:]
	} else if strings.HasPrefix(s, "//") {
		s = s[2:]
	} else {
		// Without a scheme we still accept "example.com/path": some clients
		// send document.referrer stripped. A dot is required so that words
		// like "HomeScreen" or "about:blank" are not mistaken for hosts.
		schemeless = true
	}
	if end := strings.IndexAny(s, "/?#\\"); end >= 0 {
		s = s[:end]
	}
	if at := strings.LastIndexByte(s, '@'); at >= 0 {
		s = s[at+1:]
	}
	if strings.HasPrefix(s, "[") {
		// IPv6 literal: keep it bracket-less, drop the port.
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return ""
		}
		s = s[1:end]
	} else if c := strings.IndexByte(s, ':'); c >= 0 {
		s = s[:c]
	}
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 || schemeless && strings.IndexByte(s, '.') < 0 {
		return ""
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_' || c == ':') {
			return ""
		}
	}
	s = strings.ToLower(s)
	if rest, ok := strings.CutPrefix(s, "www."); ok && rest != "" {
		s = rest
	}
	return s
}

// validScheme reports whether s is an RFC 3986 scheme.
func validScheme(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

// lookupReferrer matches host, then its parent domains, against the table.
func lookupReferrer(host string) (Referrer, bool) {
	if g, ok := googleAsDotCom(host); ok {
		host = g
	}
	for h := host; ; {
		if r, ok := referrerTable[h]; ok {
			return r, true
		}
		dot := strings.IndexByte(h, '.')
		if dot < 0 {
			return Referrer{}, false
		}
		h = h[dot+1:]
	}
}

// googleAsDotCom rewrites "<sub.>google.<cc>", "<sub.>google.co.<cc>" and
// "<sub.>google.com.<cc>" to "<sub.>google.com". It allocates only for those
// hosts; everything else returns ok=false immediately after a substring check.
func googleAsDotCom(host string) (string, bool) {
	var prefix, suffix string
	if rest, ok := strings.CutPrefix(host, "google."); ok {
		suffix = rest
	} else if i := strings.LastIndex(host, ".google."); i >= 0 {
		prefix, suffix = host[:i+1], host[i+len(".google."):]
	} else {
		return "", false
	}
	switch {
	case suffix == "com":
		return "", false // already canonical
	case isCCTLD(suffix), suffix == "cat":
	case strings.HasPrefix(suffix, "co.") && isCCTLD(suffix[3:]):
	case strings.HasPrefix(suffix, "com.") && isCCTLD(suffix[4:]):
	default:
		return "", false
	}
	return prefix + "google.com", true
}

func isCCTLD(s string) bool {
	return len(s) == 2 && s[0] >= 'a' && s[0] <= 'z' && s[1] >= 'a' && s[1] <= 'z'
}

// referrerTable is tally's own classification of referring hosts. Keys are
// lower-case hosts without "www."; subdomains of a key match it unless they
// have an entry of their own (see lookupReferrer).
var referrerTable = map[string]Referrer{
	// --- Search engines ---------------------------------------------------
	"google.com":       {"Google", RefSearch}, // ccTLDs via googleAsDotCom
	"bing.com":         {"Bing", RefSearch},
	"duckduckgo.com":   {"DuckDuckGo", RefSearch},
	"search.yahoo.com": {"Yahoo", RefSearch},
	"yahoo.com":        {"Yahoo", RefSearch},
	"yahoo.co.jp":      {"Yahoo! JAPAN", RefSearch},
	"yandex.ru":        {"Yandex", RefSearch},
	"yandex.com":       {"Yandex", RefSearch},
	"yandex.com.tr":    {"Yandex", RefSearch},
	"yandex.by":        {"Yandex", RefSearch},
	"yandex.kz":        {"Yandex", RefSearch},
	"yandex.ua":        {"Yandex", RefSearch},
	"ya.ru":            {"Yandex", RefSearch},
	"baidu.com":        {"Baidu", RefSearch},
	"naver.com":        {"Naver", RefSearch},
	"daum.net":         {"Daum", RefSearch},
	"ecosia.org":       {"Ecosia", RefSearch},
	"search.brave.com": {"Brave Search", RefSearch},
	"qwant.com":        {"Qwant", RefSearch},
	"startpage.com":    {"Startpage", RefSearch},
	"ixquick.com":      {"Startpage", RefSearch},
	"seznam.cz":        {"Seznam", RefSearch},
	"kagi.com":         {"Kagi", RefSearch},
	"sogou.com":        {"Sogou", RefSearch},
	"so.com":           {"360 Search", RefSearch},
	"yep.com":          {"Yep", RefSearch},
	"mojeek.com":       {"Mojeek", RefSearch},
	"ask.com":          {"Ask.com", RefSearch},
	"search.aol.com":   {"AOL Search", RefSearch},
	"aol.com":          {"AOL", RefSearch},
	"presearch.com":    {"Presearch", RefSearch},
	"metager.org":      {"MetaGer", RefSearch},
	"metager.de":       {"MetaGer", RefSearch},
	"swisscows.com":    {"Swisscows", RefSearch},
	"dogpile.com":      {"Dogpile", RefSearch},
	"coccoc.com":       {"Cốc Cốc", RefSearch},
	"petalsearch.com":  {"Petal Search", RefSearch},
	"search.lilo.org":  {"Lilo", RefSearch},
	"info.com":         {"Info.com", RefSearch},
	"marginalia.nu":    {"Marginalia", RefSearch},
	"wiby.me":          {"Wiby", RefSearch},
	"rambler.ru":       {"Rambler", RefSearch},
	"go.mail.ru":       {"Mail.ru Search", RefSearch},
	"search.naver.com": {"Naver", RefSearch},
	"neeva.com":        {"Neeva", RefSearch},
	"webcrawler.com":   {"WebCrawler", RefSearch},
	"lycos.com":        {"Lycos", RefSearch},
	"search.seznam.cz": {"Seznam", RefSearch},
	"com.google.android.googlequicksearchbox": {"Google", RefSearch},

	// --- Social networks and messengers ------------------------------------
	"facebook.com":           {"Facebook", RefSocial},
	"l.facebook.com":         {"Facebook", RefSocial},
	"lm.facebook.com":        {"Facebook", RefSocial},
	"m.facebook.com":         {"Facebook", RefSocial},
	"fb.com":                 {"Facebook", RefSocial},
	"fb.me":                  {"Facebook", RefSocial},
	"com.facebook.katana":    {"Facebook", RefSocial},
	"messenger.com":          {"Messenger", RefSocial},
	"instagram.com":          {"Instagram", RefSocial},
	"l.instagram.com":        {"Instagram", RefSocial},
	"com.instagram.android":  {"Instagram", RefSocial},
	"twitter.com":            {"X", RefSocial},
	"x.com":                  {"X", RefSocial},
	"t.co":                   {"X", RefSocial},
	"com.twitter.android":    {"X", RefSocial},
	"linkedin.com":           {"LinkedIn", RefSocial},
	"lnkd.in":                {"LinkedIn", RefSocial},
	"com.linkedin.android":   {"LinkedIn", RefSocial},
	"reddit.com":             {"Reddit", RefSocial},
	"old.reddit.com":         {"Reddit", RefSocial},
	"out.reddit.com":         {"Reddit", RefSocial},
	"redd.it":                {"Reddit", RefSocial},
	"com.reddit.frontpage":   {"Reddit", RefSocial},
	"pinterest.com":          {"Pinterest", RefSocial},
	"pin.it":                 {"Pinterest", RefSocial},
	"pinterest.co.uk":        {"Pinterest", RefSocial},
	"pinterest.de":           {"Pinterest", RefSocial},
	"pinterest.fr":           {"Pinterest", RefSocial},
	"pinterest.ca":           {"Pinterest", RefSocial},
	"pinterest.com.au":       {"Pinterest", RefSocial},
	"pinterest.es":           {"Pinterest", RefSocial},
	"pinterest.it":           {"Pinterest", RefSocial},
	"tiktok.com":             {"TikTok", RefSocial},
	"threads.net":            {"Threads", RefSocial},
	"threads.com":            {"Threads", RefSocial},
	"bsky.app":               {"Bluesky", RefSocial},
	"mastodon.social":        {"Mastodon", RefSocial},
	"mastodon.online":        {"Mastodon", RefSocial},
	"mastodon.world":         {"Mastodon", RefSocial},
	"mstdn.social":           {"Mastodon", RefSocial},
	"mstdn.jp":               {"Mastodon", RefSocial},
	"mas.to":                 {"Mastodon", RefSocial},
	"fosstodon.org":          {"Mastodon", RefSocial},
	"hachyderm.io":           {"Mastodon", RefSocial},
	"infosec.exchange":       {"Mastodon", RefSocial},
	"techhub.social":         {"Mastodon", RefSocial},
	"universeodon.com":       {"Mastodon", RefSocial},
	"social.vivaldi.net":     {"Mastodon", RefSocial},
	"tumblr.com":             {"Tumblr", RefSocial},
	"t.umblr.com":            {"Tumblr", RefSocial},
	"vk.com":                 {"VK", RefSocial},
	"vk.ru":                  {"VK", RefSocial},
	"ok.ru":                  {"Odnoklassniki", RefSocial},
	"weibo.com":              {"Weibo", RefSocial},
	"weibo.cn":               {"Weibo", RefSocial},
	"t.cn":                   {"Weibo", RefSocial},
	"quora.com":              {"Quora", RefSocial},
	"discord.com":            {"Discord", RefSocial},
	"discord.gg":             {"Discord", RefSocial},
	"discordapp.com":         {"Discord", RefSocial},
	"com.discord":            {"Discord", RefSocial},
	"telegram.org":           {"Telegram", RefSocial},
	"t.me":                   {"Telegram", RefSocial},
	"org.telegram.messenger": {"Telegram", RefSocial},
	"whatsapp.com":           {"WhatsApp", RefSocial},
	"wa.me":                  {"WhatsApp", RefSocial},
	"com.whatsapp":           {"WhatsApp", RefSocial},
	"snapchat.com":           {"Snapchat", RefSocial},
	"line.me":                {"LINE", RefSocial},
	"weixin.qq.com":          {"WeChat", RefSocial},
	"xing.com":               {"XING", RefSocial},
	"nextdoor.com":           {"Nextdoor", RefSocial},
	"mewe.com":               {"MeWe", RefSocial},
	"truthsocial.com":        {"Truth Social", RefSocial},
	"douban.com":             {"Douban", RefSocial},
	"flickr.com":             {"Flickr", RefSocial},
	"deviantart.com":         {"DeviantArt", RefSocial},
	"goodreads.com":          {"Goodreads", RefSocial},
	"letterboxd.com":         {"Letterboxd", RefSocial},
	"strava.com":             {"Strava", RefSocial},
	"meetup.com":             {"Meetup", RefSocial},
	"linktr.ee":              {"Linktree", RefSocial},
	"behance.net":            {"Behance", RefSocial},
	"dribbble.com":           {"Dribbble", RefSocial},
	"vkontakte.ru":           {"VK", RefSocial},
	"bereal.com":             {"BeReal", RefSocial},

	// --- Email -----------------------------------------------------------
	"mail.google.com":              {"Gmail", RefEmail},
	"inbox.google.com":             {"Gmail", RefEmail},
	"com.google.android.gm":        {"Gmail", RefEmail},
	"outlook.live.com":             {"Outlook", RefEmail},
	"outlook.office.com":           {"Outlook", RefEmail},
	"outlook.office365.com":        {"Outlook", RefEmail},
	"outlook.com":                  {"Outlook", RefEmail},
	"com.microsoft.office.outlook": {"Outlook", RefEmail},
	"mail.yahoo.com":               {"Yahoo Mail", RefEmail},
	"mail.yahoo.co.jp":             {"Yahoo! Mail", RefEmail},
	"mail.proton.me":               {"Proton Mail", RefEmail},
	"mail.protonmail.com":          {"Proton Mail", RefEmail},
	"fastmail.com":                 {"Fastmail", RefEmail},
	"fastmail.fm":                  {"Fastmail", RefEmail},
	"mail.aol.com":                 {"AOL Mail", RefEmail},
	"mail.zoho.com":                {"Zoho Mail", RefEmail},
	"mail.zoho.eu":                 {"Zoho Mail", RefEmail},
	"mail.ru":                      {"Mail.ru", RefEmail},
	"mail.yandex.ru":               {"Yandex Mail", RefEmail},
	"mail.yandex.com":              {"Yandex Mail", RefEmail},
	"icloud.com":                   {"iCloud Mail", RefEmail},
	"tuta.com":                     {"Tuta", RefEmail},
	"mail.tutanota.com":            {"Tuta", RefEmail},
	"gmx.net":                      {"GMX", RefEmail},
	"gmx.de":                       {"GMX", RefEmail},
	"gmx.com":                      {"GMX", RefEmail},
	"web.de":                       {"WEB.DE", RefEmail},
	"mail.com":                     {"mail.com", RefEmail},
	"hey.com":                      {"HEY", RefEmail},
	"posteo.de":                    {"Posteo", RefEmail},
	"mailbox.org":                  {"mailbox.org", RefEmail},
	"email.seznam.cz":              {"Seznam Email", RefEmail},
	"mail.naver.com":               {"Naver Mail", RefEmail},
	"mail.qq.com":                  {"QQ Mail", RefEmail},
	"mail.163.com":                 {"NetEase Mail", RefEmail},
	"mail.126.com":                 {"NetEase Mail", RefEmail},
	"email.t-online.de":            {"T-Online Mail", RefEmail},
	"mail.libero.it":               {"Libero Mail", RefEmail},
	"list-manage.com":              {"Mailchimp", RefEmail},
	"mailchi.mp":                   {"Mailchimp", RefEmail},
	"sendgrid.net":                 {"SendGrid", RefEmail},
	"mandrillapp.com":              {"Mandrill", RefEmail},

	// --- AI assistants ---------------------------------------------------
	"chatgpt.com":             {"ChatGPT", RefAI},
	"chat.openai.com":         {"ChatGPT", RefAI},
	"perplexity.ai":           {"Perplexity", RefAI},
	"claude.ai":               {"Claude", RefAI},
	"gemini.google.com":       {"Gemini", RefAI},
	"bard.google.com":         {"Gemini", RefAI},
	"notebooklm.google.com":   {"NotebookLM", RefAI},
	"aistudio.google.com":     {"Google AI Studio", RefAI},
	"copilot.microsoft.com":   {"Microsoft Copilot", RefAI},
	"copilot.cloud.microsoft": {"Microsoft Copilot", RefAI},
	"edgeservices.bing.com":   {"Microsoft Copilot", RefAI},
	"you.com":                 {"You.com", RefAI},
	"phind.com":               {"Phind", RefAI},
	"poe.com":                 {"Poe", RefAI},
	"chat.deepseek.com":       {"DeepSeek", RefAI},
	"deepseek.com":            {"DeepSeek", RefAI},
	"grok.com":                {"Grok", RefAI},
	"meta.ai":                 {"Meta AI", RefAI},
	"chat.mistral.ai":         {"Le Chat", RefAI},
	"kimi.com":                {"Kimi", RefAI},
	"kimi.moonshot.cn":        {"Kimi", RefAI},
	"chat.qwen.ai":            {"Qwen Chat", RefAI},
	"tongyi.aliyun.com":       {"Tongyi", RefAI},
	"doubao.com":              {"Doubao", RefAI},
	"yiyan.baidu.com":         {"ERNIE Bot", RefAI},
	"chatglm.cn":              {"ChatGLM", RefAI},
	"pi.ai":                   {"Pi", RefAI},
	"character.ai":            {"Character.AI", RefAI},
	"duck.ai":                 {"Duck.ai", RefAI},
	"felo.ai":                 {"Felo", RefAI},
	"t3.chat":                 {"T3 Chat", RefAI},
	"openrouter.ai":           {"OpenRouter", RefAI},
	"lmarena.ai":              {"LMArena", RefAI},
	"iask.ai":                 {"iAsk", RefAI},

	// --- Video -----------------------------------------------------------
	"youtube.com":                {"YouTube", RefVideo},
	"youtu.be":                   {"YouTube", RefVideo},
	"youtube-nocookie.com":       {"YouTube", RefVideo},
	"com.google.android.youtube": {"YouTube", RefVideo},
	"vimeo.com":                  {"Vimeo", RefVideo},
	"twitch.tv":                  {"Twitch", RefVideo},
	"dailymotion.com":            {"Dailymotion", RefVideo},
	"dai.ly":                     {"Dailymotion", RefVideo},
	"bilibili.com":               {"Bilibili", RefVideo},
	"b23.tv":                     {"Bilibili", RefVideo},
	"rumble.com":                 {"Rumble", RefVideo},
	"odysee.com":                 {"Odysee", RefVideo},
	"kick.com":                   {"Kick", RefVideo},
	"netflix.com":                {"Netflix", RefVideo},
	"nicovideo.jp":               {"Niconico", RefVideo},
	"loom.com":                   {"Loom", RefVideo},
	"wistia.com":                 {"Wistia", RefVideo},
	"youku.com":                  {"Youku", RefVideo},
	"iqiyi.com":                  {"iQIYI", RefVideo},
	"ted.com":                    {"TED", RefVideo},

	// --- News, aggregators, feed readers ------------------------------------
	"news.ycombinator.com": {"Hacker News", RefNews},
	"news.google.com":      {"Google News", RefNews},
	"flipboard.com":        {"Flipboard", RefNews},
	"news.yahoo.com":       {"Yahoo News", RefNews},
	"msn.com":              {"MSN", RefNews},
	"smartnews.com":        {"SmartNews", RefNews},
	"feedly.com":           {"Feedly", RefNews},
	"inoreader.com":        {"Inoreader", RefNews},
	"newsblur.com":         {"NewsBlur", RefNews},
	"feedbin.com":          {"Feedbin", RefNews},
	"theoldreader.com":     {"The Old Reader", RefNews},
	"getpocket.com":        {"Pocket", RefNews},
	"lobste.rs":            {"Lobsters", RefNews},
	"slashdot.org":         {"Slashdot", RefNews},
	"techmeme.com":         {"Techmeme", RefNews},
	"digg.com":             {"Digg", RefNews},
	"upday.com":            {"upday", RefNews},
	"newsbreak.com":        {"NewsBreak", RefNews},
	"ground.news":          {"Ground News", RefNews},
	"apple.news":           {"Apple News", RefNews},
	"news.naver.com":       {"Naver News", RefNews},
	"toutiao.com":          {"Toutiao", RefNews},
	"dzen.ru":              {"Dzen", RefNews},
	"bbc.co.uk":            {"BBC", RefNews},
	"bbc.com":              {"BBC", RefNews},
	"cnn.com":              {"CNN", RefNews},
	"nytimes.com":          {"The New York Times", RefNews},
	"theguardian.com":      {"The Guardian", RefNews},
	"reuters.com":          {"Reuters", RefNews},
	"washingtonpost.com":   {"The Washington Post", RefNews},
	"forbes.com":           {"Forbes", RefNews},
	"techcrunch.com":       {"TechCrunch", RefNews},
	"theverge.com":         {"The Verge", RefNews},
	"wired.com":            {"WIRED", RefNews},
	"arstechnica.com":      {"Ars Technica", RefNews},

	// --- Shopping --------------------------------------------------------
	"amazon.com":       {"Amazon", RefShopping},
	"amazon.co.uk":     {"Amazon", RefShopping},
	"amazon.de":        {"Amazon", RefShopping},
	"amazon.fr":        {"Amazon", RefShopping},
	"amazon.it":        {"Amazon", RefShopping},
	"amazon.es":        {"Amazon", RefShopping},
	"amazon.ca":        {"Amazon", RefShopping},
	"amazon.co.jp":     {"Amazon", RefShopping},
	"amazon.in":        {"Amazon", RefShopping},
	"amazon.com.au":    {"Amazon", RefShopping},
	"amazon.com.br":    {"Amazon", RefShopping},
	"amazon.nl":        {"Amazon", RefShopping},
	"ebay.com":         {"eBay", RefShopping},
	"ebay.co.uk":       {"eBay", RefShopping},
	"ebay.de":          {"eBay", RefShopping},
	"etsy.com":         {"Etsy", RefShopping},
	"aliexpress.com":   {"AliExpress", RefShopping},
	"walmart.com":      {"Walmart", RefShopping},
	"shopify.com":      {"Shopify", RefShopping},
	"temu.com":         {"Temu", RefShopping},
	"shein.com":        {"SHEIN", RefShopping},
	"target.com":       {"Target", RefShopping},
	"bestbuy.com":      {"Best Buy", RefShopping},
	"mercadolibre.com": {"Mercado Libre", RefShopping},
	"rakuten.co.jp":    {"Rakuten", RefShopping},
	"taobao.com":       {"Taobao", RefShopping},
	"jd.com":           {"JD.com", RefShopping},
	"idealo.de":        {"idealo", RefShopping},

	// --- Code and developer sites --------------------------------------------
	"github.com":            {"GitHub", RefCode},
	"github.io":             {"GitHub Pages", RefCode},
	"gitlab.com":            {"GitLab", RefCode},
	"bitbucket.org":         {"Bitbucket", RefCode},
	"codeberg.org":          {"Codeberg", RefCode},
	"sourceforge.net":       {"SourceForge", RefCode},
	"sr.ht":                 {"SourceHut", RefCode},
	"gitee.com":             {"Gitee", RefCode},
	"stackoverflow.com":     {"Stack Overflow", RefCode},
	"stackexchange.com":     {"Stack Exchange", RefCode},
	"superuser.com":         {"Super User", RefCode},
	"serverfault.com":       {"Server Fault", RefCode},
	"askubuntu.com":         {"Ask Ubuntu", RefCode},
	"dev.to":                {"DEV", RefCode},
	"hashnode.com":          {"Hashnode", RefCode},
	"npmjs.com":             {"npm", RefCode},
	"pkg.go.dev":            {"Go Packages", RefCode},
	"go.dev":                {"Go", RefCode},
	"pypi.org":              {"PyPI", RefCode},
	"crates.io":             {"crates.io", RefCode},
	"docs.rs":               {"Docs.rs", RefCode},
	"packagist.org":         {"Packagist", RefCode},
	"rubygems.org":          {"RubyGems", RefCode},
	"huggingface.co":        {"Hugging Face", RefCode},
	"codepen.io":            {"CodePen", RefCode},
	"codesandbox.io":        {"CodeSandbox", RefCode},
	"replit.com":            {"Replit", RefCode},
	"jsfiddle.net":          {"JSFiddle", RefCode},
	"stackblitz.com":        {"StackBlitz", RefCode},
	"vercel.com":            {"Vercel", RefCode},
	"netlify.com":           {"Netlify", RefCode},
	"kaggle.com":            {"Kaggle", RefCode},
	"developer.mozilla.org": {"MDN", RefCode},

	// --- Communities and forums ------------------------------------------------
	"producthunt.com":    {"Product Hunt", RefCommunity},
	"indiehackers.com":   {"Indie Hackers", RefCommunity},
	"lemmy.world":        {"Lemmy", RefCommunity},
	"tildes.net":         {"Tildes", RefCommunity},
	"zhihu.com":          {"Zhihu", RefCommunity},
	"tieba.baidu.com":    {"Baidu Tieba", RefCommunity},
	"v2ex.com":           {"V2EX", RefCommunity},
	"habr.com":           {"Habr", RefCommunity},
	"4chan.org":          {"4chan", RefCommunity},
	"9gag.com":           {"9GAG", RefCommunity},
	"meta.discourse.org": {"Discourse", RefCommunity},
	"slickdeals.net":     {"Slickdeals", RefCommunity},

	// --- Reference -------------------------------------------------------
	"wikipedia.org":      {"Wikipedia", RefReference},
	"wikimedia.org":      {"Wikimedia", RefReference},
	"wiktionary.org":     {"Wiktionary", RefReference},
	"wikihow.com":        {"wikiHow", RefReference},
	"archive.org":        {"Internet Archive", RefReference},
	"britannica.com":     {"Britannica", RefReference},
	"fandom.com":         {"Fandom", RefReference},
	"scholar.google.com": {"Google Scholar", RefReference},
	"wolframalpha.com":   {"Wolfram Alpha", RefReference},
	"imdb.com":           {"IMDb", RefReference},

	// --- Productivity and work tools ----------------------------------------------
	"slack.com":           {"Slack", RefProductivity},
	"com.slack":           {"Slack", RefProductivity},
	"teams.microsoft.com": {"Microsoft Teams", RefProductivity},
	"teams.live.com":      {"Microsoft Teams", RefProductivity},
	"notion.so":           {"Notion", RefProductivity},
	"notion.site":         {"Notion", RefProductivity},
	"docs.google.com":     {"Google Docs", RefProductivity},
	"drive.google.com":    {"Google Drive", RefProductivity},
	"calendar.google.com": {"Google Calendar", RefProductivity},
	"trello.com":          {"Trello", RefProductivity},
	"atlassian.net":       {"Atlassian", RefProductivity},
	"asana.com":           {"Asana", RefProductivity},
	"linear.app":          {"Linear", RefProductivity},
	"clickup.com":         {"ClickUp", RefProductivity},
	"miro.com":            {"Miro", RefProductivity},
	"figma.com":           {"Figma", RefProductivity},
	"airtable.com":        {"Airtable", RefProductivity},
	"zoom.us":             {"Zoom", RefProductivity},
	"office.com":          {"Microsoft 365", RefProductivity},
	"sharepoint.com":      {"SharePoint", RefProductivity},
	"dropbox.com":         {"Dropbox", RefProductivity},
	"box.com":             {"Box", RefProductivity},
	"basecamp.com":        {"Basecamp", RefProductivity},
	"monday.com":          {"monday.com", RefProductivity},

	// --- Blogs and newsletters ---------------------------------------------------
	"medium.com":    {"Medium", RefBlog},
	"substack.com":  {"Substack", RefBlog},
	"blogspot.com":  {"Blogger", RefBlog},
	"blogger.com":   {"Blogger", RefBlog},
	"wordpress.com": {"WordPress.com", RefBlog},
	"ghost.io":      {"Ghost", RefBlog},
	"beehiiv.com":   {"beehiiv", RefBlog},
	"write.as":      {"Write.as", RefBlog},

	// --- Music and podcasts ---------------------------------------------------
	"spotify.com":        {"Spotify", RefMusic},
	"soundcloud.com":     {"SoundCloud", RefMusic},
	"music.apple.com":    {"Apple Music", RefMusic},
	"podcasts.apple.com": {"Apple Podcasts", RefMusic},
	"music.youtube.com":  {"YouTube Music", RefMusic},
	"deezer.com":         {"Deezer", RefMusic},
	"bandcamp.com":       {"Bandcamp", RefMusic},
}
