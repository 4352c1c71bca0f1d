package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sync"
	"testing"
	"time"

	"tally/app/apptest"
	"tally/app/dbtest"
	"tally/jobs"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

var (
	deviceRe  = regexp.MustCompile(`^[0-9a-f]{32}$`)
	sessionRe = regexp.MustCompile(`^[0-9a-f-]{36}$`)
)

type answer struct {
	DeviceID  string `json:"deviceId"`
	SessionID string `json:"sessionId"`
}

func screenView(url, referrer, title string) map[string]any {
	return map[string]any{"type": "track", "payload": map[string]any{
		"name":       "screen_view",
		"properties": map[string]any{"__path": url, "__referrer": referrer, "__title": title},
	}}
}

func TestScreenViewIsEnrichedSessionizedAndStored(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t)
	ctx := context.Background()
	h := env.BrowserHeaders("81.2.69.142")

	res := env.Track(t, screenView("https://example.com/pricing?utm_source=newsletter&utm_medium=email&utm_campaign=spring#plans",
		"https://www.google.com/search?q=tally", "Pricing"), h)
	if res.Status != http.StatusOK {
		t.Fatalf("status %d: %s", res.Status, res.Body)
	}
	var a answer
	res.JSON(t, &a)
	if !deviceRe.MatchString(a.DeviceID) || !sessionRe.MatchString(a.SessionID) {
		t.Fatalf("answer %+v: want a 32-hex device id and a session uuid", a)
	}

	var (
		path, origin, query, hash, ref, refName, refType, utmSource, utmMedium, utmCampaign string
		browser, os, device, sdk, sessionID, title                                          string
	)
	err := env.Pool.QueryRow(ctx, `
		SELECT path, origin, query, hash, referrer, referrer_name, referrer_type, utm_source, utm_medium, utm_campaign,
		       browser, os, device, sdk_name, session_id::text, properties->>'__title'
		FROM events WHERE project_id = $1 AND name = 'screen_view'`, env.Project.ProjectID).
		Scan(&path, &origin, &query, &hash, &ref, &refName, &refType, &utmSource, &utmMedium, &utmCampaign,
			&browser, &os, &device, &sdk, &sessionID, &title)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ name, got, want string }{
		{"path", path, "/pricing"}, {"origin", origin, "https://example.com"}, {"hash", hash, "plans"},
		{"referrer_name", refName, "Google"}, {"referrer_type", refType, "search"},
		{"utm_source", utmSource, "newsletter"}, {"utm_medium", utmMedium, "email"}, {"utm_campaign", utmCampaign, "spring"},
		{"browser", browser, "Chrome"}, {"os", os, "Windows"}, {"device", device, "desktop"}, {"sdk_name", sdk, "web"},
		{"session_id", sessionID, a.SessionID}, {"title", title, "Pricing"},
	}
	for _, w := range want {
		if w.got != w.want {
			t.Errorf("%s = %q, want %q", w.name, w.got, w.want)
		}
	}
	if query == "" || ref == "" {
		t.Errorf("query %q and referrer %q should be kept", query, ref)
	}

	// session_start comes first, in the same session.
	var names []string
	rows, err := env.Pool.Query(ctx, `SELECT name FROM events WHERE session_id = $1 ORDER BY created_at`, a.SessionID)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		_ = rows.Scan(&n)
		names = append(names, n)
	}
	if fmt.Sprint(names) != "[session_start screen_view]" {
		t.Fatalf("events of the session: %v", names)
	}

	// A second page view: same device, same session, counted on the session row.
	res = env.Track(t, screenView("https://example.com/signup", "https://example.com/pricing", "Sign up"), h)
	var b answer
	res.JSON(t, &b)
	if b != a {
		t.Fatalf("second event answered %+v, want %+v", b, a)
	}
	var views, events int
	var entry, exit, sessRef string
	var bounce bool
	err = env.Pool.QueryRow(ctx, `SELECT screen_view_count, event_count, entry_path, exit_path, referrer_name, is_bounce
		FROM sessions WHERE id = $1`, a.SessionID).Scan(&views, &events, &entry, &exit, &sessRef, &bounce)
	if err != nil {
		t.Fatal(err)
	}
	if views != 2 || events != 2 || entry != "/pricing" || exit != "/signup" || sessRef != "Google" || bounce {
		t.Fatalf("session row: views=%d events=%d entry=%q exit=%q ref=%q bounce=%v", views, events, entry, exit, sessRef, bounce)
	}
	// An own-site referrer is not a referrer.
	var ownRef *string
	_ = env.Pool.QueryRow(ctx, `SELECT referrer FROM events WHERE path = '/signup'`).Scan(&ownRef)
	if ownRef != nil {
		t.Fatalf("own-host referrer stored: %q", *ownRef)
	}
}

