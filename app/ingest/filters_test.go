package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"tally/app"
	"tally/app/apptest"
	"tally/app/projects"
)

func TestTrafficFiltersAreAnsweredButNeverStored(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t)
	ctx := context.Background()

	// The command-line way, as a user would.
	var out, errOut bytes.Buffer
	code := app.Main(ctx, []string{"project", "filter", "add", "--id", env.Project.ProjectID, "--ip", "81.2.95.0/24",
		"--database-url", env.Config.DatabaseURL}, nil, &out, &errOut)
	if code != 0 {
		t.Fatalf("filter add: %d %s", code, errOut.String())
	}
	var added projects.Filter
	if err := json.Unmarshal(out.Bytes(), &added); err != nil || added.Kind != "ip" || added.Value != "81.2.95.0/24" {
		t.Fatalf("filter add printed %q (%v)", out.String(), err)
	}
	store := projects.NewStore(env.Pool)
	for _, f := range []projects.Filter{
		{Kind: "profile", Value: "qa-bot"},
		{Kind: "event", Value: "debug_*"},
		{Kind: "event", Field: "path", Op: "starts_with", Value: "/admin"},
		{Kind: "event", Field: "properties.env", Op: "is", Value: "staging"},
	} {
		if _, err := store.AddFilter(ctx, env.Project.ProjectID, f); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := store.AddFilter(ctx, env.Project.ProjectID, projects.Filter{Kind: "event", Field: "password", Value: "x"}); err == nil {
		t.Fatal("a filter on an unknown field was accepted")
	}

	event := func(name string, props map[string]any, profile string) map[string]any {
		p := map[string]any{"name": name, "properties": props}
		if profile != "" {
			p["profileId"] = profile
		}
		return map[string]any{"type": "track", "payload": p}
	}
	cases := []struct {
		name   string
		ip     string
		body   map[string]any
		stored bool
	}{
		{"office ip", "81.2.95.9", event("kept_name", nil, ""), false},
		{"test account", "81.2.90.1", event("kept_name", nil, "qa-bot"), false},
		{"event name glob", "81.2.90.2", event("debug_render", nil, ""), false},
		{"path prefix", "81.2.90.3", event("screen_view", map[string]any{"__path": "https://example.com/admin/users"}, ""), false},
		{"property", "81.2.90.4", event("signup", map[string]any{"env": "staging"}, ""), false},
		{"ordinary", "81.2.90.5", event("signup", map[string]any{"env": "prod"}, "real-user"), true},
		{"other path", "81.2.90.6", event("screen_view", map[string]any{"__path": "https://example.com/pricing"}, ""), true},
	}
	for _, c := range cases {
		res := env.Track(t, c.body, env.BrowserHeaders(c.ip))
		var a answer
		res.JSON(t, &a)
		if res.Status != 200 || a.DeviceID == "" {
			t.Errorf("%s: answered %d %s, want 200 with a device id", c.name, res.Status, res.Body)
		}
	}
	rows, err := env.Pool.Query(ctx, `SELECT name || coalesce(' ' || path, '') FROM events WHERE name NOT IN ('session_start') ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var s string
		_ = rows.Scan(&s)
		got = append(got, s)
	}
	if strings.Join(got, ",") != "screen_view /pricing,signup" {
		t.Fatalf("stored %v, want only the two unfiltered events", got)
	}
	// Identify from a filtered profile is ignored too.
	env.Track(t, map[string]any{"type": "identify", "payload": map[string]any{"profileId": "qa-bot", "firstName": "QA"}}, env.ServerHeaders())
	var n int
	_ = env.Pool.QueryRow(ctx, `SELECT count(*) FROM profiles WHERE id = 'qa-bot'`).Scan(&n)
	if n != 0 {
		t.Fatal("a filtered profile was stored")
	}
}
