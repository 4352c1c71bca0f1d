// Package jobs holds the River workers and the periodic schedule: closing
// idle sessions, rotating salts, creating partitions ahead of time, forgetting
// old duplicate keys, refreshing the overview's rollups. Every job is a call
// of a versioned SQL function, so it is safe to run from several server
// processes (River's leader schedules it).
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"tally/app/analytics"
)

// Partition coverage: every timestamp ingest accepts (a year back) has a
// partition, and the next two months exist before they start.
const (
	PartitionsBack  = 13 * 31 * 24 * time.Hour
	PartitionsAhead = 62 * 24 * time.Hour
)

// CloseSessionsArgs ends sessions idle for 30 minutes.
type CloseSessionsArgs struct{}

func (CloseSessionsArgs) Kind() string { return "close_sessions" }

type CloseSessionsWorker struct {
	river.WorkerDefaults[CloseSessionsArgs]
	Pool *pgxpool.Pool
	Log  *slog.Logger
}

func (w *CloseSessionsWorker) Work(ctx context.Context, _ *river.Job[CloseSessionsArgs]) error {
	total, err := CloseSessions(ctx, w.Pool)
	if total > 0 {
		w.Log.Debug("closed idle sessions", "count", total)
	}
	return err
}

// CloseSessions runs op.close_sessions_v1 until no idle session is left.
func CloseSessions(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	const batch = 5000
	total := 0
	for {
		var n int
		if err := pool.QueryRow(ctx, "SELECT op.close_sessions_v1(interval '30 minutes', $1)", batch).Scan(&n); err != nil {
			return total, fmt.Errorf("close sessions: %w", err)
		}
		total += n
		if n < batch {
			return total, nil
		}
	}
}

// MaintenanceArgs creates partitions and rotates salts.
type MaintenanceArgs struct{}

func (MaintenanceArgs) Kind() string { return "maintenance" }

type MaintenanceWorker struct {
	river.WorkerDefaults[MaintenanceArgs]
	Pool *pgxpool.Pool
}

func (w *MaintenanceWorker) Work(ctx context.Context, _ *river.Job[MaintenanceArgs]) error {
	return Maintain(ctx, w.Pool, time.Now())
}

// Maintain makes the partitions around now and the salts of yesterday,
// today and tomorrow. It also runs at every start, before ingest opens.
func Maintain(ctx context.Context, pool *pgxpool.Pool, now time.Time) error {
	if _, err := pool.Exec(ctx, "SELECT op.ensure_partitions_v1($1, $2)", now.Add(-PartitionsBack), now.Add(PartitionsAhead)); err != nil {
		return fmt.Errorf("create partitions: %w", err)
	}
	rows, err := pool.Query(ctx, "SELECT day FROM op.ensure_salts_v1($1::date)", now.UTC())
	if err != nil {
		return fmt.Errorf("rotate salts: %w", err)
	}
	rows.Close()
	return rows.Err()
}

// CompressArgs compresses closed event chunks (TimescaleDB mode; a no-op otherwise).
type CompressArgs struct{}

func (CompressArgs) Kind() string { return "compress_chunks" }

// CompressAfter is how long after its end a chunk is compressed: late
// events still land in a compressed chunk (and are compressed again later).
const CompressAfter = time.Hour

type CompressWorker struct {
	river.WorkerDefaults[CompressArgs]
	Pool *pgxpool.Pool
	Log  *slog.Logger
}

// Timeout: a day's chunk takes seconds, but a first run after an import or
// an upgrade has a backlog; each chunk is its own statement, so a stop
// loses at most the chunk under way.
func (w *CompressWorker) Timeout(*river.Job[CompressArgs]) time.Duration { return 6 * time.Hour }

func (w *CompressWorker) Work(ctx context.Context, _ *river.Job[CompressArgs]) error {
	n, err := CompressChunks(ctx, w.Pool, CompressAfter)
	if n > 0 {
		w.Log.Info("compressed event chunks", "count", n)
	}
	return err
}

// compressLockKey is the advisory lock that makes compression one run at a
// time (a backlog can outlast the hourly schedule; runs side by side would
// only queue on the same chunk locks and hold River's worker slots).
const compressLockKey = 7_146_001

