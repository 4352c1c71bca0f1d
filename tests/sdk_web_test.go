package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"tally/app/apptest"
	"tally/app/projects"
)

// trackerFile is the browser build of @openpanel/web: the IIFE that
// OpenPanel's CDN serves as op1.js.
const trackerFile = "dist/src/tracker.global.js"

// searchReferrer is where the first page view claims to come from.
const searchReferrer = "https://www.google.com/search?q=self-hosted+analytics"

// TestWebSDK loads pages with the official snippet and the published
// @openpanel/web tracker in headless Chromium, served from another origin
// than the server, and checks what reached the database: screen views with
// path, title and referrer (a search engine kept, the site's own host
// dropped), a history.pushState navigation, an outgoing link, and a
// data-track button with its data-* properties.
func TestWebSDK(t *testing.T) {
	t.Parallel()
	chromium := RequireTool(t, "chromium", "/usr/bin/chromium")
	npmDir := installSDKs(t)
	tracker, err := os.ReadFile(NodeModule(npmDir, "@openpanel/web", trackerFile))
	if err != nil {
		t.Fatalf("the browser build of @openpanel/web: %v", err)
	}

	env := apptest.Start(t)
	ctx := context.Background()
	if err := projects.NewStore(env.Pool).SetDomains(ctx, env.Project.ProjectID, []string{"127.0.0.1"}); err != nil {
		t.Fatal(err)
	}

	// The partner site: another host, so that a click on it is a link_out.
	partner := newPartnerSite(t)
	site := newTestSite(t, tracker, env.URL, env.Project.ClientID, partner+"/welcome")
	siteOrigin := site.URL

	browser := startBrowser(t, chromium)
	console := collectConsole(browser)
	shots := outputDir(t)
	screenshot := func(name string) {
		t.Helper()
		buf, err := chromedp.Run(browser, chromedp.CaptureScreenshot())
		if err != nil {
			t.Errorf("screenshot %s: %v", name, err)
			return
		}
		if err := os.WriteFile(filepath.Join(shots, name), buf, 0o644); err != nil {
			t.Error(err)
		}
	}
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(browser, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	pid := env.Project.ProjectID
	screenView := func(path string) func(event) bool {
		return func(e event) bool { return e.Name == "screen_view" && e.Path == path }
	}

	// 1. Arrive at the home page from a Google search.
	run("open the home page with a search referrer", navigateWithReferrer(siteOrigin+"/", searchReferrer))
	home := waitEvent(t, env.Pool, pid, "screen_view of /", screenView("/"))
	screenshot("web-1-home.png")
	if home.Referrer == "" || home.ReferrerName != "Google" || home.ReferrerType != "search" {
		t.Errorf("home screen_view referrer %q (%q, %q), want the Google search", home.Referrer, home.ReferrerName, home.ReferrerType)
	}
	if got := prop(home, "__title"); got != `"Home · Tally test site"` {
		t.Errorf("home __title = %s", got)
	}

	// 2. Follow a link on the site: the referrer is the site itself.
	run("click through to pricing", chromedp.Steps(
		ignore(chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.ID("to-pricing")))),
		chromedp.WaitVisible(chromedp.ID("signup")),
	))
	pricing := waitEvent(t, env.Pool, pid, "screen_view of /pricing", screenView("/pricing"))
	screenshot("web-2-pricing.png")
	if pricing.UTMSource != "newsletter" || pricing.Query != "utm_source=newsletter" {
		t.Errorf("pricing screen_view query %q utm_source %q", pricing.Query, pricing.UTMSource)
	}
	if got := prop(pricing, "__title"); got != `"Pricing · Tally test site"` {
		t.Errorf("pricing __title = %s", got)
	}

	// 3. A data-track button: its data-* attributes, camelCased, are the properties.
	run("click the signup button", chromedp.Click(chromedp.ID("signup")))
	signup := waitEvent(t, env.Pool, pid, "signup_clicked", func(e event) bool { return e.Name == "signup_clicked" })
	// @openpanel/web 1.4.1 sends link_out and data-track events through the
	// base SDK's track (super.track), without __path: they have no path.
	if prop(signup, "plan") != `"pro"` || prop(signup, "billingCycle") != `"yearly"` || len(signup.Properties) != 2 {
		t.Errorf("signup_clicked: %v, want exactly plan=pro and billingCycle=yearly", signup)
	}
	if _, ok := signup.Properties["track"]; ok {
		t.Errorf("signup_clicked kept data-track as a property: %v", signup)
	}

	// 4. An outgoing link (opens in a new tab, so this page stays).
	run("click the partner link", chromedp.Click(chromedp.ID("partner")))
	out := waitEvent(t, env.Pool, pid, "link_out", func(e event) bool { return e.Name == "link_out" })
	if prop(out, "href") != fmt.Sprintf("%q", partner+"/welcome") || prop(out, "text") != `"Visit our partner"` || len(out.Properties) != 2 {
		t.Errorf("link_out: %v, want exactly href %s/welcome and text \"Visit our partner\"", out, partner)
	}

	// 5. A single-page-app navigation: history.pushState is a page view.
	run("navigate with pushState", chromedp.Click(chromedp.ID("yearly")))
	spa := waitEvent(t, env.Pool, pid, "screen_view of /pricing/yearly", screenView("/pricing/yearly"))
	screenshot("web-3-pushstate.png")
	if got := prop(spa, "__title"); got != `"Yearly plans · Tally test site"` {
		t.Errorf("pushState screen_view __title = %s", got)
	}

	// The SDK keeps nothing in the browser.
	storage, err := chromedp.Run(browser, chromedp.Evaluate[string](`document.cookie + "|" + localStorage.length`))
	if err != nil || storage != "|0" {
		t.Errorf("cookies|localStorage items = %q (%v), want none", storage, err)
	}

	// What every event of the visit has in common.
	all := events(t, env.Pool, pid)
	defer func() {
		if t.Failed() {
			t.Logf("the project's events:\n%s", dump(all))
		}
	}()
	counts := map[string]int{}
	for _, e := range all {
		counts[e.Name]++
		if e.Name == "session_start" {
			continue
		}
		if e.SDKName != "web" || e.SDKVersion != "1.4.1" {
			t.Errorf("%s: sdk %q/%q, want web/1.4.1", e.Name, e.SDKName, e.SDKVersion)
		}
		if e.Name == "screen_view" && e.Origin != siteOrigin {
			t.Errorf("%s: origin %q, want %q", e.Name, e.Origin, siteOrigin)
		}
		for _, k := range []string{"__path", "__referrer", "__timestamp"} {
			if _, ok := e.Properties[k]; ok {
				t.Errorf("%s: magic property %s was stored: %v", e.Name, k, e)
			}
		}
	}
	for _, e := range all {
		if e.Browser != "Chrome" || e.OS != "Windows" || e.Device != "desktop" {
			t.Errorf("%s: browser %q os %q device %q, want Chrome on Windows desktop (the UA we set)", e.Name, e.Browser, e.OS, e.Device)
		}
		if e.SessionID == "" || e.SessionID != all[0].SessionID || e.DeviceID != all[0].DeviceID {
			t.Errorf("%s: device %q session %q, want one visitor in one session", e.Name, e.DeviceID, e.SessionID)
		}
	}
	want := map[string]int{"session_start": 1, "screen_view": 3, "signup_clicked": 1, "link_out": 1}
	if fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Errorf("events stored %v, want %v:\n%s", counts, want, dump(all))
	}
	if len(all) > 0 && all[0].Name != "session_start" {
		t.Errorf("first event %s, want session_start", all[0].Name)
	}
	for _, m := range console.messages() {
		if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException || m.Type == chromedp.ConsoleWarning {
			t.Errorf("browser console %s: %s (%s:%d)", m.Type, m.Text, m.URL, m.Line+1)
		}
	}

	// The session, as the dashboards read it.
	var entry, exit, sessRef string
	var views int
	var bounce bool
	err = env.Pool.QueryRow(ctx, `SELECT coalesce(entry_path, ''), coalesce(exit_path, ''), coalesce(referrer_name, ''), screen_view_count, is_bounce
		FROM sessions WHERE project_id = $1`, pid).Scan(&entry, &exit, &sessRef, &views, &bounce)
	if err != nil {
		t.Errorf("the visit's session: %v", err)
	} else if entry != "/" || exit != "/pricing/yearly" || sessRef != "Google" || views != 3 || bounce {
		t.Errorf("session: entry %q exit %q referrer %q screen views %d bounce %v, want / → /pricing/yearly from Google, 3 views, no bounce",
			entry, exit, sessRef, views, bounce)
	}

	// Referrers of the site's own host are not referrers (protocol: magic
	// properties). Checked last, apart, so that they hide nothing above.
	var withPath, withoutPath []string
	for _, e := range all {
		if !strings.HasPrefix(e.Referrer, siteOrigin) {
			continue
		}
		p := fmt.Sprintf("%s %q stored the own-host referrer %q (%s/%s)", e.Name, e.Path, e.Referrer, e.ReferrerName, e.ReferrerType)
		if e.Path != "" {
			withPath = append(withPath, p)
		} else {
			withoutPath = append(withoutPath, p)
		}
	}
	check(t, "own-host-referrer-with-port", withPath)
	check(t, "own-host-referrer-without-path", withoutPath)
}

