package analytics_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"tally/app/analytics"
	"tally/app/dbtest"
	"tally/jobs"
)

// ingest sends events through op.ingest_v1, as the ingest writer does.
// Each event is a map of op.ingest_event_v1 fields; ord, id and
// opens_session (true) are filled in.
func ingest(t testing.TB, pool *pgxpool.Pool, events ...map[string]any) {
	t.Helper()
	for i, e := range events {
		e["ord"] = i + 1
		if e["id"] == nil {
			e["id"] = uuid.New()
		}
		if e["opens_session"] == nil {
			e["opens_session"] = true
		}
		if e["properties"] == nil {
			e["properties"] = map[string]any{}
		}
		if at, ok := e["created_at"].(time.Time); ok {
			e["created_at"] = at.UTC().Format(time.RFC3339Nano)
		}
	}
	b, err := json.Marshal(events)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(context.Background(), `SELECT * FROM op.ingest_v1($1::jsonb)`, string(b)); err != nil {
		t.Fatal(err)
	}
}

func view(project, device, path string, at time.Time) map[string]any {
	return map[string]any{"project_id": project, "name": "screen_view", "device_id": device, "created_at": at,
		"path": path, "country": "DE", "city": "Berlin", "referrer_name": "Google", "browser": "Firefox", "device": "desktop",
		"latitude": 52.52, "longitude": 13.405}
}

// awayFromMidnight is the first of zones whose clock is at least 30
// minutes into its day: tests that send events a few minutes old and then
// ask for "today" would otherwise find them on yesterday just after local
// midnight (they failed in CI at 00:05 in Los Angeles).
func awayFromMidnight(t *testing.T, zones ...string) string {
	t.Helper()
	for _, z := range zones {
		local := time.Now().In(mustLoad(t, z))
		if local.Hour() > 0 || local.Minute() >= 30 {
			return z
		}
	}
	t.Fatalf("every zone of %v is within 30 minutes after midnight", zones)
	return ""
}

func livePool(t *testing.T, tz string) *pgxpool.Pool {
	pool := dbtest.NewPool(t)
	if err := jobs.Maintain(context.Background(), pool, time.Now()); err != nil {
		t.Fatal(err)
	}
	createProject(t, pool, "live", tz)
	return pool
}

