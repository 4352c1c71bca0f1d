package analytics_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"tally/app/analytics"
)

// A dataset written the way op.ingest_v1 and op.end_sessions_v1 write
// (session_start before a session's first event with its context, the
// sessions row from its events, session_end after the last), kept in
// memory so the tests can compute every answer independently in Go.

// dimCols are the event columns a session takes from its first event.
var dimCols = []string{
	"referrer", "referrer_name", "referrer_type",
	"utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content",
	"country", "region", "city", "os", "os_version", "browser", "browser_version",
	"device", "brand", "model",
}

type tEvent struct {
	ID      uuid.UUID
	Project string
	Name    string
	Device  string
	Session *uuid.UUID
	At      time.Time
	Path    *string
	Cols    map[string]string // dimCols present (absent: NULL)
	Lat     *float64
	Lon     *float64
	Revenue *int64
	Props   map[string]any
}

type tSession struct {
	ID                      uuid.UUID
	Project, Device         string
	Started, Last           time.Time
	Ended                   bool
	Duration                int64
	EventCount, ScreenViews int
	Bounce                  bool
	Revenue                 int64
	Entry, Exit             *string
	Cols                    map[string]string
}

type dataset struct {
	events   []tEvent
	sessions []tSession
}

func ptr[T any](v T) *T { return &v }

