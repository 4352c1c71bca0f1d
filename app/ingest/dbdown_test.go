package ingest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"tally/app/apptest"
	"tally/app/db"
	"tally/app/pgserver"
)

// A database restart: while it is down ingest answers 503 quickly (the SDK
// retries), never hangs; afterwards ingest recovers by itself, and every
// event that was acknowledged is stored.
func TestDatabaseRestartAnswers503AndRecovers(t *testing.T) {
	t.Parallel()
	dir, err := os.MkdirTemp("", "tally-dbdown-")
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(dir, 0o755)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	ctx := context.Background()
	// Durable commits here (unlike other test clusters): the test crashes
	// the server and counts what survived.
	settings := map[string]string{"synchronous_commit": "on", "fsync": "off"}
	opts := pgserver.Options{Dir: filepath.Join(dir, "pg"), Settings: settings}
	pg, err := pgserver.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pg.Stop() })
	if err := db.CreateDatabase(ctx, pg.ConnString("postgres"), "tally", ""); err != nil {
		t.Fatal(err)
	}
	env := apptest.StartOn(t, pg.ConnString("tally"), true)

	send := func(i int) (int, time.Duration) {
		body, _ := json.Marshal(map[string]any{"type": "track", "payload": map[string]any{"name": "tick", "properties": map[string]any{"i": i}}})
		start := time.Now()
		status, err := postJSON(env, body)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		return status, time.Since(start)
	}
	acked := 0
	for i := range 10 {
		if status, _ := send(i); status == http.StatusOK {
			acked++
		}
	}

	pg.Kill() // a crash, not a clean shutdown
	for i := 10; i < 15; i++ {
		status, took := send(i)
		if status != http.StatusServiceUnavailable {
			t.Fatalf("with the database down: status %d, want 503", status)
		}
		if took > 5*time.Second {
			t.Fatalf("with the database down the answer took %v", took)
		}
	}
	res := env.Do(t, http.MethodGet, "/healthz/ready", nil, nil)
	if res.Status != http.StatusServiceUnavailable {
		t.Fatalf("ready while the database is down: %d", res.Status)
	}

	pg2, err := pgserver.Start(ctx, opts) // recovers from the crash and the stale postmaster.pid
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pg2.Stop() })
	deadline := time.Now().Add(15 * time.Second)
	i := 100
	for {
		status, _ := send(i)
		i++
		if status == http.StatusOK {
			acked++
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ingest did not recover after the database came back (last status %d)", status)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for j := range 10 {
		if status, _ := send(1000 + j); status == http.StatusOK {
			acked++
		}
	}
	var stored int
	if err := env.Pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE name = 'tick'`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != acked {
		t.Fatalf("acknowledged %d, stored %d", acked, stored)
	}
}