func TestDuplicateRequestIsStoredOnceAndAnsweredWithJSON(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t)
	body := map[string]any{"type": "track", "payload": map[string]any{"name": "signup", "properties": map[string]any{"plan": "pro"}}}
	h := env.BrowserHeaders("81.2.69.160")
	first := env.Track(t, body, h)
	second := env.Track(t, body, h)
	if first.Status != 200 || second.Status != 200 {
		t.Fatalf("statuses %d %d", first.Status, second.Status)
	}
	var a, b answer
	first.JSON(t, &a)
	second.JSON(t, &b) // JSON, so the SDK does not retry again
	if a != b {
		t.Fatalf("duplicate answered %+v, original %+v", b, a)
	}
	var n int
	_ = env.Pool.QueryRow(context.Background(), `SELECT count(*) FROM events WHERE name = 'signup'`).Scan(&n)
	if n != 1 {
		t.Fatalf("stored %d times, want once", n)
	}
}

func TestServerSideEventsDoNotOpenSessions(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t)
	res := env.Track(t, map[string]any{"type": "track", "payload": map[string]any{"name": "invoice_paid", "profileId": 42}}, env.ServerHeaders())
	if res.Status != 200 {
		t.Fatalf("status %d: %s", res.Status, res.Body)
	}
	var a answer
	res.JSON(t, &a)
	if a.SessionID != "" || !deviceRe.MatchString(a.DeviceID) {
		t.Fatalf("answer %+v: server events have a device and no session", a)
	}
	var device, profile string
	_ = env.Pool.QueryRow(context.Background(), `SELECT device, profile_id FROM events WHERE name = 'invoice_paid'`).Scan(&device, &profile)
	if device != "server" || profile != "42" {
		t.Fatalf("device %q profile %q", device, profile)
	}
}

func TestBotsAreAnswered202AndNotStored(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t)
	h := env.BrowserHeaders("66.249.66.1")
	h["User-Agent"] = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
	res := env.Track(t, screenView("https://example.com/", "", "Home"), h)
	var body struct {
		Bot struct{ Name, Type string } `json:"bot"`
	}
	res.JSON(t, &body)
	if res.Status != http.StatusAccepted || body.Bot.Name == "" {
		t.Fatalf("status %d body %s", res.Status, res.Body)
	}
	var n int
	_ = env.Pool.QueryRow(context.Background(), `SELECT count(*) FROM events`).Scan(&n)
	if n != 0 {
		t.Fatalf("bot stored %d events", n)
	}
}

func TestClientAuthentication(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t)
	body := screenView("https://example.com/", "", "Home")
	cases := []struct {
		name   string
		mutate func(h map[string]string)
		status int
	}{
		{"allowed origin", func(h map[string]string) {}, 200},
		{"allowed wildcard subdomain", func(h map[string]string) { h["Origin"] = "https://shop.example.org" }, 200},
		{"www and port do not matter", func(h map[string]string) { h["Origin"] = "https://www.example.com:8443" }, 200},
		{"other origin", func(h map[string]string) { h["Origin"] = "https://evil.test" }, 401},
		{"lookalike origin", func(h map[string]string) { h["Origin"] = "https://example.com.evil.test" }, 401},
		{"no origin, no secret", func(h map[string]string) { delete(h, "Origin") }, 401},
		{"unknown client", func(h map[string]string) { h["openpanel-client-id"] = "00000000-0000-4000-8000-000000000000" }, 401},
		{"malformed client", func(h map[string]string) { h["openpanel-client-id"] = "not-a-uuid" }, 401},
		{"missing client", func(h map[string]string) { delete(h, "openpanel-client-id") }, 401},
		{"legacy header", func(h map[string]string) {
			h["mixan-client-id"] = h["openpanel-client-id"]
			delete(h, "openpanel-client-id")
		}, 200},
		{"right secret, no origin", func(h map[string]string) {
			delete(h, "Origin")
			h["openpanel-client-secret"] = env.Project.ClientSecret
		}, 200},
		{"wrong secret", func(h map[string]string) { h["openpanel-client-secret"] = "sec_00000000000000000000" }, 401},
	}
	for i, c := range cases {
		h := env.BrowserHeaders(fmt.Sprintf("81.2.70.%d", i+1))
		c.mutate(h)
		res := env.Track(t, body, h)
		if res.Status != c.status {
			t.Errorf("%s: status %d, want %d (%s)", c.name, res.Status, c.status, res.Body)
		}
		if c.status == 401 && (res.Header.Get("Content-Type") != "text/plain; charset=utf-8" || len(res.Body) == 0) {
			t.Errorf("%s: 401 must be a plain-text reason, got %q %q", c.name, res.Header.Get("Content-Type"), res.Body)
		}
	}
}

