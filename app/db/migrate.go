package db

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"tally/migrations"
	sqlfuncs "tally/sql"
)

// migrateLock serializes schema changes between processes starting at once.
const migrateLock = int64(0x7461_6c6c_795f_6d67) // "tally_mg"

// Migrate applies the schema migrations, River's migrations and the SQL
// functions, all while holding one advisory lock. It reports whether events
// is a TimescaleDB hypertable. useTimescale=false never enables TimescaleDB.
func Migrate(ctx context.Context, pool *pgxpool.Pool, useTimescale bool, log *slog.Logger) (timescale bool, err error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrateLock); err != nil {
		return false, fmt.Errorf("take the migration lock: %w", err)
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrateLock)
	}()

	// TimescaleDB decides the shape of events once, at the first migration;
	// later starts follow what the database already is.
	var hasVersionTable, isHyper bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass('public.schema_version') IS NOT NULL`).Scan(&hasVersionTable); err != nil {
		return false, err
	}
	if hasVersionTable {
		err = conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')
			AND to_regclass('public.events') IS NOT NULL
			AND NOT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = 'public.events'::regclass)`).Scan(&isHyper)
		if err != nil {
			return false, err
		}
		timescale = isHyper
	} else if useTimescale {
		var available bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')`).Scan(&available); err != nil {
			return false, err
		}
		if available {
			if _, err := conn.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS timescaledb"); err != nil {
				log.Warn("TimescaleDB is installed but cannot be enabled (is it in shared_preload_libraries?); using native partitions", "err", err)
			} else {
				timescale = true
			}
		}
	}

	m, err := migrate.NewMigrator(ctx, conn.Conn(), "public.schema_version")
	if err != nil {
		return false, err
	}
	// Data before LoadMigrations: tern renders the templates as it loads them.
	m.Data = map[string]any{"timescale": timescale}
	if err := m.LoadMigrations(migrations.FS); err != nil {
		return false, err
	}
	m.OnStart = func(seq int32, name, _, _ string) { log.Info("applying migration", "seq", seq, "name", name) }
	if err := m.Migrate(ctx); err != nil {
		return false, fmt.Errorf("schema migration: %w", err)
	}

	rm, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		return false, err
	}
	if _, err := rm.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return false, fmt.Errorf("river migration: %w", err)
	}

	pkg, err := migrate.LoadCodePackage(sqlfuncs.FS)
	if err != nil {
		return false, err
	}
	if err := migrate.InstallCodePackage(ctx, conn.Conn(), map[string]any{"timescale": timescale}, pkg); err != nil {
		return false, fmt.Errorf("install SQL functions: %w", err)
	}
	return timescale, nil
}
