package web

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/go-chi/chi/v5"

	"tally/app/accounts"
	"tally/app/analytics"
	"tally/app/errs"
	"tally/views"
)

// The overview: a page that holds the URL state (range, interval, chart
// metric, filters) and partials that each answer one part of it with a
// few queries: the metric cards, the main chart and one widget per
// request. The page loads them in parallel (hx-trigger="load"); without
// JavaScript each partial is a page of its own.

// overviewQuery is a parsed overview URL.
type overviewQuery struct {
	project accounts.Project
	state   views.OverviewState
	query   analytics.Query
	metric  string
}

// maxOverviewQuery bounds the query string of overview URLs (20 filters
// of 50 values of 1000 characters would be 1 MB).
const maxOverviewQuery = 64 << 10

// parseOverview reads the overview's URL state; errors are errs.Invalid
// with a message for the page.
func (h *Handler) parseOverview(r *http.Request) (overviewQuery, error) {
	p := currentProject(r)
	o := overviewQuery{project: p}
	o.state.ProjectID = p.ID
	if len(r.URL.RawQuery) > maxOverviewQuery {
		return o, errs.E(errs.Invalid, "the address is too long: remove some filters")
	}
	q := r.URL.Query()
	for _, vs := range q {
		for _, v := range vs {
			if !validText(v) {
				return o, errs.E(errs.Invalid, "the address contains characters that are not text (invalid UTF-8 or NUL)")
			}
		}
	}
	st := &o.state
	st.Range, st.From, st.To, st.Interval = q.Get("range"), q.Get("from"), q.Get("to"), q.Get("interval")
	st.Metric = q.Get("metric")
	for _, f := range q["f"] {
		if f != "" {
			st.Filters = append(st.Filters, f)
		}
	}
	if st.Range == "" {
		st.Range = analytics.DefaultRange
	}
	if st.Metric == "" {
		st.Metric = analytics.MetricVisitors
	}
	// On an error, the part of the state at fault is dropped, so the
	// error page's links and forms lead to working pages.
	if !validChoice(analytics.SeriesMetrics, st.Metric) {
		err := errs.E(errs.Invalid, "unknown metric %q", clip(st.Metric, 40))
		st.Metric = analytics.MetricVisitors
		return o, err
	}
	o.metric = st.Metric
	tz, err := time.LoadLocation(p.Timezone)
	if err != nil {
		tz = time.UTC
	}
	rng, err := analytics.ParseRange(st.Range, st.From, st.To, st.Interval, tz, time.Now())
	if err != nil {
		st.Range, st.From, st.To, st.Interval = analytics.DefaultRange, "", "", ""
		return o, err
	}
	filters, err := analytics.ParseFilters(st.Filters)
	if err != nil {
		st.Filters = nil
		return o, err
	}
	// The canonical form of each filter (what EncodeFilter writes).
	st.Filters = st.Filters[:0]
	for _, f := range filters {
		st.Filters = append(st.Filters, analytics.EncodeFilter(f))
	}
	o.query = analytics.Query{ProjectID: p.ID, Range: rng, Filters: filters}
	return o, nil
}

func validChoice(list []analytics.Option, key string) bool {
	for _, o := range list {
		if o.Key == key {
			return true
		}
	}
	return false
}

func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

func (h *Handler) analytics() *analytics.Store { return analytics.NewStore(h.Pool) }

// overview is GET /p/{projectID}: the page (or, for HTMX swaps of
// #overview, just its content). The "add filter" form arrives here too
// (ff, fo, fv): it is turned into one more f and the browser is sent to
// the canonical URL.
func (h *Handler) overview(w http.ResponseWriter, r *http.Request) {
	o, err := h.parseOverview(r)
	if err == nil && r.URL.Query().Has("ff") {
		var to string
		if to, err = h.addFilterURL(r, o); err == nil {
			if r.Header.Get(hxRequest) == "true" {
				// HTMX submitted the form: answer the new state and
				// record its canonical URL in the history.
				w.Header().Set("HX-Push-Url", to)
				r2 := r.Clone(r.Context())
				r2.URL.RawQuery = strings.TrimPrefix(strings.TrimPrefix(to, views.ProjectPath(o.project.ID, "")), "?")
				o, err = h.parseOverview(r2)
			} else {
				http.Redirect(w, r, to, http.StatusSeeOther)
				return
			}
		}
	}
	v := h.overviewPage(o)
	status := http.StatusOK
	if err != nil {
		if errs.KindOf(err) != errs.Invalid {
			h.fail(w, r, err)
			return
		}
		status, v.Error = http.StatusBadRequest, errs.Message(err)
	}
	if isPartial(r) && r.Header.Get("HX-Target") == "overview" {
		h.write(w, r, status, views.Overview(v))
		return
	}
	h.pageStatus(w, r, status, "Overview", "overview", views.Overview(v))
}

