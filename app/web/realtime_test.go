package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"tally/app/accounts"
	"tally/app/apptest"
)

// rtTrack sends an event named name on path (with a referrer, if any)
// from a browser at ip through the ingest API, as @openpanel/web does.
func rtTrack(t *testing.T, s trSite, ip, name, path, referrer string) {
	t.Helper()
	props := map[string]any{"__path": "https://acme.com" + path, "__title": "Acme"}
	if referrer != "" {
		props["__referrer"] = referrer
	}
	res := s.env.Track(t, map[string]any{"type": "track", "payload": map[string]any{"name": name, "properties": props}},
		map[string]string{
			"Content-Type":          "application/json",
			"openpanel-client-id":   s.clientID,
			"openpanel-sdk-name":    "web",
			"openpanel-sdk-version": "1.4.1",
			"Origin":                "https://acme.com",
			"User-Agent":            apptest.BrowserUA,
			"X-Forwarded-For":       ip,
		})
	if res.Status != http.StatusOK {
		t.Fatalf("track %s from %s: %d %s", name, ip, res.Status, res.Body)
	}
}

// rtInsertGeo stores an event with a location directly (the test server
// may have no GeoIP database), and tells the hub.
func rtInsertGeo(t *testing.T, s trSite, device, name, path, country, city string, lat, long float64) {
	t.Helper()
	s.exec(t, `SELECT op.ensure_partitions_v1(now(), now())`)
	s.exec(t, `WITH s AS (
			INSERT INTO sessions (id, project_id, device_id, started_at, last_event_at, entry_path, country, city, latitude, longitude, browser, device)
			VALUES (gen_random_uuid(), $1, $3, now(), now(), $4, $5, $6, $7, $8, 'Firefox', 'desktop') RETURNING id)
		INSERT INTO events (id, project_id, name, device_id, session_id, path, country, city, latitude, longitude, browser, device, created_at)
		SELECT gen_random_uuid(), $1, $2, $3, s.id, $4, $5, $6, $7, $8, 'Firefox', 'desktop', now() FROM s`,
		s.projectID, name, device, path, country, city, lat, long)
	s.exec(t, `SELECT pg_notify('tally_events', $1)`, s.projectID)
}

var rtVisitors = regexp.MustCompile(`data-testid="rt-visitors">(\d+)<`)

// rtPointsJSON is the map's data embedded in the page.
var rtPointsJSON = regexp.MustCompile(`(?s)<script id="rt-points" type="application/json">(.*?)</script>`)

type rtPoint struct {
	Name  string     `json:"name"`
	Value [3]float64 `json:"value"`
}

