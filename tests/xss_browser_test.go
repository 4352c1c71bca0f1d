package tests

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/go-chi/chi/v5"

	"tally/app/apptest"
	"tally/app/dbtest"
)

// hostile returns markup that, if it ever ran, would set window.__xss to
// id. Every place a user or a tracked site controls text gets one.
func hostile(id string) string {
	return `"'><img src=x onerror="window.__xss='` + id + `'"><script>window.__xss='` + id + `'</script>`
}

// TestHostileNamesNeverRun names the owner, the organization and the project
// with markup, tracks events whose names, paths and referrers are markup,
// then opens every dashboard page in Chromium: no script may run, and the
// text must be shown as text.
func TestHostileNamesNeverRun(t *testing.T) {
	t.Parallel()
	chromium := RequireTool(t, "chromium", "/usr/bin/chromium")
	env := apptest.StartOn(t, dbtest.NewDB(t), false)
	owner := env.NewClient(t)
	p := owner.Post("/welcome", url.Values{
		"name": {hostile("user")}, "email": {"owner@xss.test"}, "password": {"xss test password"},
		"organization": {hostile("org")}, "project": {hostile("project")}, "domain": {"xss.test"}, "timezone": {"UTC"},
	})
	if p.Status != http.StatusSeeOther {
		t.Fatalf("onboarding with hostile names: %d %s", p.Status, p.Body)
	}
	projectID := strings.Split(p.Location, "/")[2]
	var orgID, clientID string
	if err := env.Pool.QueryRow(context.Background(), `SELECT p.organization_id, c.id FROM projects p JOIN clients c ON c.project_id = p.id WHERE p.id = $1`, projectID).
		Scan(&orgID, &clientID); err != nil {
		t.Fatal(err)
	}
	// Events from the tracked site with markup everywhere it can put it.
	// (Event names are limited to 80 characters: the short form.)
	for i, name := range []string{"screen_view", `<img src=x onerror="window.__xss='event'">`} {
		body, _ := json.Marshal(map[string]any{"type": "track", "payload": map[string]any{
			"name": name,
			"properties": map[string]any{
				"__path":     "https://xss.test/" + url.PathEscape(hostile("path")),
				"__referrer": "https://evil.test/" + url.PathEscape(hostile("referrer")),
				"__title":    hostile("title"),
				"label":      hostile("property"),
			},
		}})
		res := env.Do(t, http.MethodPost, "/track", body, map[string]string{
			"Content-Type": "application/json", "openpanel-client-id": clientID, "Origin": "https://xss.test",
			"User-Agent": apptest.BrowserUA, "X-Forwarded-For": "203.0.113." + string(rune('1'+i)),
		})
		if res.Status != http.StatusOK {
			t.Fatalf("track %d: %d %s", i, res.Status, res.Body)
		}
	}

	// Every GET page of the dashboard that needs only the project and
	// organization ids.
	var pages []string
	_ = chi.Walk(env.Server.Routes.(chi.Routes), func(method, pattern string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if method != http.MethodGet || strings.Contains(pattern, "/live") || strings.HasSuffix(pattern, "/stream") || strings.HasPrefix(pattern, "/static/") ||
			strings.HasPrefix(pattern, "/api/") || strings.HasPrefix(pattern, "/healthz/") || pattern == "/switch" || pattern == "/op1.js" || pattern == "/favicon.ico" ||
			strings.Contains(strings.NewReplacer("{projectID}", "", "{orgID}", "").Replace(pattern), "{") {
			return nil
		}
		pages = append(pages, strings.NewReplacer("{projectID}", projectID, "{orgID}", orgID).Replace(pattern))
		return nil
	})
	if len(pages) < 10 {
		t.Fatalf("only %d pages to check: %v", len(pages), pages)
	}

	browser := startBrowser(t, chromium)
	setCookies(t, browser, env, owner) // logged in as the owner
	for _, path := range pages {
		ctx, cancel := context.WithTimeout(browser, 20*time.Second)
		err := chromedp.Do(ctx,
			chromedp.Navigate(env.URL+path),
			chromedp.Sleep(300*time.Millisecond), // image error handlers fire after load
		)
		var res string
		if err == nil {
			res, err = chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({xss: window.__xss || "", text: document.body.innerText, error: !!document.querySelector("[data-testid=error]")})`))
		}
		cancel()
		if err != nil {
			t.Errorf("open %s: %v", path, err)
			continue
		}
		var got struct {
			XSS, Text string
			Error     bool
		}
		_ = json.Unmarshal([]byte(res), &got)
		if got.XSS != "" {
			t.Errorf("%s: the %s name ran as script", path, got.XSS)
		}
		if got.Error {
			t.Errorf("%s: an error page", path)
		}
		if strings.Contains(path, projectID) && !strings.Contains(got.Text, `<img src=x onerror="window.__xss='project'">`) {
			t.Errorf("%s does not show the project's name as text", path)
		}
	}
}
