package jobs_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"tally/app/dbtest"
	"tally/jobs"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// The periodic schedule runs on start: an idle session gets closed without
// anyone calling the job by hand.
func TestRiverClosesIdleSessionsOnSchedule(t *testing.T) {
	pool := dbtest.NewPool(t)
	ctx := context.Background()
	if err := jobs.Maintain(ctx, pool, time.Now()); err != nil {
		t.Fatal(err)
	}
	batch := `[{"ord":1,"id":"0190b3a0-0000-7000-8000-000000000001","project_id":"p","name":"screen_view",
		"device_id":"d1","created_at":"` + time.Now().Add(-10*time.Minute).UTC().Format(time.RFC3339Nano) + `",
		"opens_session":true,"path":"/a","properties":{}}]`
	if _, err := pool.Exec(ctx, "SELECT * FROM op.ingest_v1($1::jsonb)", batch); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"sessions", "session_heads"} {
		if _, err := pool.Exec(ctx, `UPDATE `+table+` SET started_at = now() - interval '40 minutes', last_event_at = now() - interval '40 minutes'`); err != nil {
			t.Fatal(err)
		}
	}
	client, err := jobs.Start(ctx, pool, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = client.Stop(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var ends int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE name = 'session_end'`).Scan(&ends); err != nil {
			t.Fatal(err)
		}
		if ends == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the close_sessions job did not run")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// In TimescaleDB mode events is a hypertable of day-long chunks that the
// compress_chunks job compresses once closed, one chunk per statement;
// compressed events stay readable and updatable (merges rewrite them), and
// a late event makes its chunk partly compressed until the next run.
// Without TimescaleDB there is nothing to compress.
func TestCompressChunks(t *testing.T) {
	pool := dbtest.NewPool(t)
	ctx := context.Background()
	if err := jobs.Maintain(ctx, pool, time.Now()); err != nil {
		t.Fatal(err)
	}
	// n events from noon (UTC) of the day daysAgo days back.
	insert := func(n, daysAgo int) {
		t.Helper()
		if _, err := pool.Exec(ctx, `INSERT INTO events (id, project_id, name, device_id, profile_id, created_at)
			SELECT gen_random_uuid(), 'p', 'old', 'd', 'anon',
			       (date_trunc('day', now() AT TIME ZONE 'UTC') - $2 * interval '1 day' + interval '12 hours') AT TIME ZONE 'UTC'
			       + g * interval '1 second'
			FROM generate_series(1, $1) g`, n, daysAgo); err != nil {
			t.Fatal(err)
		}
	}
	insert(500, 20)
	insert(500, 3)
	// The open chunk (today's, or yesterday's within the hour after
	// midnight) is not compressed.
	if _, err := pool.Exec(ctx, `INSERT INTO events (id, project_id, name, device_id, profile_id, created_at)
		SELECT gen_random_uuid(), 'p', 'old', 'd', 'anon', now() - interval '1 minute' FROM generate_series(1, 10)`); err != nil {
		t.Fatal(err)
	}
	compressed, err := jobs.CompressChunks(ctx, pool, jobs.CompressAfter)
	if err != nil {
		t.Fatal(err)
	}
	if !dbtest.Timescale(t) {
		if compressed != 0 {
			t.Fatalf("compressed %d chunks without TimescaleDB", compressed)
		}
		return
	}
	if compressed != 2 {
		t.Fatalf("compressed %d chunks, want the two closed day chunks", compressed)
	}
	var open, total int
	if err := pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE NOT is_compressed), count(*)
		FROM timescaledb_information.chunks WHERE hypertable_name = 'events'`).Scan(&open, &total); err != nil {
		t.Fatal(err)
	}
	if open != 1 || total != 3 {
		t.Fatalf("%d of %d chunks uncompressed, want today's only of 3", open, total)
	}
	if n, err := jobs.CompressChunks(ctx, pool, jobs.CompressAfter); err != nil || n != 0 {
		t.Fatalf("second run compressed %d (%v), want 0", n, err)
	}
	insert(1, 3) // a late event: its chunk is partly compressed
	if n, err := jobs.CompressChunks(ctx, pool, jobs.CompressAfter); err != nil || n != 1 {
		t.Fatalf("run after a late event compressed %d (%v), want 1", n, err)
	}
	tag, err := pool.Exec(ctx, `UPDATE events SET profile_id = 'person' WHERE project_id = 'p' AND profile_id = 'anon'`)
	if err != nil || tag.RowsAffected() != 1011 {
		t.Fatalf("update of compressed events: %v (%d rows)", err, tag.RowsAffected())
	}
	var n int
	_ = pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE profile_id = 'person'`).Scan(&n)
	if n != 1011 {
		t.Fatalf("read back %d", n)
	}
}

// A chunk whose exclusive lock cannot be had within the lock timeout (a
// long dashboard query reads it) is skipped, not waited for: the others
// are compressed, the error says which, and the next run takes it. A run
// while another holds the compression lock does nothing.
func TestCompressChunksSkipsBusyChunks(t *testing.T) {
	if !dbtest.Timescale(t) {
		t.Skip("TimescaleDB mode only")
	}
	pool := dbtest.NewPool(t)
	ctx := context.Background()
	for _, daysAgo := range []int{5, 3} {
		if _, err := pool.Exec(ctx, `INSERT INTO events (id, project_id, name, device_id, created_at)
			SELECT gen_random_uuid(), 'p', 'old', 'd',
			       (date_trunc('day', now() AT TIME ZONE 'UTC') - $1 * interval '1 day' + interval '12 hours') AT TIME ZONE 'UTC'
			       + g * interval '1 second'
			FROM generate_series(1, 100) g`, daysAgo); err != nil {
			t.Fatal(err)
		}
	}
	var older string
	if err := pool.QueryRow(ctx, `SELECT format('%I.%I', chunk_schema, chunk_name) FROM timescaledb_information.chunks
		WHERE hypertable_name = 'events' ORDER BY range_start LIMIT 1`).Scan(&older); err != nil {
		t.Fatal(err)
	}

	reader, err := pool.Begin(ctx) // a long read of the older chunk
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reader.Exec(ctx, "SELECT count(*) FROM "+older); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	n, err := jobs.CompressChunks(ctx, pool, jobs.CompressAfter)
	if n != 1 || err == nil || !strings.Contains(err.Error(), older) {
		t.Fatalf("with the older chunk busy: compressed %d, error %v; want 1 and an error naming %s", n, err, older)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("waited %v for the busy chunk", d)
	}
	_ = reader.Rollback(ctx)

	// Another run holds the lock: nothing to do here.
	holder, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := holder.Exec(ctx, "SELECT pg_advisory_lock(7146001)"); err != nil {
		t.Fatal(err)
	}
	if n, err := jobs.CompressChunks(ctx, pool, jobs.CompressAfter); n != 0 || err != nil {
		t.Fatalf("while another run holds the lock: compressed %d (%v), want 0", n, err)
	}
	if _, err := holder.Exec(ctx, "SELECT pg_advisory_unlock(7146001)"); err != nil {
		t.Fatal(err)
	}
	holder.Release()

	if n, err := jobs.CompressChunks(ctx, pool, jobs.CompressAfter); n != 1 || err != nil {
		t.Fatalf("next run: compressed %d (%v), want the skipped chunk", n, err)
	}
}