func TestPreflightAndAPIPrefix(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t)
	for _, path := range []string{"/track", "/api/track", "/track/device-id", "/api/track/device-id"} {
		res := env.Do(t, http.MethodOptions, path, nil, map[string]string{
			"Origin": "https://anything.test", "Access-Control-Request-Method": "POST",
			"Access-Control-Request-Headers": "content-type,openpanel-client-id,openpanel-sdk-name",
		})
		if res.Status != http.StatusNoContent || res.Header.Get("Access-Control-Allow-Origin") != "*" ||
			res.Header.Get("Access-Control-Max-Age") != "604800" ||
			res.Header.Get("Access-Control-Allow-Headers") != "content-type,openpanel-client-id,openpanel-sdk-name" {
			t.Errorf("preflight %s: %d %v", path, res.Status, res.Header)
		}
	}
	res := env.Track(t, screenView("https://example.com/", "", ""), env.BrowserHeaders("81.2.71.1"))
	var a answer
	res.JSON(t, &a)
	dev := env.Do(t, http.MethodGet, "/api/track/device-id", nil, env.BrowserHeaders("81.2.71.1"))
	var b answer
	dev.JSON(t, &b)
	if dev.Status != 200 || b != a {
		t.Fatalf("device-id answered %d %+v, want %+v", dev.Status, b, a)
	}
}

