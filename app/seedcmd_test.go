package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"tally/app"
	"tally/app/dbtest"
)

// TestSeedCommand runs `tally seed` end to end on a project `project
// create` made.
func TestSeedCommand(t *testing.T) {
	t.Parallel()
	url := dbtest.NewDB(t)
	ctx := context.Background()
	var out, errOut bytes.Buffer
	if code := app.Main(ctx, []string{"project", "create", "--name", "Seed Site", "--database-url", url}, nil, &out, &errOut); code != 0 {
		t.Fatalf("project create: %d %s", code, errOut.String())
	}
	var created struct{ ProjectID string }
	if err := json.Unmarshal(out.Bytes(), &created); err != nil || created.ProjectID == "" {
		t.Fatalf("project create printed %q", out.String())
	}
	out.Reset()
	code := app.Main(ctx, []string{"seed", "--project", created.ProjectID, "--events", "20000", "--days", "14", "--seed", "3", "--database-url", url}, nil, &out, &errOut)
	if code != 0 {
		t.Fatalf("seed: %d %s", code, errOut.String())
	}
	var res struct {
		Events, Sessions int64
		Seconds          float64
		EventsPerSec     float64 `json:"events_per_sec"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || res.Events != 20000 || res.Sessions == 0 || res.EventsPerSec <= 0 {
		t.Fatalf("seed printed %q (%v)", out.String(), err)
	}
	pool := dbtest.NewPoolFor(t, url)
	var events, sessions, dirty int64
	err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM events WHERE project_id = $1), (SELECT count(*) FROM sessions WHERE project_id = $1),
	                                  (SELECT count(*) FROM rollup_dirty WHERE project_id = $1)`, created.ProjectID).Scan(&events, &sessions, &dirty)
	if err != nil || events != 20000 || sessions != res.Sessions || dirty != 0 {
		t.Fatalf("stored %d events, %d sessions, %d dirty days (%v); printed %+v", events, sessions, dirty, err, res)
	}
	// Errors are clear.
	errOut.Reset()
	if code := app.Main(ctx, []string{"seed", "--project", "nope", "--database-url", url}, nil, &out, &errOut); code != 1 || !bytes.Contains(errOut.Bytes(), []byte("no project")) {
		t.Fatalf("seed of a missing project: %d %s", code, errOut.String())
	}
	if code := app.Main(ctx, []string{"seed", "--database-url", url}, nil, &out, &errOut); code != 1 || !bytes.Contains(errOut.Bytes(), []byte("--project is required")) {
		t.Fatalf("seed without a project: %d %s", code, errOut.String())
	}
}
