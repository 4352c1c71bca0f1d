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