// CompressChunks compresses the events chunks that ended more than
// olderThan ago and are not fully compressed, oldest first, each in a
// transaction of its own: a stop loses at most the chunk under way. The
// first compression of a chunk needs an exclusive lock on it; waiting for
// one behind a long dashboard query would queue every later reader of the
// chunk behind it, so it waits 2 s at most and the chunk is retried on the
// next run, after the others. It returns how many chunks it compressed;
// another run under way makes it return 0 at once.
func CompressChunks(ctx context.Context, pool *pgxpool.Pool, olderThan time.Duration) (int, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("compress chunks: %w", err)
	}
	defer conn.Release()
	var locked bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", compressLockKey).Scan(&locked); err != nil {
		return 0, fmt.Errorf("compress chunks: %w", err)
	}
	if !locked {
		return 0, nil
	}
	defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", compressLockKey) }()

	rows, err := conn.Query(ctx, "SELECT c::text FROM op.chunks_to_compress_v1($1) c", olderThan)
	if err != nil {
		return 0, fmt.Errorf("list chunks to compress: %w", err)
	}
	chunks, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, fmt.Errorf("list chunks to compress: %w", err)
	}
	n := 0
	var errs []error
	for _, c := range chunks {
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
		var done *string
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '2s'"); err != nil {
				return err
			}
			return tx.QueryRow(ctx, "SELECT compress_chunk($1::regclass, if_not_compressed => true)::text", c).Scan(&done)
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("compress %s: %w", c, err))
			continue
		}
		if done != nil {
			n++
		}
	}
	return n, errors.Join(errs...)
}

// execWorker is a job that is one call of a SQL function.
type execWorker[T river.JobArgs] struct {
	river.WorkerDefaults[T]
	Pool *pgxpool.Pool
	SQL  string
}

func (w *execWorker[T]) Work(ctx context.Context, _ *river.Job[T]) error {
	_, err := w.Pool.Exec(ctx, w.SQL)
	return err
}

// MergeArgs rewrites the history of one profile merge (profile_merges.id).
type MergeArgs struct {
	MergeID int64 `json:"merge_id"`
}

func (MergeArgs) Kind() string { return "merge_profiles" }

// MergeWorker moves a merged id's events and sessions to its profile in
// batches, each its own short transaction, so ingest is never held up; a
// restart just runs the job again and it continues where it was.
type MergeWorker struct {
	river.WorkerDefaults[MergeArgs]
	Pool  *pgxpool.Pool
	Batch int
}

// Settle is how long after a merge the job looks once more for events that
// were in flight (committed by ingest with the old id) while it ran.
const Settle = 15 * time.Second

func (w *MergeWorker) Work(ctx context.Context, job *river.Job[MergeArgs]) error {
	if err := RewriteMerge(ctx, w.Pool, job.Args.MergeID, w.Batch); err != nil {
		return err
	}
	var age time.Duration
	err := w.Pool.QueryRow(ctx, `SELECT now() - created_at FROM profile_merges WHERE id = $1`, job.Args.MergeID).Scan(&age)
	if err == nil && age < Settle {
		return river.JobSnooze(Settle - age)
	}
	return nil
}

// Timeout: a large history may take a while; batches keep it interruptible.
func (w *MergeWorker) Timeout(*river.Job[MergeArgs]) time.Duration { return 30 * time.Minute }

// RewriteMerge runs op.rewrite_merge_v1 until the merge has no events left.
func RewriteMerge(ctx context.Context, pool *pgxpool.Pool, mergeID int64, batch int) error {
	if batch <= 0 {
		batch = 5000
	}
	for {
		start := time.Now()
		var moved int
		if err := pool.QueryRow(ctx, "SELECT op.rewrite_merge_v1($1, $2)", mergeID, batch).Scan(&moved); err != nil {
			return fmt.Errorf("rewrite merge %d: %w", mergeID, err)
		}
		if moved == 0 {
			return nil
		}
		// Rest as long as the batch took: a merge takes at most half of the
		// database's time from ingest, and 100,000 events still move in
		// about ten seconds.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(time.Since(start), time.Second)):
		}
	}
}

// RefreshRollupsArgs recomputes the overview's rollups of the days marked
// dirty since the last run (sql/overview.sql, op.refresh_rollups_v1).
type RefreshRollupsArgs struct{}

func (RefreshRollupsArgs) Kind() string { return "refresh_rollups" }

// RefreshRollupsEvery is how far behind the rollups may be.
const RefreshRollupsEvery = 5 * time.Second

