package ingest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"tally/app/apptest"
	"tally/jobs"
)

func identify(t *testing.T, env *apptest.Env, h map[string]string, payload map[string]any) apptest.Response {
	t.Helper()
	return env.Track(t, map[string]any{"type": "identify", "payload": payload}, h)
}

// waitMerged waits until no event or session of the project still names
// one of the old ids (the merge job runs in the server's River).
func waitMerged(t *testing.T, env *apptest.Env, old ...string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var left int
		err := env.Pool.QueryRow(context.Background(), `
			SELECT (SELECT count(*) FROM events WHERE project_id = $1 AND profile_id = ANY($2))
			     + (SELECT count(*) FROM sessions WHERE project_id = $1 AND profile_id = ANY($2))`,
			env.Project.ProjectID, old).Scan(&left)
		if err != nil {
			t.Fatal(err)
		}
		if left == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d events/sessions still carry %v", left, old)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func profileCount(t *testing.T, env *apptest.Env) (users int) {
	t.Helper()
	if err := env.Pool.QueryRow(context.Background(),
		`SELECT count(DISTINCT profile_id) FROM events WHERE project_id = $1 AND name = 'screen_view'`, env.Project.ProjectID).Scan(&users); err != nil {
		t.Fatal(err)
	}
	return users
}

func TestIdentifyMergesAnonymousHistoryAndLaterEvents(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t)
	ctx := context.Background()
	h := env.BrowserHeaders("81.2.80.1")
	var anon answer
	env.Track(t, screenView("https://example.com/", "", ""), h).JSON(t, &anon)
	env.Track(t, screenView("https://example.com/pricing", "", ""), h)

	res := identify(t, env, h, map[string]any{"profileId": "user-1", "firstName": "Ada", "email": "ada@example.com",
		"properties": map[string]any{"plan": "pro"}})
	if res.Status != 200 {
		t.Fatalf("identify: %d %s", res.Status, res.Body)
	}
	// Later anonymous events of the device belong to the user at once.
	env.Track(t, screenView("https://example.com/docs", "", ""), h)
	waitMerged(t, env, anon.DeviceID)
	if n := profileCount(t, env); n != 1 {
		t.Fatalf("%d distinct profiles on screen views, want 1", n)
	}
	var owner string
	_ = env.Pool.QueryRow(ctx, `SELECT profile_id FROM sessions WHERE id = $1`, anon.SessionID).Scan(&owner)
	if owner != "user-1" {
		t.Fatalf("session belongs to %q", owner)
	}
	var profiles int
	var email, plan string
	_ = env.Pool.QueryRow(ctx, `SELECT count(*) FROM profiles WHERE project_id = $1`, env.Project.ProjectID).Scan(&profiles)
	_ = env.Pool.QueryRow(ctx, `SELECT email, properties->>'plan' FROM profiles WHERE id = 'user-1'`).Scan(&email, &plan)
	if profiles != 1 || email != "ada@example.com" || plan != "pro" {
		t.Fatalf("profiles=%d email=%q plan=%q: the anonymous profile should have merged into user-1", profiles, email, plan)
	}

	// Another person signing in on the same computer is not merged with Ada.
	identify(t, env, h, map[string]any{"profileId": "user-2", "firstName": "Grace"})
	var users int
	_ = env.Pool.QueryRow(ctx, `SELECT count(*) FROM profiles WHERE id IN ('user-1', 'user-2')`).Scan(&users)
	if users != 2 {
		t.Fatalf("user-1 and user-2 were merged (%d profiles left)", users)
	}
}

