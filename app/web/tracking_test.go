package web_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"tally/app/accounts"
	"tally/app/apptest"
	"tally/app/web"
	"tally/static"
)

// trSite is an onboarded server: its owner, project and write client.
type trSite struct {
	env       *apptest.Env
	owner     *apptest.Client
	projectID string
	clientID  string
	tracking  string // the Tracking page's path
}

const trPassword = "correct horse battery"

func trOnboard(t *testing.T) trSite {
	t.Helper()
	env := startEmpty(t)
	c, next := env.Onboard(t, "owner@acme.test", trPassword)
	s := trSite{env: env, owner: c, tracking: next}
	s.projectID = strings.TrimSuffix(strings.TrimPrefix(next, "/p/"), "/tracking")
	if err := env.Pool.QueryRow(context.Background(), `SELECT id::text FROM clients WHERE project_id = $1`, s.projectID).Scan(&s.clientID); err != nil {
		t.Fatal(err)
	}
	return s
}

// track sends a screen view of path from a browser at ip on the allowed
// domain (each ip is another visitor).
func (s trSite) track(t *testing.T, ip, path string) {
	t.Helper()
	res := s.env.Track(t, map[string]any{"type": "track", "payload": map[string]any{
		"name": "screen_view", "properties": map[string]any{"__path": "https://acme.com" + path, "__title": "Acme"},
	}}, map[string]string{
		"Content-Type":          "application/json",
		"openpanel-client-id":   s.clientID,
		"openpanel-sdk-name":    "web",
		"openpanel-sdk-version": "1.4.1",
		"Origin":                "https://acme.com",
		"User-Agent":            apptest.BrowserUA,
		"X-Forwarded-For":       ip,
	})
	if res.Status != http.StatusOK {
		t.Fatalf("track from %s: %d %s", ip, res.Status, res.Body)
	}
}

func (s trSite) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := s.env.Pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

type sseEvent struct{ name, data string }

// trStream opens an event stream as c and delivers its events; closed
// channel = the stream ended.
func trStream(t *testing.T, env *apptest.Env, c *apptest.Client, path string) (*http.Response, <-chan sseEvent) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, env.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.HTTP.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	t.Cleanup(func() { res.Body.Close() })
	ch := make(chan sseEvent, 100)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(res.Body)
		var ev sseEvent
		var data []string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" {
					ev.data = strings.Join(data, "\n")
					ch <- ev
				}
				ev, data = sseEvent{}, nil
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data = append(data, strings.TrimPrefix(line, "data: "))
			}
		}
	}()
	return res, ch
}

// waitSSE waits for an event named name whose data satisfies ok.
func waitSSE(t *testing.T, ch <-chan sseEvent, within time.Duration, name string, ok func(string) bool) sseEvent {
	t.Helper()
	deadline := time.After(within)
	var seen []sseEvent
	for {
		select {
		case ev, open := <-ch:
			if !open {
				t.Fatalf("the stream ended while waiting for %s; saw %v", name, seen)
			}
			seen = append(seen, ev)
			if ev.name == name && ok(ev.data) {
				return ev
			}
		case <-deadline:
			t.Fatalf("no matching %s event within %s; saw %v", name, within, seen)
		}
	}
}

func is(want string) func(string) bool { return func(s string) bool { return s == want } }

func TestTrackingPageShowsTheSnippet(t *testing.T) {
	t.Parallel()
	s := trOnboard(t)
	p := s.owner.Get(s.tracking)
	if p.Status != http.StatusOK {
		t.Fatalf("tracking page: %d", p.Status)
	}
	text := html.UnescapeString(p.Body)
	for _, want := range []string{
		`window.op = window.op || function (...args) { (window.op.q = window.op.q || []).push(args); };`,
		`window.op("init", {`,
		`clientId: "` + s.clientID + `",`,
		`apiUrl: "` + s.env.URL + `",`,
		`trackScreenViews: true,`, `trackOutgoingLinks: true,`, `trackAttributes: true,`,
		`<script src="` + s.env.URL + `/op1.js" defer async></script>`,
		`@openpanel/web`, `@openpanel/nextjs`, `scriptUrl="` + s.env.URL + `/op1.js"`,
		"React", "Vue", "Next.js", "Plain HTML",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the tracking page lacks %q", want)
		}
	}
	for _, want := range []string{
		`data-copy="#snippet"`, `id="snippet"`, `data-testid="client-id"`,
		`<span class="badge" data-testid="domain">acme.com</span>`,
		`class="waiting" data-testid="first-event">Waiting for the first event…`,
		`sse-connect="/p/` + s.projectID + `/live?first=1"`, `sse-swap="first-event"`, `sse-close="first-event"`,
		// The header's live counter.
		`sse-connect="/p/` + s.projectID + `/live"`, `sse-swap="visitors"`,
	} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("the tracking page lacks %s", want)
		}
	}
	// The snippet is shown, not run.
	if strings.Contains(p.Body, `<script src="`+s.env.URL+`/op1.js"`) {
		t.Error("the snippet is in the page as markup, not as text")
	}
}

