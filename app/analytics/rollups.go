package analytics

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// RefreshRollups recomputes the dirty days of the rollups, one transaction
// per (project, day), until none is left, maxDays are done (0: no limit)
// or ctx ends. With wait false it returns at once when another refresh is
// running (the River job); with wait true it queues behind it (tests, the
// seeder). It returns how many days it took off the dirty list.
func RefreshRollups(ctx context.Context, pool *pgxpool.Pool, maxDays int, wait bool) (int, error) {
	total := 0
	for maxDays <= 0 || total < maxDays {
		var n int
		if err := pool.QueryRow(ctx, `SELECT op.refresh_rollups_v1(1, $1)`, wait).Scan(&n); err != nil {
			return total, fmt.Errorf("refresh rollups: %w", err)
		}
		if n == 0 {
			return total, nil
		}
		total += n
	}
	return total, nil
}

// MarkDirty marks the project's local days overlapping [from, to] for the
// rollup refresh: for writers that bypass op.ingest_v1 (bulk loads,
// seeding). op.ingest_v1 and the session close job mark what they change.
func MarkDirty(ctx context.Context, pool *pgxpool.Pool, projectID string, from, to time.Time) error {
	_, err := pool.Exec(ctx, `SELECT op.mark_rollups_dirty_v1($1, $2, $3)`, projectID, from, to)
	if err != nil {
		return fmt.Errorf("mark rollups dirty: %w", err)
	}
	return nil
}
