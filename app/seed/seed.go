// Package seed writes realistic synthetic traffic into a project: the demo
// data of `tally seed` and `serve --demo`, and the data set of
// `bench overview`.
//
// The traffic is what a software company's website gets: daily and weekly
// seasonality with a slow growth trend and one launch spike, a power law
// over a site map of about 200 pages, visitors from search engines, social
// networks, newsletters and direct, UTM campaigns, cities around the world,
// real browsers and devices, sessions of several page views with custom
// events, outgoing links and purchases, and some identified users.
//
// Rows are exactly what ingest would have stored for that traffic: the
// events of each session with its session_start and session_end events,
// one sessions row per session, an anonymous profile per device and a
// profile per identified user (their devices merged into it, as after the
// merge job), device ids of 32 hex characters. They are written with
// binary COPY, a day of traffic per transaction, on a few connections.
package seed

import (
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"tally/app/analytics"
	"tally/app/errs"
)

// Options say what to seed.
type Options struct {
	ProjectID string
	// Events is how many rows to write into events (session_start and
	// session_end included): exact unless it is tiny.
	Events int64
	// Days is how many local days (in the project's timezone) the traffic
	// spans: today (up to End) and the days before.
	Days int
	// Seed makes the traffic reproducible (ids are always fresh, so seeding
	// a project twice adds traffic instead of failing on duplicates).
	Seed uint64
	// End is the newest event's time; zero means now.
	End time.Time
	// Workers is how many connections COPY in parallel (default 2).
	Workers int
	// Refresh recomputes the rollups of the seeded days before Run returns
	// (otherwise they are only marked dirty, for the server's refresh job).
	Refresh bool
	// Analyze updates the planner statistics of the tables afterwards.
	Analyze bool
	// Log gets progress lines; nil logs nothing.
	Log *slog.Logger
}

// Result is what Run wrote.
type Result struct {
	Events       int64   `json:"events"`
	Sessions     int64   `json:"sessions"`
	Profiles     int64   `json:"profiles"`
	Days         int     `json:"days"`
	Seconds      float64 `json:"seconds"`        // generating and writing
	EventsPerSec float64 `json:"events_per_sec"` // Events / Seconds
	// FinishSeconds is the time spent after writing: rollups marked dirty
	// (or refreshed), ANALYZE.
	FinishSeconds float64 `json:"finish_seconds"`
}