// RefreshRollupsWorker works through the dirty days, a transaction per day,
// starting no day after Budget (a backlog, after a bulk load, goes on in the
// next runs). A day once started is finished however long it takes: a busy
// project's today (a few million events) takes longer than any budget, and
// cancelling it would leave it stale forever. A run that finds another
// still working returns at once.
type RefreshRollupsWorker struct {
	river.WorkerDefaults[RefreshRollupsArgs]
	Pool   *pgxpool.Pool
	Log    *slog.Logger
	Budget time.Duration // 0: refreshBudget

	mu        sync.Mutex
	last      time.Duration // how long the last refresh that did work took
	lastEnded time.Time
}

const refreshBudget = 30 * time.Second

// Timeout lets one day's recomputation run long (River's default is a minute).
func (w *RefreshRollupsWorker) Timeout(*river.Job[RefreshRollupsArgs]) time.Duration {
	return time.Hour
}

// refreshDuty bounds the share of time the refresh may take: a busy day is
// recomputed whole, and under heavy ingest recomputing it every 5 s would
// take PostgreSQL's time from ingest. After a refresh of d, the next waits
// (refreshDuty-1)·d: at most one part in refreshDuty of the time, and the
// rollups lag at most a few refreshes' time behind.
const refreshDuty = 8

func (w *RefreshRollupsWorker) Work(ctx context.Context, _ *river.Job[RefreshRollupsArgs]) error {
	w.mu.Lock()
	if time.Since(w.lastEnded) < (refreshDuty-1)*w.last {
		w.mu.Unlock()
		return nil
	}
	w.mu.Unlock()
	start := time.Now()
	budget := w.Budget
	if budget <= 0 {
		budget = refreshBudget
	}
	// Only the days dirty now: under steady ingest today is marked again
	// while it is recomputed, and "until none is dirty" never ends.
	var days int
	if err := w.Pool.QueryRow(ctx, `SELECT count(*) FROM (SELECT DISTINCT project_id, day FROM rollup_dirty) d`).Scan(&days); err != nil {
		return err
	}
	n := 0
	var err error
	for n < days {
		var k int
		k, err = analytics.RefreshRollups(ctx, w.Pool, 1, false)
		n += k
		if err != nil || k == 0 || time.Since(start) >= budget {
			break
		}
	}
	if n > 0 {
		w.Log.Debug("refreshed rollups", "days", n, "took", time.Since(start))
		w.mu.Lock()
		w.last, w.lastEnded = time.Since(start), time.Now()
		w.mu.Unlock()
	}
	return err
}

// PruneDedupArgs forgets acknowledged request keys past the retry window.
type PruneDedupArgs struct{}

func (PruneDedupArgs) Kind() string { return "prune_dedup" }

// Start builds and starts the River client; see New.
func Start(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) (*river.Client[pgx.Tx], error) {
	client, err := New(pool, log)
	if err != nil {
		return nil, err
	}
	if err := client.Start(ctx); err != nil {
		return nil, err
	}
	return client, nil
}

// New builds the River client with every worker and the periodic schedule.
// It can insert jobs before it is started (ingest enqueues merges in its own
// transactions); Start it to work them, Stop it to end.
func New(pool *pgxpool.Pool, log *slog.Logger) (*river.Client[pgx.Tx], error) {
	workers := river.NewWorkers()
	river.AddWorker(workers, &CloseSessionsWorker{Pool: pool, Log: log})
	river.AddWorker(workers, &MaintenanceWorker{Pool: pool})
	river.AddWorker(workers, &execWorker[PruneDedupArgs]{Pool: pool, SQL: "SELECT op.prune_dedup_v1()"})
	river.AddWorker(workers, &CompressWorker{Pool: pool, Log: log})
	river.AddWorker(workers, &MergeWorker{Pool: pool})
	river.AddWorker(workers, &RefreshRollupsWorker{Pool: pool, Log: log})

	every := func(d time.Duration, args river.JobArgs) *river.PeriodicJob {
		return river.NewPeriodicJob(river.PeriodicInterval(d),
			func() (river.JobArgs, *river.InsertOpts) { return args, nil },
			&river.PeriodicJobOpts{RunOnStart: true, ID: args.Kind()})
	}
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Queues:  map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 4}},
		Workers: workers,
		Logger:  log.With("component", "river"),
		PeriodicJobs: []*river.PeriodicJob{
			every(time.Minute, CloseSessionsArgs{}),
			every(time.Hour, MaintenanceArgs{}),
			every(time.Minute, PruneDedupArgs{}),
			every(time.Hour, CompressArgs{}),
			every(RefreshRollupsEvery, RefreshRollupsArgs{}),
		},
	})
	if err != nil {
		return nil, err
	}
	return client, nil
}
