package profiles_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"tally/app/dbtest"
	"tally/app/errs"
	"tally/app/profiles"
	"tally/jobs"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

type fixture struct {
	ctx   context.Context
	pool  *pgxpool.Pool
	store *profiles.Store
	now   time.Time // millisecond precision, so it survives the database exactly
}

func setup(t *testing.T) *fixture {
	t.Helper()
	pool := dbtest.NewPool(t)
	ctx := context.Background()
	if err := jobs.Maintain(ctx, pool, time.Now()); err != nil {
		t.Fatal(err)
	}
	return &fixture{ctx: ctx, pool: pool, store: profiles.NewStore(pool), now: time.Now().UTC().Truncate(time.Millisecond)}
}

// ev is one event for op.ingest_v1: the fields of op.ingest_event_v1 the
// tests set. ingest fills Ord, ID (when zero) and Session.
type ev struct {
	Ord          int             `json:"ord"`
	ID           uuid.UUID       `json:"id"`
	ProjectID    string          `json:"project_id"`
	Name         string          `json:"name"`
	DeviceID     string          `json:"device_id"`
	ProfileID    string          `json:"profile_id,omitempty"` // "": anonymous (the device)
	CreatedAt    time.Time       `json:"created_at"`
	OpensSession bool            `json:"opens_session"`
	Path         string          `json:"path,omitempty"`
	Origin       string          `json:"origin,omitempty"`
	ReferrerName string          `json:"referrer_name,omitempty"`
	Country      string          `json:"country,omitempty"`
	City         string          `json:"city,omitempty"`
	Browser      string          `json:"browser,omitempty"`
	OS           string          `json:"os,omitempty"`
	Device       string          `json:"device,omitempty"`
	Revenue      int64           `json:"revenue,omitempty"`
	Properties   json.RawMessage `json:"properties,omitempty"`

	Session uuid.UUID `json:"-"` // the session ingest put it in (zero: none)
}

// profile is the id the event is stored under before any merge.
func (e ev) profile() string {
	if e.ProfileID != "" {
		return e.ProfileID
	}
	return e.DeviceID
}

