package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5/pgxpool"

	"tally/app/apptest"
)

// installSDKs installs both published SDKs once (@openpanel/web depends on
// @openpanel/sdk at the same version, so one tree serves both tests).
func installSDKs(t testing.TB) string {
	t.Helper()
	return NPMInstall(t, SDKPackage, WebPackage)
}

// event is a stored event as the tests look at it.
type event struct {
	Name, DeviceID, ProfileID, SessionID         string
	Path, Origin, Query, Referrer, ReferrerName  string
	ReferrerType, UTMSource, Browser, OS, Device string
	SDKName, SDKVersion                          string
	Properties                                   map[string]any
}

func (e event) String() string {
	props, _ := json.Marshal(e.Properties)
	return fmt.Sprintf("%s path=%q origin=%q referrer=%q profile=%q session=%q sdk=%s/%s device=%s props=%s",
		e.Name, e.Path, e.Origin, e.Referrer, e.ProfileID, e.SessionID, e.SDKName, e.SDKVersion, e.Device, props)
}

// events returns a project's events in the order they were stored.
func events(t testing.TB, pool *pgxpool.Pool, projectID string) []event {
	t.Helper()
	rows, err := pool.Query(context.Background(), `
		SELECT name, device_id, coalesce(profile_id, ''), coalesce(session_id::text, ''),
		       coalesce(path, ''), coalesce(origin, ''), coalesce(query, ''), coalesce(referrer, ''),
		       coalesce(referrer_name, ''), coalesce(referrer_type, ''), coalesce(utm_source, ''),
		       coalesce(browser, ''), coalesce(os, ''), coalesce(device, ''),
		       coalesce(sdk_name, ''), coalesce(sdk_version, ''), properties
		FROM events WHERE project_id = $1 ORDER BY created_at, received_at, id`, projectID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []event
	for rows.Next() {
		var e event
		if err := rows.Scan(&e.Name, &e.DeviceID, &e.ProfileID, &e.SessionID, &e.Path, &e.Origin, &e.Query,
			&e.Referrer, &e.ReferrerName, &e.ReferrerType, &e.UTMSource, &e.Browser, &e.OS, &e.Device,
			&e.SDKName, &e.SDKVersion, &e.Properties); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// eventWait bounds how long a test waits for an event to be stored: about
// 10 s, with room for a loaded CI machine.
const eventWait = 15 * time.Second

// waitEvent polls until an event matching ok is stored, and returns it.
func waitEvent(t testing.TB, pool *pgxpool.Pool, projectID, what string, ok func(event) bool) event {
	t.Helper()
	deadline := time.Now().Add(eventWait)
	for {
		all := events(t, pool, projectID)
		for _, e := range all {
			if ok(e) {
				return e
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s stored within %s; the project's events:\n%s", what, eventWait, dump(all))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func dump(all []event) string {
	s := ""
	for _, e := range all {
		s += "  " + e.String() + "\n"
	}
	if s == "" {
		s = "  (none)\n"
	}
	return s
}

// prop returns a property as its JSON text, so that numbers compare exactly.
func prop(e event, key string) string {
	v, ok := e.Properties[key]
	if !ok {
		return "<absent>"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// outputDir is where tests leave files for a human to look at (gitignored).
func outputDir(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs("output")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// check reports the problems a check found, in a subtest named id.
func check(t *testing.T, id string, problems []string) {
	t.Helper()
	t.Run(id, func(t *testing.T) {
		t.Helper()
		if len(problems) > 0 {
			t.Error(strings.Join(problems, "\n"))
		}
	})
}

// setCookies gives the browser the cookies of a logged-in client, so a
// browser test starts logged in without typing a password.
func setCookies(t *testing.T, browser context.Context, env *apptest.Env, c *apptest.Client) {
	t.Helper()
	base, _ := url.Parse(env.URL)
	var cookies []*network.CookieParam
	for _, ck := range c.HTTP.Jar.Cookies(base) {
		cookies = append(cookies, &network.CookieParam{Name: ck.Name, Value: ck.Value, URL: env.URL})
	}
	if _, err := chromedp.Run(browser, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, network.SetCookies, network.SetCookiesParams{Cookies: cookies})
		return err
	})); err != nil {
		t.Fatal(err)
	}
}