// Run seeds o.ProjectID, which must exist.
func Run(ctx context.Context, pool *pgxpool.Pool, o Options) (Result, error) {
	started := time.Now()
	if o.Events < 3 {
		return Result{}, errs.E(errs.Invalid, "--events must be at least 3 (a session is session_start, an event and session_end)")
	}
	if o.Days < 1 || o.Days > 3660 {
		return Result{}, errs.E(errs.Invalid, "--days must be between 1 and 3660")
	}
	if o.Workers <= 0 {
		o.Workers = 2
	}
	if o.End.IsZero() {
		o.End = time.Now()
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	var tzName string
	err := pool.QueryRow(ctx, `SELECT timezone FROM projects WHERE id = $1`, o.ProjectID).Scan(&tzName)
	if errors.Is(err, pgx.ErrNoRows) {
		return Result{}, errs.E(errs.NotFound, "no project has the id %q", o.ProjectID)
	}
	if err != nil {
		return Result{}, err
	}
	tz, err := time.LoadLocation(tzName)
	if err != nil {
		tz = time.UTC
	}
	g := newGenerator(o, tz)
	if _, err := pool.Exec(ctx, `SELECT op.ensure_partitions_v1($1, $2)`,
		time.UnixMilli(g.days[0].start).Add(-time.Hour), o.End.Add(2*time.Hour)); err != nil {
		return Result{}, fmt.Errorf("create partitions: %w", err)
	}

	// One goroutine generates a day at a time; workers encode and COPY them.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	chunks := make(chan *chunk, o.Workers)
	var (
		res      Result
		written  atomic.Int64
		firstErr error
		errOnce  sync.Once
		wg       sync.WaitGroup
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel() })
	}
	var mu sync.Mutex
	lastLog := time.Now()
	for range o.Workers {
		wg.Add(1)
		w := newWriter(g, rand.New(rand.NewPCG(g.ids.Uint64(), g.ids.Uint64())))
		go func() {
			defer wg.Done()
			for c := range chunks {
				if err := w.write(ctx, pool, o.ProjectID, c); err != nil {
					fail(err)
					continue
				}
				n := written.Add(int64(len(c.events)))
				mu.Lock()
				res.Sessions += int64(len(c.sessions))
				res.Profiles += int64(w.profiles.rows)
				if time.Since(lastLog) > 5*time.Second {
					lastLog = time.Now()
					o.Log.Info("seeding", "project", o.ProjectID, "events", n, "of", o.Events,
						"events_per_sec", int(float64(n)/time.Since(started).Seconds()))
				}
				mu.Unlock()
			}
		}()
	}
	for i := range g.days {
		if ctx.Err() != nil {
			break
		}
		c := g.day(i)
		select {
		case chunks <- c:
		case <-ctx.Done():
		}
	}
	close(chunks)
	wg.Wait()
	if firstErr != nil {
		return Result{}, firstErr
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	n, err := g.writeUsers(ctx, pool)
	if err != nil {
		return Result{}, err
	}
	res.Profiles += n
	res.Events = written.Load()
	res.Days = len(g.days)
	res.Seconds = time.Since(started).Seconds()
	res.EventsPerSec = math.Round(float64(res.Events) / res.Seconds)
	res.Seconds = math.Round(res.Seconds*100) / 100
	o.Log.Info("seeded", "project", o.ProjectID, "events", res.Events, "sessions", res.Sessions, "seconds", res.Seconds, "events_per_sec", res.EventsPerSec)

	// Make the seeded days visible: the rollups of those days refreshed and,
	// when asked, fresh planner statistics (the tables may just have grown
	// by millions of rows; autovacuum would get there within minutes).
	finishing := time.Now()
	if err := analytics.MarkDirty(ctx, pool, o.ProjectID, time.UnixMilli(g.days[0].start), o.End); err != nil {
		return res, err
	}
	if o.Refresh {
		days, err := analytics.RefreshRollups(ctx, pool, 0, true)
		if err != nil {
			return res, err
		}
		o.Log.Info("rollups refreshed", "project", o.ProjectID, "days", days, "seconds", math.Round(time.Since(finishing).Seconds()*10)/10)
	}
	if o.Analyze {
		for _, t := range []string{"events", "sessions", "profiles"} {
			if _, err := pool.Exec(ctx, "ANALYZE "+t); err != nil {
				return res, fmt.Errorf("analyze %s: %w", t, err)
			}
		}
	}
	res.FinishSeconds = math.Round(time.Since(finishing).Seconds()*100) / 100
	return res, nil
}

// ---------------------------------------------------------------------------
// Generation

type day struct {
	start, end int64 // local midnight to midnight (ms); end is capped at End for today
	budget     int64 // rows of events to write
	spike      bool  // the launch day: Hacker News sends a crowd
	minuteMax  float64
}

// person is a visitor: the same browser and place every day (their device
// id changes daily, as the cookieless id does).
type person struct {
	ua, place uint8
	user      int32 // index into users, -1 when anonymous
}

type user struct {
	id, first, last, email string
	props                  []byte
	firstSeen, lastSeen    int64
	place, ua              uint8
	used                   bool
}

// custom is a pre-encoded custom event.
type custom struct {
	name    string
	props   []byte
	revenue int64
}

type generator struct {
	o       Options
	tz      *time.Location
	end     time.Time
	endMs   int64
	openMs  int64 // sessions whose last event is after this are still open
	rng     *rand.Rand
	ids     *rand.Rand
	days    []day
	minutes cdf

	pages       []page
	pageCDF     cdf
	sectionOf   map[string][]int
	sectionCDF  map[string]cdf
	sourceCDF   cdf
	placeCDF    cdf
	uaCDF       cdf
	hn          int // the Hacker News source
	customs     map[string][]custom
	revenue     []custom
	sessionEnds map[[3]int32][]byte // session_end properties by (bounce, views, events)
	utm         []utmFields
	pricing     int
	signup      int
	checkout    int
	success     int
	login       int

	persons []person
	users   []user
}

type utmFields struct{ source, medium, campaign, term, content string }

