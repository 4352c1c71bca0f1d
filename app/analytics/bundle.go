package analytics

import (
	"context"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// A filtered overview cannot read rollups: every answer scans the range's
// events. Its requests (cards, chart, every widget) arrive together, so
// the first one computes everything for the range in one pass
// (op.overview_filtered_v1) and the others wait for it and take their
// part; the answer is kept for bundleTTL for the next clicks. One scan
// per range (and one for the previous period) instead of one per widget.

// bundleTTL is how long a filtered answer is reused (the rollups of
// unfiltered answers are a few seconds behind too).
const bundleTTL = 5 * time.Second

// bundleDimLimit is how many rows of each dimension a bundle keeps;
// Breakdown asks the database directly for more.
const bundleDimLimit = 300

// bundleDims are the dimensions a bundle computes: the overview widgets'
// first tabs, which every filtered overview shows. (Each dimension costs
// about as much as the rest of the bundle; another tab is one query of its
// own when it is opened.)
var bundleDims = []string{"referrer_name", "path", "device", "country", "event"}

// bundleMaxEntries bounds the cache.
const bundleMaxEntries = 128

// bundleTimeout bounds one computation (it runs detached from the request
// that started it, so that its cancellation does not fail the others).
const bundleTimeout = 2 * time.Minute

type bundle struct {
	total  totals
	series []bundlePoint // by bucket
	dims   map[string][]Row
}

type bundlePoint struct {
	bucket time.Time
	sums   totals
}

type bundleKey struct {
	pool         *pgxpool.Pool
	project      string
	from, to     int64 // Unix µs
	tz, interval string
	filters      string
	dims         string // the dimensions computed, comma-separated
}

type bundleEntry struct {
	done chan struct{}
	at   time.Time
	b    *bundle
	err  error
}

var bundles = struct {
	sync.Mutex
	m map[bundleKey]*bundleEntry
}{m: map[bundleKey]*bundleEntry{}}

// filteredBundle returns the bundle of r (with the dimensions if dims),
// computing it once for concurrent callers.
func (s *Store) filteredBundle(ctx context.Context, a args, r Range, dims bool) (*bundle, error) {
	dimList := []string{}
	if dims {
		dimList = s.bundleDims()
	}
	key := bundleKey{pool: s.pool, project: a.project, from: r.From.UnixMicro(), to: r.To.UnixMicro(),
		tz: a.tz, interval: r.Interval, filters: string(a.filters), dims: strings.Join(dimList, ",")}
	now := time.Now()
	bundles.Lock()
	e, ok := bundles.m[key]
	if ok {
		select {
		case <-e.done:
			if e.err != nil || now.Sub(e.at) > bundleTTL {
				ok = false
			}
		default: // in flight: wait for it
		}
	}
	if !ok {
		e = &bundleEntry{done: make(chan struct{}), at: now}
		if len(bundles.m) >= bundleMaxEntries {
			evictBundles(now)
		}
		bundles.m[key] = e
		go func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bundleTimeout)
			defer cancel()
			e.b, e.err = s.computeBundle(cctx, a, r, dimList)
			e.at = time.Now()
			close(e.done)
		}()
	}
	bundles.Unlock()
	select {
	case <-e.done:
		return e.b, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// evictBundles drops finished entries past their time, then the oldest
// finished ones while the cache is full. Called with the lock held.
func evictBundles(now time.Time) {
	type aged struct {
		k  bundleKey
		at time.Time
	}
	var done []aged
	for k, e := range bundles.m {
		select {
		case <-e.done:
			if now.Sub(e.at) > bundleTTL || e.err != nil {
				delete(bundles.m, k)
				continue
			}
			done = append(done, aged{k, e.at})
		default:
		}
	}
	sort.Slice(done, func(i, j int) bool { return done[i].at.Before(done[j].at) })
	for i := 0; len(bundles.m) >= bundleMaxEntries && i < len(done); i++ {
		delete(bundles.m, done[i].k)
	}
}

// bundleDims are the dimensions s's bundles compute.
func (s *Store) bundleDims() []string {
	if s.dims != nil {
		return s.dims
	}
	return bundleDims
}

func (s *Store) computeBundle(ctx context.Context, a args, r Range, dimList []string) (*bundle, error) {
	rows, err := s.pool.Query(ctx, `SELECT kind, dim, value, bucket, visitors, sessions, bounces, duration, pageviews, revenue, count, total
		FROM op.overview_filtered_v1($1, $2, $3, $4, $5, $6::jsonb, $7, $8)`,
		a.project, r.From, r.To, a.tz, r.Interval, a.filters, dimList, bundleDimLimit)
	if err != nil {
		return nil, sqlErr(err, "compute the filtered overview")
	}
	defer rows.Close()
	b := &bundle{dims: map[string][]Row{}}
	tz := r.loc()
	for rows.Next() {
		var kind string
		var dim, value *string
		var bucket *time.Time
		var v, se, bo, du, pv, re, count, total *int64
		if err := rows.Scan(&kind, &dim, &value, &bucket, &v, &se, &bo, &du, &pv, &re, &count, &total); err != nil {
			return nil, sqlErr(err, "compute the filtered overview")
		}
		t := totals{visitors: deref(v), sessions: deref(se), bounces: deref(bo), duration: deref(du), pageviews: deref(pv), revenue: deref(re)}
		switch kind {
		case "total":
			b.total = t
		case "series":
			b.series = append(b.series, bundlePoint{bucket: bucket.In(tz), sums: t})
		case "dim":
			row := Row{Value: *value, Visitors: deref(v), Count: deref(count)}
			if tot := deref(total); tot > 0 {
				row.Share = float64(row.Count) / float64(tot)
			}
			b.dims[*dim] = append(b.dims[*dim], row)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, sqlErr(err, "compute the filtered overview")
	}
	sort.Slice(b.series, func(i, j int) bool { return b.series[i].bucket.Before(b.series[j].bucket) })
	for d, rs := range b.dims {
		sort.SliceStable(rs, func(i, j int) bool {
			if rs[i].Count != rs[j].Count {
				return rs[i].Count > rs[j].Count
			}
			return rs[i].Value < rs[j].Value
		})
		b.dims[d] = rs
	}
	return b, nil
}

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

// bundles of the current range (with dimensions) and of the previous one
// (without), computed concurrently.
func (s *Store) bundlePair(ctx context.Context, a args, r Range) (cur, prev *bundle, err error) {
	var wg sync.WaitGroup
	var perr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		prev, perr = s.filteredBundle(ctx, a, r.Previous(), false)
	}()
	cur, err = s.filteredBundle(ctx, a, r, true)
	wg.Wait()
	if err == nil {
		err = perr
	}
	return cur, prev, err
}

func seriesPoints(b *bundle, metric string) []Point {
	out := make([]Point, 0, len(b.series))
	for _, p := range b.series {
		out = append(out, Point{Bucket: p.bucket, Value: p.sums.value(metric)})
	}
	return out
}
