package seed_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"tally/app/dbtest"
	"tally/app/enrich"
	"tally/app/projects"
	"tally/app/seed"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func newProject(t *testing.T, pool *pgxpool.Pool, tz string) string {
	t.Helper()
	p, err := projects.NewStore(pool).Create(context.Background(), projects.NewProject{Name: "Seeded", Domains: []string{"www.example.com"}, Timezone: tz})
	if err != nil {
		t.Fatal(err)
	}
	return p.ProjectID
}

func count(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// TestSeedIsConsistent seeds four weeks and checks that the rows agree
// with each other exactly as ingest's would.
func TestSeedIsConsistent(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	ctx := context.Background()
	const tz = "Europe/Berlin"
	pid := newProject(t, pool, tz)
	const events, days = 60_000, 28
	res, err := seed.Run(ctx, pool, seed.Options{ProjectID: pid, Events: events, Days: days, Seed: 7, Refresh: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("seeded %+v", res)
	if res.Events != events {
		t.Fatalf("wrote %d events, asked %d", res.Events, events)
	}
	if n := count(t, pool, `SELECT count(*) FROM events WHERE project_id = $1`, pid); n != events {
		t.Fatalf("events table has %d rows, want %d", n, events)
	}
	if n := count(t, pool, `SELECT count(*) FROM sessions WHERE project_id = $1`, pid); n != res.Sessions || n < events/10 {
		t.Fatalf("sessions table has %d rows, result says %d", n, res.Sessions)
	}

	checks := []struct{ what, sql string }{
		{"events without a session", `
			SELECT count(*) FROM events e WHERE e.project_id = $1
			AND (e.session_id IS NULL OR NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = e.session_id AND s.project_id = $1 AND s.device_id = e.device_id))`},
		{"device ids that are not 32 hex characters", `
			SELECT count(*) FROM events WHERE project_id = $1 AND device_id !~ '^[0-9a-f]{32}$'`},
		{"sessions whose row disagrees with their events", `
			WITH t AS (
			    SELECT session_id, count(*) AS n, count(*) FILTER (WHERE name = 'screen_view') AS views,
			           min(created_at) AS first, max(created_at) AS last, coalesce(sum(revenue), 0) AS revenue,
			           (array_agg(path ORDER BY created_at) FILTER (WHERE name = 'screen_view'))[1] AS entry,
			           (array_agg(path ORDER BY created_at DESC) FILTER (WHERE name = 'screen_view'))[1] AS exit,
			           (array_agg(profile_id ORDER BY created_at DESC))[1] AS profile,
			           (array_agg(row(referrer, referrer_name, referrer_type, utm_source, utm_medium, utm_campaign, utm_term, utm_content,
			                          country, region, city, latitude, longitude, os, os_version, browser, browser_version, device, brand, model)::text
			                      ORDER BY created_at))[1] AS context
			    FROM events WHERE project_id = $1 AND name NOT IN ('session_start', 'session_end')
			    GROUP BY session_id)
			SELECT count(*) FROM sessions s LEFT JOIN t ON t.session_id = s.id
			WHERE s.project_id = $1 AND (t.session_id IS NULL
			   OR s.event_count <> t.n OR s.screen_view_count <> t.views
			   OR s.started_at <> t.first OR s.last_event_at <> t.last
			   OR s.duration <> (extract(epoch FROM t.last - t.first) * 1000)::bigint
			   OR s.is_bounce <> (t.n <= 1) OR s.revenue <> t.revenue
			   OR s.entry_path IS DISTINCT FROM t.entry OR s.exit_path IS DISTINCT FROM t.exit
			   OR s.profile_id <> t.profile
			   OR row(s.referrer, s.referrer_name, s.referrer_type, s.utm_source, s.utm_medium, s.utm_campaign, s.utm_term, s.utm_content,
			          s.country, s.region, s.city, s.latitude, s.longitude, s.os, s.os_version, s.browser, s.browser_version, s.device, s.brand, s.model)::text
			      <> t.context)`},
		{"sessions without exactly one session_start just before their first event", `
			SELECT count(*) FROM sessions s WHERE s.project_id = $1 AND 1 <> (
			    SELECT count(*) FROM events e WHERE e.project_id = $1 AND e.session_id = s.id AND e.name = 'session_start'
			    AND e.created_at = s.started_at - interval '1 millisecond' AND e.path = s.entry_path AND e.properties = '{}')`},
		{"ended sessions without their session_end", `
			SELECT count(*) FROM sessions s WHERE s.project_id = $1 AND s.ended_at IS NOT NULL AND 1 <> (
			    SELECT count(*) FROM events e WHERE e.project_id = $1 AND e.session_id = s.id AND e.name = 'session_end'
			    AND e.created_at = s.last_event_at + interval '1 millisecond' AND e.duration = s.duration
			    AND e.path = s.exit_path AND e.profile_id = s.profile_id
			    AND e.properties = jsonb_build_object('bounce', s.is_bounce, 'screenViews', s.screen_view_count, 'events', s.event_count))`},
		{"open sessions that are not a device's current session", `
			SELECT count(*) FROM sessions s WHERE s.project_id = $1 AND s.ended_at IS NULL AND (
			    s.last_event_at < now() - interval '31 minutes'
			    OR EXISTS (SELECT 1 FROM events e WHERE e.project_id = $1 AND e.session_id = s.id AND e.name = 'session_end')
			    OR NOT EXISTS (SELECT 1 FROM session_heads h WHERE h.project_id = $1 AND h.device_id = s.device_id AND h.session_id = s.id))`},
		{"sessions of one device less than 30 minutes apart", `
			SELECT count(*) FROM (
			    SELECT started_at, lag(last_event_at) OVER (PARTITION BY device_id ORDER BY started_at) AS prev
			    FROM sessions WHERE project_id = $1) x
			WHERE x.started_at <= x.prev + interval '30 minutes'`},
		{"events whose profile has no row", `
			SELECT count(DISTINCT profile_id) FROM events e WHERE e.project_id = $1
			AND NOT EXISTS (SELECT 1 FROM profiles p WHERE p.project_id = $1 AND p.id = e.profile_id)`},
		{"identified events whose device is not linked to the profile", `
			SELECT count(*) FROM events e WHERE e.project_id = $1 AND e.profile_id <> e.device_id
			AND NOT EXISTS (SELECT 1 FROM profile_identities i WHERE i.project_id = $1 AND i.alias_id = e.device_id AND i.profile_id = e.profile_id)`},
		{"events outside the seeded days", `
			SELECT count(*) FROM events WHERE project_id = $1 AND (created_at > now() + interval '1 second'
			   OR created_at < date_trunc('day', now() AT TIME ZONE '` + tz + `') AT TIME ZONE '` + tz + `' - interval '27 days 1 hour')`},
		{"revenue on events not named revenue", `
			SELECT count(*) FROM events WHERE project_id = $1 AND revenue IS NOT NULL AND name <> 'revenue'`},
	}
	for _, c := range checks {
		if n := count(t, pool, c.sql, pid); n != 0 {
			t.Errorf("%d %s", n, c.what)
		}
	}

	// The rollups were refreshed: the overview is right at once.
	if n := count(t, pool, `SELECT count(*) FROM rollup_dirty WHERE project_id = $1`, pid); n != 0 {
		t.Errorf("%d dirty days left", n)
	}
	if got, want := count(t, pool, `SELECT coalesce(sum(sessions), 0) FROM rollup_days WHERE project_id = $1`, pid), res.Sessions; got != want {
		t.Errorf("rollups count %d sessions, seeded %d", got, want)
	}
	if got, want := count(t, pool, `SELECT coalesce(sum(pageviews), 0) FROM rollup_days WHERE project_id = $1`, pid),
		count(t, pool, `SELECT count(*) FROM events WHERE project_id = $1 AND name = 'screen_view'`, pid); got != want {
		t.Errorf("rollups count %d pageviews, seeded %d", got, want)
	}

	// What the overview shows must be there.
	present := []struct{ what, sql string }{
		{"identified users", `SELECT count(*) FROM profiles WHERE project_id = $1 AND is_external AND email IS NOT NULL`},
		{"anonymous profiles", `SELECT count(*) FROM profiles WHERE project_id = $1 AND NOT is_external`},
		{"revenue", `SELECT count(*) FROM events WHERE project_id = $1 AND name = 'revenue' AND revenue > 0`},
		{"outgoing links", `SELECT count(*) FROM events WHERE project_id = $1 AND name = 'link_out' AND properties ? 'href'`},
		{"UTM campaigns", `SELECT count(DISTINCT utm_campaign) FROM sessions WHERE project_id = $1`},
		{"direct sessions", `SELECT count(*) FROM sessions WHERE project_id = $1 AND referrer IS NULL AND utm_source IS NULL`},
		{"bounces", `SELECT count(*) FROM sessions WHERE project_id = $1 AND is_bounce`},
		{"sessions with coordinates", `SELECT count(*) FROM sessions WHERE project_id = $1 AND latitude IS NOT NULL`},
		{"blog visits from Germany", `SELECT count(*) FROM events WHERE project_id = $1 AND country = 'DE' AND path LIKE '/blog%'`},
		{"mobile sessions", `SELECT count(*) FROM sessions WHERE project_id = $1 AND device = 'mobile'`},
	}
	for _, c := range present {
		if n := count(t, pool, c.sql, pid); n == 0 {
			t.Errorf("no %s", c.what)
		}
	}
	if n := count(t, pool, `SELECT count(DISTINCT path) FROM events WHERE project_id = $1`, pid); n < 150 {
		t.Errorf("only %d distinct paths", n)
	}

	// Referrer names and types are what ingest's classifier says.
	rows, err := pool.Query(ctx, `SELECT DISTINCT referrer, referrer_name, referrer_type FROM sessions WHERE project_id = $1 AND referrer IS NOT NULL`, pid)
	if err != nil {
		t.Fatal(err)
	}
	var refs int
	for rows.Next() {
		var ref, name, typ string
		if err := rows.Scan(&ref, &name, &typ); err != nil {
			t.Fatal(err)
		}
		host, r := enrich.ClassifyReferrer(ref)
		if r.Name == "" {
			r.Name = host
		}
		if r.Name != name || r.Type != typ {
			t.Errorf("referrer %s stored as %s/%s, ingest says %s/%s", ref, name, typ, r.Name, r.Type)
		}
		refs++
	}
	if rows.Err() != nil || refs < 10 {
		t.Errorf("%d referrers (%v)", refs, rows.Err())
	}

	// Seasonality: weekdays are busier than weekends, afternoons than nights.
	var weekday, weekend, afternoon, night float64
	err = pool.QueryRow(ctx, `
		WITH d AS (
		    SELECT (started_at AT TIME ZONE $2)::date AS day, count(*) AS n FROM sessions
		    WHERE project_id = $1 AND (started_at AT TIME ZONE $2)::date < (now() AT TIME ZONE $2)::date
		    GROUP BY 1)
		SELECT avg(n) FILTER (WHERE extract(isodow FROM day) < 6), avg(n) FILTER (WHERE extract(isodow FROM day) >= 6),
		       (SELECT count(*) FROM sessions WHERE project_id = $1 AND extract(hour FROM started_at AT TIME ZONE $2) BETWEEN 14 AND 15),
		       (SELECT count(*) FROM sessions WHERE project_id = $1 AND extract(hour FROM started_at AT TIME ZONE $2) BETWEEN 3 AND 4)
		FROM d`, pid, tz).Scan(&weekday, &weekend, &afternoon, &night)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sessions per day: weekdays %.0f, weekends %.0f; 14-16h %.0f, 3-5h %.0f", weekday, weekend, afternoon, night)
	if weekday < 1.3*weekend || afternoon < 3*night {
		t.Errorf("no seasonality: weekdays %.0f vs weekends %.0f, afternoons %.0f vs nights %.0f", weekday, weekend, afternoon, night)
	}
	if n := count(t, pool, `SELECT count(DISTINCT (created_at AT TIME ZONE $2)::date) FROM events WHERE project_id = $1`, pid, tz); n != days {
		t.Errorf("events on %d local days, want %d", n, days)
	}
}

// TestSeedSpeed prints the seeding rate of a small run (not asserted: the
// machine may be busy).
func TestSeedSpeed(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	pid := newProject(t, pool, "UTC")
	start := time.Now()
	res, err := seed.Run(context.Background(), pool, seed.Options{ProjectID: pid, Events: 300_000, Days: 30})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("seeded %d events and %d sessions in %s: %.0f events/s", res.Events, res.Sessions, time.Since(start).Round(time.Millisecond), res.EventsPerSec)
}

func TestSeedRefusesBadInput(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	ctx := context.Background()
	if _, err := seed.Run(ctx, pool, seed.Options{ProjectID: "nope", Events: 100, Days: 3}); err == nil {
		t.Error("seeding a missing project worked")
	}
	pid := newProject(t, pool, "UTC")
	for _, o := range []seed.Options{{ProjectID: pid, Events: 2, Days: 1}, {ProjectID: pid, Events: 100, Days: 0}} {
		if _, err := seed.Run(ctx, pool, o); err == nil {
			t.Errorf("%+v worked", o)
		}
	}
	// Tiny runs are exact too.
	res, err := seed.Run(ctx, pool, seed.Options{ProjectID: pid, Events: 3, Days: 1})
	if err != nil || res.Events != 3 || res.Sessions != 1 {
		t.Fatalf("3 events: %+v %v", res, err)
	}
}