func newGenerator(o Options, tz *time.Location) *generator {
	seed := o.Seed
	var nonce [2]uint64
	nonce[0], nonce[1] = rand.Uint64(), rand.Uint64()
	g := &generator{
		o: o, tz: tz, end: o.End, endMs: o.End.UnixMilli(),
		openMs:      time.Now().Add(-30 * time.Minute).UnixMilli(),
		rng:         rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		ids:         rand.New(rand.NewPCG(nonce[0], nonce[1])),
		minutes:     diurnal(),
		pages:       sitePages(),
		sectionOf:   map[string][]int{},
		sectionCDF:  map[string]cdf{},
		customs:     map[string][]custom{},
		sessionEnds: map[[3]int32][]byte{},
	}
	g.pageCDF = newCDF(len(g.pages), func(i int) float64 { return 1 / math.Pow(float64(i+1), 0.95) })
	for i, p := range g.pages {
		g.sectionOf[p.section] = append(g.sectionOf[p.section], i)
		switch p.path {
		case "/pricing":
			g.pricing = i
		case "/signup":
			g.signup = i
		case "/checkout":
			g.checkout = i
		case "/checkout/success":
			g.success = i
		case "/login":
			g.login = i
		}
	}
	for s, idx := range g.sectionOf {
		g.sectionCDF[s] = newCDF(len(idx), func(i int) float64 { return 1 / math.Pow(float64(i+1), 0.8) })
	}
	g.sourceCDF = newCDF(len(sources), func(i int) float64 { return sources[i].weight })
	for i, s := range sources {
		if s.refName == "Hacker News" {
			g.hn = i
		}
		var u utmFields
		if s.query != "" {
			p := parsePage(SiteOrigin + "/?" + s.query)
			u = utmFields{p.UTMSource, p.UTMMedium, p.UTMCampaign, p.UTMTerm, p.UTMContent}
		}
		g.utm = append(g.utm, u)
	}
	g.placeCDF = newCDF(len(places), func(i int) float64 { return places[i].weight })
	g.uaCDF = newCDF(len(userAgents), func(i int) float64 { return userAgents[i].weight })
	g.buildCustoms()
	g.planDays()
	return g
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// buildCustoms pre-encodes the custom events each section's pages fire.
func (g *generator) buildCustoms() {
	add := func(section, name string, props map[string]any) {
		g.customs[section] = append(g.customs[section], custom{name: name, props: mustJSON(props)})
	}
	for _, loc := range []string{"hero", "navbar", "footer"} {
		add("home", "button_click", map[string]any{"button": "get_started", "location": loc})
		add("features", "button_click", map[string]any{"button": "book_demo", "location": loc})
	}
	add("home", "video_play", map[string]any{"video": "product_tour", "seconds": 94})
	add("home", "video_play", map[string]any{"video": "customer_story", "seconds": 151})
	for _, p := range plans {
		for _, iv := range []string{"monthly", "yearly"} {
			add("pricing", "button_click", map[string]any{"button": "start_trial", "plan": p.name, "interval": iv})
		}
	}
	add("pricing", "toggle_billing", map[string]any{"interval": "yearly"})
	add("pricing", "faq_open", map[string]any{"question": "Can I self-host?"})
	add("pricing", "faq_open", map[string]any{"question": "Do you offer discounts for non-profits?"})
	for _, l := range outLinks {
		for _, s := range []string{"blog", "docs", "features", "home", "changelog", "integrations"} {
			add(s, "link_out", map[string]any{"href": l.href, "text": l.text})
		}
	}
	for _, f := range []string{"blog_footer", "blog_inline"} {
		add("blog", "newsletter_subscribe", map[string]any{"form": f})
	}
	for _, n := range []string{"x", "linkedin", "hacker_news", "copy_link"} {
		add("blog", "share", map[string]any{"network": n})
	}
	for i, q := range []string{"install", "api key", "retention", "export csv", "self host", "revenue", "webhook", "bot filtering"} {
		add("docs", "search", map[string]any{"query": q, "results": 3 + i*4})
	}
	for _, lang := range []string{"javascript", "bash", "go", "python", "sql"} {
		add("docs", "copy_code", map[string]any{"language": lang})
	}
	for _, m := range []string{"email", "google", "github"} {
		for _, p := range plans[:3] {
			add("signup", "signup", map[string]any{"method": m, "plan": p.name})
		}
		add("login", "login", map[string]any{"method": m})
	}
	add("contact", "form_submit", map[string]any{"form": "contact_sales", "company_size": "51-200"})
	add("contact", "form_submit", map[string]any{"form": "contact_sales", "company_size": "11-50"})
	add("customers", "button_click", map[string]any{"button": "read_story", "location": "grid"})
	add("compare", "button_click", map[string]any{"button": "start_trial", "location": "comparison_table"})
	add("integrations", "button_click", map[string]any{"button": "connect", "location": "integration_page"})
	for _, p := range plans {
		g.revenue = append(g.revenue, custom{name: "revenue", revenue: p.cents,
			props: mustJSON(map[string]any{"plan": p.name, "currency": "USD"})})
	}
}

// planDays spreads the rows over the days: weekly seasonality (quieter
// weekends), growth over the span, day-to-day noise and one spike.
func (g *generator) planDays() {
	endLocal := g.end.In(g.tz)
	y, m, d := endLocal.Date()
	n := g.o.Days
	weekday := [7]float64{0.55, 1.0, 1.06, 1.05, 1.0, 0.9, 0.6} // Sunday first
	weights := make([]float64, n)
	g.days = make([]day, n)
	spike := -1
	if n >= 7 {
		spike = n/3 + g.rng.IntN(n/3)
	}
	var total float64
	for i := range n {
		ds := time.Date(y, m, d-(n-1-i), 0, 0, 0, 0, g.tz)
		de := time.Date(y, m, d-(n-1-i)+1, 0, 0, 0, 0, g.tz)
		dd := day{start: ds.UnixMilli(), end: de.UnixMilli(), minuteMax: 1}
		w := weekday[ds.Weekday()] * (0.75 + 0.5*float64(i)/float64(n)) * max(0.7, 1+0.07*g.rng.NormFloat64())
		if i == spike {
			w *= 2.2
			dd.spike = true
		}
		if i == n-1 { // today: only the part of the day that has passed
			mins := int(endLocal.Sub(ds).Minutes())
			dd.end = g.endMs
			dd.minuteMax = g.minutes[min(max(mins-1, 0), 1439)]
			w *= dd.minuteMax
		}
		weights[i] = w
		total += w
		g.days[i] = dd
	}
	// Largest remainder, then no day with a budget a session cannot fill.
	var sum int64
	rem := make([]float64, n)
	for i, w := range weights {
		x := float64(g.o.Events) * w / total
		g.days[i].budget = int64(x)
		rem[i] = x - math.Floor(x)
		sum += g.days[i].budget
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		if rem[a] > rem[b] {
			return -1
		}
		if rem[a] < rem[b] {
			return 1
		}
		return 0
	})
	for k := 0; sum < g.o.Events; k++ {
		g.days[order[k%n]].budget++
		sum++
	}
	var carry int64
	for i := range g.days {
		g.days[i].budget += carry
		carry = 0
		if b := g.days[i].budget; b > 0 && b < 3 {
			carry, g.days[i].budget = b, 0
		}
	}
	for i := n - 1; carry > 0 && i >= 0; i-- { // the tail goes to the last day with traffic
		if g.days[i].budget > 0 {
			g.days[i].budget += carry
			carry = 0
		}
	}
}

