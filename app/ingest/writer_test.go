package ingest_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"tally/app/dbtest"
	"tally/app/errs"
	"tally/app/ingest"
	"tally/jobs"
)

// A row the database refuses fails alone: the rest of its batch commits.
func TestWriterIsolatesARowTheDatabaseRefuses(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	ctx := context.Background()
	if err := jobs.Maintain(ctx, pool, time.Now()); err != nil {
		t.Fatal(err)
	}
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
	pool := dbtest.NewPool(t)
	ctx := context.Background()
	if err := jobs.Maintain(ctx, pool, time.Now()); err != nil {
		t.Fatal(err)
	}
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
