package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"tally/app/apptest"
	"tally/views"
)

// ovUA is a second browser (Firefox on Linux), so device widgets have two rows.
const ovUA = "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0"

// ovHostile is markup that must only ever show as text.
const ovHostile = `"'><img src=x onerror=alert(1)></script><script>alert(2)</script>`

// ovTrack sends one event from a browser at ip on the project's site.
func ovTrack(t *testing.T, s trSite, ip, ua, name string, props map[string]any) {
	t.Helper()
	res := s.env.Track(t, map[string]any{"type": "track", "payload": map[string]any{"name": name, "properties": props}},
		map[string]string{
			"Content-Type": "application/json", "openpanel-client-id": s.clientID, "openpanel-sdk-name": "web",
			"openpanel-sdk-version": "1.4.1", "Origin": "https://acme.com", "User-Agent": ua, "X-Forwarded-For": ip,
		})
	if res.Status != http.StatusOK {
		t.Fatalf("track %s from %s: %d %s", name, ip, res.Status, res.Body)
	}
}

func ovView(path string, extra map[string]any) map[string]any {
	p := map[string]any{"__path": "https://acme.com" + path, "__title": "Acme"}
	for k, v := range extra {
		p[k] = v
	}
	return p
}

// ovSeed tracks a small, varied day of traffic: five visitors, referrers,
// a campaign, two browsers, custom events, an outgoing link, revenue and
// one visitor whose every value is markup.
func ovSeed(t *testing.T, s trSite) {
	t.Helper()
	s.exec(t, `UPDATE projects SET allow_browser_revenue = true WHERE id = $1`, s.projectID)
	ua := apptest.BrowserUA
	ovTrack(t, s, "81.2.69.11", ua, "screen_view", ovView("/", map[string]any{"__referrer": "https://www.google.com/search?q=acme"}))
	ovTrack(t, s, "81.2.69.11", ua, "screen_view", ovView("/pricing", nil))
	ovTrack(t, s, "81.2.69.11", ua, "signup", ovView("/pricing", map[string]any{"plan": "pro"}))
	ovTrack(t, s, "81.2.69.11", ua, "revenue", ovView("/pricing", map[string]any{"__revenue": 4900}))
	ovTrack(t, s, "81.2.69.12", ua, "screen_view", ovView("/pricing?utm_source=newsletter&utm_medium=email&utm_campaign=spring", map[string]any{"__referrer": "https://news.ycombinator.com/item?id=1"}))
	ovTrack(t, s, "81.2.69.12", ua, "link_out", ovView("/pricing", map[string]any{"href": "https://github.com/acme"}))
	ovTrack(t, s, "81.2.69.13", ovUA, "screen_view", ovView("/blog/hello", nil))
	ovTrack(t, s, "81.2.69.13", ovUA, "screen_view", ovView("/", nil))
	ovTrack(t, s, "81.2.69.14", ua, "screen_view", ovView("/", nil))
	ovTrack(t, s, "81.2.69.15", ua, "screen_view", ovView("/"+url.PathEscape(ovHostile)+"?utm_source="+url.QueryEscape(ovHostile), map[string]any{
		"__referrer": "https://evil.test/" + url.PathEscape(ovHostile), "label": ovHostile,
	}))
	ovTrack(t, s, "81.2.69.15", ua, `<img src=x onerror=alert(3)>`, ovView("/", nil))
}

// ovSQL answers from the events and sessions tables, for the last 7 days
// of the project's timezone, by the definitions of the overview (written
// here independently of sql/overview.sql).
type ovSQL struct {
	s      trSite
	filter string // extra condition on events e ("" for none)
}

const ovRange = `(date_trunc('day', now() AT TIME ZONE 'Europe/Berlin') - interval '6 days') AT TIME ZONE 'Europe/Berlin'`
const ovRangeEnd = `(date_trunc('day', now() AT TIME ZONE 'Europe/Berlin') + interval '1 day') AT TIME ZONE 'Europe/Berlin'`

func (q ovSQL) where() string {
	w := `e.project_id = $1 AND e.created_at >= ` + ovRange + ` AND e.created_at < ` + ovRangeEnd
	if q.filter != "" {
		w += " AND " + q.filter
	}
	return w
}

