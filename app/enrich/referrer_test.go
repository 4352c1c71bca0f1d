package enrich

import (
	"strings"
	"testing"
)

func TestClassifyReferrer(t *testing.T) {
	for _, tc := range []struct {
		in, host, name, typ string
	}{
		// Search, including Google's country domains and Yahoo subdomains.
		{"https://www.google.com/", "google.com", "Google", RefSearch},
		{"https://www.google.de/", "google.de", "Google", RefSearch},
		{"https://www.google.co.uk/search?q=x", "google.co.uk", "Google", RefSearch},
		{"https://www.google.com.br/", "google.com.br", "Google", RefSearch},
		{"https://google.cat/", "google.cat", "Google", RefSearch},
		{"android-app://com.google.android.googlequicksearchbox/", "com.google.android.googlequicksearchbox", "Google", RefSearch},
		{"https://www.bing.com/search?q=tally", "bing.com", "Bing", RefSearch},
		{"https://cn.bing.com/", "cn.bing.com", "Bing", RefSearch},
		{"https://duckduckgo.com/", "duckduckgo.com", "DuckDuckGo", RefSearch},
		{"https://de.search.yahoo.com/search?p=x", "de.search.yahoo.com", "Yahoo", RefSearch},
		{"https://yandex.ru/search/?text=x", "yandex.ru", "Yandex", RefSearch},
		{"https://m.baidu.com/s?word=x", "m.baidu.com", "Baidu", RefSearch},
		{"https://search.naver.com/search.naver?query=x", "search.naver.com", "Naver", RefSearch},
		{"https://www.ecosia.org/search?q=x", "ecosia.org", "Ecosia", RefSearch},
		{"https://search.brave.com/search?q=x", "search.brave.com", "Brave Search", RefSearch},
		{"https://www.qwant.com/?q=x", "qwant.com", "Qwant", RefSearch},
		{"https://www.startpage.com/", "startpage.com", "Startpage", RefSearch},
		{"https://search.seznam.cz/?q=x", "search.seznam.cz", "Seznam", RefSearch},
		{"https://kagi.com/search?q=x", "kagi.com", "Kagi", RefSearch},
		{"https://www.sogou.com/web?query=x", "sogou.com", "Sogou", RefSearch},
		{"https://www.so.com/s?q=x", "so.com", "360 Search", RefSearch},
		{"https://yep.com/web?q=x", "yep.com", "Yep", RefSearch},
		{"https://www.mojeek.com/search?q=x", "mojeek.com", "Mojeek", RefSearch},

		// Google properties on country domains keep their identity.
		{"https://news.google.fr/", "news.google.fr", "Google News", RefNews},
		{"https://mail.google.com/mail/u/0/", "mail.google.com", "Gmail", RefEmail},
		{"https://gemini.google.com/app", "gemini.google.com", "Gemini", RefAI},
		{"https://docs.google.com/document/d/1", "docs.google.com", "Google Docs", RefProductivity},

		// Social, with link shims and mobile prefixes.
		{"https://l.facebook.com/l.php?u=x", "l.facebook.com", "Facebook", RefSocial},
		{"https://lm.facebook.com/", "lm.facebook.com", "Facebook", RefSocial},
		{"https://m.facebook.com/", "m.facebook.com", "Facebook", RefSocial},
		{"https://web.facebook.com/", "web.facebook.com", "Facebook", RefSocial},
		{"https://l.instagram.com/?u=x", "l.instagram.com", "Instagram", RefSocial},
		{"https://t.co/abc", "t.co", "X", RefSocial},
		{"https://x.com/someone", "x.com", "X", RefSocial},
		{"https://mobile.twitter.com/", "mobile.twitter.com", "X", RefSocial},
		{"https://www.linkedin.com/feed/", "linkedin.com", "LinkedIn", RefSocial},
		{"https://lnkd.in/abc", "lnkd.in", "LinkedIn", RefSocial},
		{"https://old.reddit.com/r/golang", "old.reddit.com", "Reddit", RefSocial},
		{"https://www.reddit.com/", "reddit.com", "Reddit", RefSocial},
		{"https://out.reddit.com/t3_x", "out.reddit.com", "Reddit", RefSocial},
		{"https://pinterest.com/pin/1", "pinterest.com", "Pinterest", RefSocial},
		{"https://www.tiktok.com/", "tiktok.com", "TikTok", RefSocial},
		{"https://www.threads.net/", "threads.net", "Threads", RefSocial},
		{"https://mastodon.social/@x", "mastodon.social", "Mastodon", RefSocial},
		{"https://bsky.app/profile/x", "bsky.app", "Bluesky", RefSocial},
		{"https://vk.com/", "vk.com", "VK", RefSocial},
		{"https://m.vk.com/", "m.vk.com", "VK", RefSocial},
		{"https://www.quora.com/", "quora.com", "Quora", RefSocial},
		{"https://discord.com/channels/1/2", "discord.com", "Discord", RefSocial},
		{"https://t.me/channel", "t.me", "Telegram", RefSocial},
		{"https://web.whatsapp.com/", "web.whatsapp.com", "WhatsApp", RefSocial},
		{"android-app://com.slack/", "com.slack", "Slack", RefProductivity},

		// Email.
		{"https://outlook.live.com/mail/0/", "outlook.live.com", "Outlook", RefEmail},
		{"https://outlook.office.com/mail/", "outlook.office.com", "Outlook", RefEmail},
		{"https://mail.yahoo.com/d/folders/1", "mail.yahoo.com", "Yahoo Mail", RefEmail},
		{"https://mail.proton.me/u/0/inbox", "mail.proton.me", "Proton Mail", RefEmail},
		{"https://app.fastmail.com/mail/", "app.fastmail.com", "Fastmail", RefEmail},
		{"android-app://com.google.android.gm/", "com.google.android.gm", "Gmail", RefEmail},
		{"https://e.mail.ru/inbox/", "e.mail.ru", "Mail.ru", RefEmail},
		{"https://go.mail.ru/search?q=x", "go.mail.ru", "Mail.ru Search", RefSearch},

		// AI assistants.
		{"https://chatgpt.com/", "chatgpt.com", "ChatGPT", RefAI},
		{"https://chat.openai.com/c/1", "chat.openai.com", "ChatGPT", RefAI},
		{"https://www.perplexity.ai/search/x", "perplexity.ai", "Perplexity", RefAI},
		{"https://claude.ai/chat/1", "claude.ai", "Claude", RefAI},
		{"https://copilot.microsoft.com/", "copilot.microsoft.com", "Microsoft Copilot", RefAI},
		{"https://you.com/search?q=x", "you.com", "You.com", RefAI},
		{"https://www.phind.com/", "phind.com", "Phind", RefAI},
		{"https://poe.com/", "poe.com", "Poe", RefAI},
		{"https://chat.deepseek.com/", "chat.deepseek.com", "DeepSeek", RefAI},
		{"https://grok.com/", "grok.com", "Grok", RefAI},
		{"https://www.meta.ai/", "meta.ai", "Meta AI", RefAI},

		// Video, news, code, others.
		{"https://www.youtube.com/watch?v=1", "youtube.com", "YouTube", RefVideo},
		{"https://m.youtube.com/", "m.youtube.com", "YouTube", RefVideo},
		{"https://youtu.be/abc", "youtu.be", "YouTube", RefVideo},
		{"https://music.youtube.com/", "music.youtube.com", "YouTube Music", RefMusic},
		{"https://vimeo.com/1", "vimeo.com", "Vimeo", RefVideo},
		{"https://www.twitch.tv/x", "twitch.tv", "Twitch", RefVideo},
		{"https://news.ycombinator.com/item?id=1", "news.ycombinator.com", "Hacker News", RefNews},
		{"https://news.google.com/", "news.google.com", "Google News", RefNews},
		{"https://flipboard.com/", "flipboard.com", "Flipboard", RefNews},
		{"https://github.com/owner/repo", "github.com", "GitHub", RefCode},
		{"https://gist.github.com/x", "gist.github.com", "GitHub", RefCode},
		{"https://gitlab.com/x", "gitlab.com", "GitLab", RefCode},
		{"https://stackoverflow.com/questions/1", "stackoverflow.com", "Stack Overflow", RefCode},
		{"https://unix.stackexchange.com/q/1", "unix.stackexchange.com", "Stack Exchange", RefCode},
		{"https://dev.to/x", "dev.to", "DEV", RefCode},
		{"https://en.m.wikipedia.org/wiki/Go", "en.m.wikipedia.org", "Wikipedia", RefReference},
		{"https://www.amazon.de/dp/1", "amazon.de", "Amazon", RefShopping},
		{"https://acme.atlassian.net/browse/X-1", "acme.atlassian.net", "Atlassian", RefProductivity},
		{"https://someone.substack.com/p/x", "someone.substack.com", "Substack", RefBlog},
		{"https://open.spotify.com/episode/1", "open.spotify.com", "Spotify", RefMusic},

		// Host normalisation.
		{"HTTPS://WWW.GOOGLE.COM/", "google.com", "Google", RefSearch},
		{"https://www.google.com:443/", "google.com", "Google", RefSearch},
		{"https://user:pw@github.com/", "github.com", "GitHub", RefCode},
		{"https://github.com./x", "github.com", "GitHub", RefCode},
		{"//github.com/x", "github.com", "GitHub", RefCode},
		{"github.com/x", "github.com", "GitHub", RefCode},
		{"https://github.com?x=1", "github.com", "GitHub", RefCode},
		{"https://github.com#x", "github.com", "GitHub", RefCode},
		{" https://github.com ", "github.com", "GitHub", RefCode},

		// Unknown hosts and lookalikes.
		{"https://example.com/page", "example.com", "", RefUnknown},
		{"https://www.example.co.uk/", "example.co.uk", "", RefUnknown},
		{"https://notgoogle.com/", "notgoogle.com", "", RefUnknown},
		{"https://google.example.com/", "google.example.com", "", RefUnknown},
		{"https://github.com.evil.example/", "github.com.evil.example", "", RefUnknown},
		{"https://googleX.de/", "googlex.de", "", RefUnknown},
		{"http://localhost:3000/", "localhost", "", RefUnknown},
		{"http://127.0.0.1:8080/x", "127.0.0.1", "", RefUnknown},
		{"http://[2001:db8::1]:8080/", "2001:db8::1", "", RefUnknown},
		{"https://www./", "www", "", RefUnknown},

		// No referrer at all.
		{"", "", "", ""},
		{"   ", "", "", ""},
		{"HomeScreen", "", "", ""},
		{"about:blank", "", "", ""},
		{"https://", "", "", ""},
		{"https:///path", "", "", ""},
		{"https://exa mple.com/", "", "", ""},
		{"ht tp://example.com/", "", "", ""},
		{"https://[::1/", "", "", ""},
		{"https://ex<script>.com/", "", "", ""},
	} {
		host, r := ClassifyReferrer(tc.in)
		if host != tc.host || r.Name != tc.name || r.Type != tc.typ {
			t.Errorf("ClassifyReferrer(%q) = %q, %+v; want %q, {Name:%s Type:%s}", tc.in, host, r, tc.host, tc.name, tc.typ)
		}
	}
}

