package enrich

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParsePage(t *testing.T) {
	long := strings.Repeat("x", 300)
	for _, tc := range []struct {
		in   string
		want Page
	}{
		{"https://example.com", Page{Origin: "https://example.com", Path: "/"}},
		{"https://example.com/", Page{Origin: "https://example.com", Path: "/"}},
		{"https://Example.COM/Docs/Intro", Page{Origin: "https://example.com", Path: "/Docs/Intro"}},
		{"HTTPS://example.com:443/a", Page{Origin: "https://example.com", Path: "/a"}},
		{"http://example.com:80/a", Page{Origin: "http://example.com", Path: "/a"}},
		{"http://localhost:3000/a/b/", Page{Origin: "http://localhost:3000", Path: "/a/b/"}},
		{"https://user:pw@example.com/x", Page{Origin: "https://example.com", Path: "/x"}},
		{"http://[::1]:8080/x", Page{Origin: "http://[::1]:8080", Path: "/x"}},
		{"https://example.com/caf%C3%A9?x=1#top", Page{Origin: "https://example.com", Path: "/café", Query: "x=1", Hash: "top"}},
		{"https://example.com/100%", Page{Origin: "https://example.com", Path: "/100%"}},
		{"https://example.com/%FF", Page{Origin: "https://example.com", Path: "/%FF"}},
		{"https://example.com/a%00b", Page{Origin: "https://example.com", Path: "/a%00b"}},
		{"https://example.com?only=query", Page{Origin: "https://example.com", Path: "/", Query: "only=query"}},
		{"https://example.com#only-hash", Page{Origin: "https://example.com", Path: "/", Hash: "only-hash"}},
		{"https://example.com/p?a=1#h?b=2", Page{Origin: "https://example.com", Path: "/p", Query: "a=1", Hash: "h?b=2"}},
		{"https://example.com/p#h?b=2#c", Page{Origin: "https://example.com", Path: "/p", Hash: "h?b=2#c"}},
		{"capacitor://localhost/tabs/home", Page{Origin: "capacitor://localhost", Path: "/tabs/home"}},
		{"file:///Users/me/index.html", Page{Origin: "file://", Path: "/Users/me/index.html"}},

		// UTM parameters.
		{"https://a.com/?utm_source=newsletter&utm_medium=email&utm_campaign=spring+sale&utm_term=shoes&utm_content=hero%20banner",
			Page{Origin: "https://a.com", Path: "/", Query: "utm_source=newsletter&utm_medium=email&utm_campaign=spring+sale&utm_term=shoes&utm_content=hero%20banner",
				UTMSource: "newsletter", UTMMedium: "email", UTMCampaign: "spring sale", UTMTerm: "shoes", UTMContent: "hero banner"}},
		{"https://a.com/?UTM_Source=X&utm_source=second", Page{Origin: "https://a.com", Path: "/", Query: "UTM_Source=X&utm_source=second", UTMSource: "X"}},
		{"https://a.com/?utm_source=&utm_source=%20%20&utm_source=real", Page{Origin: "https://a.com", Path: "/", Query: "utm_source=&utm_source=%20%20&utm_source=real", UTMSource: "real"}},
		{"https://a.com/?utm_source=bad%zzescape", Page{Origin: "https://a.com", Path: "/", Query: "utm_source=bad%zzescape", UTMSource: "bad%zzescape"}},
		{"https://a.com/?ref=producthunt&source=x", Page{Origin: "https://a.com", Path: "/", Query: "ref=producthunt&source=x"}},
		{"https://a.com/?utm_sourcex=1&utm_=2&utm_medium", Page{Origin: "https://a.com", Path: "/", Query: "utm_sourcex=1&utm_=2&utm_medium"}},
		{"https://a.com/?utm_campaign=" + long, Page{Origin: "https://a.com", Path: "/", Query: "utm_campaign=" + long, UTMCampaign: long[:255]}},

		// Hash routers: literal URL kept, UTM read from the fragment's query.
		{"https://a.com/#/about?utm_source=x&utm_medium=y", Page{Origin: "https://a.com", Path: "/", Hash: "/about?utm_source=x&utm_medium=y", UTMSource: "x", UTMMedium: "y"}},
		{"https://a.com/?utm_source=real#/about?utm_source=hash&utm_medium=m", Page{Origin: "https://a.com", Path: "/", Query: "utm_source=real", Hash: "/about?utm_source=hash&utm_medium=m", UTMSource: "real", UTMMedium: "m"}},

		// Route names from apps and anything that is not a URL.
		{"HomeScreen", Page{Path: "HomeScreen"}},
		{"/settings", Page{Path: "/settings"}},
		{"/settings?tab=2", Page{Path: "/settings?tab=2"}},
		{"  Profile  ", Page{Path: "Profile"}},
		{"example.com/page", Page{Path: "example.com/page"}},
		{"https://", Page{Path: "https://"}},
		{"https:///nohost", Page{Path: "https:///nohost"}},
		{"1http://x.com/", Page{Path: "1http://x.com/"}},
		{"://x", Page{Path: "://x"}},
		{"", Page{}},
		{"   ", Page{}},
	} {
		if got := ParsePage(tc.in); got != tc.want {
			t.Errorf("ParsePage(%q)\n got %+v\nwant %+v", tc.in, got, tc.want)
		}
	}
}

