package seed_test

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"tally/app/accounts"
	"tally/app/dbtest"
	"tally/app/seed"
)

// syncBuffer is a log sink shared with the demo's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func waitFor(t *testing.T, what string, timeout time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestDemo: the first start fills a Demo project, the onboarded owner gets
// it, live visits keep arriving through ingest's SQL path, and a second
// start creates nothing new.
func TestDemo(t *testing.T) {
	t.Parallel()
	defer seed.SetDemoEvents(5_000)()
	pool := dbtest.NewPool(t)
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- seed.Demo(ctx, pool, log) }()

	var pid string
	waitFor(t, "the Demo project", 30*time.Second, func() bool {
		return pool.QueryRow(context.Background(), `SELECT id FROM projects WHERE organization_id = 'demo' AND name = 'Demo'`).Scan(&pid) == nil
	})
	waitFor(t, "the demo traffic", 60*time.Second, func() bool {
		return count(t, pool, `SELECT count(*) FROM events WHERE project_id = $1`, pid) >= 5_000
	})
	// Onboarding's owner (the first user) becomes an owner of Demo.
	u, err := accounts.NewStore(pool).CreateUser(context.Background(), "owner@example.com", "Owner", "a long password 1")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the owner's membership", 10*time.Second, func() bool {
		return count(t, pool, `SELECT count(*) FROM memberships WHERE organization_id = 'demo' AND user_id = $1 AND role = 'owner'`, u.ID) == 1
	})
	// Live visits: new sessions opened by op.ingest_v1 right now.
	start := time.Now()
	waitFor(t, "live visits", 20*time.Second, func() bool {
		return count(t, pool, `SELECT count(*) FROM sessions WHERE project_id = $1 AND started_at >= $2 AND ended_at IS NULL`, pid, start) >= 2
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("demo: %v", err)
	}

	// Second start: nothing new, and the traffic goes on in the same project.
	before := count(t, pool, `SELECT count(*) FROM projects`)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel2()
	if err := seed.Demo(ctx2, pool, log); err != nil {
		t.Fatal(err)
	}
	if after := count(t, pool, `SELECT count(*) FROM projects`); after != before {
		t.Errorf("second start: %d projects, was %d", after, before)
	}
	if n := count(t, pool, `SELECT count(*) FROM events WHERE project_id = $1 AND created_at > now() - interval '6 minutes' AND name NOT IN ('session_start', 'session_end')`, pid); n == 0 {
		t.Error("no live events")
	}
	// Deleted: never recreated.
	if _, err := pool.Exec(context.Background(), `DELETE FROM projects WHERE id = $1`, pid); err != nil {
		t.Fatal(err)
	}
	if err := seed.Demo(context.Background(), pool, log); err != nil {
		t.Fatal(err)
	}
	if n := count(t, pool, `SELECT count(*) FROM projects WHERE organization_id = 'demo'`); n != 0 {
		t.Errorf("the deleted demo came back: %d projects", n)
	}
	t.Log(logs.String())
}
