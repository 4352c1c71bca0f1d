package analytics_test

import (
	"context"
	"testing"
	"time"

	"tally/app/analytics"
	"tally/app/dbtest"
	"tally/app/errs"
)

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	tz, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return tz
}

func TestParseRangePresets(t *testing.T) {
	t.Parallel()
	tz := mustLoad(t, "Europe/Berlin")
	// Wednesday 2024-07-17 15:42:10 in Berlin (CEST).
	now := time.Date(2024, 7, 17, 15, 42, 10, 0, tz)
	d := func(y int, m time.Month, day int) time.Time { return time.Date(y, m, day, 0, 0, 0, 0, tz) }
	cases := []struct {
		key, from, to, interval string
		wantFrom, wantTo        time.Time
		wantInterval            string
		wantBuckets             int
	}{
		{key: "30m", wantFrom: time.Date(2024, 7, 17, 15, 13, 0, 0, tz), wantTo: time.Date(2024, 7, 17, 15, 43, 0, 0, tz), wantInterval: "minute", wantBuckets: 30},
		{key: "1h", wantFrom: time.Date(2024, 7, 17, 14, 43, 0, 0, tz), wantTo: time.Date(2024, 7, 17, 15, 43, 0, 0, tz), wantInterval: "minute", wantBuckets: 60},
		{key: "today", wantFrom: d(2024, 7, 17), wantTo: d(2024, 7, 18), wantInterval: "hour", wantBuckets: 24},
		{key: "yesterday", wantFrom: d(2024, 7, 16), wantTo: d(2024, 7, 17), wantInterval: "hour", wantBuckets: 24},
		{key: "", wantFrom: d(2024, 7, 11), wantTo: d(2024, 7, 18), wantInterval: "day", wantBuckets: 7},
		{key: "7d", wantFrom: d(2024, 7, 11), wantTo: d(2024, 7, 18), wantInterval: "day", wantBuckets: 7},
		{key: "30d", wantFrom: d(2024, 6, 18), wantTo: d(2024, 7, 18), wantInterval: "day", wantBuckets: 30},
		{key: "3m", wantFrom: d(2024, 4, 18), wantTo: d(2024, 7, 18), wantInterval: "week", wantBuckets: 14},
		{key: "6m", wantFrom: d(2024, 1, 18), wantTo: d(2024, 7, 18), wantInterval: "week", wantBuckets: 27},
		{key: "12m", wantFrom: d(2023, 7, 18), wantTo: d(2024, 7, 18), wantInterval: "month", wantBuckets: 13},
		{key: "mtd", wantFrom: d(2024, 7, 1), wantTo: d(2024, 7, 18), wantInterval: "day", wantBuckets: 17},
		{key: "lastmonth", wantFrom: d(2024, 6, 1), wantTo: d(2024, 7, 1), wantInterval: "day", wantBuckets: 30},
		{key: "ytd", wantFrom: d(2024, 1, 1), wantTo: d(2024, 7, 18), wantInterval: "month", wantBuckets: 7},
		{key: "custom", from: "2024-02-28", to: "2024-03-01", wantFrom: d(2024, 2, 28), wantTo: d(2024, 3, 2), wantInterval: "day", wantBuckets: 3},
		{key: "custom", from: "2024-02-28", to: "2024-02-28", interval: "minute", wantFrom: d(2024, 2, 28), wantTo: d(2024, 2, 29), wantInterval: "minute", wantBuckets: 1440},
		{key: "7d", interval: "hour", wantFrom: d(2024, 7, 11), wantTo: d(2024, 7, 18), wantInterval: "hour", wantBuckets: 168},
	}
	for _, c := range cases {
		r, err := analytics.ParseRange(c.key, c.from, c.to, c.interval, tz, now)
		if err != nil {
			t.Errorf("%s: %v", c.key, err)
			continue
		}
		if !r.From.Equal(c.wantFrom) || !r.To.Equal(c.wantTo) || r.Interval != c.wantInterval {
			t.Errorf("%q: got [%v, %v) %s, want [%v, %v) %s", c.key, r.From, r.To, r.Interval, c.wantFrom, c.wantTo, c.wantInterval)
		}
		if n := len(r.Buckets()); n != c.wantBuckets {
			t.Errorf("%q: %d buckets, want %d", c.key, n, c.wantBuckets)
		}
		if r.TZ != tz {
			t.Errorf("%q: timezone %v", c.key, r.TZ)
		}
		wantKey := c.key
		if wantKey == "" {
			wantKey = "7d"
		}
		if r.Key != wantKey {
			t.Errorf("key %q, want %q", r.Key, wantKey)
		}
	}
	// Every preset parses (the UI lists them all).
	for _, o := range analytics.RangeKeys {
		if o.Key == "custom" {
			continue
		}
		if _, err := analytics.ParseRange(o.Key, "", "", "", tz, now); err != nil {
			t.Errorf("%s: %v", o.Key, err)
		}
	}
}

