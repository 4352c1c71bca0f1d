package analytics

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"tally/app/errs"
)

// Series metrics (Series' metric argument).
const (
	MetricVisitors        = "visitors"
	MetricSessions        = "sessions"
	MetricPageviews       = "pageviews"
	MetricPagesPerSession = "pages_per_session"
	MetricBounceRate      = "bounce_rate"
	MetricAvgDuration     = "avg_duration"
	MetricRevenue         = "revenue"
)

// SeriesMetrics are the metrics of the cards and the chart, in card order.
var SeriesMetrics = []Option{
	{MetricVisitors, "Visitors"},
	{MetricSessions, "Sessions"},
	{MetricPageviews, "Pageviews"},
	{MetricPagesPerSession, "Pages per session"},
	{MetricBounceRate, "Bounce rate"},
	{MetricAvgDuration, "Avg. duration"},
	{MetricRevenue, "Revenue"},
}

// Dims are the breakdown dimensions. Their Row.Count is sessions, except
// path (pageviews) and event, link_out (events).
var Dims = []Option{
	{"referrer_name", "Referrer"},
	{"referrer", "Referrer URL"},
	{"referrer_type", "Referrer type"},
	{"utm_source", "UTM source"},
	{"utm_medium", "UTM medium"},
	{"utm_campaign", "UTM campaign"},
	{"utm_term", "UTM term"},
	{"utm_content", "UTM content"},
	{"path", "Top pages"},
	{"entry_path", "Entry pages"},
	{"exit_path", "Exit pages"},
	{"device", "Device type"},
	{"browser", "Browser"},
	{"browser_version", "Browser version"},
	{"os", "OS"},
	{"os_version", "OS version"},
	{"brand", "Brand"},
	{"model", "Model"},
	{"country", "Country"},
	{"region", "Region"},
	{"city", "City"},
	{"event", "Custom events"},
	{"link_out", "Outgoing links"},
}

// Breakdown row limits: 0 means DefaultLimit.
const (
	DefaultLimit = 10
	MaxLimit     = 1000
)

// Store answers the overview's questions.
type Store struct {
	pool     *pgxpool.Pool
	raw      bool     // never read rollups (tests compare both paths)
	noBundle bool     // filtered queries one function per answer (tests compare)
	dims     []string // the dimensions a bundle computes; nil: bundleDims
}

// NewStore makes a Store on pool.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

func validMetric(m string) bool {
	for _, o := range SeriesMetrics {
		if o.Key == m {
			return true
		}
	}
	return false
}

func validDim(d string) bool {
	for _, o := range Dims {
		if o.Key == d {
			return true
		}
	}
	return false
}

// args are the SQL functions' common arguments.
type args struct {
	project  string
	from, to time.Time
	tz       string
	filters  []byte // JSON array
}

func (s *Store) prepare(q Query) (args, error) {
	if q.ProjectID == "" {
		return args{}, errs.E(errs.Invalid, "no project")
	}
	r := q.Range
	if !r.To.After(r.From) {
		return args{}, errs.E(errs.Invalid, "empty time range")
	}
	if len(q.Filters) > MaxFilters {
		return args{}, errs.E(errs.Invalid, "at most %d filters", MaxFilters)
	}
	for _, f := range q.Filters {
		if err := f.Validate(); err != nil {
			return args{}, err
		}
	}
	fs := q.Filters
	if fs == nil {
		fs = []Filter{}
	}
	b, err := json.Marshal(fs)
	if err != nil {
		return args{}, errs.Wrap(errs.Invalid, err, "bad filters")
	}
	return args{project: q.ProjectID, from: r.From, to: r.To, tz: r.loc().String(), filters: b}, nil
}

