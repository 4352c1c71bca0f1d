package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"tally/app/apptest"
)

var hex32 = regexp.MustCompile(`^[0-9a-f]{32}$`)

// sdkAnswer is what the SDK's promises resolve to: the server's answer.
type sdkAnswer struct {
	DeviceID  string `json:"deviceId"`
	SessionID string `json:"sessionId"`
}

// TestNodeSDK runs the published @openpanel/sdk under node against the
// server, with apiUrl at the root and under /api (self-hosted OpenPanel's
// layout), and checks what it stored: events with flattened properties and
// the SDK's headers, the identified profile, and exact counters.
func TestNodeSDK(t *testing.T) {
	t.Parallel()
	node := RequireTool(t, "node", "nodejs")
	npmDir := installSDKs(t)

	for _, tc := range []struct{ name, suffix string }{{"root", ""}, {"api-prefix", "/api"}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := apptest.Start(t)
			out := runNodeScript(t, node, npmDir, "sdk_node.mjs", map[string]string{
				"TALLY_API_URL":       env.URL + tc.suffix,
				"TALLY_CLIENT_ID":     env.Project.ClientID,
				"TALLY_CLIENT_SECRET": env.Project.ClientSecret,
			})
			var res struct {
				Results   map[string]*sdkAnswer `json:"results"`
				ProfileID string                `json:"profileId"`
				DeviceID  string                `json:"deviceId"`
			}
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatalf("script output is not JSON (%v): %s", err, out)
			}
			for _, call := range []string{"purchase", "identify", "increment", "decrement", "incrementDefault", "afterIdentify", "explicitProfile"} {
				a := res.Results[call]
				if a == nil {
					t.Errorf("%s: the SDK resolved to null (request failed or was refused)", call)
					continue
				}
				if !hex32.MatchString(a.DeviceID) {
					t.Errorf("%s: deviceId %q, want 32 hex", call, a.DeviceID)
				}
				// Server-side events open no session (protocol: Identity).
				if a.SessionID != "" {
					t.Errorf("%s: sessionId %q, want none for a server-side caller", call, a.SessionID)
				}
			}
			if t.Failed() {
				t.FailNow()
			}
			if res.ProfileID != "user-1" || res.DeviceID != res.Results["explicitProfile"].DeviceID {
				t.Errorf("SDK state after the run: profileId %q deviceId %q", res.ProfileID, res.DeviceID)
			}

			all := events(t, env.Pool, env.Project.ProjectID)
			byName := map[string]event{}
			for _, e := range all {
				if _, dup := byName[e.Name]; dup {
					t.Errorf("event %s stored twice:\n%s", e.Name, dump(all))
				}
				byName[e.Name] = e
			}
			if len(all) != 3 {
				t.Errorf("%d events stored, want purchase, report_exported and checkout_completed only:\n%s", len(all), dump(all))
			}
			for _, name := range []string{"purchase", "report_exported", "checkout_completed"} {
				e, ok := byName[name]
				if !ok {
					t.Fatalf("no %s event stored:\n%s", name, dump(all))
				}
				if e.SDKName != "node" || e.SDKVersion != "1.3.1" {
					t.Errorf("%s: sdk %q/%q, want node/1.3.1 (the SDK's headers)", name, e.SDKName, e.SDKVersion)
				}
				if e.Device != "server" || e.SessionID != "" {
					t.Errorf("%s: device %q session %q, want a server-side event without session", name, e.Device, e.SessionID)
				}
				if e.DeviceID != res.DeviceID {
					t.Errorf("%s: device_id %q, the SDK was told %q", name, e.DeviceID, res.DeviceID)
				}
				for k := range e.Properties {
					if len(k) > 1 && k[:2] == "__" {
						t.Errorf("%s: magic property %s was stored", name, k)
					}
				}
			}

			p := byName["purchase"]
			for key, want := range map[string]string{
				"amount": `49.9`, "currency": `"EUR"`, "gift": `false`, "tags": `["new","promo"]`,
				"order.id": `"o-1001"`, "order.items.count": `3`, "order.items.sku": `"SKU-7"`,
			} {
				if got := prop(p, key); got != want {
					t.Errorf("purchase property %s = %s, want %s", key, got, want)
				}
			}
			if len(p.Properties) != 7 {
				t.Errorf("purchase properties %v, want exactly the 7 flattened keys", p.Properties)
			}
			if p.ProfileID == "user-1" || p.ProfileID == "user-2" {
				t.Errorf("purchase was sent before identify but has profile %q", p.ProfileID)
			}
			if r := byName["report_exported"]; r.ProfileID != "user-1" || prop(r, "format") != `"csv"` {
				t.Errorf("report_exported (after identify): %v, want profile user-1 and format csv", r)
			}
			if c := byName["checkout_completed"]; c.ProfileID != "user-2" || prop(c, "step") != `3` {
				t.Errorf("checkout_completed: %v, want profile user-2 and step 3", c)
			}
			if _, ok := byName["checkout_completed"].Properties["profileId"]; ok {
				t.Errorf("profileId was stored as a property")
			}

			// The profile, as identify() and the counters left it.
			var first, last, email, city, plan, credits, logins string
			err := env.Pool.QueryRow(context.Background(), `
				SELECT coalesce(first_name, ''), coalesce(last_name, ''), coalesce(email, ''),
				       coalesce(properties->>'address.city', '<absent>'), coalesce(properties->>'plan', '<absent>'),
				       coalesce((properties->'credits')::text, '<absent>'), coalesce((properties->'logins')::text, '<absent>')
				FROM profiles WHERE project_id = $1 AND id = 'user-1'`, env.Project.ProjectID).
				Scan(&first, &last, &email, &city, &plan, &credits, &logins)
			if err != nil {
				t.Fatalf("profile user-1: %v", err)
			}
			if first != "Ada" || last != "Lovelace" || email != "ada@example.com" {
				t.Errorf("profile names/email: %q %q %q, want Ada Lovelace ada@example.com", first, last, email)
			}
			if plan != "pro" || city != "London" {
				t.Errorf("profile properties: plan=%q address.city=%q, want pro and London (flattened)", plan, city)
			}
			// +10 then -3 is exactly 7; increment without value adds 1.
			if credits != "7" || logins != "1" {
				t.Errorf("profile counters: credits=%s logins=%s, want exactly 7 and 1", credits, logins)
			}
		})
	}
}

// runNodeScript runs testdata/<script> with node in a directory whose
// node_modules is the npm install, so that its bare imports resolve to the
// pinned packages, and returns its stdout.
func runNodeScript(t *testing.T, node, npmDir, script string, env map[string]string) []byte {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", script))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Symlink(filepath.Join(npmDir, "node_modules"), filepath.Join(dir, "node_modules")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, script)
	if err := os.WriteFile(path, src, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, path)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NODE_NO_WARNINGS=1") // stderr is then the SDK's errors only
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err = cmd.Run()
	t.Logf("node %s: %s", script, time.Since(start).Round(time.Millisecond))
	if stderr.Len() > 0 {
		// The SDK logs its failures ("Max retries reached") here.
		t.Errorf("node %s wrote to stderr:\n%s", script, stderr.Bytes())
	}
	if err != nil {
		t.Fatalf("node %s: %v\nstdout:\n%s", script, err, stdout.Bytes())
	}
	return stdout.Bytes()
}