func TestAliasMergesChainsAndIsIdempotent(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t)
	ctx := context.Background()
	h := env.ServerHeaders()
	track := func(profile string) {
		r := env.Track(t, map[string]any{"type": "track", "payload": map[string]any{"name": "used", "profileId": profile}}, h)
		if r.Status != 200 {
			t.Fatalf("track: %d %s", r.Status, r.Body)
		}
	}
	alias := func(profile, alias string) int {
		return env.Track(t, map[string]any{"type": "alias", "payload": map[string]any{"profileId": profile, "alias": alias}}, h).Status
	}
	identify(t, env, h, map[string]any{"profileId": "old", "firstName": "Old", "email": "old@example.com",
		"properties": map[string]any{"plan": "free", "since": 2019}})
	identify(t, env, h, map[string]any{"profileId": "new", "firstName": "New",
		"properties": map[string]any{"plan": "pro"}})
	track("old")
	track("new")
	track("c")

	if s := alias("new", "old"); s != 200 { // old is new
		t.Fatalf("alias: %d", s)
	}
	if s := alias("c", "new"); s != 200 { // new is c: old follows
		t.Fatalf("alias: %d", s)
	}
	if s := alias("c", "old"); s != 200 { // twice: nothing changes
		t.Fatalf("repeated alias: %d", s)
	}
	if s := alias("old", "c"); s != 200 { // backwards: already one person, no cycle
		t.Fatalf("backwards alias: %d", s)
	}
	if s := alias("c", "c"); s != 400 {
		t.Fatalf("alias onto itself: %d, want 400", s)
	}
	waitMerged(t, env, "old", "new")
	track("old") // an old id keeps working, as the person it names now
	var distinct int
	_ = env.Pool.QueryRow(ctx, `SELECT count(DISTINCT profile_id) FROM events WHERE name = 'used'`).Scan(&distinct)
	if distinct != 1 {
		t.Fatalf("%d profiles on events, want 1", distinct)
	}
	var name, email, plan string
	var since int
	var n int
	_ = env.Pool.QueryRow(ctx, `SELECT count(*) FROM profiles`).Scan(&n)
	err := env.Pool.QueryRow(ctx, `SELECT first_name, email, properties->>'plan', (properties->>'since')::int FROM profiles WHERE id = 'c'`).Scan(&name, &email, &plan, &since)
	if err != nil {
		t.Fatal(err)
	}
	// c had no name: it takes new's (the identified values of the profile merged
	// into keep losing to the target's only where the target has one).
	if n != 1 || name != "New" || email != "old@example.com" || plan != "pro" || since != 2019 {
		t.Fatalf("profiles=%d name=%q email=%q plan=%q since=%d", n, name, email, plan, since)
	}
	var identities int
	_ = env.Pool.QueryRow(ctx, `SELECT count(*) FROM profile_identities WHERE profile_id = 'c' AND alias_id IN ('old', 'new')`).Scan(&identities)
	if identities != 2 {
		t.Fatalf("identities to c: %d, want 2 (chains collapse)", identities)
	}
}