func TestTrackingPageEscapesHostileValues(t *testing.T) {
	t.Parallel()
	s := trOnboard(t)
	s.exec(t, `UPDATE projects SET name = $2 WHERE id = $1`, s.projectID, `<script>alert("name")</script>`)
	p := s.owner.Get(s.tracking)
	if p.Status != http.StatusOK || strings.Contains(p.Body, `<script>alert(`) || !strings.Contains(p.Body, `&lt;script&gt;alert(`) {
		t.Fatalf("hostile project name not escaped (status %d)", p.Status)
	}

	// A first event whose name and path are markup, on the page and in the
	// stream's fragment.
	res, events := trStream(t, s.env, s.owner, "/p/"+s.projectID+"/live?first=1")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("live: %d", res.StatusCode)
	}
	waitSSE(t, events, 2*time.Second, "visitors", is("0"))
	s.exec(t, `SELECT op.ensure_partitions_v1(now(), now())`)
	s.exec(t, `INSERT INTO events (id, project_id, name, device_id, path, created_at)
		VALUES (gen_random_uuid(), $1, '<b>bold</b>', 'd1', '/"><img src=x onerror=alert(1)>', now())`, s.projectID)
	s.exec(t, `SELECT pg_notify('tally_events', $1)`, s.projectID)
	ev := waitSSE(t, events, 3*time.Second, "first-event", func(string) bool { return true })
	for _, body := range []string{ev.data, s.owner.Get(s.tracking).Body} {
		if strings.Contains(body, "<img") || strings.Contains(body, "<b>") || !strings.Contains(body, "&lt;img src=x") || !strings.Contains(body, "&lt;b&gt;bold") {
			t.Errorf("hostile event not escaped: %s", body)
		}
	}
}

func TestTrackingPageWithoutClientOrDomains(t *testing.T) {
	t.Parallel()
	s := trOnboard(t)
	s.exec(t, `UPDATE clients SET revoked_at = now() WHERE project_id = $1`, s.projectID)
	s.exec(t, `UPDATE projects SET domains = '{}' WHERE id = $1`, s.projectID)
	p := s.owner.Get(s.tracking)
	if p.Status != http.StatusOK {
		t.Fatalf("tracking page: %d", p.Status)
	}
	for _, want := range []string{`data-testid="no-client"`, `href="/p/` + s.projectID + `/settings/clients"`, `data-testid="no-domains"`} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("the tracking page lacks %s", want)
		}
	}
	if strings.Contains(p.Body, `id="snippet"`) || strings.Contains(p.Body, s.clientID) {
		t.Error("a revoked client is offered in the snippet")
	}
	// A newer client is offered once it exists.
	s.exec(t, `INSERT INTO clients (id, organization_id, project_id, name, type)
		SELECT '00000000-0000-4000-8000-000000000001', organization_id, id, 'Web', 'write' FROM projects WHERE id = $1`, s.projectID)
	if p := s.owner.Get(s.tracking); !strings.Contains(html.UnescapeString(p.Body), `clientId: "00000000-0000-4000-8000-000000000001"`) {
		t.Error("the new write client is not in the snippet")
	}
}

func TestTrackingPageShowsAnEarlierFirstEvent(t *testing.T) {
	t.Parallel()
	s := trOnboard(t)
	s.track(t, "81.2.69.142", "/pricing")
	p := s.owner.Get(s.tracking)
	text := strings.Join(strings.Fields(html.UnescapeString(stripTags(p.Body))), " ")
	if !strings.Contains(p.Body, `class="arrived" data-testid="first-event"`) || !strings.Contains(text, "First event received: screen_view on /pricing") {
		t.Fatalf("the tracking page does not show the first event: %s", text)
	}
	if strings.Contains(p.Body, "live?first=1") || strings.Contains(p.Body, "Waiting for the first event") {
		t.Error("the page still waits for a first event it has")
	}
}