func (q ovSQL) int(t *testing.T, sql string) int64 {
	t.Helper()
	var n int64
	if err := q.s.env.Pool.QueryRow(context.Background(), sql, q.s.projectID).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// cards are the expected card values (data-value), by metric.
func (q ovSQL) cards(t *testing.T) map[string]string {
	t.Helper()
	sessions := `SELECT s.* FROM sessions s WHERE s.project_id = $1 AND s.started_at >= ` + ovRange + ` AND s.started_at < ` + ovRangeEnd
	if q.filter != "" {
		sessions += ` AND s.id IN (SELECT e.session_id FROM events e WHERE ` + q.where() + `)`
	}
	visitors := q.int(t, `SELECT coalesce(sum(n), 0)::bigint FROM (SELECT count(DISTINCT e.device_id) n FROM events e
		WHERE `+q.where()+` AND e.name <> 'session_end' GROUP BY (e.created_at AT TIME ZONE 'Europe/Berlin')::date) d`)
	pageviews := q.int(t, `SELECT count(*) FROM events e WHERE `+q.where()+` AND e.name = 'screen_view'`)
	n := q.int(t, `SELECT count(*) FROM (`+sessions+`) s`)
	bounces := q.int(t, `SELECT count(*) FILTER (WHERE is_bounce) FROM (`+sessions+`) s`)
	duration := q.int(t, `SELECT coalesce(sum(duration), 0)::bigint FROM (`+sessions+`) s`)
	revenue := q.int(t, `SELECT coalesce(sum(revenue), 0)::bigint FROM (`+sessions+`) s`)
	out := map[string]string{
		"visitors": fmt.Sprint(visitors), "sessions": fmt.Sprint(n), "pageviews": fmt.Sprint(pageviews),
		"pages_per_session": "0", "bounce_rate": "0", "avg_duration": "0",
	}
	if n > 0 {
		out["pages_per_session"] = strconv.FormatFloat(float64(pageviews)/float64(n), 'f', -1, 64)
		out["bounce_rate"] = strconv.FormatFloat(100*float64(bounces)/float64(n), 'f', -1, 64)
		out["avg_duration"] = strconv.FormatFloat(float64(duration)/float64(n)/1000, 'f', -1, 64)
	}
	if revenue != 0 {
		out["revenue"] = fmt.Sprint(revenue)
	}
	return out
}

// ovRow is a widget row: the raw value, visitors and count.
type ovRow struct {
	Value           string
	Visitors, Count int64
}

// rows are the expected rows of a breakdown (unfiltered), sorted.
func (q ovSQL) rows(t *testing.T, dim string) []ovRow {
	t.Helper()
	var sql string
	switch dim {
	case "path", "event", "link_out":
		value, cond := "coalesce(e.path, '')", "e.name = 'screen_view'"
		switch dim {
		case "event":
			value, cond = "e.name", "e.name NOT IN ('screen_view', 'session_start', 'session_end')"
		case "link_out":
			value, cond = "coalesce(e.properties->>'href', '')", "e.name = 'link_out'"
		}
		sql = `SELECT value, count(DISTINCT (day, device_id)), count(*) FROM (SELECT ` + value + ` AS value,
			(e.created_at AT TIME ZONE 'Europe/Berlin')::date AS day, e.device_id FROM events e WHERE ` + q.where() + ` AND ` + cond + `) x GROUP BY 1`
	default:
		sql = `SELECT coalesce(s.` + dim + `, ''), count(DISTINCT ((s.started_at AT TIME ZONE 'Europe/Berlin')::date, s.device_id)), count(*)
			FROM sessions s WHERE s.project_id = $1 AND s.started_at >= ` + ovRange + ` AND s.started_at < ` + ovRangeEnd + ` GROUP BY 1`
	}
	rs, err := q.s.env.Pool.Query(context.Background(), sql, q.s.projectID)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	defer rs.Close()
	var out []ovRow
	for rs.Next() {
		var r ovRow
		if err := rs.Scan(&r.Value, &r.Visitors, &r.Count); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	sortRows(out)
	return out
}

func sortRows(rs []ovRow) {
	sort.Slice(rs, func(i, j int) bool {
		if rs[i].Count != rs[j].Count {
			return rs[i].Count > rs[j].Count
		}
		return rs[i].Value < rs[j].Value
	})
}

var (
	ovCardRE  = regexp.MustCompile(`data-testid="card-([a-z_]+)"(?s:.*?)data-value="([^"]*)"`)
	ovRowRE   = regexp.MustCompile(`(?s)<tr data-testid="row">(.*?)</tr>`)
	ovLinkRE  = regexp.MustCompile(`<a ([^>]*data-testid="row-link"[^>]*)>([^<]*)</a>`)
	ovTitleRE = regexp.MustCompile(`title="([^"]*)"`)
	ovHrefRE  = regexp.MustCompile(`href="([^"]*)"`)
	ovNumRE   = regexp.MustCompile(`data-testid="row-(visitors|count)">([0-9,]+)<`)
)

// cardValues reads the cards partial.
func cardValues(body string) map[string]string {
	out := map[string]string{}
	for _, m := range ovCardRE.FindAllStringSubmatch(body, -1) {
		out[m[1]] = html.UnescapeString(m[2])
	}
	return out
}

// widgetRows reads a widget partial: rows (value from the title, "" for
// "(none)") and each row's filter link.
func widgetRows(t *testing.T, body string) ([]ovRow, []string) {
	t.Helper()
	var rows []ovRow
	var links []string
	for _, m := range ovRowRE.FindAllStringSubmatch(body, -1) {
		l := ovLinkRE.FindStringSubmatch(m[1])
		if l == nil {
			t.Fatalf("a row without a link: %s", m[1])
		}
		var r ovRow
		if tm := ovTitleRE.FindStringSubmatch(l[1]); tm != nil {
			r.Value = html.UnescapeString(tm[1])
		}
		links = append(links, html.UnescapeString(ovHrefRE.FindStringSubmatch(l[1])[1]))
		for _, n := range ovNumRE.FindAllStringSubmatch(m[1], -1) {
			v, _ := strconv.ParseInt(strings.ReplaceAll(n[2], ",", ""), 10, 64)
			if n[1] == "visitors" {
				r.Visitors = v
			} else {
				r.Count = v
			}
		}
		rows = append(rows, r)
	}
	return rows, links
}

// partial fetches an overview partial as HTMX does.
func partial(t *testing.T, c *apptest.Client, path string) apptest.Page {
	t.Helper()
	c.Header.Set("HX-Request", "true")
	defer c.Header.Del("HX-Request")
	return c.Get(path)
}

// eventually retries check until it reports nothing (the rollups the
// unfiltered overview reads are refreshed a few seconds behind).
func eventually(t *testing.T, what string, check func() string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		problem := check()
		if problem == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s", what, problem)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestOverviewNumbersMatchSQL(t *testing.T) {
	t.Parallel()
	s := trOnboard(t)
	ovSeed(t, s)
	base := "/p/" + s.projectID
	sql := ovSQL{s: s}

	// The page: pickers, filter bar, and the slots of every partial.
	p := s.owner.Get(base)
	if p.Status != http.StatusOK {
		t.Fatalf("overview: %d %s", p.Status, p.Body)
	}
	for _, want := range []string{
		`id="overview"`, `hx-get="` + base + `/overview/cards?range=7d"`, `hx-get="` + base + `/overview/chart?range=7d"`,
		`hx-get="` + base + `/overview/widget/sources?range=7d"`, `hx-get="` + base + `/overview/widget/geo?range=7d"`,
		`hx-trigger="load"`, `data-range="30d"`, `href="` + base + `?range=30d"`, `hx-push-url="true"`, `name="ff"`, `name="fo"`, `name="fv"`,
		`<option value="properties.">`, `data-testid="interval"`,
	} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("the overview page lacks %s", want)
		}
	}
	if strings.Contains(p.Body, "coming-soon") {
		t.Error("the overview still says coming soon")
	}

	// Cards: every metric as SQL computes it (revenue too: one signup paid).
	want := sql.cards(t)
	if want["visitors"] != "5" || want["revenue"] != "4900" {
		t.Fatalf("the seed is not what the test expects: %v", want)
	}
	eventually(t, "cards", func() string {
		c := partial(t, s.owner, base+"/overview/cards")
		if c.Status != http.StatusOK {
			return fmt.Sprintf("status %d %s", c.Status, c.Body)
		}
		got := cardValues(c.Body)
		for k, v := range want {
			if !floatEq(got[k], v) {
				return fmt.Sprintf("card %s: got %q, want %q (all: %v, want %v)", k, got[k], v, got, want)
			}
		}
		if len(got) != len(want) {
			return fmt.Sprintf("cards %v, want %v", got, want)
		}
		return ""
	})
	c := partial(t, s.owner, base+"/overview/cards?metric=pageviews")
	if !strings.Contains(c.Body, `href="`+base+`?range=7d&amp;metric=sessions"`) || !regexp.MustCompile(`aria-current="page"[^>]*data-testid="card-pageviews"`).MatchString(c.Body) {
		t.Errorf("cards: no link setting the metric, or the current metric is not marked:\n%s", c.Body)
	}

	// Widgets: every tab's rows as SQL computes them.
	for _, tc := range []struct{ widget, tab string }{
		{"pages", "path"}, {"pages", "entry_path"}, {"pages", "exit_path"},
		{"sources", "referrer_name"}, {"sources", "referrer_type"}, {"sources", "utm_source"}, {"sources", "referrer"},
		{"devices", "browser"}, {"devices", "os"}, {"devices", "device"},
		{"geo", "country"}, {"geo", "city"}, {"events", "event"}, {"events", "link_out"},
	} {
		want := sql.rows(t, tc.tab)
		if len(want) > 10 {
			want = want[:10]
		}
		eventually(t, tc.widget+"/"+tc.tab, func() string {
			w := partial(t, s.owner, base+"/overview/widget/"+tc.widget+"?tab="+tc.tab)
			if w.Status != http.StatusOK {
				return fmt.Sprintf("status %d %s", w.Status, w.Body)
			}
			got, _ := widgetRows(t, w.Body)
			sortRows(got)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				return fmt.Sprintf("rows %v, want %v", got, want)
			}
			if len(want) > 0 && !strings.Contains(w.Body, `class="ov-bar" style="width: `) {
				return "no share bars"
			}
			return ""
		})
	}
	w := partial(t, s.owner, base+"/overview/widget/pages?tab=path")
	if !strings.Contains(w.Body, `aria-current="page" data-tab="path"`) && !regexp.MustCompile(`aria-current="page"[^>]*data-tab="path"`).MatchString(w.Body) {
		t.Error("the pages widget does not mark its tab")
	}
	for _, tab := range []string{"exit_path", "entry_path"} {
		if !strings.Contains(w.Body, `href="`+base+`/overview/widget/pages?range=7d&amp;tab=`+tab+`"`) {
			t.Errorf("the pages widget lacks its %s tab link", tab)
		}
	}
	// Without JavaScript, a slot's link is a page of its own.
	if w := s.owner.Get(base + "/overview/widget/pages?range=7d&tab=exit_path"); w.Status != http.StatusOK || !strings.Contains(w.Body, "<html") ||
		!strings.Contains(w.Body, `data-testid="back-to-overview"`) || !strings.Contains(w.Body, `data-testid="widget-pages"`) {
		t.Errorf("a widget as a page: %d\n%.300s", w.Status, w.Body)
	}
	// The country tab carries the world map.
	g := partial(t, s.owner, base+"/overview/widget/geo")
	if !strings.Contains(g.Body, `data-world="/static/world.`) {
		t.Error("the geo widget has no world map")
	}
	if m := chartOptions(t, g.Body)["series"].([]any)[0].(map[string]any); m["map"] != "world" || m["type"] != "map" {
		t.Errorf("the geo widget's map series: %v", m)
	}

	// Chart: one point per day of the range, the last (today) with all
	// visitors; the data table agrees.
	eventually(t, "chart", func() string {
		ch := partial(t, s.owner, base+"/overview/chart")
		opts := chartOptions(t, ch.Body)
		series, _ := opts["series"].([]any)
		if len(series) != 2 {
			return fmt.Sprintf("series: %v", opts["series"])
		}
		cur := series[0].(map[string]any)["data"].([]any)
		prev := series[1].(map[string]any)
		if len(cur) != 7 {
			return fmt.Sprintf("%d points, want 7", len(cur))
		}
		if v := cur[6].(map[string]any)["value"]; v != float64(5) {
			return fmt.Sprintf("today's visitors %v, want 5", v)
		}
		if ls, _ := prev["lineStyle"].(map[string]any); ls["type"] != "dashed" {
			return "the previous period is not dashed"
		}
		return ""
	})
}

