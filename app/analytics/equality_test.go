package analytics_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"tally/app/analytics"
	"tally/app/dbtest"
	"tally/jobs"
)

var storePool *pgxpool.Pool

var equalityEnd = time.Date(2024, 4, 10, 12, 0, 0, 0, time.UTC)

type tzProject struct{ id, tz string }

var equalityProjects = []tzProject{
	{"p-utc", "UTC"},
	{"p-berlin", "Europe/Berlin"},     // DST: 2024-03-31
	{"p-newyork", "America/New_York"}, // DST: 2024-03-10
	{"p-kolkata", "Asia/Kolkata"},     // +05:30: local hours are not UTC hours
}

func equalityData(t *testing.T) (*analytics.Store, *analytics.Store, *dataset) {
	pool := dbtest.NewPool(t)
	storePool = pool
	ids := make([]string, len(equalityProjects))
	for i, p := range equalityProjects {
		createProject(t, pool, p.id, p.tz)
		ids[i] = p.id
	}
	d := genDataset(42, ids, equalityEnd, 40, 25)
	// Traffic in the last hour and a half, for the minute ranges.
	for i, p := range ids {
		for j := 0; j < 25; j++ {
			at := equalityEnd.Add(-time.Duration(90-3*j) * time.Minute).Add(time.Duration(j*7) * time.Second)
			d.addSession(rngFor(uint64(j+i*100)), p, p+"-dev-00"+strconv.Itoa(j%7), at, equalityEnd)
		}
	}
	d.write(t, pool)
	// With TimescaleDB, the older half of the data in compressed chunks and
	// the rest in row storage, as on a running server (the compress job).
	if _, err := jobs.CompressChunks(context.Background(), pool, time.Since(equalityEnd.AddDate(0, 0, -20))); err != nil {
		t.Fatal(err)
	}
	if dbtest.Timescale(t) {
		var compressed, open int
		if err := pool.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE is_compressed), count(*) FILTER (WHERE NOT is_compressed)
			FROM timescaledb_information.chunks WHERE hypertable_name = 'events'`).Scan(&compressed, &open); err != nil {
			t.Fatal(err)
		}
		if compressed < 15 || open < 15 {
			t.Fatalf("%d chunks compressed, %d not: want both halves", compressed, open)
		}
	}
	n, err := analytics.RefreshRollups(context.Background(), pool, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	if n < 40*len(ids) {
		t.Fatalf("refreshed %d days, want at least %d", n, 40*len(ids))
	}
	s := analytics.NewStore(pool)
	return s, analytics.RawStore(s), d
}

type rangeCase struct {
	key, from, to, interval string
}

var equalityRanges = []rangeCase{
	{key: "30m"},
	{key: "1h"},
	{key: "today"},
	{key: "yesterday"},
	{key: "7d"},
	{key: "7d", interval: "hour"},
	{key: "30d"},
	{key: "30d", interval: "week"},
	{key: "3m"},
	{key: "mtd"},
	{key: "lastmonth"},
	{key: "ytd"},
	{key: "12m", interval: "week"},
	{key: "custom", from: "2024-03-25", to: "2024-04-02"},
	{key: "custom", from: "2024-03-30", to: "2024-03-31", interval: "hour"},
	{key: "custom", from: "2024-03-08", to: "2024-03-12", interval: "day"},
}

// Rollup answers equal raw answers, and both equal the definitions
// computed in Go from the rows written, for every range preset, several
// intervals, every metric and every breakdown, in four timezones.
func TestRollupsEqualRawEqualDefinitions(t *testing.T) {
	t.Parallel()
	store, raw, d := equalityData(t)
	ctx := context.Background()
	for _, p := range equalityProjects {
		tz, err := time.LoadLocation(p.tz)
		if err != nil {
			t.Fatal(err)
		}
		for _, rc := range equalityRanges {
			r, err := analytics.ParseRange(rc.key, rc.from, rc.to, rc.interval, tz, equalityEnd)
			if err != nil {
				t.Fatalf("%s %v: %v", p.id, rc, err)
			}
			name := p.id + "/" + rc.key + "/" + r.Interval + "/" + rc.from
			q := analytics.Query{ProjectID: p.id, Range: r}
			prev := r.Previous()

			wantCur := metricsOf(d.metrics(p.id, r.From, r.To, tz, nil))
			wantPrev := metricsOf(d.metrics(p.id, prev.From, prev.To, tz, nil))
			if wantCur.Sessions == 0 && rc.key != "ytd" {
				t.Errorf("%s: no sessions in the range: the test data misses it", name)
			}
			for label, st := range map[string]*analytics.Store{"rollups": store, "raw": raw} {
				c, err := st.Metrics(ctx, q)
				if err != nil {
					t.Fatalf("%s %s metrics: %v", name, label, err)
				}
				if c.Current != wantCur || c.Previous != wantPrev {
					t.Errorf("%s %s metrics:\n got %+v / %+v\nwant %+v / %+v", name, label, c.Current, c.Previous, wantCur, wantPrev)
				}
			}

			wantSeries := d.series(p.id, r.From, r.To, tz, r.Interval, nil)
			wantPrevSeries := d.series(p.id, prev.From, prev.To, tz, r.Interval, nil)
			for _, metric := range analytics.SeriesMetrics {
				for label, st := range map[string]*analytics.Store{"rollups": store, "raw": raw} {
					cur, old, err := st.Series(ctx, q, metric.Key)
					if err != nil {
						t.Fatalf("%s %s series %s: %v", name, label, metric.Key, err)
					}
					checkSeries(t, name+" "+label+" "+metric.Key, cur, r, wantSeries, metric.Key)
					pr := prev
					wantOld := pr.Buckets()
					if len(wantOld) > len(cur) {
						wantOld = wantOld[:len(cur)]
					}
					if len(old) != len(wantOld) {
						t.Errorf("%s %s %s: previous has %d points, want %d", name, label, metric.Key, len(old), len(wantOld))
						continue
					}
					for i, pt := range old {
						want := 0.0
						if s := wantPrevSeries[wantOld[i].UnixMilli()]; s != nil {
							want = metricValue(*s, metric.Key)
						}
						if !pt.Bucket.Equal(wantOld[i]) || pt.Value != want {
							t.Errorf("%s %s %s previous[%d]: got %v %v, want %v %v", name, label, metric.Key, i, pt.Bucket, pt.Value, wantOld[i], want)
						}
					}
				}
			}

			for _, dim := range analytics.Dims {
				want := d.breakdown(p.id, r.From, r.To, tz, dim.Key, 8, nil)
				for label, st := range map[string]*analytics.Store{"rollups": store, "raw": raw} {
					got, err := st.Breakdown(ctx, q, dim.Key, 8)
					if err != nil {
						t.Fatalf("%s %s breakdown %s: %v", name, label, dim.Key, err)
					}
					if !sameRows(got, want) {
						t.Errorf("%s %s breakdown %s:\n got\n%s want\n%s", name, label, dim.Key, fmtRows(got), fmtRows(want))
					}
				}
			}
		}
	}
}

func checkSeries(t *testing.T, name string, got []analytics.Point, r analytics.Range, want map[int64]*sums, metric string) {
	t.Helper()
	buckets := r.Buckets()
	if len(got) != len(buckets) {
		t.Errorf("%s: %d points, want %d", name, len(got), len(buckets))
		return
	}
	var total int
	for k := range want {
		_ = k
		total++
	}
	found := 0
	for i, pt := range got {
		w := 0.0
		if s := want[buckets[i].UnixMilli()]; s != nil {
			w = metricValue(*s, metric)
			found++
		}
		if !pt.Bucket.Equal(buckets[i]) || pt.Value != w {
			t.Errorf("%s[%d]: got %v %v, want %v %v", name, i, pt.Bucket, pt.Value, buckets[i], w)
		}
		if pt.Bucket.Location().String() != r.TZ.String() {
			t.Errorf("%s[%d]: bucket in %s, want %s", name, i, pt.Bucket.Location(), r.TZ)
		}
	}
	if found != total {
		t.Errorf("%s: data in %d buckets, %d of them among the series' buckets", name, total, found)
	}
}

func sameRows(a, b []analytics.Row) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Value != b[i].Value || a[i].Visitors != b[i].Visitors || a[i].Count != b[i].Count ||
			abs(a[i].Share-b[i].Share) > 1e-12 {
			return false
		}
	}
	return true
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// Filtered queries (raw) equal the definitions computed in Go: events
// matching every filter, the sessions of those events.
func TestFilteredEqualDefinitions(t *testing.T) {
	t.Parallel()
	store, _, d := equalityData(t)
	ctx := context.Background()
	str := func(e tEvent, col string) (string, bool) {
		switch col {
		case "name":
			return e.Name, true
		case "path":
			if e.Path == nil {
				return "", false
			}
			return *e.Path, true
		}
		v, ok := e.Cols[col]
		return v, ok
	}
	num := func(s string) (float64, bool) {
		f, err := strconv.ParseFloat(s, 64)
		return f, err == nil
	}
	cases := []struct {
		name    string
		filters []analytics.Filter
		match   func(tEvent) bool
	}{
		{"country is DE", []analytics.Filter{{Field: "country", Op: "is", Values: []string{"DE"}}},
			func(e tEvent) bool { v, _ := str(e, "country"); return v == "DE" }},
		{"country DE and path prefix /blog", []analytics.Filter{
			{Field: "country", Op: "is", Values: []string{"DE"}},
			{Field: "path", Op: "starts_with", Values: []string{"/blog"}}},
			func(e tEvent) bool {
				c, _ := str(e, "country")
				p, _ := str(e, "path")
				return c == "DE" && strings.HasPrefix(p, "/blog")
			}},
		{"referrer none or Google", []analytics.Filter{{Field: "referrer_name", Op: "is", Values: []string{"", "Google"}}},
			func(e tEvent) bool { v, _ := str(e, "referrer_name"); return v == "" || v == "Google" }},
		{"name is not screen_view", []analytics.Filter{{Field: "name", Op: "is_not", Values: []string{"screen_view", "session_start"}}},
			func(e tEvent) bool { return e.Name != "screen_view" && e.Name != "session_start" }},
		{"browser contains hRo", []analytics.Filter{{Field: "browser", Op: "contains", Values: []string{"hRo"}}},
			func(e tEvent) bool { v, _ := str(e, "browser"); return strings.Contains(strings.ToLower(v), "hro") }},
		{"path not contains blog", []analytics.Filter{{Field: "path", Op: "not_contains", Values: []string{"blog"}}},
			func(e tEvent) bool { v, _ := str(e, "path"); return !strings.Contains(v, "blog") }},
		{"path ends with t-1 or regex docs", []analytics.Filter{
			{Field: "path", Op: "regex", Values: []string{"^/(docs|about)"}}},
			func(e tEvent) bool {
				v, _ := str(e, "path")
				return strings.HasPrefix(v, "/docs") || strings.HasPrefix(v, "/about")
			}},
		{"utm_campaign set", []analytics.Filter{{Field: "utm_campaign", Op: "is_set"}},
			func(e tEvent) bool { v, _ := str(e, "utm_campaign"); return v != "" }},
		{"utm_campaign not set", []analytics.Filter{{Field: "utm_campaign", Op: "is_not_set"}},
			func(e tEvent) bool { v, _ := str(e, "utm_campaign"); return v == "" }},
		{"properties.plan > 5", []analytics.Filter{{Field: "properties.plan", Op: "gt", Values: []string{"5"}}},
			func(e tEvent) bool {
				s, _ := e.Props["plan"].(string)
				f, ok := num(s)
				return ok && f > 5
			}},
		{"properties.plan <= 2.5 or is pro", []analytics.Filter{{Field: "properties.plan", Op: "lte", Values: []string{"2.5"}}},
			func(e tEvent) bool {
				s, _ := e.Props["plan"].(string)
				f, ok := num(s)
				return ok && f <= 2.5
			}},
		{"revenue >= 2000", []analytics.Filter{{Field: "revenue", Op: "gte", Values: []string{"2000"}}},
			func(e tEvent) bool { return e.Revenue != nil && *e.Revenue >= 2000 }},
		{"path ends with e", []analytics.Filter{{Field: "path", Op: "ends_with", Values: []string{"e", "/"}}},
			func(e tEvent) bool {
				v, ok := str(e, "path")
				return ok && (strings.HasSuffix(v, "e") || strings.HasSuffix(v, "/"))
			}},
		{"path with a quote", []analytics.Filter{{Field: "path", Op: "is", Values: []string{"/a'b"}}},
			func(e tEvent) bool { v, _ := str(e, "path"); return v == "/a'b" }},
	}
	for _, p := range equalityProjects[:2] {
		tz, _ := time.LoadLocation(p.tz)
		for _, rc := range []rangeCase{{key: "30d"}, {key: "7d", interval: "hour"}, {key: "1h"}, {key: "custom", from: "2024-03-25", to: "2024-04-02", interval: "week"}} {
			r, err := analytics.ParseRange(rc.key, rc.from, rc.to, rc.interval, tz, equalityEnd)
			if err != nil {
				t.Fatal(err)
			}
			prev := r.Previous()
			for _, c := range cases {
				for label, store := range map[string]*analytics.Store{"bundle": store, "functions": analytics.NoBundleStore(store),
					"bundle of every dimension": analytics.AllDimsBundleStore(store)} {
					name := p.id + "/" + rc.key + "/" + r.Interval + "/" + c.name + " " + label
					q := analytics.Query{ProjectID: p.id, Range: r, Filters: c.filters}
					got, err := store.Metrics(ctx, q)
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					want := analytics.Comparison{
						Current:  metricsOf(d.metrics(p.id, r.From, r.To, tz, c.match)),
						Previous: metricsOf(d.metrics(p.id, prev.From, prev.To, tz, c.match)),
					}
					if got != want {
						t.Errorf("%s metrics:\n got %+v\nwant %+v", name, got, want)
					}
					if rc.key == "30d" && (want.Current.Visitors == 0 || want.Current.Sessions == 0) {
						t.Errorf("%s: the filter selects nothing: the test data misses it", name)
					}
					ws := d.series(p.id, r.From, r.To, tz, r.Interval, c.match)
					for _, metric := range []string{"visitors", "pageviews", "sessions", "bounce_rate", "revenue"} {
						cur, _, err := store.Series(ctx, q, metric)
						if err != nil {
							t.Fatalf("%s series: %v", name, err)
						}
						checkSeries(t, name+" "+metric, cur, r, ws, metric)
					}
					for _, dim := range []string{"path", "country", "referrer_name", "entry_path", "event", "link_out", "utm_campaign", "browser"} {
						got, err := store.Breakdown(ctx, q, dim, 5)
						if err != nil {
							t.Fatalf("%s breakdown: %v", name, err)
						}
						want := d.breakdown(p.id, r.From, r.To, tz, dim, 5, c.match)
						if !sameRows(got, want) {
							t.Errorf("%s breakdown %s:\n got\n%s want\n%s", name, dim, fmtRows(got), fmtRows(want))
						}
					}
				}
			}
		}
	}
}