// expire moves a project's sessions 31 minutes into the past.
func expire(t *testing.T, env *apptest.Env) {
	t.Helper()
	ctx := context.Background()
	for _, q := range []string{
		`UPDATE sessions SET started_at = started_at - interval '31 minutes', last_event_at = last_event_at - interval '31 minutes'`,
		`UPDATE session_heads SET started_at = started_at - interval '31 minutes', last_event_at = last_event_at - interval '31 minutes'`,
	} {
		if _, err := env.Pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
}

func TestIdleSessionsCloseWithSessionEnd(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t)
	ctx := context.Background()
	h := env.BrowserHeaders("81.2.72.1")
	var a answer
	env.Track(t, screenView("https://example.com/only", "", ""), h).JSON(t, &a)
	expire(t, env)
	n, err := jobs.CloseSessions(ctx, env.Pool)
	if err != nil || n != 1 {
		t.Fatalf("closed %d (%v), want 1", n, err)
	}
	var bounce bool
	var dur int64
	if err := env.Pool.QueryRow(ctx, `SELECT (properties->>'bounce')::bool, duration FROM events WHERE name = 'session_end' AND session_id = $1`, a.SessionID).Scan(&bounce, &dur); err != nil {
		t.Fatal(err)
	}
	if !bounce || dur != 0 {
		t.Fatalf("session_end bounce=%v duration=%d, want a bounce of 0 ms", bounce, dur)
	}
	// The next visit is a new session.
	var b answer
	env.Track(t, screenView("https://example.com/again", "", ""), h).JSON(t, &b)
	if b.SessionID == a.SessionID || b.DeviceID != a.DeviceID {
		t.Fatalf("after close: %+v, before: %+v", b, a)
	}
	if n, _ := jobs.CloseSessions(ctx, env.Pool); n != 0 {
		t.Fatalf("closed %d live sessions", n)
	}

	// A visitor back after 30 minutes, before the job ran: the old session
	// ends right away (with its session_end) and a new one starts.
	expire(t, env)
	var c answer
	env.Track(t, screenView("https://example.com/third", "", ""), h).JSON(t, &c)
	var ended int
	_ = env.Pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE name = 'session_end' AND session_id = $1`, b.SessionID).Scan(&ended)
	if c.SessionID == b.SessionID || ended != 1 {
		t.Fatalf("returning visitor: session %s (was %s), session_end stored %d times", c.SessionID, b.SessionID, ended)
	}
}

func TestSessionsSurviveRestartAndAreSharedBetweenProcesses(t *testing.T) {
	t.Parallel()
	url := dbtest.NewDB(t)
	a := apptest.StartOn(t, url, true)
	b := apptest.StartOn(t, url, false)
	b.Project = a.Project
	h := a.BrowserHeaders("81.2.73.1")

	// The same visitor's events, alternately to two processes, concurrently.
	var wg sync.WaitGroup
	answers := make([]answer, 20)
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			env := a
			if i%2 == 1 {
				env = b
			}
			env.Track(t, screenView(fmt.Sprintf("https://example.com/p%d", i), "", ""), h).JSON(t, &answers[i])
		}()
	}
	wg.Wait()
	for _, x := range answers[1:] {
		if x != answers[0] || x.SessionID == "" {
			t.Fatalf("answers differ: %+v vs %+v", x, answers[0])
		}
	}
	var sessions, views int
	_ = a.Pool.QueryRow(context.Background(), `SELECT count(*), sum(screen_view_count) FROM sessions`).Scan(&sessions, &views)
	if sessions != 1 || views != 20 {
		t.Fatalf("%d sessions with %d views, want 1 with 20", sessions, views)
	}

	// Restart one process: the session continues.
	if err := a.Server.Stop(); err != nil {
		t.Fatal(err)
	}
	c := apptest.StartOn(t, url, false)
	c.Project = a.Project
	var after answer
	c.Track(t, screenView("https://example.com/after-restart", "", ""), h).JSON(t, &after)
	if after != answers[0] {
		t.Fatalf("after restart %+v, want %+v", after, answers[0])
	}
}

func TestIncrementIsAtomic(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t)
	h := env.ServerHeaders()
	res := env.Track(t, map[string]any{"type": "identify", "payload": map[string]any{"profileId": "u1", "email": "ada@example.com", "properties": map[string]any{"logins": 5}}}, h)
	if res.Status != 200 {
		t.Fatalf("identify: %d %s", res.Status, res.Body)
	}
	var wg sync.WaitGroup
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := env.Track(t, map[string]any{"type": "increment", "payload": map[string]any{"profileId": "u1", "property": "logins"}}, h)
			if r.Status != 200 {
				t.Errorf("increment: %d %s", r.Status, r.Body)
			}
		}()
	}
	wg.Wait()
	var logins float64
	_ = env.Pool.QueryRow(context.Background(), `SELECT (properties->>'logins')::float8 FROM profiles WHERE id = 'u1'`).Scan(&logins)
	if logins != 205 {
		t.Fatalf("logins = %v, want 205", logins)
	}
	res = env.Track(t, map[string]any{"type": "decrement", "payload": map[string]any{"profileId": "nobody", "property": "x"}}, h)
	if res.Status != 404 {
		t.Fatalf("unknown profile: %d %s", res.Status, res.Body)
	}
	env.Track(t, map[string]any{"type": "identify", "payload": map[string]any{"profileId": "u2", "properties": map[string]any{"plan": "pro"}}}, h)
	res = env.Track(t, map[string]any{"type": "increment", "payload": map[string]any{"profileId": "u2", "property": "plan"}}, h)
	if res.Status != 400 {
		t.Fatalf("non-numeric: %d %s", res.Status, res.Body)
	}
}

// Every event acknowledged before and during a shutdown is stored.
func TestShutdownDrainsAcknowledgedEvents(t *testing.T) {
	t.Parallel()
	url := dbtest.NewDB(t)
	env := apptest.StartOn(t, url, true)
	var mu sync.Mutex
	acked := 0
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				body, _ := json.Marshal(map[string]any{"type": "track", "payload": map[string]any{"name": "tick", "properties": map[string]any{"w": w, "i": i}}})
				res, err := postJSON(env, body)
				if err != nil {
					return // the server is gone
				}
				if res == 200 {
					mu.Lock()
					acked++
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	if err := env.Server.Stop(); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	pool := dbtest.NewPoolFor(t, url)
	var stored int
	_ = pool.QueryRow(context.Background(), `SELECT count(*) FROM events WHERE name = 'tick'`).Scan(&stored)
	if acked == 0 || stored != acked {
		t.Fatalf("acknowledged %d, stored %d", acked, stored)
	}
}

var plainClient = &http.Client{Timeout: 20 * time.Second}

// postJSON sends a server-side /track request and returns its status.
func postJSON(env *apptest.Env, body []byte) (int, error) {
	req, err := http.NewRequest(http.MethodPost, env.URL+"/track", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	for k, v := range env.ServerHeaders() {
		req.Header.Set(k, v)
	}
	res, err := plainClient.Do(req)
	if err != nil {
		return 0, err
	}
	res.Body.Close()
	return res.StatusCode, nil
}

// A queued event from months ago has a partition to land in; one from the
// future is stored at the server's time.
func TestTimestampsAcrossTheAcceptedRange(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t)
	old := time.Now().Add(-300 * 24 * time.Hour).UTC().Truncate(time.Millisecond)
	for _, ts := range []any{old.Format(time.RFC3339Nano), old.UnixMilli()} {
		res := env.Track(t, map[string]any{"type": "track", "payload": map[string]any{"name": "queued",
			"properties": map[string]any{"__timestamp": ts}}}, env.ServerHeaders())
		if res.Status != 200 {
			t.Fatalf("timestamp %v: %d %s", ts, res.Status, res.Body)
		}
	}
	var n int
	_ = env.Pool.QueryRow(context.Background(), `SELECT count(*) FROM events WHERE name = 'queued' AND created_at = $1`, old).Scan(&n)
	if n != 2 {
		t.Fatalf("stored %d events at %v, want 2", n, old)
	}
}
