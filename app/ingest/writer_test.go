package ingest_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"tally/app/dbtest"
	"tally/app/errs"
	"tally/app/ingest"
	"tally/jobs"
)

// A row the database refuses fails alone: the rest of its batch commits.
func TestWriterIsolatesARowTheDatabaseRefuses(t *testing.T) {
	t.Parallel()
	pool, ctx := maintainedPool(t)
	// A long wait makes the three events one batch.
	w := ingest.NewWriter(pool, ingest.WriterOptions{Queue: 10, Batch: 3, Writers: 1, MaxWait: time.Second}, slog.New(slog.DiscardHandler))
	defer w.Close(ctx)
	row := func(country string) ingest.Row {
		return ingest.Row{ID: uuid.New(), ProjectID: "p", Name: "e", DeviceID: uuid.NewString(), CreatedAt: time.Now(),
			Country: country, Properties: []byte(`{}`)}
	}
	rows := []ingest.Row{row("DE"), row("bad\x00value"), row("FR")}
	errsOut := make([]error, len(rows))
	var wg sync.WaitGroup
	for i, r := range rows {
		wg.Add(1)
		go func() { defer wg.Done(); _, errsOut[i] = w.Submit(ctx, r) }()
	}
	wg.Wait()
	if errsOut[0] != nil || errsOut[2] != nil {
		t.Fatalf("good rows failed: %v, %v", errsOut[0], errsOut[2])
	}
	if errs.KindOf(errsOut[1]) != errs.Invalid {
		t.Fatalf("bad row: %v, want an invalid error", errsOut[1])
	}
	var n int
	_ = pool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&n)
	if n != 2 {
		t.Fatalf("stored %d, want 2", n)
	}
}

// A saturated writer answers at once with "unavailable" (a 503 with
// Retry-After for the SDK) instead of queueing without bound, and the events
// it did accept are all stored once the database moves again.
func TestWriterQueueIsBounded(t *testing.T) {
	t.Parallel()
	pool, ctx := maintainedPool(t)
	w := ingest.NewWriter(pool, ingest.WriterOptions{Queue: 4, Batch: 2, Writers: 1, MaxWait: time.Millisecond}, slog.New(slog.DiscardHandler))
	defer w.Close(ctx)

	// Hold the events table: the writer's first batch waits on it.
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE events IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted, refused := 0, 0
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			_, err := w.Submit(ctx, ingest.Row{ID: uuid.New(), ProjectID: "p", Name: "e", DeviceID: uuid.NewString(),
				CreatedAt: time.Now(), Properties: []byte(`{}`)})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				accepted++
			case errs.KindOf(err) == errs.Unavailable && time.Since(start) < time.Second:
				refused++
			default:
				t.Errorf("submit %d: %v after %v", i, err, time.Since(start))
			}
		}()
	}
	// Let the submits pile up, then release the table.
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		r := refused
		mu.Unlock()
		if r >= 20-4-2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = tx.Rollback(ctx)
	wg.Wait()
	t.Logf("accepted %d, refused %d", accepted, refused)
	if refused == 0 || accepted+refused != 20 {
		t.Fatalf("accepted %d, refused %d", accepted, refused)
	}
	var n int
	_ = pool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&n)
	if n != accepted {
		t.Fatalf("stored %d, accepted %d", n, accepted)
	}
}