func TestParseRangeRejects(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 7, 17, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct{ key, from, to, interval string }{
		{key: "forever"},
		{key: "7d", interval: "fortnight"},
		{key: "7d", interval: "minute"}, // 10080 buckets
		{key: "12m", interval: "hour"},  // 8760 buckets
		{key: "custom", from: "2024-13-01", to: "2024-12-01"},
		{key: "custom", from: "2024-03-02", to: "2024-03-01"},
		{key: "custom", from: "", to: "2024-03-01"},
		{key: "custom", from: "2024-03-01", to: "'; DROP TABLE events; --"},
		{key: "custom", from: "0001-01-01", to: "2024-03-01"},
		{key: "custom", from: "2000-01-01", to: "2024-03-01"}, // 8827 days
	} {
		_, err := analytics.ParseRange(c.key, c.from, c.to, c.interval, time.UTC, now)
		if errs.KindOf(err) != errs.Invalid {
			t.Errorf("%+v: err %v, want invalid", c, err)
		}
	}
	// A long custom range is fine at a larger interval.
	if _, err := analytics.ParseRange("custom", "2000-01-01", "2024-03-01", "month", time.UTC, now); err != nil {
		t.Error(err)
	}
}

func TestRangePrevious(t *testing.T) {
	t.Parallel()
	tz := mustLoad(t, "Europe/Berlin")
	now := time.Date(2024, 4, 3, 10, 0, 0, 0, tz)
	r, err := analytics.ParseRange("7d", "", "", "", tz, now)
	if err != nil {
		t.Fatal(err)
	}
	// 2024-03-28 .. 2024-04-03 (crosses the spring change: 167 hours);
	// the previous 7 local days: 2024-03-21 .. 2024-03-27.
	p := r.Previous()
	if want := time.Date(2024, 3, 21, 0, 0, 0, 0, tz); !p.From.Equal(want) || !p.To.Equal(r.From) {
		t.Errorf("previous of %v: [%v, %v)", r.From, p.From, p.To)
	}
	if r.To.Sub(r.From) != 167*time.Hour || p.To.Sub(p.From) != 168*time.Hour {
		t.Errorf("lengths %v %v", r.To.Sub(r.From), p.To.Sub(p.From))
	}
	m, _ := analytics.ParseRange("30m", "", "", "", tz, now)
	mp := m.Previous()
	if !mp.To.Equal(m.From) || mp.To.Sub(mp.From) != 30*time.Minute {
		t.Errorf("previous of 30m: [%v, %v)", mp.From, mp.To)
	}
	lm, _ := analytics.ParseRange("lastmonth", "", "", "", tz, now) // March: 31 days, so from January 30
	lp := lm.Previous()
	if want := time.Date(2024, 1, 30, 0, 0, 0, 0, tz); !lp.From.Equal(want) {
		t.Errorf("previous of last month: from %v, want %v", lp.From, want)
	}
}