func rngFor(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

var (
	paths     = []string{"/", "/", "/", "/pricing", "/blog", "/blog/post-1", "/blog/post-2", "/docs", "/docs/start", "/about", "/a'b", "/<script>alert(1)</script>", "/ünïcode"}
	referrers = []struct{ url, name, typ string }{
		{"", "", ""}, {"", "", ""},
		{"https://www.google.com/", "Google", "search"},
		{"https://news.ycombinator.com/", "Hacker News", "social"},
		{"https://t.co/abc", "Twitter", "social"},
		{"https://example.net/x", "", "unknown"},
	}
	places = []struct {
		country, region, city string
		lat, lon              float64
	}{
		{"DE", "Berlin", "Berlin", 52.52, 13.405},
		{"DE", "Bavaria", "Munich", 48.137, 11.575},
		{"US", "California", "San Francisco", 37.77, -122.42},
		{"FR", "Île-de-France", "Paris", 48.85, 2.35},
		{"", "", "", 0, 0},
	}
	agents = []struct{ os, osv, browser, bv, device, brand, model string }{
		{"Windows", "10", "Chrome", "126", "desktop", "", ""},
		{"macOS", "10.15.7", "Safari", "17.5", "desktop", "Apple", "Macintosh"},
		{"iOS", "17.5", "Safari", "17.5", "mobile", "Apple", "iPhone"},
		{"Android", "14", "Chrome", "126", "mobile", "Google", "Pixel 8"},
		{"Linux", "", "Firefox", "127.0", "desktop", "", ""},
	}
	campaigns = []string{"", "", "", "spring", "launch", `x"y`}
	customs   = []string{"signup", "download", "video_play", "<b>evil</b>"}
)

// genDataset makes about days*perDay sessions per project, the last day
// ending at end, on devices that come back (so daily distinct counts and
// sessions differ), some sessions crossing local midnight, some events
// outside any session (server events).
func genDataset(seed uint64, projects []string, end time.Time, days, perDay int) *dataset {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	d := &dataset{}
	start := end.Add(-time.Duration(days) * 24 * time.Hour)
	span := end.Sub(start)
	for _, p := range projects {
		devices := make([]string, perDay*3)
		for i := range devices {
			devices[i] = fmt.Sprintf("%s-dev-%03d", p, i)
		}
		n := days * perDay
		for i := 0; i < n; i++ {
			at := start.Add(time.Duration(rng.Int64N(int64(span))))
			// A few sessions just before a UTC/local midnight, to cross it.
			if rng.IntN(15) == 0 {
				at = time.Date(at.Year(), at.Month(), at.Day(), 23, 50+rng.IntN(9), rng.IntN(60), 0, at.Location())
			}
			d.addSession(rng, p, devices[rng.IntN(len(devices))], at, end)
		}
		// Server events: no session.
		for i := 0; i < days*2; i++ {
			at := start.Add(time.Duration(rng.Int64N(int64(span))))
			d.events = append(d.events, tEvent{
				ID: uuid.New(), Project: p, Name: "server_sync", Device: devices[rng.IntN(len(devices))],
				At: at.Truncate(time.Millisecond), Cols: map[string]string{}, Props: map[string]any{"plan": []string{"free", "pro", "10", "2.5"}[rng.IntN(4)]},
			})
		}
	}
	return d
}

func (d *dataset) addSession(rng *rand.Rand, project, device string, at, end time.Time) {
	at = at.Truncate(time.Millisecond)
	ref := referrers[rng.IntN(len(referrers))]
	pl := places[rng.IntN(len(places))]
	ag := agents[rng.IntN(len(agents))]
	camp := campaigns[rng.IntN(len(campaigns))]
	ctx := map[string]string{}
	set := func(k, v string) {
		if v != "" {
			ctx[k] = v
		}
	}
	set("referrer", ref.url)
	set("referrer_name", ref.name)
	set("referrer_type", ref.typ)
	if camp != "" {
		set("utm_source", "newsletter")
		set("utm_medium", "email")
		set("utm_campaign", camp)
		if rng.IntN(2) == 0 {
			set("utm_term", "shoes")
			set("utm_content", "banner")
		}
	}
	set("country", pl.country)
	set("region", pl.region)
	set("city", pl.city)
	set("os", ag.os)
	set("os_version", ag.osv)
	set("browser", ag.browser)
	set("browser_version", ag.bv)
	set("device", ag.device)
	set("brand", ag.brand)
	set("model", ag.model)
	var lat, lon *float64
	if pl.country != "" {
		lat, lon = ptr(pl.lat), ptr(pl.lon)
	}

	sid := uuid.New()
	s := tSession{ID: sid, Project: project, Device: device, Cols: ctx}
	nev := 1 + rng.IntN(6)
	if rng.IntN(3) == 0 {
		nev = 1 // bounces
	}
	t := at
	var real []tEvent
	for i := 0; i < nev; i++ {
		if i > 0 {
			t = t.Add(time.Duration(5+rng.IntN(300)) * time.Second)
		}
		if !t.Before(end) {
			break
		}
		e := tEvent{ID: uuid.New(), Project: project, Device: device, Session: &sid, At: t, Cols: ctx, Lat: lat, Lon: lon, Props: map[string]any{}}
		switch r := rng.IntN(10); {
		case r < 6 || i == 0 && rng.IntN(4) > 0:
			e.Name = "screen_view"
			e.Path = ptr(paths[rng.IntN(len(paths))])
		case r < 8:
			e.Name = customs[rng.IntN(len(customs))]
			e.Props["plan"] = []string{"free", "pro", "10", "2.5", "1e3"}[rng.IntN(5)]
		case r < 9:
			e.Name = "link_out"
			e.Props["href"] = []string{"https://github.com/x", "https://partner.example/", "https://github.com/x"}[rng.IntN(3)]
			e.Props["text"] = "go"
		default:
			e.Name = "revenue"
			e.Revenue = ptr(int64(100 * (1 + rng.IntN(50))))
		}
		real = append(real, e)
	}
	if len(real) == 0 {
		return
	}
	first, last := real[0], real[len(real)-1]
	s.Started, s.Last = first.At, last.At
	s.Duration = last.At.Sub(first.At).Milliseconds()
	s.EventCount = len(real)
	s.Bounce = len(real) <= 1
	for _, e := range real {
		if e.Name == "screen_view" {
			s.ScreenViews++
			if s.Entry == nil {
				s.Entry = e.Path
			}
			s.Exit = e.Path
		}
		if e.Revenue != nil {
			s.Revenue += *e.Revenue
		}
	}
	// session_start: the first event's context, 1 ms before it.
	d.events = append(d.events, tEvent{ID: uuid.New(), Project: project, Name: "session_start", Device: device, Session: &sid,
		At: first.At.Add(-time.Millisecond), Path: first.Path, Cols: ctx, Lat: lat, Lon: lon, Props: map[string]any{}})
	d.events = append(d.events, real...)
	// Ended (idle for 30 minutes before end): session_end 1 ms after the last.
	if last.At.Add(30 * time.Minute).Before(end) {
		s.Ended = true
		d.events = append(d.events, tEvent{ID: uuid.New(), Project: project, Name: "session_end", Device: device, Session: &sid,
			At: last.At.Add(time.Millisecond), Path: s.Exit, Cols: ctx, Lat: lat, Lon: lon,
			Props: map[string]any{"bounce": s.Bounce, "screenViews": s.ScreenViews, "events": s.EventCount}})
	}
	d.sessions = append(d.sessions, s)
}

func nullable(m map[string]string, k string) any {
	if v, ok := m[k]; ok {
		return v
	}
	return nil
}

// write stores the dataset with COPY and marks its days dirty.
func (d *dataset) write(t testing.TB, pool *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `SELECT op.ensure_partitions_v1('2023-01-01', '2027-01-01')`); err != nil {
		t.Fatal(err)
	}
	evCols := append([]string{"id", "project_id", "name", "device_id", "profile_id", "session_id", "created_at", "path",
		"latitude", "longitude", "revenue", "duration", "properties"}, dimCols...)
	var rows [][]any
	for _, e := range d.events {
		var sess any
		if e.Session != nil {
			sess = *e.Session
		}
		var path, rev, dur any
		if e.Path != nil {
			path = *e.Path
		}
		if e.Revenue != nil {
			rev = *e.Revenue
		}
		var lat, lon any
		if e.Lat != nil {
			lat, lon = *e.Lat, *e.Lon
		}
		row := []any{e.ID, e.Project, e.Name, e.Device, e.Device, sess, e.At, path, lat, lon, rev, dur, e.Props}
		for _, c := range dimCols {
			row = append(row, nullable(e.Cols, c))
		}
		rows = append(rows, row)
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"events"}, evCols, pgx.CopyFromRows(rows)); err != nil {
		t.Fatal(err)
	}
	sCols := append([]string{"id", "project_id", "device_id", "profile_id", "started_at", "last_event_at", "ended_at",
		"duration", "event_count", "screen_view_count", "is_bounce", "revenue", "entry_path", "exit_path"}, dimCols...)
	rows = rows[:0]
	for _, s := range d.sessions {
		var ended, entry, exit any
		if s.Ended {
			ended = s.Last
		}
		if s.Entry != nil {
			entry = *s.Entry
		}
		if s.Exit != nil {
			exit = *s.Exit
		}
		row := []any{s.ID, s.Project, s.Device, s.Device, s.Started, s.Last, ended, s.Duration, s.EventCount, s.ScreenViews,
			s.Bounce, s.Revenue, entry, exit}
		for _, c := range dimCols {
			row = append(row, nullable(s.Cols, c))
		}
		rows = append(rows, row)
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"sessions"}, sCols, pgx.CopyFromRows(rows)); err != nil {
		t.Fatal(err)
	}
	// As autovacuum would after a load (plans on empty-table statistics are
	// not what the queries are made for).
	if _, err := pool.Exec(ctx, `ANALYZE events; ANALYZE sessions`); err != nil {
		t.Fatal(err)
	}
	// Bulk writers bypass op.ingest_v1: they mark their days themselves.
	span := map[string][2]time.Time{}
	for _, e := range d.events {
		s, ok := span[e.Project]
		if !ok {
			s = [2]time.Time{e.At, e.At}
		}
		if e.At.Before(s[0]) {
			s[0] = e.At
		}
		if e.At.After(s[1]) {
			s[1] = e.At
		}
		span[e.Project] = s
	}
	for p, s := range span {
		if err := analytics.MarkDirty(ctx, pool, p, s[0], s[1]); err != nil {
			t.Fatal(err)
		}
	}
}