func floatEq(got, want string) bool {
	g, err1 := strconv.ParseFloat(got, 64)
	w, err2 := strconv.ParseFloat(want, 64)
	if err1 != nil || err2 != nil {
		return got == want
	}
	return g == w || (g-w < 1e-9 && w-g < 1e-9)
}

var (
	ovChartRE   = regexp.MustCompile(`<div [^>]*data-chart[^>]*>`)
	ovOptionsRE = regexp.MustCompile(`data-options="([^"]*)"`)
)

// chartOptions reads the options of a partial's chart: JSON in an
// attribute, where it cannot end the attribute (no quote survives
// escaping) and, unescaped, holds no "<" or ">" (json.Marshal escapes
// them) either.
func chartOptions(t *testing.T, body string) map[string]any {
	t.Helper()
	el := ovChartRE.FindString(body)
	m := ovOptionsRE.FindStringSubmatch(el)
	if m == nil {
		t.Fatalf("no chart options in %s", body)
	}
	raw := html.UnescapeString(m[1])
	if strings.ContainsAny(raw, "<>") {
		t.Fatalf("the chart's JSON contains < or >: %s", raw)
	}
	var opts map[string]any
	if err := json.Unmarshal([]byte(raw), &opts); err != nil {
		t.Fatalf("chart options: %v", err)
	}
	return opts
}