// sqlErr maps the overview functions' errors: TLFLT (a filter the
// compiler refuses) and bad input are the caller's fault.
func sqlErr(err error, what string) error {
	if err == nil {
		return nil
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch {
		case pg.Code == "TLFLT":
			return errs.Wrap(errs.Invalid, err, pg.Message)
		case pg.Code == "22023" && strings.Contains(pg.Message, "time zone"):
			return errs.Wrap(errs.Invalid, err, pg.Message)
		case pg.Code == "2201B": // invalid regular expression (at run time)
			return errs.Wrap(errs.Invalid, err, "invalid regular expression: "+pg.Message)
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var e *errs.Error
	if errors.As(err, &e) {
		return err
	}
	return errs.Wrap(errs.Internal, err, what)
}

// totals is one row of metrics sums.
type totals struct {
	visitors, sessions, bounces, duration, pageviews, revenue int64
}

func (t totals) metrics() Metrics {
	m := Metrics{Visitors: t.visitors, Sessions: t.sessions, Pageviews: t.pageviews, Revenue: t.revenue}
	if t.sessions > 0 {
		m.PagesPerSession = float64(t.pageviews) / float64(t.sessions)
		m.BounceRate = 100 * float64(t.bounces) / float64(t.sessions)
		m.AvgDuration = float64(t.duration) / float64(t.sessions) / 1000
	}
	return m
}

func (t totals) value(metric string) float64 {
	m := t.metrics()
	switch metric {
	case MetricVisitors:
		return float64(m.Visitors)
	case MetricSessions:
		return float64(m.Sessions)
	case MetricPageviews:
		return float64(m.Pageviews)
	case MetricPagesPerSession:
		return m.PagesPerSession
	case MetricBounceRate:
		return m.BounceRate
	case MetricAvgDuration:
		return m.AvgDuration
	case MetricRevenue:
		return float64(m.Revenue)
	}
	return 0
}

const metricsSQL = `SELECT visitors, sessions, bounces, duration, pageviews, revenue
	FROM op.overview_metrics_v1($1, $2, $3, $4, $5::jsonb, $6)`

// Metrics are the cards of q's range and of the previous period.
func (s *Store) Metrics(ctx context.Context, q Query) (Comparison, error) {
	a, err := s.prepare(q)
	if err != nil {
		return Comparison{}, err
	}
	if len(q.Filters) > 0 && !s.noBundle {
		cur, prev, err := s.bundlePair(ctx, a, q.Range)
		if err != nil {
			return Comparison{}, err
		}
		return Comparison{Current: cur.total.metrics(), Previous: prev.total.metrics()}, nil
	}
	prev := q.Range.Previous()
	b := &pgx.Batch{}
	var cur, old totals
	scan := func(t *totals) func(pgx.Row) error {
		return func(row pgx.Row) error {
			return row.Scan(&t.visitors, &t.sessions, &t.bounces, &t.duration, &t.pageviews, &t.revenue)
		}
	}
	b.Queue(metricsSQL, a.project, a.from, a.to, a.tz, a.filters, s.raw).QueryRow(scan(&cur))
	b.Queue(metricsSQL, a.project, prev.From, prev.To, a.tz, a.filters, s.raw).QueryRow(scan(&old))
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return Comparison{}, sqlErr(err, "compute the overview's metrics")
	}
	return Comparison{Current: cur.metrics(), Previous: old.metrics()}, nil
}

const seriesSQL = `SELECT bucket, visitors, sessions, bounces, duration, pageviews, revenue
	FROM op.overview_series_v1($1, $2, $3, $4, $5, $6, $7::jsonb, $8)`

// Series is metric over q's range at its interval, and over the previous
// period (prev[i] is the bucket as far into the previous period as cur[i];
// prev is cut to len(cur) when the previous period has more buckets).
// Every bucket is present, empty ones with 0.
func (s *Store) Series(ctx context.Context, q Query, metric string) (cur, prev []Point, err error) {
	if !validMetric(metric) {
		return nil, nil, errs.E(errs.Invalid, "unknown metric %q", truncate(metric, 40))
	}
	if !validInterval(q.Range.Interval) {
		return nil, nil, errs.E(errs.Invalid, "unknown interval %q", truncate(q.Range.Interval, 40))
	}
	a, err := s.prepare(q)
	if err != nil {
		return nil, nil, err
	}
	if n := len(q.Range.Buckets()); n > MaxBuckets {
		return nil, nil, errs.E(errs.Invalid, "%d buckets are too many (at most %d)", n, MaxBuckets)
	}
	if len(q.Filters) > 0 && !s.noBundle {
		cb, pb, err := s.bundlePair(ctx, a, q.Range)
		if err != nil {
			return nil, nil, err
		}
		cur, prev = seriesPoints(cb, metric), seriesPoints(pb, metric)
		if len(prev) > len(cur) {
			prev = prev[:len(cur)]
		}
		return cur, prev, nil
	}
	p := q.Range.Previous()
	tz := q.Range.loc()
	b := &pgx.Batch{}
	read := func(out *[]Point) func(pgx.Rows) error {
		return func(rows pgx.Rows) error {
			for rows.Next() {
				var t totals
				var bucket time.Time
				if err := rows.Scan(&bucket, &t.visitors, &t.sessions, &t.bounces, &t.duration, &t.pageviews, &t.revenue); err != nil {
					return err
				}
				*out = append(*out, Point{Bucket: bucket.In(tz), Value: t.value(metric)})
			}
			return rows.Err()
		}
	}
	cur, prev = []Point{}, []Point{}
	b.Queue(seriesSQL, a.project, a.from, a.to, a.tz, q.Range.Interval, metric, a.filters, s.raw).Query(read(&cur))
	b.Queue(seriesSQL, a.project, p.From, p.To, a.tz, q.Range.Interval, metric, a.filters, s.raw).Query(read(&prev))
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, nil, sqlErr(err, "compute the overview's series")
	}
	if len(prev) > len(cur) {
		prev = prev[:len(cur)]
	}
	return cur, prev, nil
}