func dirtyDays(t *testing.T, pool *pgxpool.Pool, project string) map[string]bool {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT DISTINCT day::text FROM rollup_dirty WHERE project_id = $1`, project)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			t.Fatal(err)
		}
		out[d] = true
	}
	return out
}

func dayRange(t *testing.T, tz *time.Location, day time.Time) analytics.Range {
	t.Helper()
	s := day.In(tz).Format("2006-01-02")
	r, err := analytics.ParseRange("custom", s, s, "hour", tz, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Ingest marks the local days it changes, the start day of a session it
// extends included, and the refresh brings the rollups back to the raw
// answers; ending sessions marks their days too.
func TestIngestMarksDirtyDays(t *testing.T) {
	t.Parallel()
	zone := awayFromMidnight(t, "America/Los_Angeles", "Asia/Tokyo")
	pool := livePool(t, zone)
	tz := mustLoad(t, zone)
	ctx := context.Background()
	store := analytics.NewStore(pool)
	raw := analytics.RawStore(store)
	now := time.Now()
	today := dayRange(t, tz, now)
	same := func(name string, r analytics.Range) analytics.Metrics {
		t.Helper()
		q := analytics.Query{ProjectID: "live", Range: r}
		a, err := store.Metrics(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		b, err := raw.Metrics(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if a != b {
			t.Errorf("%s: rollups %+v, raw %+v", name, a.Current, b.Current)
		}
		rb, err := store.Breakdown(ctx, q, "path", 10)
		if err != nil {
			t.Fatal(err)
		}
		bb, err := raw.Breakdown(ctx, q, "path", 10)
		if err != nil {
			t.Fatal(err)
		}
		if !sameRows(rb, bb) {
			t.Errorf("%s: rollups\n%s raw\n%s", name, fmtRows(rb), fmtRows(bb))
		}
		return a.Current
	}

	ingest(t, pool,
		view("live", "d1", "/", now.Add(-10*time.Minute)),
		view("live", "d1", "/pricing", now.Add(-9*time.Minute)),
		view("live", "d2", "/", now.Add(-8*time.Minute)))
	localToday := now.In(tz).Format("2006-01-02")
	if d := dirtyDays(t, pool, "live"); !d[localToday] {
		t.Fatalf("dirty days %v, want the local day %s", d, localToday)
	}
	if n, err := analytics.RefreshRollups(ctx, pool, 0, true); err != nil || n == 0 {
		t.Fatalf("refresh: %d %v", n, err)
	}
	if d := dirtyDays(t, pool, "live"); len(d) != 0 {
		t.Fatalf("dirty after the refresh: %v", d)
	}
	m := same("after the first batch", today)
	if m.Visitors != 2 || m.Sessions != 2 || m.Pageviews != 3 {
		t.Errorf("first batch: %+v", m)
	}

	// New events: the rollups are behind until the refresh.
	ingest(t, pool, view("live", "d3", "/docs", now.Add(-time.Minute)), view("live", "d2", "/docs", now.Add(-30*time.Second)))
	stale, err := store.Metrics(ctx, analytics.Query{ProjectID: "live", Range: today})
	if err != nil {
		t.Fatal(err)
	}
	if stale.Current.Visitors != 2 {
		t.Errorf("before the refresh the rollups should still say 2 visitors: %+v", stale.Current)
	}
	if _, err := analytics.RefreshRollups(ctx, pool, 0, true); err != nil {
		t.Fatal(err)
	}
	if m := same("after the second batch", today); m.Visitors != 3 || m.Pageviews != 5 || m.Sessions != 3 {
		t.Errorf("second batch: %+v", m)
	}

	// d1's session started three days ago (as if it had gone on since):
	// extending it changes that day's duration and bounce rate.
	start := now.Add(-72 * time.Hour)
	for _, table := range []string{"sessions", "session_heads"} {
		if _, err := pool.Exec(ctx, `UPDATE `+table+` SET started_at = $1 WHERE project_id = 'live' AND device_id = 'd1'`, start); err != nil {
			t.Fatal(err)
		}
	}
	if err := analytics.MarkDirty(ctx, pool, "live", start, start); err != nil {
		t.Fatal(err)
	}
	if _, err := analytics.RefreshRollups(ctx, pool, 0, true); err != nil {
		t.Fatal(err)
	}
	startDay := dayRange(t, tz, start)
	before := same("the session's start day", startDay)
	ingest(t, pool, view("live", "d1", "/about", now.Add(-20*time.Second)))
	if d := dirtyDays(t, pool, "live"); !d[start.In(tz).Format("2006-01-02")] || !d[localToday] {
		t.Fatalf("dirty days %v, want the session's start day %s and today", d, start.In(tz).Format("2006-01-02"))
	}
	if _, err := analytics.RefreshRollups(ctx, pool, 0, true); err != nil {
		t.Fatal(err)
	}
	after := same("the session's start day, extended", startDay)
	if after.Sessions != 1 || after.AvgDuration <= before.AvgDuration {
		t.Errorf("the extended session: before %+v, after %+v", before, after)
	}

	// Ending sessions marks their start days (a statement per call).
	if _, err := pool.Exec(ctx, `SELECT op.close_sessions_v1(interval '0 seconds')`); err != nil {
		t.Fatal(err)
	}
	if d := dirtyDays(t, pool, "live"); !d[start.In(tz).Format("2006-01-02")] || !d[localToday] {
		t.Errorf("after closing sessions dirty days are %v", d)
	}
	if _, err := analytics.RefreshRollups(ctx, pool, 0, true); err != nil {
		t.Fatal(err)
	}
	same("after closing sessions", today)
}

// Changing a project's timezone recomputes every day in the new one.
func TestTimezoneChangeRecomputesRollups(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	createProject(t, pool, "tzp", "UTC")
	end := time.Date(2024, 5, 20, 0, 0, 0, 0, time.UTC)
	d := genDataset(7, []string{"tzp"}, end, 12, 30)
	d.write(t, pool)
	ctx := context.Background()
	if _, err := analytics.RefreshRollups(ctx, pool, 0, true); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE projects SET timezone = 'Asia/Tokyo' WHERE id = 'tzp'`); err != nil {
		t.Fatal(err)
	}
	var left int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM rollup_days WHERE project_id = 'tzp') + (SELECT count(*) FROM rollup_dims WHERE project_id = 'tzp')`).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Errorf("%d rollup rows of the old timezone left", left)
	}
	if days := dirtyDays(t, pool, "tzp"); len(days) < 12 {
		t.Errorf("only %d days marked", len(days))
	}
	n, err := analytics.RefreshRollups(ctx, pool, 0, true)
	if err != nil || n < 12 {
		t.Fatalf("refresh: %d %v", n, err)
	}
	tz := mustLoad(t, "Asia/Tokyo")
	store := analytics.NewStore(pool)
	r, err := analytics.ParseRange("custom", "2024-05-09", "2024-05-19", "", tz, end)
	if err != nil {
		t.Fatal(err)
	}
	q := analytics.Query{ProjectID: "tzp", Range: r}
	got, err := store.Metrics(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	want := metricsOf(d.metrics("tzp", r.From, r.To, tz, nil))
	if got.Current != want || want.Sessions == 0 {
		t.Errorf("after the change: got %+v, want %+v", got.Current, want)
	}
	cur, _, err := store.Series(ctx, q, "visitors")
	if err != nil {
		t.Fatal(err)
	}
	checkSeries(t, "visitors in Tokyo days", cur, r, d.series("tzp", r.From, r.To, tz, "day", nil), "visitors")
	rows, err := store.Breakdown(ctx, q, "country", 10)
	if err != nil {
		t.Fatal(err)
	}
	if w := d.breakdown("tzp", r.From, r.To, tz, "country", 10, nil); !sameRows(rows, w) {
		t.Errorf("countries:\n%s want\n%s", fmtRows(rows), fmtRows(w))
	}
	// A query in another timezone than the project's reads raw: still right.
	utc, _ := analytics.ParseRange("custom", "2024-05-09", "2024-05-19", "", time.UTC, end)
	gotUTC, err := store.Metrics(ctx, analytics.Query{ProjectID: "tzp", Range: utc})
	if err != nil {
		t.Fatal(err)
	}
	if w := metricsOf(d.metrics("tzp", utc.From, utc.To, time.UTC, nil)); gotUTC.Current != w {
		t.Errorf("UTC days of a Tokyo project: got %+v, want %+v", gotUTC.Current, w)
	}

	// A deleted project's rollups go with it.
	if err := analytics.MarkDirty(ctx, pool, "tzp", end, end); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `DELETE FROM projects WHERE id = 'tzp'`); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM rollup_days) + (SELECT count(*) FROM rollup_dims) + (SELECT count(*) FROM rollup_dirty)`).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Errorf("%d rollup rows left after the project was deleted", left)
	}
}