// ignore drops the value of an action, for chromedp.Do.
func ignore[T any](a chromedp.Action[T]) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := a(ctx, t)
		return chromedp.Void{}, err
	}
}

// navigateWithReferrer opens url as if from a link on referrer (full URL
// kept, as a search engine's link with an unsafe-url policy would), and
// waits for the page to load.
func navigateWithReferrer(url, referrer string) chromedp.Action[chromedp.Void] {
	return ignore(chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		res, err := cdp.Call(ctx, t, page.Navigate, page.NavigateParams{
			URL: url, Referrer: referrer, ReferrerPolicy: page.ReferrerPolicyUnsafeURL,
		})
		if err == nil && res.ErrorText != "" {
			err = fmt.Errorf("navigate to %s: %s", url, res.ErrorText)
		}
		return err
	})))
}

// startBrowser starts headless Chromium with a fresh profile and a normal
// desktop Chrome user agent (the server drops HeadlessChrome as a bot), and
// returns a tab's context; the browser stops when t ends.
func startBrowser(t *testing.T, chromium string) context.Context {
	t.Helper()
	profile := t.TempDir() // removed after the browser stopped (cleanups run last-in first-out)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
		chromedp.UserAgent(apptest.BrowserUA),
		chromedp.WindowSize(1280, 800),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancel)
	// The first Do starts the browser and binds it to ctx: no timeout here.
	start := time.Now()
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", chromium, err)
	}
	t.Logf("chromium started in %s", time.Since(start).Round(time.Millisecond))
	ua, err := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.userAgent`))
	if err != nil || ua != apptest.BrowserUA {
		t.Fatalf("browser user agent %q (%v), want apptest.BrowserUA", ua, err)
	}
	return ctx
}

// consoleLog collects what the pages of a tab write to the console.
type consoleLog struct {
	mu   sync.Mutex
	msgs []chromedp.ConsoleMessage
}

func collectConsole(ctx context.Context) *consoleLog {
	c := &consoleLog{}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			c.mu.Lock()
			c.msgs = append(c.msgs, m)
			c.mu.Unlock()
		}
	}()
	return c
}

func (c *consoleLog) messages() []chromedp.ConsoleMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]chromedp.ConsoleMessage(nil), c.msgs...)
}

// newTestSite serves a small site that uses @openpanel/web as OpenPanel's
// docs say: the snippet that queues calls into op.q, then op1.js, async.
func newTestSite(t *testing.T, tracker []byte, apiURL, clientID, partnerURL string) *httptest.Server {
	t.Helper()
	initOpts, err := json.Marshal(map[string]any{
		"clientId": clientID, "apiUrl": apiURL,
		"trackScreenViews": true, "trackOutgoingLinks": true, "trackAttributes": true,
	})
	if err != nil {
		t.Fatal(err)
	}
	layout := func(title, body string) string {
		return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>` + html.EscapeString(title) + `</title>
<script>
window.op=window.op||function(...args){(window.op.q=window.op.q||[]).push(args);};
window.op('init', ` + string(initOpts) + `);
</script>
<script src="/op1.js" async></script>
<style>
body { font: 16px/1.5 system-ui, sans-serif; margin: 40px auto; max-width: 720px; color: #1f2933; }
nav a, .actions > * { margin-right: 16px; }
button { font: inherit; padding: 8px 16px; border-radius: 6px; border: 1px solid #3e4c59; background: #fff; cursor: pointer; }
button.primary { background: #2563eb; color: #fff; border-color: #2563eb; }
footer { margin-top: 48px; color: #7b8794; font-size: 13px; }
</style>
</head>
<body>
<nav><a href="/">Home</a><a href="/pricing?utm_source=newsletter">Pricing</a></nav>
` + body + `
<footer>Tally compatibility test site: @openpanel/web loaded from /op1.js, events sent to ` + html.EscapeString(apiURL) + `</footer>
</body>
</html>`
	}
	pages := map[string]string{
		"/": layout("Home · Tally test site", `
<h1>Welcome</h1>
<p>This page was opened from a search result.</p>
<p><a id="to-pricing" href="/pricing?utm_source=newsletter">See our pricing</a></p>`),
		"/pricing": layout("Pricing · Tally test site", `
<h1 id="heading">Pricing</h1>
<p id="plan-text">Monthly plans.</p>
<div class="actions">
<button id="signup" class="primary" data-track="signup_clicked" data-plan="pro" data-billing-cycle="yearly">Sign up for Pro</button>
<button id="yearly" type="button">Show yearly plans</button>
<a id="partner" href="`+html.EscapeString(partnerURL)+`" target="_blank" rel="noopener">Visit our partner</a>
</div>
<script>
document.getElementById('yearly').addEventListener('click', () => {
  document.title = 'Yearly plans · Tally test site';
  document.getElementById('heading').textContent = 'Yearly plans';
  document.getElementById('plan-text').textContent = 'Two months free.';
  history.pushState({}, '', '/pricing/yearly');
});
</script>`),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /op1.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		_, _ = w.Write(tracker)
	})
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		p, ok := pages[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(p))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// newPartnerSite serves a page on another host than the test site: on
// 127.0.0.2 (all of 127/8 is loopback on Linux) or else on "localhost".
func newPartnerSite(t *testing.T) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!doctype html><title>Partner</title><h1>Partner site</h1>`))
	}))
	host := "127.0.0.2"
	if l, err := net.Listen("tcp", "127.0.0.2:0"); err == nil {
		srv.Listener.Close()
		srv.Listener = l
	} else {
		host = "localhost"
	}
	srv.Start()
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	return "http://" + host + ":" + port
}
