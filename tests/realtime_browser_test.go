package tests

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"tally/app/apptest"
	"tally/app/dbtest"
)

// TestRealtimeFeedInTheBrowser opens the Realtime page in Chromium, sends
// events through the ingest API while it is open, and sees them in the
// live feed, the counter, the top lists and on the map without a reload,
// each within 2 seconds; events whose names and paths are markup show as
// text and run nothing.
func TestRealtimeFeedInTheBrowser(t *testing.T) {
	t.Parallel()
	chromium := RequireTool(t, "chromium", "/usr/bin/chromium")
	env := apptest.StartOn(t, dbtest.NewDB(t), false)
	owner, next := env.Onboard(t, "owner@realtime.test", "realtime test password")
	project := strings.Split(next, "/")[2]
	var clientID string
	if err := env.Pool.QueryRow(context.Background(), `SELECT id::text FROM clients WHERE project_id = $1`, project).Scan(&clientID); err != nil {
		t.Fatal(err)
	}
	track := func(ip, name, path string) {
		t.Helper()
		res := env.Track(t, map[string]any{"type": "track", "payload": map[string]any{
			"name": name, "properties": map[string]any{"__path": "https://acme.com" + path, "__referrer": "https://www.google.com/"},
		}}, map[string]string{
			"Content-Type": "application/json", "openpanel-client-id": clientID, "openpanel-sdk-name": "web", "openpanel-sdk-version": "1.4.1",
			"Origin": "https://acme.com", "User-Agent": apptest.BrowserUA, "X-Forwarded-For": ip,
		})
		if res.Status != http.StatusOK {
			t.Fatalf("track %s: %d %s", name, res.Status, res.Body)
		}
	}

	browser := startBrowser(t, chromium)
	setCookies(t, browser, env, owner)
	eval := func(js string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(browser, 30*time.Second)
		defer cancel()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("evaluate %s: %v", js, err)
		}
		return s
	}
	// waitFor polls js until it is true, and returns how long that took.
	waitFor := func(what, js string, within time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		for eval("String("+js+")") != "true" {
			if time.Since(start) > within {
				t.Fatalf("%s: not within %s (%s)", what, within, js)
			}
			time.Sleep(25 * time.Millisecond)
		}
		return time.Since(start)
	}
	screenshot := func(name string) {
		t.Helper()
		buf, err := chromedp.Run(browser, chromedp.FullScreenshot(100))
		if err == nil {
			err = os.WriteFile(filepath.Join(outputDir(t), name), buf, 0o644)
		}
		if err != nil {
			t.Error(err)
		}
	}

	// Reach the page as people do: through the navigation, which HTMX
	// fetches and swaps in (the stream and the map start from a swap too).
	ctx, cancel := context.WithTimeout(browser, 30*time.Second)
	if err := chromedp.Do(ctx, chromedp.Navigate(env.URL+"/p/"+project+"/tracking"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="tracking-snippet"]`))); err != nil {
		t.Fatalf("open the tracking page: %v", err)
	}
	eval(`window.__kept = "yes"; "ok"`)
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`nav[aria-label="Project"] a[href="/p/`+project+`/realtime"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="rt-feed-empty"]`))); err != nil {
		t.Fatalf("open the realtime page: %v", err)
	}
	cancel()
	if got := eval(`location.pathname`); got != "/p/"+project+"/realtime" {
		t.Errorf("address after navigating: %s", got)
	}
	feedHas := func(text string) string {
		return `document.querySelector('[data-testid="rt-feed"]').innerText.includes(` + jsQuote(text) + `)`
	}
	// The stream connects after the page loads: the first event proves it
	// is up; from then on each event is timed.
	track("81.2.69.60", "screen_view", "/pricing")
	waitFor("the first event in the feed", feedHas("/pricing"), 10*time.Second)

	start := time.Now()
	track("81.2.69.61", "signup_clicked", "/signup")
	waitFor("the counter", `document.querySelector('[data-testid="rt-visitors"]').textContent.trim() === "2"`, 2*time.Second)
	waitFor("a new event in the feed", feedHas("signup_clicked"), 2*time.Second)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the event took %s to show", d)
	} else {
		t.Logf("ingest to browser: %s", d.Round(time.Millisecond))
	}
	waitFor("the top pages", `document.querySelector('[data-testid="rt-pages"]').innerText.includes("/pricing")`, 2*time.Second)
	waitFor("the top referrers", `document.querySelector('[data-testid="rt-referrers"]').innerText.includes("Google")`, 2*time.Second)

	// Hostile names and paths: shown as text, never run.
	const name = `<img src=x onerror="window.__xss='name'">`
	hostilePath := "/" + url.PathEscape(`"><img src=x onerror="window.__xss='path'"><script>window.__xss='path'</script>`)
	start = time.Now()
	track("81.2.69.62", name, hostilePath)
	waitFor("the hostile event in the feed", feedHas(name), 2*time.Second)
	time.Sleep(300 * time.Millisecond) // image error handlers fire after insertion
	if got := eval(`window.__xss || ""`); got != "" {
		t.Errorf("the %s of an event ran as script", got)
	}
	if got := eval(`String(document.querySelectorAll('[data-testid="rt-feed"] img, [data-testid="rt-tops"] img, [data-testid="rt-feed"] script').length)`); got != "0" {
		t.Errorf("%s elements were created from event data", got)
	}

	// The map: a located visitor arrives as a point (the server may have
	// no GeoIP database, so the place is stored directly).
	if eval(`String(!!document.querySelector("[data-rt-map]"))`) == "true" {
		waitFor("the map", `!!(window.echarts && echarts.getInstanceByDom(document.querySelector("[data-rt-map]")))`, 10*time.Second)
		if _, err := env.Pool.Exec(context.Background(), `
			INSERT INTO events (id, project_id, name, device_id, path, country, city, latitude, longitude, created_at)
			VALUES (gen_random_uuid(), $1, 'screen_view', 'located', '/map', 'JP', '</script><b>Tokyo</b>', 35.68, 139.69, now())`, project); err != nil {
			t.Fatal(err)
		}
		if _, err := env.Pool.Exec(context.Background(), `SELECT pg_notify('tally_events', $1)`, project); err != nil {
			t.Fatal(err)
		}
		waitFor("the point on the map", `echarts.getInstanceByDom(document.querySelector("[data-rt-map]")).getOption().series[0].data.some(function (p) { return p.value[0] === 139.69 && p.value[1] === 35.68; })`, 2*time.Second)
	} else {
		t.Error("the realtime page has no map")
	}

	if got := eval(`window.__kept || "reloaded"`); got != "yes" {
		t.Errorf("the page reloaded (%s): the feed must update in place", got)
	}
	time.Sleep(300 * time.Millisecond) // let the map settle
	screenshot("realtime-live.png")
}

func jsQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}