// ingest stores evs as one batch of op.ingest_v1 and returns them with
// ids and sessions filled in.
func (f *fixture) ingest(t *testing.T, evs ...ev) []ev {
	t.Helper()
	out := slices.Clone(evs)
	for i := range out {
		out[i].Ord = i + 1
		if out[i].ID == uuid.Nil {
			out[i].ID = uuid.New()
		}
	}
	batch, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := f.pool.Query(f.ctx, `SELECT ord, session_id FROM op.ingest_v1($1::jsonb)`, batch)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var ord int
		var sid *uuid.UUID
		if err := rows.Scan(&ord, &sid); err != nil {
			t.Fatal(err)
		}
		if sid != nil {
			out[ord-1].Session = *sid
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func (f *fixture) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := f.pool.Exec(f.ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func (f *fixture) identify(t *testing.T, project, id, first, last, email string, props string, seen time.Time) {
	t.Helper()
	f.exec(t, `SELECT op.identify_v1($1, $2, nullif($3, ''), nullif($4, ''), nullif($5, ''), NULL, $6::jsonb, $7)`,
		project, id, first, last, email, props, seen)
}

func (f *fixture) merge(t *testing.T, project, from, to string) int64 {
	t.Helper()
	var id *int64
	if err := f.pool.QueryRow(f.ctx, `SELECT op.merge_profiles_v1($1, $2, $3)`, project, from, to).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if id == nil {
		t.Fatalf("merge %s into %s did nothing", from, to)
	}
	return *id
}

func (f *fixture) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := f.pool.QueryRow(f.ctx, sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// expectedStats computes a profile's stats from the fixtures alone: each
// device here has one session (its session-opening events are minutes
// apart), holding all its events.
func expectedStats(evs []ev, project string, ids ...string) profiles.Stats {
	var st profiles.Stats
	type sess struct {
		first, last time.Time
		n           int
	}
	sessions := map[uuid.UUID]*sess{}
	for _, e := range evs {
		if e.ProjectID != project || !slices.Contains(ids, e.profile()) {
			continue
		}
		st.Events++
		st.Revenue += e.Revenue
		if e.Session == uuid.Nil {
			continue
		}
		if e.Name == "screen_view" {
			st.ScreenViews++
		}
		s := sessions[e.Session]
		if s == nil {
			s = &sess{first: e.CreatedAt, last: e.CreatedAt}
			sessions[e.Session] = s
		}
		s.n++
		if e.CreatedAt.Before(s.first) {
			s.first = e.CreatedAt
		}
		if e.CreatedAt.After(s.last) {
			s.last = e.CreatedAt
		}
	}
	var total time.Duration
	var bounces int
	for _, s := range sessions {
		total += s.last.Sub(s.first)
		if s.n <= 1 {
			bounces++
		}
	}
	st.Sessions = int64(len(sessions))
	if st.Sessions > 0 {
		st.AvgSessionDuration = total / time.Duration(st.Sessions)
		st.BounceRate = float64(bounces) / float64(st.Sessions)
	}
	return st
}

func checkStats(t *testing.T, label string, got, want profiles.Stats) {
	t.Helper()
	d := got.AvgSessionDuration - want.AvgSessionDuration
	if got.Sessions != want.Sessions || got.ScreenViews != want.ScreenViews || got.Events != want.Events ||
		got.Revenue != want.Revenue || math.Abs(got.BounceRate-want.BounceRate) > 1e-9 ||
		d > time.Microsecond || d < -time.Microsecond {
		t.Fatalf("%s: stats\n got %+v\nwant %+v", label, got, want)
	}
}

// statsFixture: user-1 browses on two devices and buys on the server, an
// anonymous device d3 is merged into user-1, and rows of another profile
// and another project (with the same id) must not count.
func statsFixture(t *testing.T, f *fixture) []ev {
	f.identify(t, "p1", "user-1", "Ada", "Lovelace", "ada@example.com", `{"plan":"pro"}`, f.now.Add(-time.Hour))
	at := func(minutes float64) time.Time { return f.now.Add(-time.Duration(minutes * float64(time.Minute))) }
	web := func(project, device, profile, name, path string, t time.Time, revenue int64) ev {
		return ev{ProjectID: project, Name: name, DeviceID: device, ProfileID: profile, CreatedAt: t, OpensSession: true,
			Path: path, Origin: "https://example.com", Country: "DE", City: "Berlin", Browser: "Firefox", OS: "Linux",
			Device: "desktop", Revenue: revenue, Properties: json.RawMessage(`{"k":"v"}`)}
	}
	return f.ingest(t,
		web("p1", "d1", "user-1", "screen_view", "/", at(12), 0),
		web("p1", "d1", "user-1", "screen_view", "/pricing", at(11), 0),
		web("p1", "d1", "user-1", "click", "/pricing", at(10), 250),
		web("p1", "d2", "user-1", "screen_view", "/docs", at(6), 0),
		ev{ProjectID: "p1", Name: "purchase", DeviceID: "server", ProfileID: "user-1", CreatedAt: at(9), Revenue: 1999},
		web("p1", "d3", "", "screen_view", "/", at(8), 0),
		web("p1", "d3", "", "signup", "/signup", at(7.5), 500),
		web("p1", "d3", "", "screen_view", "/welcome", at(7), 0),
		web("p1", "d4", "user-2", "screen_view", "/", at(5), 100),
		web("p2", "d5", "user-1", "screen_view", "/", at(4), 100),
	)
}

func TestProfileStatsCountMergedRowsDuringRewrite(t *testing.T) {
	t.Parallel()
	f := setup(t)
	evs := statsFixture(t, f)
	mergeID := f.merge(t, "p1", "d3", "user-1")
	if n := f.count(t, `SELECT count(*) FROM events WHERE project_id = 'p1' AND profile_id = 'd3'`); n != 4 {
		t.Fatalf("%d events still carry d3 before the rewrite, want 4 (3 + session_start)", n)
	}
	want := expectedStats(evs, "p1", "user-1", "d3")
	if want.Sessions != 3 || want.Events != 8 || want.ScreenViews != 5 || want.Revenue != 2749 {
		t.Fatalf("fixture arithmetic changed: %+v", want) // guards the helper itself
	}

	p, err := f.store.Profile(f.ctx, "p1", "user-1")
	if err != nil {
		t.Fatal(err)
	}
	checkStats(t, "before the rewrite", p.Stats, want)
	var props map[string]string
	if err := json.Unmarshal(p.Properties, &props); err != nil {
		t.Fatal(err)
	}
	if p.ID != "user-1" || !p.IsExternal || p.FirstName != "Ada" || p.LastName != "Lovelace" ||
		p.Email != "ada@example.com" || p.Avatar != "" || props["plan"] != "pro" || p.Country != "DE" || p.City != "Berlin" {
		t.Fatalf("profile fields: %+v", p)
	}

	// The old id shows the person it was merged into, with the same stats.
	old, err := f.store.Profile(f.ctx, "p1", "d3")
	if err != nil {
		t.Fatal(err)
	}
	if old.ID != "user-1" {
		t.Fatalf("d3 resolved to %q, want user-1", old.ID)
	}
	checkStats(t, "by the old id", old.Stats, want)

	// Half-way and after the rewrite nothing is lost or counted twice.
	for i := 0; ; i++ {
		var moved int
		if err := f.pool.QueryRow(f.ctx, `SELECT op.rewrite_merge_v1($1, 2)`, mergeID).Scan(&moved); err != nil {
			t.Fatal(err)
		}
		p, err := f.store.Profile(f.ctx, "p1", "user-1")
		if err != nil {
			t.Fatal(err)
		}
		checkStats(t, "during the rewrite", p.Stats, want)
		if moved == 0 {
			break
		}
	}
	if n := f.count(t, `SELECT count(*) FROM events WHERE project_id = 'p1' AND profile_id = 'd3'`); n != 0 {
		t.Fatalf("%d events still carry d3 after the rewrite", n)
	}

	// The other profile and the other project's user-1 have their own stats.
	other, err := f.store.Profile(f.ctx, "p1", "user-2")
	if err != nil {
		t.Fatal(err)
	}
	checkStats(t, "user-2", other.Stats, expectedStats(evs, "p1", "user-2"))
	p2, err := f.store.Profile(f.ctx, "p2", "user-1")
	if err != nil {
		t.Fatal(err)
	}
	checkStats(t, "p2 user-1", p2.Stats, expectedStats(evs, "p2", "user-1"))
}

func TestProfileWithoutSessions(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.identify(t, "p1", "quiet", "", "", "", `{}`, f.now)
	p, err := f.store.Profile(f.ctx, "p1", "quiet")
	if err != nil {
		t.Fatal(err)
	}
	checkStats(t, "no history", p.Stats, profiles.Stats{})
	if p.FirstName != "" || string(p.Properties) != "{}" || len(p.Groups) != 0 {
		t.Fatalf("profile fields: %+v", p)
	}
}

func TestProfileNotFound(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.identify(t, "p1", "ada", "Ada", "", "", `{}`, f.now)
	for _, c := range []struct{ project, id string }{
		{"p1", "nobody"},
		{"p2", "ada"}, // another project's
		{"p1", ""},
		{"p1", "a\x00b"},
		{"p1", "\xff"},
	} {
		_, err := f.store.Profile(f.ctx, c.project, c.id)
		if errs.KindOf(err) != errs.NotFound {
			t.Errorf("Profile(%q, %q): %v, want not_found", c.project, c.id, err)
		}
	}
	// History of an unknown id is empty, not an error.
	ss, err := f.store.Sessions(f.ctx, profiles.SessionsParams{Project: "p1", ProfileID: "nobody"})
	if err != nil || len(ss.Sessions) != 0 || ss.Next != nil {
		t.Errorf("Sessions of nobody: %+v, %v", ss, err)
	}
	es, err := f.store.Events(f.ctx, profiles.EventsParams{Project: "p1", ProfileID: "nobody"})
	if err != nil || len(es.Events) != 0 || es.Next != nil {
		t.Errorf("Events of nobody: %+v, %v", es, err)
	}
}

func uuidDesc(a, b uuid.UUID) int { return bytes.Compare(b[:], a[:]) }

func TestEventsPagesReturnEveryEventOnceInOrder(t *testing.T) {
	t.Parallel()
	f := setup(t)
	// 30 server events in groups of three with equal timestamps, spread over
	// the profile and an id merged into it (not rewritten): ties cross ids.
	base := f.now.Add(-2 * time.Hour)
	var fixtures []ev
	for i := range 30 {
		profile := "walker"
		if i%2 == 1 {
			profile = "walker-old"
		}
		fixtures = append(fixtures, ev{ProjectID: "p1", Name: "step", DeviceID: "srv", ProfileID: profile,
			CreatedAt: base.Add(time.Duration(i/3) * time.Second), Path: "/step",
			Properties: json.RawMessage(`{"i":` + strings.Repeat("1", 1+i%3) + `}`)})
	}
	// Noise at the same instants: another profile, another project.
	fixtures = append(fixtures,
		ev{ProjectID: "p1", Name: "step", DeviceID: "srv", ProfileID: "stranger", CreatedAt: base},
		ev{ProjectID: "p2", Name: "step", DeviceID: "srv", ProfileID: "walker", CreatedAt: base})
	evs := f.ingest(t, fixtures...)
	f.merge(t, "p1", "walker-old", "walker")

	var want []ev
	for _, e := range evs {
		if e.ProjectID == "p1" && (e.ProfileID == "walker" || e.ProfileID == "walker-old") {
			want = append(want, e)
		}
	}
	slices.SortFunc(want, func(a, b ev) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return uuidDesc(a.ID, b.ID)
	})

	for _, limit := range []int{1, 2, 3, 4, 7, 29, 30, 31, 200} {
		var got []uuid.UUID
		var after *profiles.EventCursor
		pages := 0
		for {
			page, err := f.store.Events(f.ctx, profiles.EventsParams{Project: "p1", ProfileID: "walker-old", After: after, Limit: limit})
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, e := range page.Events {
				got = append(got, e.ID)
			}
			if page.Next == nil {
				break
			}
			if len(page.Events) != limit {
				t.Fatalf("limit %d: a page with a next cursor has %d events", limit, len(page.Events))
			}
			// The cursor goes through its URL form, as the dashboard's would.
			c, err := profiles.ParseEventCursor(page.Next.String())
			if err != nil || !c.CreatedAt.Equal(page.Next.CreatedAt) || c.ID != page.Next.ID {
				t.Fatalf("cursor round trip: %v %+v %+v", err, c, page.Next)
			}
			after = &c
			if pages > len(want)+1 {
				t.Fatalf("limit %d: paging does not end", limit)
			}
		}
		if wantPages := max(1, (len(want)+limit-1)/limit); pages != wantPages {
			t.Errorf("limit %d: %d pages, want %d", limit, pages, wantPages)
		}
		if len(got) != len(want) {
			t.Fatalf("limit %d: %d events, want %d", limit, len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i].ID {
				t.Fatalf("limit %d: event %d is %v, want %v (%v)", limit, i, got[i], want[i].ID, want[i].CreatedAt)
			}
		}
	}

	// Rows map to the right fields.
	page, err := f.store.Events(f.ctx, profiles.EventsParams{Project: "p1", ProfileID: "walker", Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	e, w := page.Events[0], want[0]
	if e.ID != w.ID || e.Name != "step" || !e.CreatedAt.Equal(w.CreatedAt) || e.SessionID != nil || e.Path != "/step" ||
		!jsonEqual(e.Properties, w.Properties) {
		t.Fatalf("event %+v, want %+v", e, w)
	}
}

func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && string(mustJSON(x)) == string(mustJSON(y))
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func TestSessionsPages(t *testing.T) {
	t.Parallel()
	f := setup(t)
	// Seven devices of one person, one session each, two pairs starting at
	// the same instant; and an anonymous device merged in, not rewritten.
	var fixtures []ev
	offsets := []int{60, 90, 90, 120, 150, 150, 180}
	for i, s := range offsets {
		fixtures = append(fixtures, ev{ProjectID: "p1", Name: "screen_view", DeviceID: "dev-" + string(rune('a'+i)),
			ProfileID: "reader", CreatedAt: f.now.Add(-10*time.Minute + time.Duration(s)*time.Second), OpensSession: true,
			Path: "/"})
	}
	fixtures = append(fixtures,
		ev{ProjectID: "p1", Name: "screen_view", DeviceID: "anon", CreatedAt: f.now.Add(-12 * time.Minute), OpensSession: true,
			Path: "/landing", ReferrerName: "Google", Country: "FR", City: "Paris", Browser: "Safari", OS: "macOS", Device: "desktop"},
		ev{ProjectID: "p1", Name: "screen_view", DeviceID: "anon", CreatedAt: f.now.Add(-11 * time.Minute), OpensSession: true,
			Path: "/pricing", Revenue: 42},
		ev{ProjectID: "p1", Name: "screen_view", DeviceID: "dev-x", ProfileID: "someone-else", CreatedAt: f.now.Add(-9 * time.Minute), OpensSession: true})
	evs := f.ingest(t, fixtures...)
	f.merge(t, "p1", "anon", "reader")

	type sess struct {
		id      uuid.UUID
		started time.Time
	}
	seen := map[uuid.UUID]bool{}
	var want []sess
	for _, e := range evs {
		if e.profile() == "someone-else" || seen[e.Session] {
			continue
		}
		if e.Session == uuid.Nil {
			t.Fatalf("event %+v opened no session", e)
		}
		seen[e.Session] = true
		want = append(want, sess{e.Session, e.CreatedAt}) // each session's first event comes first
	}
	slices.SortFunc(want, func(a, b sess) int {
		if c := b.started.Compare(a.started); c != 0 {
			return c
		}
		return uuidDesc(a.id, b.id)
	})
	if len(want) != 8 {
		t.Fatalf("%d sessions in the fixture, want 8", len(want))
	}

	for _, limit := range []int{1, 2, 3, 8, 9} {
		var got []uuid.UUID
		var before *profiles.SessionCursor
		for pages := 0; ; pages++ {
			page, err := f.store.Sessions(f.ctx, profiles.SessionsParams{Project: "p1", ProfileID: "reader", Before: before, Limit: limit})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range page.Sessions {
				got = append(got, s.ID)
			}
			if page.Next == nil {
				break
			}
			if len(page.Sessions) != limit || pages > len(want) {
				t.Fatalf("limit %d: page of %d with a next cursor", limit, len(page.Sessions))
			}
			c, err := profiles.ParseSessionCursor(page.Next.String())
			if err != nil || !c.StartedAt.Equal(page.Next.StartedAt) || c.ID != page.Next.ID {
				t.Fatalf("cursor round trip: %v %+v %+v", err, c, page.Next)
			}
			before = &c
		}
		if len(got) != len(want) {
			t.Fatalf("limit %d: %d sessions, want %d", limit, len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i].id {
				t.Fatalf("limit %d: session %d is %v, want %v", limit, i, got[i], want[i].id)
			}
		}
	}

	// The merged device's session, oldest, with its fields.
	page, err := f.store.Sessions(f.ctx, profiles.SessionsParams{Project: "p1", ProfileID: "reader",
		Before: &profiles.SessionCursor{StartedAt: f.now.Add(-11 * time.Minute)}})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Sessions) != 1 || page.Next != nil {
		t.Fatalf("sessions started before the cursor time: %+v", page)
	}
	s := page.Sessions[0]
	if !s.StartedAt.Equal(f.now.Add(-12*time.Minute)) || s.EndedAt != nil || s.Duration != time.Minute ||
		s.EventCount != 2 || s.ScreenViewCount != 2 || s.IsBounce || s.EntryPath != "/landing" || s.ExitPath != "/pricing" ||
		s.ReferrerName != "Google" || s.Country != "FR" || s.City != "Paris" || s.Browser != "Safari" || s.OS != "macOS" ||
		s.Device != "desktop" || s.Revenue != 42 {
		t.Fatalf("session fields: %+v", s)
	}
}

func TestListSearchFiltersAndPages(t *testing.T) {
	t.Parallel()
	f := setup(t)
	type prof struct {
		id, first, last, email, props string
		seen                          time.Time
		external                      bool
	}
	at := func(m int) time.Time { return f.now.Add(-time.Duration(m) * time.Minute) }
	fixtures := []prof{
		{"ada", "Ada", "Lovelace", "ada@example.com", `{"plan":"pro","seats":3}`, at(1), true},
		{"grace", "Grace", "Hopper", "grace@navy.mil", `{"plan":"free"}`, at(2), true},
		{"promo_50%", "Promo", "", "", `{"plan":"pro"}`, at(3), true},
		{"promoX50Y", "Decoy", "", "", `{}`, at(4), true},
		{`back\slash`, "Back", "", "", `{}`, at(5), true},
		{"o'brien", "Pat", "O'Brien", "", `{}`, at(6), true},
		{"tie-a", "", "", "", `{}`, at(7), true},
		{"tie-b", "", "", "", `{}`, at(7), true},
	}
	for _, p := range fixtures {
		f.identify(t, "p1", p.id, p.first, p.last, p.email, p.props, p.seen)
	}
	f.identify(t, "p2", "ada", "Ada", "Lovelace", "ada@example.com", `{"plan":"pro"}`, at(1))
	// Anonymous visitors: profiles of their devices.
	for i, dev := range []string{"anon-1", "anon-2"} {
		f.ingest(t, ev{ProjectID: "p1", Name: "screen_view", DeviceID: dev, CreatedAt: at(8 + i), OpensSession: true})
		fixtures = append(fixtures, prof{id: dev, seen: at(8 + i)})
	}
	slices.SortFunc(fixtures, func(a, b prof) int {
		if c := b.seen.Compare(a.seen); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	ids := func(ps []prof, keep func(prof) bool) []string {
		var out []string
		for _, p := range ps {
			if keep(p) {
				out = append(out, p.id)
			}
		}
		return out
	}
	list := func(p profiles.ListParams) []string {
		t.Helper()
		p.Project = "p1"
		page, err := f.store.List(f.ctx, p)
		if err != nil {
			t.Fatalf("List(%+v): %v", p, err)
		}
		out := []string{}
		for _, s := range page.Profiles {
			out = append(out, s.ID)
		}
		return out
	}
	yes, no := true, false
	for _, c := range []struct {
		name string
		p    profiles.ListParams
		want []string
	}{
		{"all", profiles.ListParams{}, ids(fixtures, func(prof) bool { return true })},
		{"id", profiles.ListParams{Search: "grac"}, []string{"grace"}},
		{"first name, any case", profiles.ListParams{Search: "aDA"}, []string{"ada"}},
		{"last name", profiles.ListParams{Search: "LOVELACE"}, []string{"ada"}},
		{"full name", profiles.ListParams{Search: " ada lovelace "}, []string{"ada"}},
		{"email", profiles.ListParams{Search: "navy.mil"}, []string{"grace"}},
		{"% and _ are literal", profiles.ListParams{Search: "o_50%"}, []string{"promo_50%"}},
		{"_ alone", profiles.ListParams{Search: "_"}, []string{"promo_50%"}},
		{"% alone", profiles.ListParams{Search: "%"}, []string{"promo_50%"}},
		{"backslash", profiles.ListParams{Search: `k\s`}, []string{`back\slash`}},
		{"quote", profiles.ListParams{Search: "o'b"}, []string{"o'brien"}},
		{"no match", profiles.ListParams{Search: "zzz"}, []string{}},
		{"property", profiles.ListParams{Properties: json.RawMessage(`{"plan":"pro"}`)}, []string{"ada", "promo_50%"}},
		{"numeric property", profiles.ListParams{Properties: json.RawMessage(`{"seats":3}`)}, []string{"ada"}},
		{"two properties", profiles.ListParams{Properties: json.RawMessage(`{"plan":"pro","seats":3}`)}, []string{"ada"}},
		{"property no match", profiles.ListParams{Properties: json.RawMessage(`{"plan":"none"}`)}, []string{}},
		{"empty property filter", profiles.ListParams{Properties: json.RawMessage(`{}`)}, ids(fixtures, func(prof) bool { return true })},
		{"search and property", profiles.ListParams{Search: "promo", Properties: json.RawMessage(`{"plan":"pro"}`)}, []string{"promo_50%"}},
		{"identified", profiles.ListParams{Identified: &yes}, ids(fixtures, func(p prof) bool { return p.external })},
		{"anonymous", profiles.ListParams{Identified: &no}, []string{"anon-1", "anon-2"}},
		{"identified search", profiles.ListParams{Identified: &yes, Search: "anon"}, []string{}},
	} {
		if got := list(c.p); !slices.Equal(got, c.want) {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}

	// Summary fields.
	page, err := f.store.List(f.ctx, profiles.ListParams{Project: "p1", Search: "ada"})
	if err != nil {
		t.Fatal(err)
	}
	if s := page.Profiles[0]; !s.IsExternal || s.FirstName != "Ada" || s.LastName != "Lovelace" ||
		s.Email != "ada@example.com" || !s.LastSeenAt.Equal(at(1)) || !s.FirstSeenAt.Equal(at(1)) {
		t.Fatalf("summary: %+v", s)
	}

	// Walking the pages returns every profile once, in order, the tie by id.
	all := ids(fixtures, func(prof) bool { return true })
	for _, limit := range []int{1, 2, 3, len(all), len(all) + 1} {
		var got []string
		var after *profiles.ListCursor
		for {
			page, err := f.store.List(f.ctx, profiles.ListParams{Project: "p1", After: after, Limit: limit})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range page.Profiles {
				got = append(got, s.ID)
			}
			if page.Next == nil {
				break
			}
			if len(page.Profiles) != limit || len(got) > len(all) {
				t.Fatalf("limit %d: page of %d with a next cursor", limit, len(page.Profiles))
			}
			c, err := profiles.ParseListCursor(page.Next.String())
			if err != nil || !c.LastSeenAt.Equal(page.Next.LastSeenAt) || c.ID != page.Next.ID {
				t.Fatalf("cursor round trip: %v %+v %+v", err, c, page.Next)
			}
			after = &c
		}
		if !slices.Equal(got, all) {
			t.Errorf("limit %d: pages gave %q, want %q", limit, got, all)
		}
	}
	// Filters and search page too.
	var got []string
	var after *profiles.ListCursor
	for {
		page, err := f.store.List(f.ctx, profiles.ListParams{Project: "p1", Identified: &yes, Search: "o", After: after, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range page.Profiles {
			got = append(got, s.ID)
		}
		if after = page.Next; after == nil {
			break
		}
	}
	if want := []string{"ada", "grace", "promo_50%", "promoX50Y", "o'brien"}; !slices.Equal(got, want) {
		t.Errorf("search pages: %q, want %q", got, want)
	}
}

func TestListRejectsInvalidInput(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for _, p := range []profiles.ListParams{
		{Properties: json.RawMessage(`[1]`)},
		{Properties: json.RawMessage(`"plan"`)},
		{Properties: json.RawMessage(`null`)},
		{Properties: json.RawMessage(`{"plan":`)},
		{Properties: json.RawMessage(`{"plan":"a\u0000b"}`)},
		{Search: "a\x00b"},
		{Search: "\xff\xfe"},
		{Search: strings.Repeat("x", profiles.MaxSearch+1)},
	} {
		p.Project = "p1"
		if _, err := f.store.List(f.ctx, p); errs.KindOf(err) != errs.Invalid {
			t.Errorf("List(%+v): %v, want invalid", p, err)
		}
	}
}

func TestListHostileSearchIsJustText(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.identify(t, "p1", "ada", "Ada", "", "", `{}`, f.now)
	hostile := []string{
		`'`, `''`, `\`, `\\`, `\'`, `"`, `%`, `%%`, `_%\`, `$1`, `$2`, `$q$`, `$fn$`, `)`, `') OR ('1'='1`,
		`'; DROP TABLE profiles; --`, `" OR 1=1 --`, `%' OR '1'='1`, `ada' --`, `ada'||'`, `/*`, `*/`,
		`' UNION SELECT id, true, null, null, null, null, null, null, null, null, null, now(), now() FROM clients --`,
		"ada\n--", "ß🙂", `E'\x41'`, `ESCAPE '\'`,
	}
	for _, s := range hostile {
		page, err := f.store.List(f.ctx, profiles.ListParams{Project: "p1", Search: s, Properties: json.RawMessage(`{"x'; --":"\\"}`)})
		if err != nil {
			t.Errorf("search %q: %v", s, err)
			continue
		}
		if len(page.Profiles) != 0 {
			t.Errorf("search %q matched %d profiles", s, len(page.Profiles))
		}
		page, err = f.store.List(f.ctx, profiles.ListParams{Project: "p1", Search: s})
		if err != nil {
			t.Errorf("search %q: %v", s, err)
		} else if len(page.Profiles) != 0 {
			t.Errorf("search %q matched %d profiles", s, len(page.Profiles))
		}
	}
	if n := f.count(t, `SELECT count(*) FROM profiles`); n != 1 {
		t.Fatalf("%d profiles after the hostile searches, want 1", n)
	}
}

func TestCursorStrings(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 1, 12, 30, 45, 123456000, time.UTC)
	id := uuid.New()
	if c, err := profiles.ParseEventCursor(profiles.EventCursor{CreatedAt: at, ID: id}.String()); err != nil || !c.CreatedAt.Equal(at) || c.ID != id {
		t.Errorf("event cursor: %+v %v", c, err)
	}
	if c, err := profiles.ParseSessionCursor(profiles.SessionCursor{StartedAt: at, ID: id}.String()); err != nil || !c.StartedAt.Equal(at) || c.ID != id {
		t.Errorf("session cursor: %+v %v", c, err)
	}
	for _, pid := range []string{"ada", "a_b", "x/y?z=1&w", "ß🙂", `'\"`} {
		if c, err := profiles.ParseListCursor(profiles.ListCursor{LastSeenAt: at, ID: pid}.String()); err != nil || !c.LastSeenAt.Equal(at) || c.ID != pid {
			t.Errorf("list cursor %q: %+v %v", pid, c, err)
		}
	}
	for _, s := range []string{"", "_", "x_" + id.String(), "1_nope", "123"} {
		if _, err := profiles.ParseEventCursor(s); errs.KindOf(err) != errs.Invalid {
			t.Errorf("ParseEventCursor(%q): %v", s, err)
		}
		if _, err := profiles.ParseSessionCursor(s); errs.KindOf(err) != errs.Invalid {
			t.Errorf("ParseSessionCursor(%q): %v", s, err)
		}
	}
	for _, s := range []string{"", "1_!!", "x_YWRh", "1_", "1_AA"} {
		if _, err := profiles.ParseListCursor(s); errs.KindOf(err) != errs.Invalid {
			t.Errorf("ParseListCursor(%q): %v", s, err)
		}
	}
}