// stripTags drops markup, for checking the text a reader sees.
func stripTags(s string) string {
	var b strings.Builder
	in := false
	for _, r := range s {
		switch {
		case r == '<':
			in = true
		case r == '>':
			in = false
		case !in:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func TestLiveCountsVisitorsAndAnnouncesTheFirstEvent(t *testing.T) {
	t.Parallel()
	s := trOnboard(t)
	live := "/p/" + s.projectID + "/live"
	res, counter := trStream(t, s.env, s.owner, live)
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("live: %d %q %q", res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Cache-Control"))
	}
	_, first := trStream(t, s.env, s.owner, live+"?first=1")
	waitSSE(t, counter, 2*time.Second, "visitors", is("0"))
	waitSSE(t, first, 2*time.Second, "visitors", is("0"))

	const n = 3
	for i := range n {
		s.track(t, fmt.Sprintf("81.2.69.%d", 10+i), "/pricing")
	}
	waitSSE(t, counter, 2*time.Second, "visitors", is(fmt.Sprint(n)))
	ev := waitSSE(t, first, 2*time.Second, "first-event", func(string) bool { return true })
	if !strings.Contains(ev.data, `class="arrived"`) || stripTags(ev.data) != "First event received: screen_view on /pricing" {
		t.Errorf("first-event fragment: %q", ev.data)
	}

	// Another event of a known visitor: the count stays, and is not resent.
	s.track(t, "81.2.69.10", "/about")
	select {
	case ev := <-counter:
		t.Errorf("unexpected %s %q for an unchanged count", ev.name, ev.data)
	case <-time.After(1500 * time.Millisecond):
	}
}

func TestLiveIsOnlyForWhoMaySeeTheProject(t *testing.T) {
	t.Parallel()
	s := trOnboard(t)
	live := "/p/" + s.projectID + "/live"
	if _, err := accounts.NewStore(s.env.Pool).CreateUser(context.Background(), "stranger@else.test", "Stranger", "stranger password"); err != nil {
		t.Fatal(err)
	}
	stranger := s.env.Login(t, "stranger@else.test", "stranger password")
	if p := stranger.Stream(live); p.Status != http.StatusNotFound {
		t.Errorf("a user outside the organization: %d, want 404", p.Status)
	}
	if p := stranger.Get(s.tracking); p.Status != http.StatusNotFound {
		t.Errorf("tracking page for a user outside the organization: %d, want 404", p.Status)
	}
	anonymous := s.env.NewClient(t)
	if p := anonymous.Stream(live); p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Location, "/login") {
		t.Errorf("not logged in: %d to %q, want 303 to /login", p.Status, p.Location)
	}
}

func TestLiveEndsWhenTheServerStops(t *testing.T) {
	t.Parallel()
	s := trOnboard(t)
	_, events := trStream(t, s.env, s.owner, "/p/"+s.projectID+"/live")
	waitSSE(t, events, 2*time.Second, "visitors", is("0"))
	start := time.Now()
	stopped := make(chan error, 1)
	go func() { stopped <- s.env.Server.Stop() }()
	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("stop: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the server did not stop within 5 s with a live stream open")
	}
	for range events {
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("stopping with a live stream open took %s", d)
	}
}

func TestTrackerScriptIsServedToAnySite(t *testing.T) {
	t.Parallel()
	env := startEmpty(t)
	want, err := static.FS.ReadFile("op1.js")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, env.URL+"/op1.js", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	req.Header.Set("Origin", "https://some-site.example")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	h := res.Header
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "application/javascript") ||
		h.Get("Cache-Control") != "public, max-age=3600" || h.Get("Access-Control-Allow-Origin") != "*" || h.Get("Content-Encoding") != "gzip" {
		t.Fatalf("/op1.js: %d %v", res.StatusCode, h)
	}
	zr, err := gzip.NewReader(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("/op1.js body differs from static/op1.js (%d vs %d bytes, %v)", len(got), len(want), err)
	}
	if !bytes.Contains(want, []byte("op.q")) || len(want) < 4000 {
		t.Fatalf("static/op1.js does not look like the OpenPanel tracker (%d bytes)", len(want))
	}
	// Revalidation.
	req, _ = http.NewRequest(http.MethodGet, env.URL+"/op1.js", nil)
	req.Header.Set("If-None-Match", h.Get("ETag"))
	res2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res2.Body.Close()
	if h.Get("ETag") == "" || res2.StatusCode != http.StatusNotModified {
		t.Errorf("revalidation with ETag %q: %d, want 304", h.Get("ETag"), res2.StatusCode)
	}
}

// TestLiveEndsWhenAccessEnds: a stream outlives the request that checked
// access, so it checks again: after a logout (the same session) or a
// password change (another session) it ends. Not parallel: it shortens the
// re-check interval for the package.
func TestLiveEndsWhenAccessEnds(t *testing.T) {
	defer web.SetLiveRefresh(200 * time.Millisecond)()
	s := trOnboard(t)
	ended := func(events <-chan sseEvent) bool {
		deadline := time.After(3 * time.Second)
		for {
			select {
			case _, open := <-events:
				if !open {
					return true
				}
			case <-deadline:
				return false
			}
		}
	}

	// Logout in the same browser.
	_, events := trStream(t, s.env, s.owner, "/p/"+s.projectID+"/live")
	waitSSE(t, events, 2*time.Second, "visitors", is("0"))
	if ended(events) {
		t.Fatal("the stream ended while access was still valid")
	}
	s.owner.Post("/logout", url.Values{})
	if !ended(events) {
		t.Fatal("the stream went on after logout")
	}

	// A password change elsewhere ends the other session's stream.
	other := s.env.Login(t, "owner@acme.test", trPassword)
	_, events = trStream(t, s.env, other, "/p/"+s.projectID+"/live")
	waitSSE(t, events, 2*time.Second, "visitors", is("0"))
	changer := s.env.Login(t, "owner@acme.test", trPassword)
	if p := changer.Post("/account/password", url.Values{"current": {trPassword}, "new": {"a whole new password"}}); p.Status >= 400 {
		t.Fatalf("password change: %d", p.Status)
	}
	if !ended(events) {
		t.Fatal("the stream went on after a password change ended its session")
	}
}