// Day buckets are local days (23 and 25 hours long on DST changes), hour
// buckets skip the hour clocks jump over and repeat the one they go back
// over: in Go (Range.Buckets) and in SQL, raw and from rollups, with the
// events counted in the right buckets.
func TestDSTBuckets(t *testing.T) {
	t.Parallel()
	tz := mustLoad(t, "Europe/Berlin")
	now := time.Date(2024, 11, 5, 12, 0, 0, 0, tz)

	spring, err := analytics.ParseRange("custom", "2024-03-31", "2024-03-31", "hour", tz, now)
	if err != nil {
		t.Fatal(err)
	}
	fall, err := analytics.ParseRange("custom", "2024-10-27", "2024-10-27", "hour", tz, now)
	if err != nil {
		t.Fatal(err)
	}
	days, err := analytics.ParseRange("custom", "2024-03-30", "2024-04-01", "day", tz, now)
	if err != nil {
		t.Fatal(err)
	}
	fallDays, err := analytics.ParseRange("custom", "2024-10-26", "2024-10-28", "day", tz, now)
	if err != nil {
		t.Fatal(err)
	}
	hours := func(bs []time.Time) []int {
		var out []int
		for _, b := range bs {
			out = append(out, b.Hour())
		}
		return out
	}
	sb := spring.Buckets()
	if len(sb) != 23 || hours(sb)[2] != 3 || hours(sb)[1] != 1 {
		t.Errorf("spring hours: %d buckets %v", len(sb), hours(sb))
	}
	fb := fall.Buckets()
	if len(fb) != 25 || hours(fb)[2] != 2 || hours(fb)[3] != 2 || fb[3].Sub(fb[2]) != time.Hour {
		t.Errorf("fall hours: %d buckets %v", len(fb), hours(fb))
	}
	db := days.Buckets()
	if len(db) != 3 || db[1].Sub(db[0]) != 24*time.Hour || db[2].Sub(db[1]) != 23*time.Hour {
		t.Errorf("spring days: %v", db)
	}
	fdb := fallDays.Buckets()
	if len(fdb) != 3 || fdb[2].Sub(fdb[1]) != 25*time.Hour {
		t.Errorf("fall days: %v", fdb)
	}

	// One device per half hour, each with one screen_view, through the
	// two change days and the days around them.
	pool := dbtest.NewPool(t)
	createProject(t, pool, "dst", "Europe/Berlin")
	d := &dataset{}
	for _, span := range [][2]time.Time{
		{time.Date(2024, 3, 29, 22, 0, 0, 0, time.UTC), time.Date(2024, 4, 1, 23, 0, 0, 0, time.UTC)},
		{time.Date(2024, 10, 25, 22, 0, 0, 0, time.UTC), time.Date(2024, 10, 28, 23, 0, 0, 0, time.UTC)},
	} {
		i := 0
		for at := span[0]; at.Before(span[1]); at = at.Add(30 * time.Minute) {
			d.addSession(rngFor(uint64(i)), "dst", "dev-"+at.Format(time.RFC3339), at.Add(time.Minute), at.Add(10*time.Hour))
			i++
		}
	}
	d.write(t, pool)
	if _, err := analytics.RefreshRollups(context.Background(), pool, 0, true); err != nil {
		t.Fatal(err)
	}
	store := analytics.NewStore(pool)
	ctx := context.Background()
	check := func(name string, st *analytics.Store, r analytics.Range, wantLen int, wantVisitors []float64) {
		t.Helper()
		cur, _, err := st.Series(ctx, analytics.Query{ProjectID: "dst", Range: r}, "visitors")
		if err != nil {
			t.Fatal(err)
		}
		want := r.Buckets()
		if len(cur) != wantLen || len(want) != wantLen {
			t.Fatalf("%s: %d points (Go: %d), want %d", name, len(cur), len(want), wantLen)
		}
		for i, p := range cur {
			if !p.Bucket.Equal(want[i]) {
				t.Errorf("%s[%d]: bucket %v, want %v", name, i, p.Bucket, want[i])
			}
			if wantVisitors != nil && p.Value != wantVisitors[i] {
				t.Errorf("%s[%d] %v: %v visitors, want %v", name, i, p.Bucket, p.Value, wantVisitors[i])
			}
		}
	}
	twos := func(n int) []float64 {
		out := make([]float64, n)
		for i := range out {
			out[i] = 2
		}
		return out
	}
	for label, st := range map[string]*analytics.Store{"rollups": store, "raw": analytics.RawStore(store)} {
		// Every (real) hour has two half-hour visitors, the repeated one too.
		check(label+" spring hours", st, spring, 23, twos(23))
		check(label+" fall hours", st, fall, 25, twos(25))
		check(label+" spring days", st, days, 3, []float64{48, 46, 48})
		check(label+" fall days", st, fallDays, 3, []float64{48, 50, 48})
		m, err := st.Metrics(ctx, analytics.Query{ProjectID: "dst", Range: fallDays})
		if err != nil {
			t.Fatal(err)
		}
		if m.Current.Visitors != 146 || m.Current.Sessions != 146 {
			t.Errorf("%s fall metrics: %+v", label, m.Current)
		}
	}
}