// tracked is one event of a session, before it is written.
type tracked struct {
	t       int64
	page    int16
	custom  *custom // nil: screen_view
	landing bool    // on the landing page: carries the referrer and the UTM query
}

// session is one generated session.
type session struct {
	id        [16]byte
	dev       int32 // index into the chunk's devices
	src       int16
	place, ua uint8
	user      int32
	start     int64
	last      int64
	events    int32
	views     int32
	revenue   int64
	entry     int16 // -1: no screen_view
	exit      int16
	open      bool
	endProps  []byte
	profileID string
	deviceID  string
}

// device is a person on one day: one device id, one anonymous profile (or
// an identity of their user's profile).
type device struct {
	id        string
	person    int32
	user      int32
	userID    string // the identified user's profile id
	first     int64
	last      int64
	place, ua uint8
	spans     [][2]int64
}

// ev is one row of events.
type ev struct {
	t    int64
	s    int32 // session index in the chunk
	kind uint8
	page int16
	c    *custom
	land bool
}

const (
	kindView uint8 = iota
	kindCustom
	kindStart
	kindEnd
)

// chunk is one day of traffic.
type chunk struct {
	sessions []session
	devices  []device
	events   []ev
}

// day generates the sessions of day i.
func (g *generator) day(i int) *chunk {
	d := &g.days[i]
	c := &chunk{}
	devOf := map[int32]int32{}
	budget := d.budget
	plan := make([]tracked, 0, 32)
	for budget >= 2 {
		var s session
		// When does it start (local clock, so DST days work)?
		start := g.startTime(d)
		// Who?
		pi := g.pickPerson()
		s.src = int16(g.sourceCDF.pick(g.rng.Float64()))
		if d.spike && g.rng.Float64() < 0.45 {
			s.src = int16(g.hn)
		}
		plan = g.plan(plan[:0], &s, pi)
		g.schedule(plan, start)
		plan = g.fit(plan, budget)
		s.start, s.last = plan[0].t, plan[len(plan)-1].t
		rows := int64(len(plan)) + 2
		s.open = s.last > g.openMs
		if s.open {
			rows--
		}
		if rows > budget {
			break // cannot happen but for a budget of 2 with a closed session
		}
		// The same device must not have overlapping sessions (ingest would
		// have joined them): a returning visitor who would overlap is
		// somebody new instead.
		di, ok := devOf[pi]
		if ok && overlaps(c.devices[di].spans, s.start, s.last) {
			pi = g.newPerson()
			ok = false
		}
		if !ok {
			p := g.persons[pi]
			di = int32(len(c.devices))
			devOf[pi] = di
			dv := device{id: g.deviceID(), person: pi, user: p.user, first: s.start, last: s.last, place: p.place, ua: p.ua}
			if p.user >= 0 {
				dv.userID = g.users[p.user].id
			}
			c.devices = append(c.devices, dv)
		}
		dv := &c.devices[di]
		dv.spans = append(dv.spans, [2]int64{s.start, s.last})
		dv.first, dv.last = min(dv.first, s.start), max(dv.last, s.last)
		p := g.persons[pi]
		s.dev, s.place, s.ua, s.user = di, p.place, p.ua, p.user
		s.deviceID = dv.id
		s.profileID = dv.id
		if p.user >= 0 {
			u := &g.users[p.user]
			s.profileID = u.id
			if !u.used || s.start < u.firstSeen {
				u.firstSeen = s.start
			}
			if !u.used || s.last >= u.lastSeen {
				u.lastSeen, u.place, u.ua = s.last, p.place, p.ua
			}
			u.used = true
		}
		g.v7(s.start, &s.id)
		s.entry, s.exit = -1, -1
		si := int32(len(c.sessions))
		c.events = append(c.events, ev{t: s.start - 1, s: si, kind: kindStart, page: plan[0].page, land: true})
		for _, t := range plan {
			k := kindView
			if t.custom != nil {
				k = kindCustom
				s.revenue += t.custom.revenue
			} else {
				s.views++
				if s.entry < 0 {
					s.entry = t.page
				}
				s.exit = t.page
			}
			c.events = append(c.events, ev{t: t.t, s: si, kind: k, page: t.page, c: t.custom, land: t.landing})
		}
		s.events = int32(len(plan))
		if !s.open {
			s.endProps = g.endProps(s.events <= 1, s.views, s.events)
			c.events = append(c.events, ev{t: s.last + 1, s: si, kind: kindEnd, page: s.exit})
		}
		c.sessions = append(c.sessions, s)
		budget -= rows
	}
	if budget > 0 && i+1 < len(g.days) {
		g.days[i+1].budget += budget
	}
	// Rows in time order: every index on time (and the v7 ids) is then
	// appended to instead of written all over.
	order := make([]int32, len(c.sessions))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int { return cmp.Compare(c.sessions[a].start, c.sessions[b].start) })
	sorted := make([]session, len(c.sessions))
	newIndex := make([]int32, len(c.sessions))
	for i, o := range order {
		sorted[i] = c.sessions[o]
		newIndex[o] = int32(i)
	}
	c.sessions = sorted
	for i := range c.events {
		c.events[i].s = newIndex[c.events[i].s]
	}
	slices.SortFunc(c.events, func(a, b ev) int { return cmp.Compare(a.t, b.t) })
	return c
}