func TestOverviewFilters(t *testing.T) {
	t.Parallel()
	s := trOnboard(t)
	ovSeed(t, s)
	base := "/p/" + s.projectID

	// A page row's link adds path:is:<path>, keeping the rest of the state.
	var pricing string
	eventually(t, "pages widget", func() string {
		w := partial(t, s.owner, base+"/overview/widget/pages?range=7d&metric=pageviews")
		rows, links := widgetRows(t, w.Body)
		for i, r := range rows {
			if r.Value == "/pricing" {
				pricing = links[i]
				return ""
			}
		}
		return fmt.Sprintf("no /pricing row in %v", rows)
	})
	if pricing != base+"?range=7d&metric=pageviews&f=path:is:%252Fpricing" {
		t.Fatalf("the /pricing row links to %q", pricing)
	}
	p := s.owner.Get(pricing)
	if p.Status != http.StatusOK || !strings.Contains(p.Body, `data-testid="filter-chip"`) || !strings.Contains(p.Body, "Path is /pricing") {
		t.Fatalf("the filtered overview has no chip: %d", p.Status)
	}
	if !strings.Contains(p.Body, `href="`+base+`?range=7d&amp;metric=pageviews"`) {
		t.Error("the chip has no link removing it")
	}
	if !strings.Contains(p.Body, `hx-get="`+base+`/overview/widget/devices?range=7d&amp;metric=pageviews&amp;f=path:is:%252Fpricing"`) {
		t.Error("the widgets do not get the filter")
	}

	// Filtered numbers (raw events): the cards and every widget.
	sql := ovSQL{s: s, filter: "e.path = '/pricing'"}
	q := "?range=7d&f=path:is:%252Fpricing"
	want := sql.cards(t)
	got := cardValues(partial(t, s.owner, base+"/overview/cards"+q).Body)
	for _, k := range []string{"visitors", "sessions", "pageviews", "revenue"} {
		if !floatEq(got[k], want[k]) {
			t.Errorf("filtered card %s: %q, want %q", k, got[k], want[k])
		}
	}
	if want["visitors"] != "2" || want["pageviews"] != "2" {
		t.Errorf("filtered SQL: %v", want)
	}
	rows, _ := widgetRows(t, partial(t, s.owner, base+"/overview/widget/pages"+q).Body)
	if len(rows) != 1 || rows[0].Value != "/pricing" || rows[0].Count != 2 {
		t.Errorf("filtered pages widget: %v", rows)
	}
	rows, _ = widgetRows(t, partial(t, s.owner, base+"/overview/widget/events"+q).Body)
	if len(rows) != 3 || rows[0].Value != "link_out" || rows[1].Value != "revenue" || rows[2].Value != "signup" {
		t.Errorf("filtered events widget: %v", rows)
	}

	// The add-filter form: several values, a property, redirects to the
	// canonical URL (HTMX: the new state with its URL pushed).
	r := s.owner.Get(base + "?range=30d&ff=path&fo=is&fv=" + url.QueryEscape("/a, /b,c:d"))
	if r.Status != http.StatusSeeOther || r.Location != base+"?range=30d&f=path:is:%252Fa,%252Fb,c%253Ad" {
		t.Errorf("add filter: %d %q", r.Status, r.Location)
	}
	r = s.owner.Get(base + "?range=30d&f=path:is:%252Fa&ff=properties.&fp=plan&fo=is_set&fv=")
	if r.Status != http.StatusSeeOther || r.Location != base+"?range=30d&f=path:is:%252Fa&f=properties.plan:is_set:" {
		t.Errorf("add a property filter: %d %q", r.Status, r.Location)
	}
	s.owner.Header.Set("HX-Target", "overview")
	r = partial(t, s.owner, base+"?range=30d&ff=country&fo=is&fv=DE")
	s.owner.Header.Del("HX-Target")
	if r.Status != http.StatusOK || r.Header.Get("HX-Push-Url") != base+"?range=30d&f=country:is:DE" || !strings.Contains(r.Body, "Country is Germany") {
		t.Errorf("add filter with HTMX: %d push %q", r.Status, r.Header.Get("HX-Push-Url"))
	}
	if strings.Contains(r.Body, "<html") || !strings.HasPrefix(strings.TrimSpace(r.Body), `<div id="overview"`) {
		t.Errorf("an HTMX swap of #overview got more than the fragment:\n%.300s", r.Body)
	}
	// A history restore (Back with HTMX's cache off) gets the whole page.
	s.owner.Header.Set("HX-History-Restore-Request", "true")
	r = partial(t, s.owner, base+"?range=30d")
	s.owner.Header.Del("HX-History-Restore-Request")
	if !strings.Contains(r.Body, "<html") {
		t.Error("a history restore request did not get the whole page")
	}
}