func TestRealtimePageShowsTheLastMinutes(t *testing.T) {
	t.Parallel()
	s := trOnboard(t)
	path := "/p/" + s.projectID + "/realtime"

	// No events yet.
	p := s.owner.Get(path)
	if p.Status != http.StatusOK {
		t.Fatalf("realtime page: %d %s", p.Status, p.Body)
	}
	for _, want := range []string{
		`sse-connect="/p/` + s.projectID + `/realtime/stream"`, `sse-swap="feed"`, `sse-swap="tops"`, `sse-swap="visitors"`,
		`data-testid="rt-feed-empty"`, `<a href="/p/` + s.projectID + `/realtime" aria-current="page"`,
	} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("the empty realtime page lacks %s", want)
		}
	}
	if m := rtVisitors.FindStringSubmatch(p.Body); m == nil || m[1] != "0" {
		t.Errorf("visitors of an empty project: %v", m)
	}

	// Three visitors: two through the ingest API, one stored with a place.
	rtTrack(t, s, "81.2.69.20", "screen_view", "/pricing", "https://news.ycombinator.com/item?id=1")
	rtTrack(t, s, "81.2.69.21", "screen_view", "/pricing", "")
	rtTrack(t, s, "81.2.69.21", "signup_clicked", "/pricing", "")
	rtInsertGeo(t, s, "geo-device", "screen_view", "/docs/start", "DE", "Berlin", 52.52, 13.41)

	p = s.owner.Get(path)
	if p.Status != http.StatusOK {
		t.Fatalf("realtime page: %d", p.Status)
	}
	if m := rtVisitors.FindStringSubmatch(p.Body); m == nil || m[1] != "3" {
		t.Errorf("visitors now: %v, want 3", m)
	}
	feed := section(t, p.Body, `data-testid="rt-feed"`, `data-testid="rt-tops"`)
	if n := strings.Count(feed, `data-testid="rt-event"`); n != 4 {
		t.Errorf("the feed shows %d events, want 4", n)
	}
	text := strings.Join(strings.Fields(html.UnescapeString(stripTags(feed))), " ")
	for _, want := range []string{"signup_clicked", "screen_view", "/pricing", "/docs/start", "Berlin, Germany", "Firefox · desktop", "just now"} {
		if !strings.Contains(text, want) {
			t.Errorf("the feed lacks %q: %s", want, text)
		}
	}
	// Newest first.
	if i, j := strings.Index(text, "/docs/start"), strings.Index(text, "signup_clicked"); i < 0 || j < 0 || i > j {
		t.Errorf("the feed is not newest first: %s", text)
	}
	tops := strings.Join(strings.Fields(html.UnescapeString(stripTags(section(t, p.Body, `data-testid="rt-tops"`, "")))), " ")
	for _, want := range []string{"Top pages", "/pricing", "/docs/start", "Top referrers", "Top countries", "Germany"} {
		if !strings.Contains(tops, want) {
			t.Errorf("the top lists lack %q: %s", want, tops)
		}
	}
	if !strings.Contains(p.Body, `class="rt-bar" style="width: `) {
		t.Error("the top lists have no share bars")
	}
	if strings.Contains(p.Body, `data-testid="rt-map-panel"`) {
		m := rtPointsJSON.FindStringSubmatch(p.Body)
		if m == nil {
			t.Fatal("the map panel has no points")
		}
		var points []rtPoint
		if err := json.Unmarshal([]byte(m[1]), &points); err != nil {
			t.Fatalf("map points %q: %v", m[1], err)
		}
		found := false
		for _, pt := range points { // (more if the server has a GeoIP database)
			found = found || (pt.Name == "Berlin, Germany" && pt.Value == [3]float64{13.41, 52.52, 1})
		}
		if !found {
			t.Errorf("map points without Berlin: %+v", points)
		}
	}
}

// section is the page's markup from the element with attr up to the one
// with until ("" for the end).
func section(t *testing.T, body, attr, until string) string {
	t.Helper()
	i := strings.Index(body, attr)
	if i < 0 {
		t.Fatalf("the page has no %s", attr)
	}
	body = body[i:]
	if j := strings.Index(body, until); until != "" && j >= 0 {
		body = body[:j]
	}
	return body
}

func TestRealtimeEscapesHostileValues(t *testing.T) {
	t.Parallel()
	s := trOnboard(t)
	rtTrack(t, s, "81.2.69.30", `<img src=x onerror=alert(1)>`, "/"+url.PathEscape(`"><script>alert("path")</script>`), "https://evil.test/"+url.PathEscape(`<script>alert("ref")</script>`))
	rtInsertGeo(t, s, "hostile-geo", `</script><script>alert("name")</script>`, `/"><b>bold</b>`,
		`<i>XX</i>`, `</script><script>alert("city")</script>`, 10, 20)

	res, events := trStream(t, s.env, s.owner, "/p/"+s.projectID+"/realtime/stream")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("stream: %d", res.StatusCode)
	}
	feed := waitSSE(t, events, 3*time.Second, "feed", func(string) bool { return true })
	tops := waitSSE(t, events, 3*time.Second, "tops", func(string) bool { return true })
	points := waitSSE(t, events, 3*time.Second, "points", func(string) bool { return true })
	page := s.owner.Get("/p/" + s.projectID + "/realtime").Body
	for what, body := range map[string]string{"page": page, "feed": feed.data, "tops": tops.data, "points": points.data} {
		for _, bad := range []string{`<img src=x`, `<script>alert(`, `<b>bold`, `<i>XX`} {
			if strings.Contains(body, bad) {
				t.Errorf("%s: %s is markup, not text", what, bad)
			}
		}
	}
	for _, want := range []string{`&lt;img src=x onerror=alert(1)&gt;`, `&lt;b&gt;bold&lt;/b&gt;`, `&lt;i&gt;XX&lt;/i&gt;`} {
		if !strings.Contains(feed.data, want) {
			t.Errorf("the feed does not show %s as text: %s", want, feed.data)
		}
	}
	var pts []rtPoint
	if err := json.Unmarshal([]byte(points.data), &pts); err != nil {
		t.Fatalf("points %s: %v", points.data, err)
	}
	found := false
	for _, pt := range pts {
		found = found || pt.Name == `</script><script>alert("city")</script>, <i>XX</i>`
	}
	if !found {
		t.Errorf("points %s: the hostile place must survive as data", points.data)
	}
	if strings.Contains(points.data, "<") {
		t.Errorf("points JSON has a raw <: %s", points.data)
	}
}

