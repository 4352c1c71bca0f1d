package analytics_test

import (
	"context"
	"testing"
	"time"

	"tally/app/analytics"
	"tally/app/dbtest"
	"tally/app/errs"
)

func TestRealtime(t *testing.T) {
	t.Parallel()
	pool := livePool(t, "Europe/Berlin")
	createProject(t, pool, "other", "UTC")
	ctx := context.Background()
	now := time.Now()
	ev := func(device, name, path, country, city, ref string, lat, lon float64, ago time.Duration) map[string]any {
		e := map[string]any{"project_id": "live", "name": name, "device_id": device, "created_at": now.Add(-ago),
			"path": path, "country": country, "city": city, "referrer_name": ref, "browser": "Firefox", "device": "desktop"}
		if lat != 0 {
			e["latitude"], e["longitude"] = lat, lon
		}
		return e
	}
	ingest(t, pool,
		// Within the last 5 minutes: a, b, c.
		ev("a", "screen_view", "/", "DE", "Berlin", "Google", 52.52, 13.405, 1*time.Minute),
		ev("a", "screen_view", "/pricing", "DE", "Berlin", "Google", 52.52, 13.405, 50*time.Second),
		ev("b", "screen_view", "/", "DE", "Berlin", "", 52.5201, 13.4051, 2*time.Minute),
		ev("c", "signup", "/pricing", "FR", "Paris", "Hacker News", 48.85, 2.35, 4*time.Minute),
		// Within 30 minutes: d, e (too old to open a session: its page
		// view counts, it has no session).
		ev("d", "screen_view", "/docs", "US", "New York", "Google", 40.71, -74.0, 12*time.Minute),
		ev("e", "screen_view", "/", "", "", "", 0, 0, 25*time.Minute),
		// An hour ago: not realtime.
		ev("f", "screen_view", "/old", "JP", "Tokyo", "Yahoo", 35.68, 139.69, 61*time.Minute),
	)
	ingest(t, pool, map[string]any{"project_id": "other", "name": "screen_view", "device_id": "z", "created_at": now.Add(-time.Minute), "path": "/other"})

	store := analytics.NewStore(pool)
	rt, err := store.Realtime(ctx, "live")
	if err != nil {
		t.Fatal(err)
	}
	if rt.Visitors != 3 {
		t.Errorf("visitors in the last 5 minutes: %d, want 3", rt.Visitors)
	}
	// The feed: newest first, no session_start, nothing older than 30 minutes.
	var names []string
	for _, e := range rt.Feed {
		names = append(names, e.Name+" "+e.Path)
	}
	want := []string{"screen_view /pricing", "screen_view /", "screen_view /", "signup /pricing", "screen_view /docs", "screen_view /"}
	if len(names) != len(want) {
		t.Fatalf("feed %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Errorf("feed %v, want %v", names, want)
			break
		}
	}
	if f := rt.Feed[0]; f.Country != "DE" || f.City != "Berlin" || f.Browser != "Firefox" || f.Device != "desktop" ||
		now.Sub(f.CreatedAt) < 49*time.Second || now.Sub(f.CreatedAt) > 51*time.Second {
		t.Errorf("feed[0] = %+v", f)
	}
	rowsEqual := func(name string, got []analytics.Row, want []analytics.Row) {
		t.Helper()
		if !sameRows(got, want) {
			t.Errorf("%s:\n%s want\n%s", name, fmtRows(got), fmtRows(want))
		}
	}
	rowsEqual("top pages", rt.TopPages, []analytics.Row{
		{Value: "/", Visitors: 3, Count: 3, Share: 3.0 / 5}, {Value: "/docs", Visitors: 1, Count: 1, Share: 1.0 / 5},
		{Value: "/pricing", Visitors: 1, Count: 1, Share: 1.0 / 5}})
	rowsEqual("top referrers", rt.TopReferrers, []analytics.Row{
		{Value: "Google", Visitors: 2, Count: 2, Share: 2.0 / 4}, {Value: "", Visitors: 1, Count: 1, Share: 1.0 / 4},
		{Value: "Hacker News", Visitors: 1, Count: 1, Share: 1.0 / 4}})
	rowsEqual("top countries", rt.TopCountries, []analytics.Row{
		{Value: "DE", Visitors: 2, Count: 2, Share: 2.0 / 4},
		{Value: "FR", Visitors: 1, Count: 1, Share: 1.0 / 4}, {Value: "US", Visitors: 1, Count: 1, Share: 1.0 / 4}})
	// Points: Berlin (a and b, rounded to the same place), Paris, New York.
	if len(rt.Points) != 3 {
		t.Fatalf("points %+v", rt.Points)
	}
	if p := rt.Points[0]; p.City != "Berlin" || p.Visitors != 2 || p.Latitude != 52.52 || p.Longitude != 13.41 {
		t.Errorf("points[0] = %+v", p)
	}

	// Another project sees only its own; an unknown one nothing.
	if o, err := store.Realtime(ctx, "other"); err != nil || o.Visitors != 1 || len(o.Feed) != 1 || o.Feed[0].Path != "/other" {
		t.Errorf("other project: %+v %v", o, err)
	}
	if n, err := store.Realtime(ctx, "nobody"); err != nil || n.Visitors != 0 || len(n.Feed) != 0 || n.TopPages == nil || n.Points == nil {
		t.Errorf("unknown project: %+v %v", n, err)
	}
	if _, err := store.Realtime(ctx, ""); errs.KindOf(err) != errs.Invalid {
		t.Errorf("no project: %v", err)
	}
}

// The store refuses bad arguments with errs.Invalid, never a 500.
func TestStoreRejects(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	store := analytics.NewStore(pool)
	ctx := context.Background()
	r, _ := analytics.ParseRange("7d", "", "", "", time.UTC, time.Now())
	q := analytics.Query{ProjectID: "p", Range: r}
	if _, _, err := store.Series(ctx, q, "nope"); errs.KindOf(err) != errs.Invalid {
		t.Errorf("metric: %v", err)
	}
	if _, err := store.Breakdown(ctx, q, "nope", 10); errs.KindOf(err) != errs.Invalid {
		t.Errorf("dim: %v", err)
	}
	bad := q
	bad.Range.Interval = "minute"
	if _, _, err := store.Series(ctx, bad, "visitors"); errs.KindOf(err) != errs.Invalid {
		t.Errorf("too many buckets: %v", err)
	}
	bad = q
	bad.Filters = []analytics.Filter{{Field: "nope", Op: "is", Values: []string{"x"}}}
	if _, err := store.Metrics(ctx, bad); errs.KindOf(err) != errs.Invalid {
		t.Errorf("filter: %v", err)
	}
	bad = q
	bad.Range.To = bad.Range.From
	if _, err := store.Metrics(ctx, bad); errs.KindOf(err) != errs.Invalid {
		t.Errorf("empty range: %v", err)
	}
	if rows, err := store.Breakdown(ctx, q, "path", 0); err != nil || rows == nil {
		t.Errorf("an empty breakdown: %v %v", rows, err)
	}
	if cur, prev, err := store.Series(ctx, q, "bounce_rate"); err != nil || len(cur) != 7 || len(prev) != 7 {
		t.Errorf("an empty series: %d %d %v", len(cur), len(prev), err)
	}
}
