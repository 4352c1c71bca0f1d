package app_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"tally/app"
	"tally/app/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func TestPsqlAndProjectCommands(t *testing.T) {
	url := dbtest.NewDB(t)
	ctx := context.Background()
	var out, errOut bytes.Buffer
	if code := app.Main(ctx, []string{"project", "create", "--name", "Cmd Site", "--domain", "cmd.example", "--database-url", url}, nil, &out, &errOut); code != 0 {
		t.Fatalf("project create: %d %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), `"clientSecret":"sec_`) {
		t.Fatalf("project create printed %q", out.String())
	}
	out.Reset()
	// Both flag forms, then psql's own arguments.
	code := app.Main(ctx, []string{"psql", "--database-url", url, "-At", "-c", "select name from projects"}, nil, &out, &errOut)
	if code != 0 || strings.TrimSpace(out.String()) != "Cmd Site" {
		t.Fatalf("psql: %d %q %s", code, out.String(), errOut.String())
	}
	out.Reset()
	code = app.Main(ctx, []string{"psql", "--database-url=" + url, "--", "-At", "-c", "select count(*) from clients"}, nil, &out, &errOut)
	if code != 0 || strings.TrimSpace(out.String()) != "1" {
		t.Fatalf("psql with --: %d %q %s", code, out.String(), errOut.String())
	}
	if code := app.Main(ctx, []string{"nonsense"}, nil, &out, &errOut); code != 2 {
		t.Fatalf("unknown command exited %d", code)
	}
}