func TestRealtimeStreamDeliversEventsWithinTwoSeconds(t *testing.T) {
	t.Parallel()
	s := trOnboard(t)
	res, events := trStream(t, s.env, s.owner, "/p/"+s.projectID+"/realtime/stream")
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("stream: %d %q %q", res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Cache-Control"))
	}
	// At once: the panels as they are.
	waitSSE(t, events, 2*time.Second, "visitors", is("0"))
	waitSSE(t, events, 2*time.Second, "feed", func(d string) bool { return strings.Contains(d, `data-testid="rt-feed-empty"`) })
	waitSSE(t, events, 2*time.Second, "points", is("[]"))

	// One render sends visitors, feed, tops and points, in that order.
	start := time.Now()
	rtTrack(t, s, "81.2.69.40", "checkout_started", "/cart", "https://www.google.com/")
	waitSSE(t, events, 2*time.Second, "visitors", is("1"))
	ev := waitSSE(t, events, 2*time.Second, "feed", func(d string) bool { return strings.Contains(d, "checkout_started") })
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("ingest to feed event took %s", d)
	} else {
		t.Logf("ingest to feed event: %s", d.Round(time.Millisecond))
	}
	if !strings.Contains(ev.data, "/cart") {
		t.Errorf("feed fragment: %s", ev.data)
	}
	waitSSE(t, events, time.Second, "tops", func(d string) bool { return strings.Contains(d, "Google") })

	// A burst of batches is rendered at most once a second.
	time.Sleep(1100 * time.Millisecond)
	drain(events)
	start = time.Now()
	for i := range 8 {
		rtTrack(t, s, fmt.Sprintf("81.2.69.%d", 50+i), fmt.Sprintf("burst_%d", i), "/burst", "")
	}
	waitSSE(t, events, 3*time.Second, "feed", func(d string) bool { return strings.Contains(d, "burst_7") })
	elapsed := time.Since(start)
	renders := 1
	for {
		select {
		case ev, ok := <-events:
			if ok && ev.name == "feed" {
				renders++
				continue
			}
		case <-time.After(200 * time.Millisecond):
		}
		break
	}
	if limit := int(elapsed/time.Second) + 2; renders > limit {
		t.Errorf("%d feed renders for 8 batches in %s: not throttled to one a second", renders, elapsed)
	}
}

// drain discards the events already received.
func drain(ch <-chan sseEvent) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

func TestRealtimeIsOnlyForWhoMaySeeTheProject(t *testing.T) {
	t.Parallel()
	s := trOnboard(t)
	page, stream := "/p/"+s.projectID+"/realtime", "/p/"+s.projectID+"/realtime/stream"
	if _, err := accounts.NewStore(s.env.Pool).CreateUser(context.Background(), "stranger@else.test", "Stranger", "stranger password"); err != nil {
		t.Fatal(err)
	}
	stranger := s.env.Login(t, "stranger@else.test", "stranger password")
	if p := stranger.Post("/orgs", url.Values{"name": {"Elsewhere"}}); p.Status != http.StatusSeeOther {
		t.Fatalf("the stranger's organization: %d", p.Status)
	}
	if p := stranger.Get(page); p.Status != http.StatusNotFound || strings.Contains(p.Body, "rt-feed") {
		t.Errorf("realtime page for a user of another organization: %d, want 404", p.Status)
	}
	if p := stranger.Stream(stream); p.Status != http.StatusNotFound {
		t.Errorf("realtime stream for a user of another organization: %d, want 404", p.Status)
	}
	anonymous := s.env.NewClient(t)
	for _, path := range []string{page, stream} {
		if p := anonymous.Stream(path); p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Location, "/login") {
			t.Errorf("%s not logged in: %d to %q, want 303 to /login", path, p.Status, p.Location)
		}
	}
}

func TestRealtimeStreamEndsWhenTheServerStops(t *testing.T) {
	t.Parallel()
	s := trOnboard(t)
	_, events := trStream(t, s.env, s.owner, "/p/"+s.projectID+"/realtime/stream")
	waitSSE(t, events, 2*time.Second, "visitors", is("0"))
	stopped := make(chan error, 1)
	go func() { stopped <- s.env.Server.Stop() }()
	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("stop: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the server did not stop within 5 s with a realtime stream open")
	}
	for range events {
	}
}