func overlaps(spans [][2]int64, from, to int64) bool {
	const idle = 30 * 60 * 1000
	for _, sp := range spans {
		if from <= sp[1]+idle && to >= sp[0]-idle {
			return true
		}
	}
	return false
}

// startTime draws a session start from the daily curve.
func (g *generator) startTime(d *day) int64 {
	u := g.rng.Float64() * d.minuteMax
	m := g.minutes.pick(u)
	ds := time.UnixMilli(d.start).In(g.tz)
	t := time.Date(ds.Year(), ds.Month(), ds.Day(), 0, m, g.rng.IntN(60), g.rng.IntN(1000)*int(time.Millisecond), g.tz).UnixMilli()
	if t >= g.endMs-60_000 {
		t = g.endMs - 60_000 - g.rng.Int64N(10*60_000)
	}
	if t < d.start {
		t = d.start + g.rng.Int64N(60_000)
	}
	return t
}

func (g *generator) pickPerson() int32 {
	if n := len(g.persons); n > 0 && g.rng.Float64() < 0.32 {
		// Returning visitors: recent and frequent ones more often.
		u := g.rng.Float64()
		return int32(n - 1 - int(float64(n)*u*u*u))
	}
	return g.newPerson()
}

func (g *generator) newPerson() int32 {
	p := person{ua: uint8(g.uaCDF.pick(g.rng.Float64())), place: uint8(g.placeCDF.pick(g.rng.Float64())), user: -1}
	if g.rng.Float64() < 0.05 {
		p.user = int32(len(g.users))
		first := firstNames[g.rng.IntN(len(firstNames))]
		last := lastNames[g.rng.IntN(len(lastNames))]
		company := companies[g.rng.IntN(len(companies))]
		plan := plans[g.rng.IntN(len(plans))].name
		var b [5]byte
		for i := range b {
			b[i] = byte(g.ids.Uint32())
		}
		id := "user_" + hex.EncodeToString(b[:])
		g.users = append(g.users, user{
			id: id, first: first, last: last,
			email: asciiLower(first) + "." + id[5:] + "@" + asciiLower(company[:min(len(company), 6)]) + ".example",
			props: mustJSON(map[string]any{"plan": plan, "company": company, "role": []string{"engineer", "founder", "marketer", "analyst"}[g.rng.IntN(4)]}),
		})
	}
	g.persons = append(g.persons, p)
	return int32(len(g.persons) - 1)
}

