package realtime_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"tally/app/dbtest"
	"tally/app/realtime"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// startHub starts a hub on a fresh database and waits until it listens.
func startHub(t *testing.T) (*realtime.Hub, *pgxpool.Pool) {
	t.Helper()
	pool := dbtest.NewPool(t)
	h := realtime.New(pool, nil)
	h.Start()
	t.Cleanup(h.Stop)
	waitFor(t, "the hub to listen", func() bool { return h.Listening() })
	return h, pool
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func notify(t *testing.T, pool *pgxpool.Pool, payload string) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), "SELECT pg_notify($1, $2)", realtime.Channel, payload); err != nil {
		t.Fatal(err)
	}
}

// got reports whether ch receives a signal within d.
func got(ch <-chan struct{}, d time.Duration) bool {
	select {
	case _, ok := <-ch:
		return ok
	case <-time.After(d):
		return false
	}
}

func TestHubFansOutPerProject(t *testing.T) {
	t.Parallel()
	h, pool := startHub(t)
	a1, cancelA1 := h.Subscribe("proj-a")
	defer cancelA1()
	a2, cancelA2 := h.Subscribe("proj-a")
	defer cancelA2()
	b, cancelB := h.Subscribe("proj-b")
	defer cancelB()

	notify(t, pool, "proj-a,proj-c")
	if !got(a1, 2*time.Second) || !got(a2, 2*time.Second) {
		t.Fatal("proj-a subscribers were not signalled")
	}
	if got(b, 200*time.Millisecond) {
		t.Fatal("proj-b was signalled for a notification about proj-a")
	}

	notify(t, pool, "proj-b")
	if !got(b, 2*time.Second) {
		t.Fatal("proj-b subscriber was not signalled")
	}
	if got(a1, 200*time.Millisecond) {
		t.Fatal("proj-a was signalled for a notification about proj-b")
	}

	// "*" (too many projects for one payload) signals everyone.
	notify(t, pool, "*")
	if !got(a1, 2*time.Second) || !got(a2, 2*time.Second) || !got(b, 2*time.Second) {
		t.Fatal(`"*" did not signal every subscriber`)
	}

	// After cancel, no more signals; the others still get theirs.
	cancelA2()
	cancelA2() // twice is harmless
	notify(t, pool, "proj-a")
	if !got(a1, 2*time.Second) {
		t.Fatal("proj-a subscriber lost its signal after another unsubscribed")
	}
	if got(a2, 200*time.Millisecond) {
		t.Fatal("a cancelled subscription was signalled")
	}
}

func TestHubCoalescesForSlowSubscribers(t *testing.T) {
	t.Parallel()
	h, pool := startHub(t)
	slow, cancelSlow := h.Subscribe("busy")
	defer cancelSlow()
	marker, cancelMarker := h.Subscribe("marker")
	defer cancelMarker()

	// Many notifications while the subscriber does not read: the hub does
	// not block (the marker, sent last, arrives) and one signal waits.
	for i := range 50 {
		notify(t, pool, fmt.Sprintf("busy,other-%d", i))
	}
	notify(t, pool, "marker")
	if !got(marker, 3*time.Second) {
		t.Fatal("the hub stalled behind a subscriber that does not read")
	}
	if n := len(slow); n != 1 {
		t.Fatalf("pending signals %d, want exactly 1", n)
	}
	<-slow
	if got(slow, 200*time.Millisecond) {
		t.Fatal("a second signal was queued for one burst")
	}
}

func TestHubReconnectsAfterTheListenerIsKilled(t *testing.T) {
	t.Parallel()
	h, pool := startHub(t)
	ch, cancel := h.Subscribe("p1")
	defer cancel()
	ctx := context.Background()

	tag, err := pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = $1`, realtime.ApplicationName)
	if err != nil {
		t.Fatal(err)
	}
	if tag.RowsAffected() != 1 {
		t.Fatalf("found %d listening connections, want exactly 1", tag.RowsAffected())
	}
	waitFor(t, "the hub to reconnect", func() bool { return h.Connects.Load() >= 2 && h.Listening() })
	// A reconnect signals everyone (notifications may have been missed).
	if !got(ch, 2*time.Second) {
		t.Fatal("no recount signal after the reconnect")
	}
	notify(t, pool, "p1")
	if !got(ch, 2*time.Second) {
		t.Fatal("no signal after the reconnect")
	}
	var listeners int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = $1`, realtime.ApplicationName).Scan(&listeners); err != nil || listeners != 1 {
		t.Fatalf("listening connections after reconnect: %d (%v), want 1", listeners, err)
	}
}

