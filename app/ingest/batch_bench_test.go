package ingest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"tally/app/dbtest"
	"tally/app/ingest"
	"tally/jobs"
)

// BenchmarkIngestBatch measures op.ingest_v1 alone (PostgreSQL's share of
// ingest): batches of 28 screen views from 20,000 visitors, the batch size
// the writer forms at 64 connections (TALLY_BENCH_BATCH sets another). Run:
//
//	go test ./app/ingest -run '^$' -bench IngestBatch -benchtime 300x
func BenchmarkIngestBatch(b *testing.B) {
	pool := dbtest.NewPool(b)
	ctx := context.Background()
	if err := jobs.Maintain(ctx, pool, time.Now()); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	size := 28
	if n, err := strconv.Atoi(os.Getenv("TALLY_BENCH_BATCH")); err == nil && n > 0 {
		size = n
	}
	batch := func() []byte {
		rows := make([]ingest.Row, size)
		for i := range rows {
			rows[i] = ingest.Row{Ord: i + 1, ID: uuid.New(), ProjectID: "p", Name: "screen_view",
				DeviceID: fmt.Sprintf("%032x", rng.IntN(20000)), CreatedAt: time.Now(), OpensSession: true,
				DedupKey: fmt.Sprintf("%040x", rng.Uint64()), Path: fmt.Sprintf("/p/%d", rng.IntN(200)),
				Origin: "https://example.com", Browser: "Chrome", OS: "Windows", Device: "desktop", Country: "DE",
				Properties: []byte(`{"plan":"pro"}`)}
		}
		out, _ := json.Marshal(rows)
		return out
	}
	for range 200 { // warm the plans and the tables
		if _, err := pool.Exec(ctx, "SELECT * FROM op.ingest_v1($1::jsonb)", batch()); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		if _, err := pool.Exec(ctx, "SELECT * FROM op.ingest_v1($1::jsonb)", batch()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*size), "µs/event")
}