// The history rewrite is batched and restartable: stopping after one batch
// and running again finishes the job, and running it once more changes nothing.
func TestMergeRewriteResumesAfterInterruption(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t)
	ctx := context.Background()
	h := env.ServerHeaders()
	for i := range 30 {
		env.Track(t, map[string]any{"type": "track", "payload": map[string]any{"name": "e", "profileId": "legacy",
			"properties": map[string]any{"i": i}}}, h)
	}
	var mergeID int64
	if err := env.Pool.QueryRow(ctx, `SELECT op.merge_profiles_v1($1, 'legacy', 'modern')`, env.Project.ProjectID).Scan(&mergeID); err != nil {
		t.Fatal(err)
	}
	var moved int
	if err := env.Pool.QueryRow(ctx, `SELECT op.rewrite_merge_v1($1, 10)`, mergeID).Scan(&moved); err != nil || moved != 10 {
		t.Fatalf("first batch moved %d (%v), want 10", moved, err)
	}
	// "Restart": a new run of the job continues from what is left.
	if err := jobs.RewriteMerge(ctx, env.Pool, mergeID, 7); err != nil {
		t.Fatal(err)
	}
	if err := jobs.RewriteMerge(ctx, env.Pool, mergeID, 7); err != nil {
		t.Fatal(err)
	}
	var modern, total int64
	_ = env.Pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE profile_id = 'modern') FROM events WHERE name = 'e'`).Scan(&modern)
	_ = env.Pool.QueryRow(ctx, `SELECT events_moved FROM profile_merges WHERE id = $1`, mergeID).Scan(&total)
	if modern != 30 || total != 30 {
		t.Fatalf("modern=%d events_moved=%d, want 30", modern, total)
	}
}

// Events of a device racing with its identify all end up with the person.
func TestMergeRacingWithEventsOfTheDevice(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t)
	h := env.BrowserHeaders("81.2.81.1")
	var dev answer
	env.Track(t, screenView("https://example.com/start", "", ""), h).JSON(t, &dev)
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := env.Track(t, screenView(fmt.Sprintf("https://example.com/p/%d", i), "", ""), h)
			if r.Status != 200 {
				t.Errorf("event: %d", r.Status)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if r := identify(t, env, h, map[string]any{"profileId": "racer"}); r.Status != 200 {
			t.Errorf("identify: %d %s", r.Status, r.Body)
		}
	}()
	wg.Wait()
	// The job looks again after the settle time for events that were in
	// flight; run that last pass now instead of waiting.
	var mergeID int64
	if err := env.Pool.QueryRow(context.Background(), `SELECT id FROM profile_merges WHERE from_id = $1`, dev.DeviceID).Scan(&mergeID); err != nil {
		t.Fatal(err)
	}
	if err := jobs.RewriteMerge(context.Background(), env.Pool, mergeID, 0); err != nil {
		t.Fatal(err)
	}
	waitMerged(t, env, dev.DeviceID)
	if n := profileCount(t, env); n != 1 {
		t.Fatalf("%d profiles, want 1", n)
	}
}

func TestIdentifyValidation(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t)
	h := env.ServerHeaders()
	for _, c := range []struct {
		payload map[string]any
		status  int
	}{
		{map[string]any{"profileId": "u", "email": "not-an-email"}, 400},
		{map[string]any{"profileId": "u", "avatar": "javascript:alert(1)"}, 400},
		{map[string]any{"profileId": 12345, "email": "n@example.com"}, 200},
		{map[string]any{"profileId": "u", "properties": map[string]any{"n": 1.5, "b": true, "nil": nil, "arr": []any{1, "x"}, "obj": map[string]any{"deep": map[string]any{"er": 1}}}}, 200},
		{map[string]any{"email": "n@example.com"}, 400},
	} {
		res := identify(t, env, h, c.payload)
		if res.Status != c.status {
			b, _ := json.Marshal(c.payload)
			t.Errorf("identify %s: %d (%s), want %d", b, res.Status, res.Body, c.status)
		}
	}
	var props string
	_ = env.Pool.QueryRow(context.Background(), `SELECT properties::text FROM profiles WHERE id = 'u'`).Scan(&props)
	if props != `{"b": true, "n": 1.5, "arr": [1, "x"], "nil": null, "obj.deep.er": 1}` {
		t.Fatalf("properties %s", props)
	}
	if r := env.Do(t, http.MethodGet, "/healthz/ready", nil, nil); r.Status != 200 {
		t.Fatalf("not ready: %d", r.Status)
	}
}

func TestInlineIdentifyOnAnEvent(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t)
	h := env.BrowserHeaders("81.2.82.1")
	res := env.Track(t, map[string]any{"type": "track", "payload": map[string]any{"name": "signed_up", "properties": map[string]any{
		"plan": "pro", "__identify": map[string]any{"profileId": "inline-1", "email": "in@example.com", "firstName": "In"}}}}, h)
	if res.Status != 200 {
		t.Fatalf("%d %s", res.Status, res.Body)
	}
	var profile, props string
	_ = env.Pool.QueryRow(context.Background(), `SELECT profile_id, properties::text FROM events WHERE name = 'signed_up'`).Scan(&profile, &props)
	var email string
	_ = env.Pool.QueryRow(context.Background(), `SELECT email FROM profiles WHERE id = 'inline-1'`).Scan(&email)
	if profile != "inline-1" || email != "in@example.com" || props != `{"plan": "pro"}` {
		t.Fatalf("event profile %q props %s, profile email %q", profile, props, email)
	}
}

func TestGroups(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t)
	ctx := context.Background()
	h := env.ServerHeaders()
	send := func(typ string, payload map[string]any) {
		t.Helper()
		if r := env.Track(t, map[string]any{"type": typ, "payload": payload}, h); r.Status != 200 {
			t.Fatalf("%s: %d %s", typ, r.Status, r.Body)
		}
	}
	send("group", map[string]any{"id": "acme", "type": "company", "name": "Acme", "properties": map[string]any{"seats": 10}})
	send("group", map[string]any{"id": "acme", "type": "company", "name": "Acme Inc", "properties": map[string]any{"plan": "pro"}})
	send("assign_group", map[string]any{"profileId": "u1", "groupIds": []string{"acme", "beta"}})
	send("assign_group", map[string]any{"profileId": "u1", "groupIds": []string{"acme"}})
	send("track", map[string]any{"name": "report_run", "profileId": "u1", "groups": []string{"acme"}})

	var name, props string
	_ = env.Pool.QueryRow(ctx, `SELECT name, properties::text FROM groups WHERE id = 'acme'`).Scan(&name, &props)
	if name != "Acme Inc" || props != `{"plan": "pro", "seats": 10}` {
		t.Fatalf("group %q %s", name, props)
	}
	var groups, eventGroups []string
	_ = env.Pool.QueryRow(ctx, `SELECT groups FROM profiles WHERE id = 'u1'`).Scan(&groups)
	_ = env.Pool.QueryRow(ctx, `SELECT groups FROM events WHERE name = 'report_run'`).Scan(&eventGroups)
	if fmt.Sprint(groups) != "[acme beta]" || fmt.Sprint(eventGroups) != "[acme]" {
		t.Fatalf("profile groups %v, event groups %v", groups, eventGroups)
	}
	if r := env.Track(t, map[string]any{"type": "group", "payload": map[string]any{"id": "x"}}, h); r.Status != 400 {
		t.Fatalf("group without type and name: %d", r.Status)
	}
}