// Breakdown is the top limit values of dim in q (see Dims), by count
// (descending) then value.
func (s *Store) Breakdown(ctx context.Context, q Query, dim string, limit int) ([]Row, error) {
	if !validDim(dim) {
		return nil, errs.E(errs.Invalid, "unknown breakdown %q", truncate(dim, 40))
	}
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	a, err := s.prepare(q)
	if err != nil {
		return nil, err
	}
	if len(q.Filters) > 0 && !s.noBundle && limit <= bundleDimLimit && slices.Contains(s.bundleDims(), dim) {
		b, err := s.filteredBundle(ctx, a, q.Range, true)
		if err != nil {
			return nil, err
		}
		rows := b.dims[dim]
		out := make([]Row, 0, min(limit, len(rows)))
		return append(out, rows[:min(limit, len(rows))]...), nil
	}
	rows, err := s.pool.Query(ctx, `SELECT value, visitors, count, total
		FROM op.overview_breakdown_v1($1, $2, $3, $4, $5, $6, $7::jsonb, $8)`,
		a.project, a.from, a.to, a.tz, dim, limit, a.filters, s.raw)
	if err != nil {
		return nil, sqlErr(err, "compute a breakdown")
	}
	out, err := collectRows(rows)
	return out, sqlErr(err, "compute a breakdown")
}

func collectRows(rows pgx.Rows) ([]Row, error) {
	out := []Row{}
	for rows.Next() {
		var r Row
		var total int64
		if err := rows.Scan(&r.Value, &r.Visitors, &r.Count, &total); err != nil {
			rows.Close()
			return nil, err
		}
		if total > 0 {
			r.Share = float64(r.Count) / float64(total)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// HasRevenue reports whether the project has ever had revenue (from the
// rollups: a few seconds behind).
func (s *Store) HasRevenue(ctx context.Context, projectID string) (bool, error) {
	var has bool
	err := s.pool.QueryRow(ctx, `SELECT op.has_revenue_v1($1)`, projectID).Scan(&has)
	return has, sqlErr(err, "check for revenue")
}

// Realtime windows.
const (
	RealtimeVisitorsWindow = 5 * time.Minute
	RealtimeWindow         = 30 * time.Minute
	RealtimeFeedSize       = 50
	RealtimeTop            = 10
	RealtimeMaxPoints      = 500
)

// Realtime is the realtime page's data, read raw (never from rollups).
func (s *Store) Realtime(ctx context.Context, projectID string) (Realtime, error) {
	if projectID == "" {
		return Realtime{}, errs.E(errs.Invalid, "no project")
	}
	out := Realtime{Feed: []FeedEvent{}, Points: []GeoPoint{}}
	b := &pgx.Batch{}
	b.Queue(`SELECT op.realtime_visitors_v1($1, $2)`, projectID, RealtimeVisitorsWindow).QueryRow(func(row pgx.Row) error {
		return row.Scan(&out.Visitors)
	})
	b.Queue(`SELECT name, path, country, city, browser, device, created_at FROM op.realtime_feed_v1($1, $2)`,
		projectID, RealtimeFeedSize).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var e FeedEvent
			if err := rows.Scan(&e.Name, &e.Path, &e.Country, &e.City, &e.Browser, &e.Device, &e.CreatedAt); err != nil {
				return err
			}
			out.Feed = append(out.Feed, e)
		}
		return rows.Err()
	})
	top := func(dim string, dst *[]Row) {
		b.Queue(`SELECT value, visitors, count, total FROM op.realtime_top_v1($1, $2, $3, $4)`,
			projectID, RealtimeWindow, dim, RealtimeTop).Query(func(rows pgx.Rows) error {
			r, err := collectRows(rows)
			*dst = r
			return err
		})
	}
	top("path", &out.TopPages)
	top("referrer_name", &out.TopReferrers)
	top("country", &out.TopCountries)
	b.Queue(`SELECT latitude, longitude, city, country, visitors FROM op.realtime_geo_v1($1, $2, $3)`,
		projectID, RealtimeWindow, RealtimeMaxPoints).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var p GeoPoint
			if err := rows.Scan(&p.Latitude, &p.Longitude, &p.City, &p.Country, &p.Visitors); err != nil {
				return err
			}
			out.Points = append(out.Points, p)
		}
		return rows.Err()
	})
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return Realtime{}, sqlErr(err, "read the realtime view")
	}
	return out, nil
}
