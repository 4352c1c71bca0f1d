package jobs_test

import (
	"context"
	"io"
	"log/slog"
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