func TestReferrerTable(t *testing.T) {
	if n := len(referrerTable); n < 220 {
		t.Errorf("referrer table has %d entries, want >= 220", n)
	}
	known := map[string]bool{
		RefSearch: true, RefSocial: true, RefEmail: true, RefAI: true, RefVideo: true,
		RefNews: true, RefShopping: true, RefCode: true, RefCommunity: true,
		RefReference: true, RefProductivity: true, RefBlog: true, RefMusic: true,
	}
	for host, r := range referrerTable {
		if !known[r.Type] {
			t.Errorf("%s: type %q is not in the vocabulary", host, r.Type)
		}
		if r.Name == "" {
			t.Errorf("%s: empty name", host)
		}
		// Keys must be in the form referrerHost produces, or they can never match.
		if got := referrerHost("https://" + host + "/"); got != host {
			t.Errorf("key %q normalises to %q", host, got)
		}
		if strings.HasPrefix(host, "google.") && host != "google.com" {
			t.Errorf("%s: Google country domains are handled by rule, not entries", host)
		}
	}
}

func TestClassifyReferrerAllocs(t *testing.T) {
	for _, in := range []string{
		"https://www.google.com/search?q=x",
		"https://de.search.yahoo.com/",
		"https://example.com/",
		"https://l.facebook.com/l.php",
	} {
		if n := testing.AllocsPerRun(100, func() { ClassifyReferrer(in) }); n != 0 {
			t.Errorf("ClassifyReferrer(%q): %v allocs, want 0", in, n)
		}
	}
}

func BenchmarkClassifyReferrer(b *testing.B) {
	ins := []string{
		"https://www.google.com/",
		"https://www.google.co.uk/",
		"https://de.search.yahoo.com/search",
		"https://example.com/some/page",
		"https://news.ycombinator.com/item?id=1",
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ClassifyReferrer(ins[i%len(ins)])
		i++
	}
}