func asciiLower(s string) string {
	b := []byte(s)
	n := 0
	for _, c := range b {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c >= 'a' && c <= 'z' {
			b[n] = c
			n++
		}
	}
	return string(b[:n])
}

// plan lists a session's events (times come later).
func (g *generator) plan(out []tracked, s *session, pi int32) []tracked {
	src := &sources[s.src]
	entry := g.entryPage(src.entry)
	out = append(out, tracked{page: entry, landing: true})
	// 40 % leave after one page, most of the rest browse a few pages.
	if g.rng.Float64() < 0.40 {
		return out
	}
	pages := 1 + int(math.Floor(math.Log(1-g.rng.Float64())/math.Log(0.62)))
	pages = min(pages, 25)
	cur := entry
	landing := true
	user := g.persons[pi].user >= 0
	buying := g.rng.Float64() < 0.05
	for k := 0; k < pages || k == 0; k++ {
		if k > 0 {
			cur = g.nextPage(cur, user)
			landing = false
			out = append(out, tracked{page: cur})
		}
		if g.rng.Float64() < 0.3 {
			if cs := g.customs[g.pages[cur].section]; len(cs) > 0 {
				out = append(out, tracked{page: cur, custom: &cs[g.rng.IntN(len(cs))], landing: landing})
			}
		}
		if k == 0 && user && g.rng.Float64() < 0.5 {
			out = append(out, tracked{page: int16(g.login)},
				tracked{page: int16(g.login), custom: &g.customs["login"][g.rng.IntN(len(g.customs["login"]))]})
			cur = int16(g.login)
			landing = false
		}
	}
	if buying {
		// A purchase: pricing, sign-up, checkout, the revenue event, thanks.
		r := &g.revenue[min(int(math.Floor(-math.Log(1-g.rng.Float64())*1.3)), len(g.revenue)-1)]
		out = append(out, tracked{page: int16(g.pricing)}, tracked{page: int16(g.signup)},
			tracked{page: int16(g.signup), custom: &g.customs["signup"][g.rng.IntN(len(g.customs["signup"]))]},
			tracked{page: int16(g.checkout)}, tracked{page: int16(g.checkout), custom: r}, tracked{page: int16(g.success)})
	}
	return out
}

