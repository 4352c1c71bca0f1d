// Package dbtest gives tests real PostgreSQL: one throwaway cluster per test
// binary, started on first use, and a fresh, migrated database per test,
// cloned from a template database so it costs milliseconds.
//
// Every test package that uses it has a TestMain calling dbtest.Main, which
// stops the cluster when the tests end.
//
// TALLY_TEST_TIMESCALE=1 makes the template use TimescaleDB (and fails if it
// is not available); the default follows availability ("auto").
package dbtest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"tally/app/db"
	"tally/app/pgserver"
)

var (
	once      sync.Once
	server    *pgserver.Server
	tmpDir    string
	startErr  error
	timescale bool
	counter   atomic.Int64
)

const templateDB = "tally_template"

// Main runs the tests and stops the cluster afterwards.
func Main(m *testing.M) {
	code := m.Run()
	if server != nil {
		_ = server.Stop()
	}
	if tmpDir != "" {
		_ = os.RemoveAll(tmpDir)
	}
	os.Exit(code)
}

// TestSettings are the server settings of test clusters: durability traded
// for speed, which no test of ours depends on.
var TestSettings = map[string]string{
	"fsync":                     "off",
	"synchronous_commit":        "off",
	"full_page_writes":          "off",
	"max_connections":           "300",
	"shared_buffers":            "128MB",
	"max_locks_per_transaction": "256",
	"jit":                       "off",
}

func start() {
	dir, err := os.MkdirTemp("", "tally-test-pg-")
	if err != nil {
		startErr = err
		return
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		startErr = err
		return
	}
	tmpDir = dir
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	server, startErr = pgserver.Start(ctx, pgserver.Options{Dir: filepath.Join(dir, "pg"), Settings: TestSettings})
	if startErr != nil {
		return
	}
	if startErr = db.CreateDatabase(ctx, server.ConnString("postgres"), templateDB, ""); startErr != nil {
		return
	}
	pool, err := db.NewPool(ctx, server.ConnString(templateDB), 4)
	if err != nil {
		startErr = err
		return
	}
	defer pool.Close()
	want := os.Getenv("TALLY_TEST_TIMESCALE")
	timescale, startErr = db.Migrate(ctx, pool, want != "0", slog.New(slog.DiscardHandler))
	if startErr == nil && want == "1" && !timescale {
		startErr = fmt.Errorf("TALLY_TEST_TIMESCALE=1 but TimescaleDB is not available")
	}
	if startErr != nil {
		return
	}
	pool.Close()
	// CREATE DATABASE ... TEMPLATE needs the template to have no sessions;
	// TimescaleDB's background scheduler would otherwise keep connecting to it.
	admin, err := db.NewPool(ctx, server.ConnString("postgres"), 1)
	if err != nil {
		startErr = err
		return
	}
	defer admin.Close()
	for _, q := range []string{
		"ALTER DATABASE " + templateDB + " WITH ALLOW_CONNECTIONS false IS_TEMPLATE true",
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" + templateDB + "' AND pid <> pg_backend_pid()",
	} {
		if _, err := admin.Exec(ctx, q); err != nil {
			startErr = err
			return
		}
	}
}

// Server returns the test binary's cluster, starting it on first use.
func Server(t testing.TB) *pgserver.Server {
	t.Helper()
	once.Do(start)
	if startErr != nil {
		t.Fatalf("test PostgreSQL: %v", startErr)
	}
	return server
}

// Timescale reports whether the test databases use TimescaleDB.
func Timescale(t testing.TB) bool {
	Server(t)
	return timescale
}

// NewDB creates a fresh migrated database for t, dropped when t ends, and
// returns its connection string.
func NewDB(t testing.TB) string {
	t.Helper()
	srv := Server(t)
	name := fmt.Sprintf("t_%d_%d", os.Getpid(), counter.Add(1))
	ctx := context.Background()
	if err := db.CreateDatabase(ctx, srv.ConnString("postgres"), name, templateDB); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		pool, err := db.NewPool(ctx, srv.ConnString("postgres"), 1)
		if err != nil {
			return
		}
		defer pool.Close()
		_, _ = pool.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	return srv.ConnString(name)
}

// NewPool is NewDB plus an open pool, closed when t ends.
func NewPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	url := NewDB(t)
	pool, err := db.NewPool(context.Background(), url, 8)
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// NewPoolFor opens a pool on an existing test database, closed when t ends.
func NewPoolFor(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := db.NewPool(context.Background(), url, 4)
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}