func TestHubSurvivesIdleChecks(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	h := realtime.New(pool, nil)
	h.SetIdleCheck(50 * time.Millisecond)
	h.Start()
	defer h.Stop()
	waitFor(t, "the hub to listen", h.Listening)
	ch, cancel := h.Subscribe("p")
	defer cancel()
	time.Sleep(300 * time.Millisecond) // several timed-out waits and pings
	notify(t, pool, "p")
	if !got(ch, 2*time.Second) {
		t.Fatal("no signal after idle checks")
	}
	if n := h.Connects.Load(); n != 1 {
		t.Fatalf("the idle check reconnected: %d connects", n)
	}
}

func TestHubStopClosesSubscriptions(t *testing.T) {
	t.Parallel()
	h, pool := startHub(t)
	ch, cancel := h.Subscribe("p")
	defer cancel()
	start := time.Now()
	h.Stop()
	if time.Since(start) > 2*time.Second {
		t.Fatalf("Stop took %s", time.Since(start))
	}
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("got a signal instead of a closed channel")
		}
	case <-time.After(time.Second):
		t.Fatal("Stop did not close the subscription")
	}
	late, _ := h.Subscribe("p")
	if _, ok := <-late; ok {
		t.Fatal("a subscription after Stop is not closed")
	}
	h.Stop() // twice is harmless
	var listeners int
	waitFor(t, "the listening connection to close", func() bool {
		_ = pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = $1`, realtime.ApplicationName).Scan(&listeners)
		return listeners == 0
	})
}

func TestVisitorsNowAndFirstEvent(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	h := realtime.New(pool, nil)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, "SELECT op.ensure_partitions_v1(now() - interval '40 days', now() + interval '1 day')"); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := h.FirstEvent(ctx, "p"); err != nil || ok {
		t.Fatalf("first event of an empty project: ok=%v err=%v", ok, err)
	}
	if n, err := h.VisitorsNow(ctx, "p"); err != nil || n != 0 {
		t.Fatalf("visitors of an empty project: %d %v", n, err)
	}
	ins := func(project, name, device, path, ago string) {
		t.Helper()
		if _, err := pool.Exec(ctx, `INSERT INTO events (id, project_id, name, device_id, path, created_at)
			VALUES (gen_random_uuid(), $1, $2, $3, nullif($4, ''), now() - $5::interval)`, project, name, device, path, ago); err != nil {
			t.Fatal(err)
		}
	}
	ins("p", "session_start", "d1", "", "1 hour")
	ins("p", "screen_view", "d1", "/old", "59 minutes")
	ins("p", "screen_view", "d1", "/", "1 minute")
	ins("p", "click", "d1", "", "30 seconds")
	ins("p", "screen_view", "d2", "/x", "2 minutes")
	ins("p", "screen_view", "d3", "/gone", "6 minutes")
	ins("p", "session_end", "d4", "", "1 minute")
	ins("other", "screen_view", "d5", "/", "1 minute")
	// Counts are shared for a moment; the notification of new events (sent
	// by ingest's commit, here by hand) makes the next count fresh.
	h.Publish("p")
	n, err := h.VisitorsNow(ctx, "p")
	if err != nil || n != 2 {
		t.Fatalf("visitors now = %d (%v), want 2 (d1, d2)", n, err)
	}
	f, ok, err := h.FirstEvent(ctx, "p")
	if err != nil || !ok || f.Name != "screen_view" || f.Path != "/old" || time.Since(f.At) < 58*time.Minute {
		t.Fatalf("first event = %+v ok=%v err=%v, want the screen_view of /old", f, ok, err)
	}
}

var usingRe = regexp.MustCompile(`using (\S+)`)

func TestQueriesUseTheProjectTimeIndex(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, "SELECT op.ensure_partitions_v1(now() - interval '70 days', now() + interval '1 day')"); err != nil {
		t.Fatal(err)
	}
	// Enough rows of other projects that a sequential scan is not cheaper,
	// and a project that is a fair share of the table.
	if _, err := pool.Exec(ctx, `INSERT INTO events (id, project_id, name, device_id, created_at)
		SELECT gen_random_uuid(), 'p' || (i % 20), 'screen_view', 'd' || i, now() - (i % 86400) * interval '1 minute'
		FROM generate_series(1, 40000) i`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "ANALYZE events"); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{realtime.VisitorsNowSQL, realtime.FirstEventSQL} {
		var plan strings.Builder
		rows, err := pool.Query(ctx, "EXPLAIN "+q, "p1")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var line string
			_ = rows.Scan(&line)
			plan.WriteString(line + "\n")
		}
		rows.Close()
		// events_project_time is named so on a hypertable's chunks and
		// events_pYYYYMM_project_id_created_at_idx on partitions.
		p := plan.String()
		indexes := usingRe.FindAllStringSubmatch(p, -1)
		bad := strings.Contains(p, "Seq Scan") || len(indexes) == 0
		for _, m := range indexes {
			if !strings.HasSuffix(m[1], "project_time") && !strings.HasSuffix(m[1], "project_id_created_at_idx") {
				bad = true
			}
		}
		if bad {
			t.Errorf("want only (project_id, created_at) index scans for\n%s\n%s", q, p)
		}
	}
}