func TestOverviewBadParameters(t *testing.T) {
	t.Parallel()
	s := trOnboard(t)
	base := "/p/" + s.projectID
	for _, q := range []string{
		"?range=forever", "?range=custom&from=2026-02-30&to=2026-03-01", "?range=custom&from=2026-03-05&to=2026-03-01",
		"?range=12m&interval=minute", "?interval=fortnight", "?metric=happiness", "?f=nope:is:x", "?f=path:like:x",
		"?f=path:gt:abc", "?f=path", "?f=path:is:%25zz", "?f=properties.:is:x", "?f=path:regex:" + url.QueryEscape(url.QueryEscape("(")),
		"?range=" + url.QueryEscape("\x00"), "?ff=bogus&fo=is&fv=x", "?ff=path&fo=is&fv=", "?ff=properties.&fo=is&fv=x",
	} {
		for _, path := range []string{base, base + "/overview/cards", base + "/overview/chart", base + "/overview/widget/pages"} {
			if strings.HasPrefix(q, "?ff=") && path != base {
				continue
			}
			if strings.Contains(q, "regex") && path == base {
				continue // the page itself runs no query: the partials report it
			}
			for _, hx := range []bool{false, true} {
				var p apptest.Page
				if hx {
					p = partial(t, s.owner, path+q)
				} else {
					p = s.owner.Get(path + q)
				}
				if p.Status != http.StatusBadRequest || !strings.Contains(p.Body, `data-testid="error"`) {
					t.Errorf("GET %s%s (htmx %v): %d, want 400 with the message\n%.300s", path, q, hx, p.Status, p.Body)
				}
			}
		}
	}
	if p := partial(t, s.owner, base+"/overview/widget/pages?tab=nope"); p.Status != http.StatusBadRequest || !strings.Contains(p.Body, "unknown tab") {
		t.Errorf("unknown tab: %d %s", p.Status, p.Body)
	}
	if p := s.owner.Get(base + "/overview/widget/nope"); p.Status != http.StatusNotFound {
		t.Errorf("unknown widget: %d", p.Status)
	}
	// The 400 page keeps the pickers, so the user can go on.
	p := s.owner.Get(base + "?range=forever")
	if !strings.Contains(p.Body, `data-range="7d"`) || !strings.Contains(p.Body, `unknown range &#34;forever&#34;`) {
		t.Errorf("the 400 page lacks the pickers or the message:\n%s", p.Body)
	}
}

