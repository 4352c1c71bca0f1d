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
