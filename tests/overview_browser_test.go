package tests

import (
	"context"
	"encoding/json"
	"fmt"
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

// TestOverviewInTheBrowser opens the overview in Chromium on tracked
// traffic: the cards show the numbers SQL computes; clicking a page row
// filters every widget and puts f=path:is:... into the URL; changing the
// range updates the URL and Back restores the previous state; event
// names, paths, referrers, UTM values and properties that are markup show
// as text and run nothing, in tables and in the chart's tooltip.
func TestOverviewInTheBrowser(t *testing.T) {
	t.Parallel()
	chromium := RequireTool(t, "chromium", "/usr/bin/chromium")
	env := apptest.StartOn(t, dbtest.NewDB(t), false)
	owner, next := env.Onboard(t, "owner@overview.test", "overview test password")
	project := strings.Split(next, "/")[2]
	ctx := context.Background()
	var clientID string
	if err := env.Pool.QueryRow(ctx, `SELECT id::text FROM clients WHERE project_id = $1`, project).Scan(&clientID); err != nil {
		t.Fatal(err)
	}
	track := func(ip, name, path string, props map[string]any) {
		t.Helper()
		p := map[string]any{"__path": "https://acme.com" + path}
		for k, v := range props {
			p[k] = v
		}
		res := env.Track(t, map[string]any{"type": "track", "payload": map[string]any{"name": name, "properties": p}}, map[string]string{
			"Content-Type": "application/json", "openpanel-client-id": clientID, "openpanel-sdk-name": "web", "openpanel-sdk-version": "1.4.1",
			"Origin": "https://acme.com", "User-Agent": apptest.BrowserUA, "X-Forwarded-For": ip,
		})
		if res.Status != http.StatusOK {
			t.Fatalf("track %s: %d %s", name, res.Status, res.Body)
		}
	}
	// Twelve visitors: / for all, /pricing for a third, /docs for a
	// quarter, referrers from two sites; then one visitor whose event
	// name, path, referrer, UTM source and property are markup.
	for i := 0; i < 12; i++ {
		ip := fmt.Sprintf("81.2.69.%d", 20+i)
		ref := map[string]any{"__referrer": "https://www.google.com/"}
		if i%2 == 1 {
			ref = map[string]any{"__referrer": "https://news.ycombinator.com/"}
		}
		track(ip, "screen_view", "/", ref)
		if i%3 == 0 {
			track(ip, "screen_view", "/pricing", nil)
		}
		if i%4 == 0 {
			track(ip, "screen_view", "/docs", nil)
		}
	}
	track("81.2.69.99", "screen_view", "/"+url.PathEscape(hostile("path"))+"?utm_source="+url.QueryEscape(hostile("utm")), map[string]any{
		"__referrer": "https://evil.test/" + url.PathEscape(hostile("referrer")), "label": hostile("property"),
	})
	track("81.2.69.99", `<img src=x onerror="window.__xss='event'">`, "/", map[string]any{"label": hostile("property")})

	count := func(sql string) string {
		t.Helper()
		var n int64
		if err := env.Pool.QueryRow(ctx, sql, project).Scan(&n); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return fmt.Sprint(n)
	}
	// Independent SQL: every event is from today, so the 7 days' visitors
	// are today's distinct devices.
	wantVisitors := count(`SELECT count(DISTINCT device_id) FROM events WHERE project_id = $1 AND name <> 'session_end'`)
	wantViews := count(`SELECT count(*) FROM events WHERE project_id = $1 AND name = 'screen_view'`)
	wantPricing := count(`SELECT count(*) FROM events WHERE project_id = $1 AND name = 'screen_view' AND path = '/pricing'`)
	if wantVisitors != "13" || wantViews != "20" || wantPricing != "4" {
		t.Fatalf("seed: visitors %s, views %s, /pricing %s", wantVisitors, wantViews, wantPricing)
	}
	// The unfiltered overview reads rollups (a few seconds behind): wait
	// for them before the browser looks.
	base := "/p/" + project
	owner.Header.Set("HX-Request", "true")
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(owner.Get(base+"/overview/cards").Body, `data-value="`+wantViews+`"`) {
		if time.Now().After(deadline) {
			t.Fatal("the rollups did not catch up within 20 s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	owner.Header.Del("HX-Request")

	browser := startBrowser(t, chromium)
	setCookies(t, browser, env, owner)
	eval := func(js string) string {
		t.Helper()
		c, cancel := context.WithTimeout(browser, 20*time.Second)
		defer cancel()
		s, err := chromedp.Run(c, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("evaluate %s: %v", js, err)
		}
		return s
	}
	waitFor := func(what, js string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for eval("String(!!("+js+"))") != "true" {
			if time.Now().After(deadline) {
				t.Fatalf("%s: timed out (%s)\nloading %s, charts %s, drawn %s, echarts %s\n%s", what, js,
					eval(`String(document.querySelectorAll("#overview .ov-loading").length)`), eval(`String(document.querySelectorAll("[data-chart]").length)`),
					eval(`String(document.querySelectorAll("[data-drawn]").length)`), eval(`typeof window.echarts + " " + document.querySelector("[data-chart]").__drawn + " " + [...document.scripts].map(s => s.src + ":" + s.type).join(",")`), eval(`document.querySelector("main").innerText`))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		c, cancel := context.WithTimeout(browser, 20*time.Second)
		defer cancel()
		if err := chromedp.Do(c, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	shot := func(name string) {
		t.Helper()
		buf, err := chromedp.Run(browser, chromedp.FullScreenshot(100))
		if err == nil {
			err = os.WriteFile(filepath.Join(outputDir(t), name), buf, 0o644)
		}
		if err != nil {
			t.Error(err)
		}
	}
	noXSS := func(where string) {
		t.Helper()
		if x := eval(`window.__xss || ""`); x != "" {
			t.Fatalf("%s: the %s markup ran as script", where, x)
		}
	}
	// loaded: the cards, the chart and every widget have arrived (and the
	// charts are drawn).
	const loaded = `document.querySelectorAll("#overview .ov-loading").length === 0 && !!document.querySelector("#ov-chart [data-chart][data-drawn]") && !!document.querySelector("#w-geo [data-chart][data-drawn]")`
	card := func(metric string) string {
		return eval(`document.querySelector('[data-testid="card-` + metric + `"] [data-value]').getAttribute("data-value")`)
	}
	param := func(name string) string {
		return eval(`new URLSearchParams(location.search).getAll(` + ovJS(name) + `).join("|")`)
	}

	start := time.Now()
	run("open the overview", chromedp.Navigate(env.URL+base))
	waitFor("the overview's parts", loaded)
	if got := card("visitors"); got != wantVisitors {
		t.Errorf("visitors card %s, SQL %s", got, wantVisitors)
	}
	if got := card("pageviews"); got != wantViews {
		t.Errorf("pageviews card %s, SQL %s", got, wantViews)
	}
	// The hostile values, as text, in every widget that shows them.
	text := eval(`document.querySelector("#overview").innerText`)
	for _, want := range []string{`<img src=x onerror="window.__xss='event'">`, "/" + hostile("path")} {
		if !strings.Contains(text, want) {
			t.Errorf("the overview does not show %q as text", want)
		}
	}
	for _, tab := range []struct{ widget, tab, want string }{
		{"sources", "utm_source", hostile("utm")}, {"sources", "referrer", "https://evil.test/" + url.PathEscape(hostile("referrer"))},
	} {
		eval(`document.querySelector('#w-` + tab.widget + ` a[data-tab="` + tab.tab + `"]').click(); ""`)
		waitFor(tab.tab+" tab", `document.querySelector('#w-`+tab.widget+` a[aria-current="page"][data-tab="`+tab.tab+`"]')`)
		if got := eval(`document.querySelector("#w-` + tab.widget + `").innerText`); !strings.Contains(got, tab.want) {
			t.Errorf("%s tab does not show %q as text:\n%s", tab.tab, tab.want, got)
		}
	}
	// The chart's tooltip, shown for today's point (echarts loads after
	// the page, only where a chart is).
	waitFor("the chart drawn", `!!(window.echarts && echarts.getInstanceByDom(document.querySelector("#ov-chart [data-chart]")))`)
	eval(`(function(){var c = echarts.getInstanceByDom(document.querySelector("#ov-chart [data-chart]")); c.dispatchAction({type: "showTip", seriesIndex: 0, dataIndex: 6}); return ""})()`)
	waitFor("the chart's tooltip", `[...document.querySelectorAll("#ov-chart div")].some(d => d.innerText.includes("Visitors") && d.innerText.includes("`+wantVisitors+`"))`)
	time.Sleep(200 * time.Millisecond) // image error handlers fire after load
	noXSS("the overview")
	shot("overview-page.png")

	// Clicking the /pricing row filters every widget.
	run("click the /pricing row", chromedp.Click(chromedp.CSS(`#w-pages a[data-testid="row-link"][title="/pricing"]`)))
	waitFor("the filter in the URL", `new URLSearchParams(location.search).getAll("f").includes("path:is:%2Fpricing")`)
	waitFor("the filtered parts", loaded+` && !!document.querySelector('[data-testid="filter-chip"]')`)
	for _, w := range []string{"sources", "pages", "devices", "geo", "events"} {
		// Each widget came from a request with the filter: its tab links carry it.
		if got := eval(`document.querySelector("#w-` + w + ` .tabs a").getAttribute("href")`); !strings.Contains(got, "f=path:is:%252Fpricing") {
			t.Errorf("the %s widget is not filtered: its tabs link to %s", w, got)
		}
	}
	if got := eval(`[...document.querySelectorAll('#w-pages [data-testid="row-link"]')].map(a => a.title).join("|")`); got != "/pricing" {
		t.Errorf("the filtered pages widget lists %q", got)
	}
	if got := card("pageviews"); got != wantPricing {
		t.Errorf("filtered pageviews card %s, SQL %s", got, wantPricing)
	}
	if got := eval(`document.querySelector('[data-testid="filter-chip"]').innerText`); !strings.Contains(got, "Path is /pricing") {
		t.Errorf("filter chip %q", got)
	}
	shot("overview-filtered.png")

	// Another range: the URL follows (the filter stays); Back restores.
	run("choose 30 days", chromedp.Click(chromedp.CSS(`a[data-range="30d"]`)))
	waitFor("30 days in the URL", `new URLSearchParams(location.search).get("range") === "30d"`)
	waitFor("the 30-day overview", loaded+` && !!document.querySelector('a[data-range="30d"][aria-current="page"]')`)
	if got := param("f"); got != "path:is:%2Fpricing" {
		t.Errorf("the filter after changing the range: %q", got)
	}
	if got := eval(`String(document.querySelectorAll("#ov-chart tbody tr").length)`); got != "30" {
		t.Errorf("the 30-day chart has %s points", got)
	}
	run("go back", chromedp.NavigateBack())
	waitFor("7 days again", `new URLSearchParams(location.search).get("range") === "7d" && !!document.querySelector('a[data-range="7d"][aria-current="page"]')`)
	waitFor("the restored overview", loaded)
	if got := param("f"); got != "path:is:%2Fpricing" {
		t.Errorf("the filter after Back: %q", got)
	}
	if got := card("pageviews"); got != wantPricing {
		t.Errorf("pageviews after Back %s, want %s", got, wantPricing)
	}
	// Removing the chip brings the unfiltered numbers back.
	run("remove the filter", chromedp.Click(chromedp.CSS(`[data-testid="remove-filter"]`)))
	waitFor("no filter", `new URLSearchParams(location.search).getAll("f").length === 0 && !document.querySelector('[data-testid="filter-chip"]')`)
	waitFor("the unfiltered overview", loaded)
	if got := card("pageviews"); got != wantViews {
		t.Errorf("pageviews without the filter %s, want %s", got, wantViews)
	}
	// The interval select and the add-filter form work through HTMX too,
	// and their state lands in the URL.
	eval(`(function(){var s = document.querySelector('[data-testid="interval"]'); s.value = "week"; s.dispatchEvent(new Event("change", {bubbles: true})); return ""})()`)
	waitFor("weeks in the URL", `new URLSearchParams(location.search).get("interval") === "week"`)
	waitFor("the weekly chart", loaded+` && document.querySelectorAll("#ov-chart tbody tr").length === 2`)
	eval(`(function(){document.querySelector(".ov-add").open = true; var f = document.querySelector('[data-testid="filter-form"]');
		f.ff.value = "path"; f.fo.value = "starts_with"; f.fv.value = "/pri, /doc"; f.requestSubmit(); return ""})()`)
	waitFor("the new filter in the URL", `new URLSearchParams(location.search).getAll("f").includes("path:starts_with:%2Fpri,%2Fdoc")`)
	waitFor("the filtered parts", loaded+` && !!document.querySelector('[data-testid="filter-chip"]')`)
	if got := param("interval"); got != "week" {
		t.Errorf("the interval after adding a filter: %q", got)
	}
	if got, want := card("pageviews"), count(`SELECT count(*) FROM events WHERE project_id = $1 AND name = 'screen_view' AND (path LIKE '/pri%' OR path LIKE '/doc%')`); got != want {
		t.Errorf("pageviews of /pri* or /doc* %s, SQL %s", got, want)
	}
	noXSS("after navigating")
	t.Logf("browser part took %s", time.Since(start).Round(time.Millisecond))
}

// ovJS is s as a JavaScript string literal.
func ovJS(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
