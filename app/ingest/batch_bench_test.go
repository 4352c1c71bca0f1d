package ingest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
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
	// One connection, so its backend's CPU time can be read: wall time on
	// this machine varies by ±10 %, the backend's CPU much less.
	conn, err := pool.Acquire(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Release()
	var pid int
	if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		b.Fatal(err)
	}
	for range 200 { // warm the plans and the tables
		if _, err := conn.Exec(ctx, "SELECT * FROM op.ingest_v1($1::jsonb)", batch()); err != nil {
			b.Fatal(err)
		}
	}
	cpu0 := procCPU(b, pid)
	b.ResetTimer()
	for range b.N {
		if _, err := conn.Exec(ctx, "SELECT * FROM op.ingest_v1($1::jsonb)", batch()); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*size), "µs/event")
	if cpu := procCPU(b, pid); cpu >= 0 && cpu0 >= 0 {
		b.ReportMetric(float64((cpu-cpu0).Microseconds())/float64(b.N*size), "backend-cpu-µs/event")
	}
}

// procCPU is a process's user+system CPU time from /proc (-1 where there is
// no /proc, or the backend is another machine's).
func procCPU(b *testing.B, pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// Fields after the command name (which may hold spaces) in parentheses.
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:]))
	if len(f) < 13 {
		return -1
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ
}