// addFilterURL is the overview URL with the add-filter form's filter.
func (h *Handler) addFilterURL(r *http.Request, o overviewQuery) (string, error) {
	q := r.URL.Query()
	field := strings.TrimSpace(q.Get("ff"))
	if field == analytics.PropertyPrefix {
		key := strings.TrimSpace(q.Get("fp"))
		if key == "" {
			return "", errs.E(errs.Invalid, "a property filter needs the property's key")
		}
		field += key
	}
	f := analytics.Filter{Field: field, Op: q.Get("fo")}
	if f.Op != analytics.OpIsSet && f.Op != analytics.OpIsNotSet {
		for _, v := range strings.Split(q.Get("fv"), ",") {
			if v = strings.TrimSpace(v); v != "" {
				f.Values = append(f.Values, v)
			}
		}
	}
	if err := f.Validate(); err != nil {
		return "", err
	}
	if len(o.state.Filters) >= analytics.MaxFilters {
		return "", errs.E(errs.Invalid, "at most %d filters", analytics.MaxFilters)
	}
	return o.state.WithFilter(analytics.EncodeFilter(f)).URL(""), nil
}

// overviewWidgets are the widgets and their tabs (breakdown dimensions).
var overviewWidgets = []struct {
	name, title string
	tabs        []analytics.Option
}{
	{"sources", "Sources", []analytics.Option{
		{Key: "referrer_name", Label: "Referrers"}, {Key: "referrer", Label: "Referrer URLs"}, {Key: "referrer_type", Label: "Types"},
		{Key: "utm_source", Label: "UTM source"}, {Key: "utm_medium", Label: "Medium"}, {Key: "utm_campaign", Label: "Campaign"},
		{Key: "utm_term", Label: "Term"}, {Key: "utm_content", Label: "Content"},
	}},
	{"pages", "Pages", []analytics.Option{
		{Key: "path", Label: "Top pages"}, {Key: "entry_path", Label: "Entry pages"}, {Key: "exit_path", Label: "Exit pages"},
	}},
	{"devices", "Devices", []analytics.Option{
		{Key: "device", Label: "Device type"}, {Key: "browser", Label: "Browser"}, {Key: "browser_version", Label: "Browser version"},
		{Key: "os", Label: "OS"}, {Key: "os_version", Label: "OS version"}, {Key: "brand", Label: "Brand"}, {Key: "model", Label: "Model"},
	}},
	{"geo", "Locations", []analytics.Option{
		{Key: "country", Label: "Countries"}, {Key: "region", Label: "Regions"}, {Key: "city", Label: "Cities"},
	}},
	{"events", "Events", []analytics.Option{
		{Key: "event", Label: "Custom events"}, {Key: "link_out", Label: "Outgoing links"},
	}},
}

// dimField is the filter a widget row adds: the event column of its
// breakdown dimension.
func dimField(dim string) string {
	switch dim {
	case "entry_path", "exit_path":
		return "path"
	case "event":
		return "name"
	case "link_out":
		return analytics.PropertyPrefix + "href"
	}
	return dim
}

