package web

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/a-h/templ"

	"tally/app/analytics"
	"tally/static"
	"tally/views"
)

// realtime is a project's Realtime page (GET /p/{id}/realtime): visitors of
// the last 5 minutes, the latest events, the top pages, referrers and
// countries of the last 30 minutes and a map, all rendered here; the page
// then follows realtimeStream.
func (h *Handler) realtime(w http.ResponseWriter, r *http.Request) {
	p := currentProject(r)
	data, err := h.realtimeData(r.Context(), p.ID, time.Now())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v := views.RealtimePage{ProjectID: p.ID, Panels: realtimePanels(data, time.Now())}
	if _, err := fs.Stat(static.FS, worldMap); err == nil {
		v.WorldURL, v.EChartsURL = static.URL(worldMap), static.URL("vendor/echarts.min.js")
	}
	h.page(w, r, "Realtime", "realtime", views.Realtime(v))
}

// worldMap is the map's GeoJSON under static/.
const worldMap = "world.json"

// realtimeStream is the Realtime page's server-sent event stream (GET
// /p/{id}/realtime/stream). At once, after the project's events are
// committed (at most once per liveThrottle) and every liveRefresh
// (visitors leave without sending anything), it sends what changed:
//
//	event: visitors  the number of visitors of the last 5 minutes (text)
//	event: feed      the live feed (HTML fragment)
//	event: tops      the top pages, referrers and countries (HTML fragment)
//	event: points    the map's points (JSON)
//
// Like live, it re-checks access every liveRefresh, sends a comment as
// heartbeat, and ends when the client goes away or the hub stops.
func (h *Handler) realtimeStream(w http.ResponseWriter, r *http.Request) {
	p := currentProject(r)
	sent := map[string]string{} // the last data of each event: unchanged panels are not resent
	// update renders the numbers of a moment no earlier than since (the
	// signal that asked for them): a result shared with other streams
	// counts only if its query started after that.
	h.stream(w, r, p.ID, func(ctx context.Context, s *sseStream, since time.Time) {
		send := func(name, data string) {
			if sent[name] != data {
				sent[name] = data
				s.event(name, data)
			}
		}
		data, err := h.realtimeData(ctx, p.ID, since)
		if err != nil {
			if ctx.Err() == nil {
				h.Log.Debug("realtime: load", "project", p.ID, "err", err)
			}
			return
		}
		panels := realtimePanels(data, time.Now())
		send("visitors", strconv.FormatInt(panels.Visitors, 10))
		for _, f := range []struct {
			name string
			c    templ.Component
		}{{"feed", views.RealtimeFeed(panels)}, {"tops", views.RealtimeTops(panels)}} {
			var buf bytes.Buffer
			if err := f.c.Render(ctx, &buf); err != nil {
				return
			}
			send(f.name, buf.String())
		}
		points, _ := json.Marshal(nonNil(panels.Points)) // escapes <, > and &
		send("points", string(points))
		s.flush()
	})
}

// realtimeFeedSize is how many of the latest events the feed shows.
const realtimeFeedSize = 30

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// realtimePanels converts the analytics answer into the view's model.
func realtimePanels(d analytics.Realtime, now time.Time) views.RealtimePanels {
	p := views.RealtimePanels{Now: now, Visitors: d.Visitors}
	for _, e := range d.Feed[:min(len(d.Feed), realtimeFeedSize)] {
		p.Feed = append(p.Feed, views.RealtimeEvent{Name: e.Name, Path: e.Path, Country: countryName(e.Country), City: e.City,
			Browser: e.Browser, Device: e.Device, At: e.CreatedAt})
	}
	rows := func(in []analytics.Row) []views.RealtimeRow {
		out := make([]views.RealtimeRow, 0, len(in))
		for _, r := range in {
			out = append(out, views.RealtimeRow{Value: r.Value, Count: r.Count, Share: r.Share})
		}
		return out
	}
	p.Pages, p.Referrers, p.Countries = rows(d.TopPages), rows(d.TopReferrers), rows(d.TopCountries)
	for i := range p.Countries {
		p.Countries[i].Value = countryName(p.Countries[i].Value)
	}
	for _, g := range d.Points {
		p.Points = append(p.Points, views.RealtimePoint{Name: views.Place(g.City, countryName(g.Country)), Value: [3]float64{g.Longitude, g.Latitude, float64(g.Visitors)}})
	}
	return p
}

// countryName is a country code's English name ("" stays "").
func countryName(code string) string {
	if code == "" {
		return ""
	}
	return views.CountryName(code)
}

// realtimeData is the project's realtime answer as of a moment no earlier
// than since. Every open Realtime page of a project asks after the same
// notification: one query answers all the streams waiting for it.
func (h *Handler) realtimeData(ctx context.Context, projectID string, since time.Time) (analytics.Realtime, error) {
	return h.rtShared().get(ctx, projectID, since, func(ctx context.Context) (analytics.Realtime, error) {
		return analytics.NewStore(h.Pool).Realtime(ctx, projectID)
	})
}

// rtCaches holds each Handler's shared realtime results.
var rtCaches sync.Map // *Handler → *rtCache

func (h *Handler) rtShared() *rtCache {
	c, _ := rtCaches.LoadOrStore(h, &rtCache{m: map[string]*rtLoad{}})
	return c.(*rtCache)
}

// rtCache shares realtime answers between the streams of a project: the
// latest load per project, in flight or done, with the time its query
// started. A stream woken by a signal at t may use a load started after t
// (it sees every event committed before the signal); otherwise it starts a
// new one.
type rtCache struct {
	mu sync.Mutex
	m  map[string]*rtLoad
}

type rtLoad struct {
	started time.Time
	done    chan struct{}
	data    analytics.Realtime
	err     error
}

func (c *rtCache) get(ctx context.Context, projectID string, since time.Time, load func(context.Context) (analytics.Realtime, error)) (analytics.Realtime, error) {
	c.mu.Lock()
	l := c.m[projectID]
	if l == nil || !l.started.After(since) {
		if len(c.m) > 10_000 { // projects nobody watches any more
			clear(c.m)
		}
		l = &rtLoad{started: time.Now(), done: make(chan struct{})}
		c.m[projectID] = l
		c.mu.Unlock()
		// The load outlives the stream that started it if others wait.
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		l.data, l.err = load(lctx)
		cancel()
		if l.err != nil {
			c.mu.Lock()
			if c.m[projectID] == l {
				delete(c.m, projectID) // errors are not shared with later askers
			}
			c.mu.Unlock()
		}
		close(l.done)
		return l.data, l.err
	}
	c.mu.Unlock()
	select {
	case <-l.done:
		return l.data, l.err
	case <-ctx.Done():
		return analytics.Realtime{}, ctx.Err()
	}
}
