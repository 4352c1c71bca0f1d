package views

import (
	"context"
	"strings"
	"testing"
)

func TestHomeEscapesAndShowsSnippet(t *testing.T) {
	var b strings.Builder
	err := Home(HomeData{APIURL: `http://x"><script>alert(1)</script>`, Database: "<b>db</b>", GeoCity: true}).Render(context.Background(), &b)
	if err != nil {
		t.Fatal(err)
	}
	html := b.String()
	if strings.Contains(html, "<script>alert(1)") || strings.Contains(html, "<b>db</b>") {
		t.Fatalf("unescaped input in page: %s", html)
	}
	for _, want := range []string{`data-testid="snippet"`, "&lt;b&gt;db&lt;/b&gt;", "https://db-ip.com", "geoip install"} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}
