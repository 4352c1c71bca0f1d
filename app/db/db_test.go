package db_test

import (
	"context"
	"testing"
	"time"

	"tally/app/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func TestMigrationsApplyAndPartitionsExist(t *testing.T) {
	pool := dbtest.NewPool(t)
	ctx := context.Background()
	var n int
	now := time.Now()
	if err := pool.QueryRow(ctx, "SELECT op.ensure_partitions_v1($1, $2)", now.AddDate(0, -2, 0), now.AddDate(0, 1, 0)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if dbtest.Timescale(t) {
		return
	}
	if n != 4 {
		t.Fatalf("created %d partitions, want 4", n)
	}
	if err := pool.QueryRow(ctx, "SELECT op.ensure_partitions_v1($1, $2)", now.AddDate(0, -2, 0), now.AddDate(0, 1, 0)).Scan(&n); err != nil || n != 0 {
		t.Fatalf("second call created %d (%v), want 0", n, err)
	}
}

// In TimescaleDB mode events is a hypertable whose old chunks River
// compresses (op.compress_chunks_v1); compressed events stay readable and
// updatable (merges rewrite them). Without TimescaleDB the function is a no-op.
func TestCompressChunks(t *testing.T) {
	pool := dbtest.NewPool(t)
	ctx := context.Background()
	now := time.Now()
	if _, err := pool.Exec(ctx, "SELECT op.ensure_partitions_v1($1, $2)", now.AddDate(0, -1, 0), now.AddDate(0, 1, 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO events (id, project_id, name, device_id, profile_id, created_at)
		SELECT gen_random_uuid(), 'p', 'old', 'd', 'anon', now() - interval '20 days' + g * interval '1 second'
		FROM generate_series(1, 500) g`); err != nil {
		t.Fatal(err)
	}
	var compressed int
	if err := pool.QueryRow(ctx, "SELECT op.compress_chunks_v1(interval '7 days')").Scan(&compressed); err != nil {
		t.Fatal(err)
	}
	if !dbtest.Timescale(t) {
		if compressed != 0 {
			t.Fatalf("compressed %d chunks without TimescaleDB", compressed)
		}
		return
	}
	var hyper bool
	_ = pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_name = 'events')`).Scan(&hyper)
	if !hyper || compressed < 1 {
		t.Fatalf("hypertable %v, compressed %d chunks", hyper, compressed)
	}
	tag, err := pool.Exec(ctx, `UPDATE events SET profile_id = 'person' WHERE project_id = 'p' AND profile_id = 'anon'`)
	if err != nil || tag.RowsAffected() != 500 {
		t.Fatalf("update of compressed events: %v (%d rows)", err, tag.RowsAffected())
	}
	var n int
	_ = pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE profile_id = 'person'`).Scan(&n)
	if n != 500 {
		t.Fatalf("read back %d", n)
	}
}