// The writer leaves out of the profiles upsert the profiles it wrote in the
// past minute; another process (a writer without that memory) still writes.
func TestWriterSkipsProfilesItWroteInThePastMinute(t *testing.T) {
	t.Parallel()
	pool, ctx := maintainedPool(t)
	opts := ingest.WriterOptions{Queue: 10, Batch: 1, Writers: 1, MaxWait: time.Millisecond}
	w := ingest.NewWriter(pool, opts, slog.New(slog.DiscardHandler))
	defer w.Close(ctx)
	device := uuid.NewString()
	view := func() ingest.Row { return screenViewRow(0, device) }
	lastSeen := func() time.Time {
		var at time.Time
		if err := pool.QueryRow(ctx, `SELECT last_seen_at FROM profiles WHERE project_id = 'p' AND id = $1`, device).Scan(&at); err != nil {
			t.Fatal(err)
		}
		return at
	}
	if _, err := w.Submit(ctx, view()); err != nil {
		t.Fatal(err)
	}
	// Ten minutes ago as far as the database knows: without the writer's
	// memory, the next event would write it.
	if _, err := pool.Exec(ctx, `UPDATE profiles SET last_seen_at = last_seen_at - interval '10 minutes' WHERE id = $1`, device); err != nil {
		t.Fatal(err)
	}
	before := lastSeen()
	if _, err := w.Submit(ctx, view()); err != nil {
		t.Fatal(err)
	}
	if got := lastSeen(); !got.Equal(before) {
		t.Fatalf("last seen written again within the minute: %v -> %v", before, got)
	}
	var events int
	_ = pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE device_id = $1 AND name = 'screen_view'`, device).Scan(&events)
	if events != 2 {
		t.Fatalf("%d screen views stored, want 2", events)
	}

	other := ingest.NewWriter(pool, opts, slog.New(slog.DiscardHandler))
	defer other.Close(ctx)
	if _, err := other.Submit(ctx, view()); err != nil {
		t.Fatal(err)
	}
	if got := lastSeen(); !got.After(before.Add(9 * time.Minute)) {
		t.Fatalf("another writer did not write last seen: %v -> %v", before, got)
	}
}

// Concurrent batches over the same devices, whose sessions have all expired,
// in different orders: no deadlock, and each device gets exactly one new
// session (a batch locks the heads before it decides; unlocked, two batches
// both open one).
func TestConcurrentBatchesOpenOneSessionPerDevice(t *testing.T) {
	t.Parallel()
	pool, ctx := maintainedPool(t)
	devices := make([]string, 12)
	for i := range devices {
		devices[i] = uuid.NewString()
	}
	seed := make([]ingest.Row, len(devices))
	for i, d := range devices {
		seed[i] = screenViewRow(i+1, d)
	}
	if err := ingestBatch(ctx, pool, seed); err != nil {
		t.Fatal(err)
	}
	for epoch := range 6 {
		if _, err := pool.Exec(ctx, `UPDATE session_heads SET started_at = started_at - interval '2 hours', last_event_at = last_event_at - interval '2 hours'`); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		var wg sync.WaitGroup
		errc := make(chan error, 64)
		for g := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for round := range 3 {
					rows := make([]ingest.Row, len(devices))
					for i := range rows {
						d := devices[(i*(g+1)+round+epoch)%len(devices)] // each goroutine its own order
						rows[i] = screenViewRow(i+1, d)
					}
					if err := ingestBatch(ctx, pool, rows); err != nil {
						errc <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Fatal(err)
		}
		var multi, seen int
		err := pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE n > 1), count(*) FROM (
			SELECT device_id, count(DISTINCT session_id) n FROM events WHERE created_at >= $1 GROUP BY device_id) x`, start).Scan(&multi, &seen)
		if err != nil {
			t.Fatal(err)
		}
		if multi != 0 || seen != len(devices) {
			t.Fatalf("epoch %d: %d devices with more than one new session (of %d devices)", epoch, multi, seen)
		}
	}
	var rowsOfSessions int
	_ = pool.QueryRow(ctx, `SELECT count(*) FROM sessions`).Scan(&rowsOfSessions)
	if want := 7 * len(devices); rowsOfSessions != want {
		t.Fatalf("%d session rows, want %d (one per device and epoch)", rowsOfSessions, want)
	}
}

// In a batch mixing browser and server-side events, browser devices get
// heads and sessions, server events neither.
func TestMixedBatchSessionizesOnlyBrowserEvents(t *testing.T) {
	t.Parallel()
	pool, ctx := maintainedPool(t)
	browser, server := uuid.NewString(), uuid.NewString()
	for range 2 {
		rows := []ingest.Row{
			screenViewRow(1, browser),
			{Ord: 2, ID: uuid.New(), ProjectID: "p", Name: "invoice_paid", DeviceID: server, ProfileID: "42", CreatedAt: time.Now(), Properties: []byte(`{}`)},
		}
		if err := ingestBatch(ctx, pool, rows); err != nil {
			t.Fatal(err)
		}
	}
	var browserSessions, serverSessions, heads int
	_ = pool.QueryRow(ctx, `SELECT count(DISTINCT session_id) FROM events WHERE device_id = $1`, browser).Scan(&browserSessions)
	_ = pool.QueryRow(ctx, `SELECT count(session_id) FROM events WHERE device_id = $1`, server).Scan(&serverSessions)
	_ = pool.QueryRow(ctx, `SELECT count(*) FROM session_heads WHERE session_id IS NOT NULL`).Scan(&heads)
	if browserSessions != 1 || serverSessions != 0 || heads != 1 {
		t.Fatalf("browser sessions %d (want 1), server events with a session %d (want 0), live heads %d (want 1)",
			browserSessions, serverSessions, heads)
	}
}

// maintainedPool is a fresh database with today's partitions and salts.
func maintainedPool(t *testing.T) (*pgxpool.Pool, context.Context) {
	t.Helper()
	pool := dbtest.NewPool(t)
	ctx := context.Background()
	if err := jobs.Maintain(ctx, pool, time.Now()); err != nil {
		t.Fatal(err)
	}
	return pool, ctx
}

// screenViewRow is a browser's page view in project "p", now (ord numbers it
// in a batch handed to op.ingest_v1 directly; the writer numbers its own).
func screenViewRow(ord int, device string) ingest.Row {
	return ingest.Row{Ord: ord, ID: uuid.New(), ProjectID: "p", Name: "screen_view", DeviceID: device,
		CreatedAt: time.Now(), OpensSession: true, Properties: []byte(`{}`)}
}

// ingestBatch calls op.ingest_v1 as the writer does, without its retries.
func ingestBatch(ctx context.Context, pool *pgxpool.Pool, rows []ingest.Row) error {
	payload, err := json.Marshal(rows)
	if err != nil {
		return err
	}
	_, err = pool.Exec(ctx, `SELECT * FROM op.ingest_v1($1::jsonb)`, payload)
	return err
}