func (g *generator) entryPage(section string) int16 {
	if section != "" && g.rng.Float64() < 0.75 {
		idx := g.sectionOf[section]
		return int16(idx[g.sectionCDF[section].pick(g.rng.Float64())])
	}
	return int16(g.pageCDF.pick(g.rng.Float64()))
}

func (g *generator) nextPage(cur int16, user bool) int16 {
	sec := g.pages[cur].section
	if user && g.rng.Float64() < 0.3 {
		sec = "docs"
	}
	if g.rng.Float64() < 0.45 && len(g.sectionOf[sec]) > 1 {
		idx := g.sectionOf[sec]
		return int16(idx[g.sectionCDF[sec].pick(g.rng.Float64())])
	}
	return int16(g.pageCDF.pick(g.rng.Float64()))
}

// schedule gives the events their times: reading time between page views
// (log-normal around 40 s), a few seconds before a click, never after End.
func (g *generator) schedule(plan []tracked, start int64) {
	t := start
	for i := range plan {
		if i > 0 {
			var dt float64
			if plan[i].custom != nil {
				dt = 1500 + g.rng.Float64()*25_000
			} else {
				dt = math.Min(40_000*math.Exp(0.9*g.rng.NormFloat64()), 20*60_000)
			}
			t = g.after(t, int64(dt))
		}
		plan[i].t = t
	}
}

// after is t+dt, squeezed so that it stays before End.
func (g *generator) after(t, dt int64) int64 {
	dt = max(dt, 1)
	if t+dt > g.endMs {
		dt = max((g.endMs-t)/2, 1)
	}
	return t + dt
}

// fit trims or extends a session so that the day's budget ends exactly:
// what is left after it is 0 or at least 3 rows.
func (g *generator) fit(plan []tracked, budget int64) []tracked {
	for range 4 {
		rows := int64(len(plan)) + 2
		if plan[len(plan)-1].t > g.openMs {
			rows--
		}
		left := budget - rows
		switch {
		case left < 0:
			plan = plan[:max(1, len(plan)+int(left))]
		case left == 1 || left == 2:
			last := plan[len(plan)-1]
			for range left {
				last = tracked{t: g.after(last.t, 20_000+g.rng.Int64N(60_000)), page: int16(g.pageCDF.pick(g.rng.Float64()))}
				plan = append(plan, last)
			}
		default:
			return plan
		}
	}
	return plan
}

func (g *generator) endProps(bounce bool, views, events int32) []byte {
	k := [3]int32{0, views, events}
	if bounce {
		k[0] = 1
	}
	if b, ok := g.sessionEnds[k]; ok {
		return b
	}
	b := []byte(`{"bounce": ` + strconv.FormatBool(bounce) + `, "events": ` + strconv.Itoa(int(events)) + `, "screenViews": ` + strconv.Itoa(int(views)) + `}`)
	g.sessionEnds[k] = b
	return b
}

func (g *generator) v7(ms int64, u *[16]byte) { v7(g.ids, ms, u) }

// v7 is a time-ordered UUID (version 7) for time ms.
func v7(ids *rand.Rand, ms int64, u *[16]byte) {
	hi := uint64(ms)<<16 | 0x7000 | uint64(ids.Uint32()&0x0fff)
	lo := ids.Uint64()&0x3fffffffffffffff | 0x8000000000000000
	for i := range 8 {
		u[i] = byte(hi >> (56 - 8*i))
		u[8+i] = byte(lo >> (56 - 8*i))
	}
}

// deviceID is 32 hex characters, as ingest's salted hash is.
func (g *generator) deviceID() string {
	var b [16]byte
	a, c := g.ids.Uint64(), g.ids.Uint64()
	for i := range 8 {
		b[i] = byte(a >> (8 * i))
		b[8+i] = byte(c >> (8 * i))
	}
	return hex.EncodeToString(b[:])
}