func TestParsePageUTMTruncatesRunes(t *testing.T) {
	v := strings.Repeat("é", 300) // 600 bytes
	p := ParsePage("https://a.com/?utm_term=" + v)
	if n := utf8.RuneCountInString(p.UTMTerm); n != 255 || !utf8.ValidString(p.UTMTerm) {
		t.Errorf("UTMTerm has %d runes (valid=%v), want 255", n, utf8.ValidString(p.UTMTerm))
	}
}

func FuzzParsePage(f *testing.F) {
	for _, s := range []string{
		"https://example.com/a/b?c=d#e",
		"https://a.com/#/about?utm_source=x",
		"HomeScreen", "/settings", "", "http://", "https://[::1]:80/%zz",
		"https://a.com/?utm_source=%E2%82%AC&utm_medium=%ff",
		"capacitor://localhost/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		p := ParsePage(raw) // must not panic
		trimmed := strings.TrimSpace(raw)
		if p.Origin == "" {
			if p.Path != trimmed || p.Query != "" || p.Hash != "" {
				t.Fatalf("non-URL %q: %+v", raw, p)
			}
		} else {
			if !strings.Contains(p.Origin, "://") || strings.HasSuffix(p.Origin, "/") && !strings.HasSuffix(p.Origin, "://") {
				t.Fatalf("bad origin %q for %q", p.Origin, raw)
			}
			if !strings.HasPrefix(p.Path, "/") {
				t.Fatalf("path %q of URL %q does not start with /", p.Path, raw)
			}
			if strings.ContainsAny(p.Query, "#") {
				t.Fatalf("query %q contains '#'", p.Query)
			}
			if !strings.Contains(trimmed, p.Query) || !strings.Contains(trimmed, p.Hash) {
				t.Fatalf("query/hash not taken from input %q: %+v", raw, p)
			}
		}
		for _, v := range []string{p.UTMSource, p.UTMMedium, p.UTMCampaign, p.UTMTerm, p.UTMContent} {
			if !utf8.ValidString(v) || utf8.RuneCountInString(v) > maxUTMLen || v != strings.TrimSpace(v) || hasControl(v) {
				t.Fatalf("bad UTM value %q from %q", v, raw)
			}
		}
	})
}

func BenchmarkParsePage(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		ParsePage("https://www.example.com/blog/post-1?utm_source=newsletter&utm_medium=email&x=1#comments")
	}
}