// overviewPage is the page's view model (for a state that failed to
// parse, what could be read: the pickers still work).
func (h *Handler) overviewPage(o overviewQuery) views.OverviewPage {
	st := o.state
	v := views.OverviewPage{State: st}
	for _, k := range analytics.RangeKeys {
		if k.Key == "custom" {
			continue
		}
		if k.Key == st.Range {
			v.RangeLabel = k.Label
		}
		u := st.WithRange(k.Key).URL("")
		v.Ranges = append(v.Ranges, views.Choice{Value: k.Key, Label: k.Label, URL: u, Current: k.Key == st.Range})
	}
	rng := o.query.Range
	if st.Range == "custom" {
		v.RangeLabel = "Custom range"
	}
	if !rng.From.IsZero() {
		v.Period = periodLabel(rng)
		for _, i := range analytics.Intervals {
			if n := bucketsOf(rng, i.Key); n > analytics.MaxBuckets || n < 1 {
				continue
			}
			v.Intervals = append(v.Intervals, views.Choice{Value: i.Key, Label: i.Label, Current: i.Key == rng.Interval})
		}
	} else {
		for _, i := range analytics.Intervals {
			v.Intervals = append(v.Intervals, views.Choice{Value: i.Key, Label: i.Label, Current: i.Key == st.Interval})
		}
	}
	for i, f := range o.query.Filters {
		v.Filters = append(v.Filters, views.FilterChip{Label: filterLabel(f), RemoveURL: st.WithoutFilter(i).URL("")})
	}
	for _, f := range analytics.Fields {
		v.Fields = append(v.Fields, views.Choice{Value: f.Key, Label: f.Label})
	}
	for _, op := range analytics.Ops {
		v.Ops = append(v.Ops, views.Choice{Value: op.Key, Label: op.Label})
	}
	for _, w := range overviewWidgets {
		v.Widgets = append(v.Widgets, views.Choice{Value: w.name, Label: w.title, URL: st.URL("/overview/widget/" + w.name)})
	}
	return v
}

// bucketsOf is how many buckets rng has at interval.
func bucketsOf(rng analytics.Range, interval string) int {
	r := rng
	r.Interval = interval
	return len(r.Buckets())
}

func filterLabel(f analytics.Filter) string {
	s := analytics.FieldLabel(f.Field) + " " + analytics.OpLabel(f.Op)
	if len(f.Values) > 0 {
		vals := make([]string, len(f.Values))
		for i, v := range f.Values {
			if f.Field == "country" {
				v = views.CountryName(v)
			}
			vals[i] = clip(v, 80)
		}
		s += " " + strings.Join(vals, " or ")
	}
	return s
}

// periodLabel describes a range in its timezone: "Mar 3 – Mar 9, 2026".
func periodLabel(r analytics.Range) string {
	tz := r.TZ
	if tz == nil {
		tz = time.UTC
	}
	from, to := r.From.In(tz), r.To.In(tz)
	if r.WholeDays() {
		last := to.AddDate(0, 0, -1)
		if last.Equal(from) || (last.Year() == from.Year() && last.YearDay() == from.YearDay()) {
			return from.Format("Mon, Jan 2, 2006") + " (" + tz.String() + ")"
		}
		if from.Year() == last.Year() {
			return from.Format("Jan 2") + " – " + last.Format("Jan 2, 2006") + " (" + tz.String() + ")"
		}
		return from.Format("Jan 2, 2006") + " – " + last.Format("Jan 2, 2006") + " (" + tz.String() + ")"
	}
	return from.Format("Jan 2, 15:04") + " – " + to.Format("15:04") + " (" + tz.String() + ")"
}

// partial answers an overview partial: the fragment for HTMX, a page of
// its own otherwise (a browser without JavaScript following the slot's
// link). Bad parameters are a 400 with the message, in the slot.
func (h *Handler) overviewPart(w http.ResponseWriter, r *http.Request, id string, build func(context.Context, overviewQuery) (templ.Component, error)) {
	o, err := h.parseOverview(r)
	var c templ.Component
	if err == nil {
		c, err = build(r.Context(), o)
	}
	if err != nil {
		if errs.KindOf(err) != errs.Invalid {
			h.fail(w, r, err)
			return
		}
		c = views.OverviewPartError(id, errs.Message(err))
		if isPartial(r) {
			h.write(w, r, http.StatusBadRequest, c)
			return
		}
		h.pageStatus(w, r, http.StatusBadRequest, "Overview", "overview", views.OverviewPartPage(views.ProjectPath(o.project.ID, ""), c))
		return
	}
	if isPartial(r) {
		h.partial(w, r, c)
		return
	}
	h.page(w, r, "Overview", "overview", views.OverviewPartPage(o.state.URL(""), c))
}