func TestOverviewEscapesHostileValues(t *testing.T) {
	t.Parallel()
	s := trOnboard(t)
	ovSeed(t, s)
	base := "/p/" + s.projectID
	hostileRow := func(widget, tab, value string) {
		t.Helper()
		eventually(t, widget+"/"+tab, func() string {
			w := partial(t, s.owner, base+"/overview/widget/"+widget+"?tab="+tab)
			if strings.Contains(w.Body, "<script>alert") || strings.Contains(w.Body, "<img src=x") {
				t.Fatalf("%s/%s: markup in the widget:\n%s", widget, tab, w.Body)
			}
			rows, _ := widgetRows(t, w.Body)
			for _, r := range rows {
				if strings.Contains(r.Value, value) {
					return ""
				}
			}
			return fmt.Sprintf("no row with %q in %v", value, rows)
		})
	}
	hostileRow("pages", "path", "/"+ovHostile)
	hostileRow("sources", "utm_source", ovHostile)
	hostileRow("sources", "referrer", "https://evil.test/")
	hostileRow("events", "event", "<img src=x onerror=alert(3)>")

	// Hostile filters: the chips and every link show them as text.
	f := "f=" + url.QueryEscape("name:is:"+url.QueryEscape(ovHostile)) + "&f=" + url.QueryEscape("properties.label:contains:"+url.QueryEscape(ovHostile))
	for _, path := range []string{base, base + "/overview/cards", base + "/overview/chart", base + "/overview/widget/events", base + "/overview/widget/geo"} {
		for _, p := range []apptest.Page{s.owner.Get(path + "?" + f), partial(t, s.owner, path+"?"+f)} {
			if p.Status != http.StatusOK || strings.Contains(p.Body, "<script>alert") || strings.Contains(p.Body, "<img src=x") {
				t.Errorf("%s with hostile filters: %d, or markup in the answer", path, p.Status)
			}
		}
	}
	if p := s.owner.Get(base + "?" + f); !strings.Contains(p.Body, html.EscapeString("Event name is "+ovHostile)) {
		t.Error("the hostile filter's chip is not shown as text")
	}

	// Chart options with hostile labels and names stay data: the JSON
	// has no "<" and reads back to the same strings.
	for _, c := range []views.Chart{
		views.NewLineChart(views.LineSeries{Name: ovHostile, Labels: []string{ovHostile, "</script>", "<!--", "\u2028"}, Current: []float64{1, 2, 3, 4}, Previous: []float64{0, 1, 2, 3}}),
		views.NewWorldMap([]views.MapValue{{Code: "DE", Visitors: 3}, {Code: ovHostile, Visitors: 1}}),
	} {
		var buf bytes.Buffer
		if err := views.ChartBox(c, "x").Render(context.Background(), &buf); err != nil {
			t.Fatal(err)
		}
		opts := chartOptions(t, buf.String())
		if strings.Count(buf.String(), "<") != 2 || strings.Count(buf.String(), ">") != 2 || strings.Contains(buf.String(), "<script") {
			t.Errorf("the chart markup is more than its element:\n%s", buf.String())
		}
		b, _ := json.Marshal(opts)
		if c.Map {
			if strings.Contains(string(b), "onerror") {
				t.Error("the map shows an unknown country code")
			}
			continue
		}
		labels := opts["xAxis"].([]any)[0].(map[string]any)["data"].([]any)
		if labels[0] != ovHostile || labels[1] != "</script>" || opts["series"].([]any)[0].(map[string]any)["name"] != ovHostile {
			t.Errorf("the labels did not survive as data: %v", labels)
		}
	}
	// The real chart partial, filtered by the hostile name.
	chartOptions(t, partial(t, s.owner, base+"/overview/chart?"+f).Body)
}