// The River job keeps the rollups a few seconds behind ingest.
func TestRefreshJobKeepsRollupsCurrent(t *testing.T) {
	t.Parallel()
	zone := awayFromMidnight(t, "Europe/Berlin", "America/Los_Angeles")
	pool := livePool(t, zone)
	tz := mustLoad(t, zone)
	ctx := context.Background()
	client, err := jobs.Start(ctx, pool, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = client.Stop(ctx) }()
	store := analytics.NewStore(pool)
	now := time.Now()
	today := dayRange(t, tz, now)
	wait := func(visitors int64) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			m, err := store.Metrics(ctx, analytics.Query{ProjectID: "live", Range: today})
			if err != nil {
				t.Fatal(err)
			}
			if m.Current.Visitors == visitors {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the rollups say %d visitors after 20 s, want %d", m.Current.Visitors, visitors)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	ingest(t, pool, view("live", "a", "/", now.Add(-time.Minute)))
	wait(1)
	ingest(t, pool, view("live", "b", "/", now.Add(-30*time.Second)), view("live", "c", "/x", now.Add(-20*time.Second)))
	wait(3)
	if has, err := store.HasRevenue(ctx, "live"); err != nil || has {
		t.Errorf("HasRevenue: %v %v", has, err)
	}
	ingest(t, pool, map[string]any{"project_id": "live", "name": "revenue", "device_id": "a", "created_at": now.Add(-10 * time.Second), "revenue": 1999})
	deadline := time.Now().Add(20 * time.Second)
	for {
		has, err := store.HasRevenue(ctx, "live")
		if err != nil {
			t.Fatal(err)
		}
		if has {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("HasRevenue still false after 20 s")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// The refresh job's budget stops it starting another day, never a day it
// has begun: a busy project's today takes longer than any budget, and
// cancelling it would leave it stale forever. With a budget already spent
// when the first day ends, each run still refreshes one day, newest first.
func TestRefreshJobFinishesADayBeyondItsBudget(t *testing.T) {
	t.Parallel()
	zone := awayFromMidnight(t, "Europe/Berlin", "America/Los_Angeles")
	pool := livePool(t, zone)
	ctx := context.Background()
	now := time.Now()
	ingest(t, pool, view("live", "a", "/", now.Add(-time.Minute)))
	ingest(t, pool, view("live", "b", "/", now.Add(-72*time.Hour)))
	if n := len(dirtyDays(t, pool, "live")); n != 2 {
		t.Fatalf("%d dirty days, want 2", n)
	}
	w := &jobs.RefreshRollupsWorker{Pool: pool, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Budget: time.Nanosecond}
	if err := w.Work(ctx, nil); err != nil {
		t.Fatal(err)
	}
	left := dirtyDays(t, pool, "live")
	today := now.In(mustLoad(t, zone)).Format("2006-01-02")
	if len(left) != 1 || left[today] {
		t.Fatalf("after one run the dirty days are %v, want only the older one (today %s refreshed)", left, today)
	}
	var visitors int64
	if err := pool.QueryRow(ctx, `SELECT visitors FROM rollup_days WHERE project_id = 'live' AND day = $1::date`, today).Scan(&visitors); err != nil || visitors != 1 {
		t.Fatalf("today's rollup: %d visitors, %v; want 1", visitors, err)
	}
	// The next run (after the duty-cycle pause) takes the other day.
	deadline := time.Now().Add(10 * time.Second)
	for len(dirtyDays(t, pool, "live")) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the older day was not refreshed by later runs")
		}
		time.Sleep(20 * time.Millisecond)
		if err := w.Work(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
}