// createProject inserts a project (and its organization) with a timezone.
func createProject(t testing.TB, pool *pgxpool.Pool, id, tz string) {
	t.Helper()
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `INSERT INTO organizations (id, name) VALUES ('org', 'Org') ON CONFLICT DO NOTHING`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO projects (id, organization_id, name, timezone) VALUES ($1, 'org', $1, $2)`, id, tz); err != nil {
		t.Fatal(err)
	}
}

// ---- the reference implementation of the definitions (package doc, sql/overview.sql)

type sums struct {
	Visitors, Sessions, Bounces, Duration, Pageviews, Revenue int64
}

func wholeDays(from, to time.Time, tz *time.Location) bool {
	mid := func(t time.Time) bool {
		t = t.In(tz)
		return t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 && t.Nanosecond() == 0
	}
	return to.After(from) && mid(from) && mid(to)
}

func localDay(t time.Time, tz *time.Location) string { return t.In(tz).Format("2006-01-02") }

func in(t, from, to time.Time) bool { return !t.Before(from) && t.Before(to) }

// matching returns the filter's events of the project in [from, to) and
// the ids of their sessions.
func (d *dataset) matching(project string, from, to time.Time, match func(tEvent) bool) ([]tEvent, map[uuid.UUID]bool) {
	var evs []tEvent
	ids := map[uuid.UUID]bool{}
	for _, e := range d.events {
		if e.Project != project || !in(e.At, from, to) {
			continue
		}
		if match != nil && !match(e) {
			continue
		}
		evs = append(evs, e)
		if e.Session != nil {
			ids[*e.Session] = true
		}
	}
	return evs, ids
}

func (d *dataset) sessionsIn(project string, from, to time.Time, ids map[uuid.UUID]bool, filtered bool) []tSession {
	var out []tSession
	for _, s := range d.sessions {
		if s.Project == project && in(s.Started, from, to) && (!filtered || ids[s.ID]) {
			out = append(out, s)
		}
	}
	return out
}

func (d *dataset) metrics(project string, from, to time.Time, tz *time.Location, match func(tEvent) bool) sums {
	whole := wholeDays(from, to, tz)
	evs, ids := d.matching(project, from, to, match)
	var m sums
	vis := map[string]bool{}
	for _, e := range evs {
		if e.Name != "session_end" {
			k := e.Device
			if whole {
				k = localDay(e.At, tz) + "|" + k
			}
			vis[k] = true
		}
		if e.Name == "screen_view" {
			m.Pageviews++
		}
	}
	m.Visitors = int64(len(vis))
	for _, s := range d.sessionsIn(project, from, to, ids, match != nil) {
		m.Sessions++
		if s.Bounce {
			m.Bounces++
		}
		m.Duration += s.Duration
		m.Revenue += s.Revenue
	}
	return m
}

// bucketOf names t's bucket as SQL's date_trunc(interval, t, tz) does.
func bucketOf(t time.Time, interval string, tz *time.Location) time.Time {
	l := t.In(tz)
	switch interval {
	case "minute":
		return l.Add(-time.Duration(l.Second())*time.Second - time.Duration(l.Nanosecond()))
	case "hour":
		return l.Add(-time.Duration(l.Minute())*time.Minute - time.Duration(l.Second())*time.Second - time.Duration(l.Nanosecond()))
	case "day":
		return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, tz)
	case "week":
		wd := (int(l.Weekday()) + 6) % 7
		return time.Date(l.Year(), l.Month(), l.Day()-wd, 0, 0, 0, 0, tz)
	case "month":
		return time.Date(l.Year(), l.Month(), 1, 0, 0, 0, 0, tz)
	}
	panic(interval)
}

// series: per bucket (keyed by Unix ms) sums.
func (d *dataset) series(project string, from, to time.Time, tz *time.Location, interval string, match func(tEvent) bool) map[int64]*sums {
	out := map[int64]*sums{}
	get := func(t time.Time) *sums {
		k := bucketOf(t, interval, tz).UnixMilli()
		if out[k] == nil {
			out[k] = &sums{}
		}
		return out[k]
	}
	evs, ids := d.matching(project, from, to, match)
	vis := map[string]bool{}
	for _, e := range evs {
		b := get(e.At)
		if e.Name != "session_end" {
			k := fmt.Sprint(bucketOf(e.At, interval, tz).UnixMilli(), "|", localDay(e.At, tz), "|", e.Device)
			if !vis[k] {
				vis[k] = true
				b.Visitors++
			}
		}
		if e.Name == "screen_view" {
			b.Pageviews++
		}
	}
	for _, s := range d.sessionsIn(project, from, to, ids, match != nil) {
		b := get(s.Started)
		b.Sessions++
		if s.Bounce {
			b.Bounces++
		}
		b.Duration += s.Duration
		b.Revenue += s.Revenue
	}
	return out
}

func isSessionDim(dim string) bool {
	return !slices.Contains([]string{"path", "event", "link_out"}, dim)
}

func sessionValue(s tSession, dim string) string {
	switch dim {
	case "entry_path":
		if s.Entry != nil {
			return *s.Entry
		}
		return ""
	case "exit_path":
		if s.Exit != nil {
			return *s.Exit
		}
		return ""
	}
	return s.Cols[dim]
}

func (d *dataset) breakdown(project string, from, to time.Time, tz *time.Location, dim string, limit int, match func(tEvent) bool) []analytics.Row {
	whole := wholeDays(from, to, tz)
	type agg struct{ visitors, count int64 }
	rows := map[string]*agg{}
	seen := map[string]bool{}
	add := func(value string, at time.Time, device string) {
		a := rows[value]
		if a == nil {
			a = &agg{}
			rows[value] = a
		}
		a.count++
		k := value + "\x00" + device
		if whole {
			k += "\x00" + localDay(at, tz)
		}
		if !seen[k] {
			seen[k] = true
			a.visitors++
		}
	}
	evs, ids := d.matching(project, from, to, match)
	if isSessionDim(dim) {
		for _, s := range d.sessionsIn(project, from, to, ids, match != nil) {
			add(sessionValue(s, dim), s.Started, s.Device)
		}
	} else {
		for _, e := range evs {
			switch {
			case dim == "path" && e.Name == "screen_view":
				v := ""
				if e.Path != nil {
					v = *e.Path
				}
				add(v, e.At, e.Device)
			case dim == "event" && !slices.Contains([]string{"screen_view", "session_start", "session_end"}, e.Name):
				add(e.Name, e.At, e.Device)
			case dim == "link_out" && e.Name == "link_out":
				v, _ := e.Props["href"].(string)
				add(v, e.At, e.Device)
			}
		}
	}
	var total int64
	var out []analytics.Row
	for v, a := range rows {
		total += a.count
		out = append(out, analytics.Row{Value: v, Visitors: a.visitors, Count: a.count})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Value < out[j].Value
	})
	if len(out) > limit {
		out = out[:limit]
	}
	for i := range out {
		out[i].Share = float64(out[i].Count) / float64(total)
	}
	if out == nil {
		out = []analytics.Row{}
	}
	return out
}

// metricsOf derives the cards as the store does.
func metricsOf(s sums) analytics.Metrics {
	m := analytics.Metrics{Visitors: s.Visitors, Sessions: s.Sessions, Pageviews: s.Pageviews, Revenue: s.Revenue}
	if s.Sessions > 0 {
		m.PagesPerSession = float64(s.Pageviews) / float64(s.Sessions)
		m.BounceRate = 100 * float64(s.Bounces) / float64(s.Sessions)
		m.AvgDuration = float64(s.Duration) / float64(s.Sessions) / 1000
	}
	return m
}

func metricValue(s sums, metric string) float64 {
	m := metricsOf(s)
	switch metric {
	case "visitors":
		return float64(m.Visitors)
	case "sessions":
		return float64(m.Sessions)
	case "pageviews":
		return float64(m.Pageviews)
	case "pages_per_session":
		return m.PagesPerSession
	case "bounce_rate":
		return m.BounceRate
	case "avg_duration":
		return m.AvgDuration
	case "revenue":
		return float64(m.Revenue)
	}
	panic(metric)
}

func fmtRows(rows []analytics.Row) string {
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "  %q visitors=%d count=%d share=%.4f\n", r.Value, r.Visitors, r.Count, r.Share)
	}
	return b.String()
}
