// Package db owns the connection to PostgreSQL: it starts the embedded
// cluster when no DATABASE_URL is given, opens the pool, and applies the
// schema (tern migrations, the SQL functions in sql/, River's tables) under
// one advisory lock.
package db

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"tally/app/pgserver"
)

// DB is the open database and, when embedded, the cluster behind it.
type DB struct {
	Pool      *pgxpool.Pool
	URL       string // connection string (password included: never log it, use Redacted)
	Timescale bool   // events is a TimescaleDB hypertable
	Embedded  *pgserver.Server
	log       *slog.Logger
}

// Options select the database.
type Options struct {
	URL       string // external PostgreSQL; empty: embedded cluster in DataDir/postgres
	DataDir   string
	Timescale string // "auto" or "off"
	MaxConns  int32
	Logger    *slog.Logger
	// Settings for an embedded cluster (tests turn fsync off).
	ServerSettings map[string]string
}

// EmbeddedDatabase is the database name inside the embedded cluster.
const EmbeddedDatabase = "tally"

// Open connects (starting the embedded cluster if needed) and migrates.
func Open(ctx context.Context, o Options) (*DB, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &DB{URL: o.URL, log: log}
	if d.URL == "" {
		mem := memoryMB()
		settings := map[string]string{
			"max_connections":      "100",
			"shared_buffers":       fmt.Sprintf("%dMB", sharedBuffersMB(mem)),
			"effective_cache_size": fmt.Sprintf("%dMB", max(512, mem/2)),
			"jit":                  "off",
			// A query over a year of TimescaleDB's day chunks locks about
			// 2,000 relations (chunks, their compressed tables, indexes);
			// the lock table is shared: 512 × 100 slots (about 20 MB).
			"max_locks_per_transaction": "512",
		}
		for k, v := range o.ServerSettings {
			settings[k] = v
		}
		srv, err := pgserver.Start(ctx, pgserver.Options{
			Dir: filepath.Join(o.DataDir, "postgres"), Settings: settings, Logger: log,
		})
		if err != nil {
			return nil, err
		}
		d.Embedded = srv
		if err := CreateDatabase(ctx, srv.ConnString("postgres"), EmbeddedDatabase, ""); err != nil {
			_ = srv.Stop()
			return nil, err
		}
		d.URL = srv.ConnString(EmbeddedDatabase)
	}
	pool, err := NewPool(ctx, d.URL, o.MaxConns)
	if err != nil {
		d.Close()
		return nil, err
	}
	d.Pool = pool
	ts, err := Migrate(ctx, pool, o.Timescale != "off", log)
	if err != nil {
		d.Close()
		return nil, err
	}
	d.Timescale = ts
	return d, nil
}

// NewPool opens a pool with the session settings analytics needs.
func NewPool(ctx context.Context, url string, maxConns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("invalid database URL: %w", err)
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	} else if cfg.MaxConns < 16 {
		cfg.MaxConns = 16
	}
	// A dead database must fail requests quickly (ingest answers 503), not hang them.
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > 5*time.Second {
		cfg.ConnConfig.ConnectTimeout = 3 * time.Second
	}
	// Connections are renewed every few minutes so that the plans the SQL
	// functions cache per connection (made while tables were small, on a
	// fresh install) follow the data as it grows.
	cfg.MaxConnLifetime = 10 * time.Minute
	cfg.MaxConnLifetimeJitter = time.Minute
	// JIT compilation costs seconds on analytics queries and buys nothing here.
	cfg.ConnConfig.RuntimeParams["jit"] = "off"
	cfg.ConnConfig.RuntimeParams["application_name"] = "tally"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	return pool, nil
}

// CreateDatabase creates database name (from template, if given) unless it exists.
func CreateDatabase(ctx context.Context, adminURL, name, template string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	sql := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if template != "" {
		sql += " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	}
	_, err = conn.Exec(ctx, sql)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // created concurrently
		return nil
	}
	return err
}

// Close closes the pool and stops the embedded cluster.
func (d *DB) Close() {
	if d.Pool != nil {
		d.Pool.Close()
	}
	if d.Embedded != nil {
		if err := d.Embedded.Stop(); err != nil {
			d.log.Error("stopping embedded PostgreSQL", "err", err)
		}
	}
}

// Describe says which database this is, password redacted, for the start-up log.
func (d *DB) Describe() string {
	if d.Embedded != nil {
		return "embedded PostgreSQL at " + d.Embedded.SocketDir()
	}
	return redact(d.URL)
}

func redact(url string) string {
	cfg, err := pgconn.ParseConfig(url)
	if err != nil {
		return "(unparseable URL)"
	}
	return fmt.Sprintf("postgres://%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database)
}

// sharedBuffersMB sizes the embedded cluster's cache: a quarter of the
// machine's memory (PostgreSQL's own advice), at least 128 MB and at most
// 8 GB. Filtered overviews probe a month of sessions at random; from the
// operating system's cache instead, each probe copies a page.
func sharedBuffersMB(memMB int) int {
	return min(max(memMB/4, 128), 8192)
}

// memoryMB is the memory PostgreSQL may use: the machine's (Linux), or
// the container's limit when lower (cgroup v2 or v1), or 1 GB when
// unknown.
func memoryMB() int {
	mem := memTotalMB()
	for _, f := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		if b, err := os.ReadFile(f); err == nil {
			if limit, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && limit > 0 {
				mem = min(mem, int(limit>>20))
			}
		}
	}
	return mem
}

// memTotalMB is the machine's memory (Linux), or 1 GB when unknown.
func memTotalMB() int {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 1024
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			var kb int
			if _, err := fmt.Sscan(rest, &kb); err == nil && kb > 0 {
				return kb / 1024
			}
		}
	}
	return 1024
}