// metricUnits are how the cards and the chart format each metric.
var metricUnits = map[string]string{
	analytics.MetricVisitors: views.UnitCount, analytics.MetricSessions: views.UnitCount, analytics.MetricPageviews: views.UnitCount,
	analytics.MetricPagesPerSession: views.UnitDecimal, analytics.MetricBounceRate: views.UnitPercent,
	analytics.MetricAvgDuration: views.UnitSeconds, analytics.MetricRevenue: views.UnitMoney,
}

func metricValue(m analytics.Metrics, metric string) float64 {
	switch metric {
	case analytics.MetricVisitors:
		return float64(m.Visitors)
	case analytics.MetricSessions:
		return float64(m.Sessions)
	case analytics.MetricPageviews:
		return float64(m.Pageviews)
	case analytics.MetricPagesPerSession:
		return m.PagesPerSession
	case analytics.MetricBounceRate:
		return m.BounceRate
	case analytics.MetricAvgDuration:
		return m.AvgDuration
	case analytics.MetricRevenue:
		return float64(m.Revenue)
	}
	return 0
}

// rawValue is a metric's exact value for data-value (tests read it).
func rawValue(unit string, v float64) string {
	if unit == views.UnitCount || unit == views.UnitMoney {
		return strconv.FormatInt(int64(math.Round(v)), 10)
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// overviewCards is GET /p/{projectID}/overview/cards.
func (h *Handler) overviewCards(w http.ResponseWriter, r *http.Request) {
	h.overviewPart(w, r, "ov-cards", func(ctx context.Context, o overviewQuery) (templ.Component, error) {
		store := h.analytics()
		cmp, err := store.Metrics(ctx, o.query)
		if err != nil {
			return nil, err
		}
		hasRevenue := cmp.Current.Revenue != 0 || cmp.Previous.Revenue != 0
		if !hasRevenue {
			if hasRevenue, err = store.HasRevenue(ctx, o.project.ID); err != nil {
				return nil, err
			}
		}
		var cards []views.Card
		for _, m := range analytics.SeriesMetrics {
			if m.Key == analytics.MetricRevenue && !hasRevenue {
				continue
			}
			unit := metricUnits[m.Key]
			cur, prev := metricValue(cmp.Current, m.Key), metricValue(cmp.Previous, m.Key)
			c := views.Card{
				Metric: m.Key, Label: m.Label, Value: views.FormatValue(unit, cur), Raw: rawValue(unit, cur),
				URL: o.state.WithMetric(m.Key).URL(""), Current: m.Key == o.metric,
			}
			c.Change, c.Trend = change(cur, prev)
			c.Good = c.Trend != "flat" && (c.Trend == "up") != (m.Key == analytics.MetricBounceRate)
			cards = append(cards, c)
		}
		return views.OverviewCards(cards), nil
	})
}

// change is the relative change from prev to cur ("12%", "up"), or ""
// when the previous period had nothing.
func change(cur, prev float64) (string, string) {
	if prev == 0 {
		if cur == 0 {
			return "0%", "flat"
		}
		return "", "up"
	}
	pct := (cur - prev) / prev * 100
	trend := "flat"
	switch {
	case math.Round(pct) > 0:
		trend = "up"
	case math.Round(pct) < 0:
		trend = "down"
	}
	return views.FormatInt(int64(math.Round(math.Abs(pct)))) + "%", trend
}

// overviewChart is GET /p/{projectID}/overview/chart.
func (h *Handler) overviewChart(w http.ResponseWriter, r *http.Request) {
	h.overviewPart(w, r, "ov-chart", func(ctx context.Context, o overviewQuery) (templ.Component, error) {
		cur, prev, err := h.analytics().Series(ctx, o.query, o.metric)
		if err != nil {
			return nil, err
		}
		label := o.metric
		for _, m := range analytics.SeriesMetrics {
			if m.Key == o.metric {
				label = m.Label
			}
		}
		unit := metricUnits[o.metric]
		s := views.LineSeries{Name: label, Unit: unit}
		layout := bucketLayout(o.query.Range)
		v := views.ChartView{Title: label}
		for i, p := range cur {
			l := p.Bucket.In(o.query.Range.TZ).Format(layout)
			s.Labels = append(s.Labels, l)
			s.Current = append(s.Current, p.Value)
			row := [3]string{l, views.FormatValue(unit, p.Value), ""}
			if i < len(prev) {
				s.Previous = append(s.Previous, prev[i].Value)
				row[2] = views.FormatValue(unit, prev[i].Value)
			}
			v.Rows = append(v.Rows, row)
		}
		v.Chart = views.NewLineChart(s)
		return views.OverviewChart(v), nil
	})
}

// bucketLayout formats a bucket's start for the chart's x axis.
func bucketLayout(r analytics.Range) string {
	switch r.Interval {
	case "minute", "hour":
		if r.To.Sub(r.From) > 24*time.Hour {
			return "Jan 2 15:04"
		}
		return "15:04"
	case "month":
		return "Jan 2006"
	}
	if r.From.In(r.TZ).Year() != r.To.Add(-time.Nanosecond).In(r.TZ).Year() {
		return "Jan 2, 2006"
	}
	return "Mon Jan 2"
}

// widgetLimit is how many rows a widget shows.
const widgetLimit = 10

// mapLimit is how many countries the world map colors.
const mapLimit = 250

// overviewWidget is GET /p/{projectID}/overview/widget/{widget}?tab=.
func (h *Handler) overviewWidget(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "widget")
	idx := -1
	for i, wd := range overviewWidgets {
		if wd.name == name {
			idx = i
		}
	}
	if idx < 0 {
		h.fail(w, r, errs.E(errs.NotFound, "no such widget"))
		return
	}
	wd := overviewWidgets[idx]
	h.overviewPart(w, r, "w-"+wd.name, func(ctx context.Context, o overviewQuery) (templ.Component, error) {
		tab := r.URL.Query().Get("tab")
		if tab == "" {
			tab = wd.tabs[0].Key
		}
		if !validChoice(wd.tabs, tab) {
			return nil, errs.E(errs.Invalid, "unknown tab %q of the %s widget", clip(tab, 40), wd.name)
		}
		limit := widgetLimit
		if tab == "country" {
			limit = mapLimit // the map colors every country; the table shows the first rows
		}
		rows, err := h.analytics().Breakdown(ctx, o.query, tab, limit)
		if err != nil {
			return nil, err
		}
		v := views.WidgetView{Name: wd.name, Title: wd.title, ValueHeader: tabLabel(wd.tabs, tab), CountHeader: countHeader(tab)}
		for _, t := range wd.tabs {
			v.Tabs = append(v.Tabs, views.Choice{Value: t.Key, Label: t.Label, URL: o.state.URL("/overview/widget/"+wd.name, "tab", t.Key), Current: t.Key == tab})
		}
		if tab == "country" {
			vals := make([]views.MapValue, 0, len(rows))
			for _, row := range rows {
				vals = append(vals, views.MapValue{Code: row.Value, Visitors: row.Visitors})
			}
			m := views.NewWorldMap(vals)
			v.Map = &m
		}
		field := dimField(tab)
		for i, row := range rows {
			if i >= widgetLimit {
				break
			}
			wr := views.WidgetRow{
				Label: row.Value, Title: row.Value, Visitors: views.FormatInt(row.Visitors), Count: views.FormatInt(row.Count),
				Share: row.Share * 100,
			}
			f := analytics.Filter{Field: field, Op: analytics.OpIs, Values: []string{row.Value}}
			if row.Value == "" {
				wr.Label, wr.Title, wr.None = "(none)", "", true
				f = analytics.Filter{Field: field, Op: analytics.OpIsNotSet}
			} else if tab == "country" {
				wr.Label = views.CountryName(row.Value)
			}
			wr.FilterURL = o.state.WithFilter(analytics.EncodeFilter(f)).URL("")
			v.Rows = append(v.Rows, wr)
		}
		return views.OverviewWidget(v), nil
	})
}

func tabLabel(tabs []analytics.Option, key string) string {
	for _, t := range tabs {
		if t.Key == key {
			return t.Label
		}
	}
	return key
}

// countHeader names a breakdown's Count column.
func countHeader(dim string) string {
	switch dim {
	case "path":
		return "Views"
	case "event", "link_out":
		return "Events"
	}
	return "Sessions"
}
