package tests

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"tally/app/apptest"
	"tally/app/dbtest"
)

// TestOnboardingToFirstEventInTheBrowser is a newcomer's first minutes in
// Chromium: an empty server sends them to onboarding; they create their
// account and project through the form and land on the Tracking page,
// which waits for the first event; they paste the snippet it shows into
// their site (another origin, loading /op1.js from this server) and open
// it in a second tab. Without a reload, the Tracking page says the first
// event arrived and the header counts one visitor.
func TestOnboardingToFirstEventInTheBrowser(t *testing.T) {
	t.Parallel()
	chromium := RequireTool(t, "chromium", "/usr/bin/chromium")
	env := apptest.StartOn(t, dbtest.NewDB(t), false)

	dash := startBrowser(t, chromium) // a desktop Chrome user agent in every tab
	dashConsole := collectConsole(dash)
	shots := outputDir(t)
	screenshot := func(name string) {
		t.Helper()
		buf, err := chromedp.Run(dash, chromedp.CaptureScreenshot())
		if err != nil {
			t.Errorf("screenshot %s: %v", name, err)
			return
		}
		if err := os.WriteFile(filepath.Join(shots, name), buf, 0o644); err != nil {
			t.Error(err)
		}
	}
	runWithin := func(ctx context.Context, d time.Duration, what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		if err := chromedp.Do(sctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	run := func(ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		runWithin(ctx, 30*time.Second, what, steps...)
	}
	location := func() string {
		t.Helper()
		loc, err := chromedp.Run(dash, chromedp.Location())
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimPrefix(loc, env.URL)
	}

	// 1. The empty server sends the newcomer to onboarding. (A tall
	// viewport: the screenshots show the snippet and the first-event panel.)
	run(dash, "open the dashboard", chromedp.EmulateViewport(1280, 1100), chromedp.Navigate(env.URL+"/"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="welcome-form"]`)))
	if loc := location(); loc != "/welcome" {
		t.Fatalf("an empty server sent / to %q, want /welcome", loc)
	}
	screenshot("onboarding-1-welcome.png")

	// 2. The form, filled in as a person would.
	run(dash, "fill in the welcome form",
		chromedp.SendKeys(chromedp.ID("name"), "Olivia Owner"),
		chromedp.SendKeys(chromedp.ID("email"), "olivia@acme.test"),
		chromedp.SendKeys(chromedp.ID("password"), "correct horse battery"),
		chromedp.SendKeys(chromedp.ID("organization"), "Acme"),
		chromedp.SendKeys(chromedp.ID("project"), "Acme site"),
		chromedp.SendKeys(chromedp.ID("domain"), "127.0.0.1"),
		chromedp.SetValue(chromedp.ID("timezone"), "UTC"),
		chromedp.Click(chromedp.CSS(`[data-testid="welcome-form"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("snippet")),
		chromedp.WaitVisible(chromedp.CSS(`.waiting[data-testid="first-event"]`)),
	)
	if loc := location(); !regexp.MustCompile(`^/p/acme-site-[0-9a-f]+/tracking$`).MatchString(loc) {
		t.Fatalf("onboarding landed on %q, want the project's Tracking page", loc)
	}
	waiting, err := chromedp.Run(dash, chromedp.Text(chromedp.CSS(`[data-testid="first-event"]`)))
	if err != nil || !strings.Contains(waiting, "Waiting for the first event") {
		t.Fatalf("first-event panel says %q (%v)", waiting, err)
	}
	// The page must not be reloaded from here on: a marker survives only
	// in this very document.
	if _, err := chromedp.Run(dash, chromedp.Evaluate[bool](`window.__sameDocument = true`)); err != nil {
		t.Fatal(err)
	}
	screenshot("onboarding-2-tracking-waiting.png")

	// 3. The snippet, as the page shows it (what the copy button copies).
	snippet, err := chromedp.Run(dash, chromedp.TextContent(chromedp.ID("snippet")))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`clientId: "([0-9a-f-]{36})"`).FindStringSubmatch(snippet)
	if m == nil {
		t.Fatalf("no client id in the snippet:\n%s", snippet)
	}
	clientID := m[1]
	for _, want := range []string{`apiUrl: "` + env.URL + `"`, `<script src="` + env.URL + `/op1.js" defer async></script>`} {
		if !strings.Contains(snippet, want) {
			t.Errorf("the snippet lacks %s:\n%s", want, snippet)
		}
	}
	var stored int
	if err := env.Pool.QueryRow(context.Background(), `SELECT count(*) FROM clients WHERE id = $1 AND type = 'write' AND revoked_at IS NULL`, clientID).Scan(&stored); err != nil || stored != 1 {
		t.Fatalf("the snippet's client %s is not the project's write client (%d, %v)", clientID, stored, err)
	}

	// 4. The newcomer's site, on another origin, with the snippet pasted
	// into its <head>, opened in a second tab.
	site := newSnippetSite(t, snippet)
	tab, cancelTab := chromedp.NewContext(dash)
	defer cancelTab()
	siteConsole := collectConsole(tab)
	run(tab, "open the site", chromedp.Navigate(site.URL+"/"), chromedp.WaitVisible(chromedp.CSS("h1")))

	// 5. Back on the Tracking page: the first event arrives without a reload.
	if _, err := chromedp.CallBrowser(dash, target.ActivateTarget, target.ActivateTargetParams{TargetID: chromedp.FromContext(dash).Target.TargetID}); err != nil {
		t.Fatal(err)
	}
	// Within a few seconds: well before the stream's 15 s refresh, so it is
	// the commit's notification that brings it.
	start := time.Now()
	runWithin(dash, 8*time.Second, "wait for the first event", chromedp.WaitVisible(chromedp.CSS(`.arrived[data-testid="first-event"]`)))
	t.Logf("first event shown %s after the site was open", time.Since(start).Round(time.Millisecond))
	arrived, err := chromedp.Run(dash, chromedp.Text(chromedp.CSS(`[data-testid="first-event"]`)))
	if err != nil || !strings.Contains(arrived, "First event received: screen_view on /") {
		t.Errorf("first-event panel says %q (%v)", arrived, err)
	}
	if _, err := chromedp.Run(dash, chromedp.Poll[bool](`document.querySelector('[data-testid="visitors-now"]').textContent.trim() === "1"`,
		chromedp.WithPollingTimeout(5*time.Second))); err != nil {
		counter, _ := chromedp.Run(dash, chromedp.Text(chromedp.CSS(`[data-testid="visitors-now"]`)))
		t.Errorf("the header's visitors-now counter says %q, want 1 (%v)", counter, err)
	}
	same, err := chromedp.Run(dash, chromedp.Evaluate[bool](`window.__sameDocument === true`))
	if err != nil || !same {
		t.Errorf("the Tracking page was reloaded (%v)", err)
	}
	screenshot("onboarding-3-tracking-arrived.png")

	// What reached the database: the site's page view, from a desktop Chrome.
	var name, path, browserName string
	if err := env.Pool.QueryRow(context.Background(), `SELECT e.name, coalesce(e.path, ''), coalesce(e.browser, '')
		FROM events e JOIN clients c ON c.project_id = e.project_id
		WHERE c.id = $1 AND e.name = 'screen_view'`, clientID).Scan(&name, &path, &browserName); err != nil {
		t.Fatalf("the site's screen_view: %v", err)
	}
	if path != "/" || browserName != "Chrome" {
		t.Errorf("stored %s of %q from %q, want / from Chrome", name, path, browserName)
	}
	for what, c := range map[string]*consoleLog{"dashboard": dashConsole, "site": siteConsole} {
		for _, m := range c.messages() {
			if strings.HasSuffix(m.URL, "/favicon.ico") {
				continue // the dashboard has no icon (yet): not this test's concern
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException {
				t.Errorf("%s console %s: %s (%s:%d)", what, m.Type, m.Text, m.URL, m.Line+1)
			}
		}
	}
}

// newSnippetSite serves a one-page site whose <head> holds the snippet as
// the Tracking page showed it.
func newSnippetSite(t *testing.T, snippet string) *httptest.Server {
	t.Helper()
	page := `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Acme</title>
` + snippet + `
</head>
<body>
<h1>Acme</h1>
<p>The newcomer's own site, with the tally snippet in its head.</p>
</body>
</html>`
	mux := http.NewServeMux()
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(page))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}
