package web

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"tally/app/errs"
	"tally/views"
)

// Live stream timing: recounts are throttled per connection, the count is
// refreshed anyway (visitors drop off without any event), and a comment
// keeps proxies from closing a quiet stream.
const (
	liveThrottle  = time.Second
	liveHeartbeat = 25 * time.Second
	liveWriteWait = 30 * time.Second // a client that reads nothing this long is dropped
)

// liveRefresh is also when a stream re-checks its access (a variable so a
// test can shorten it).
var liveRefresh = 15 * time.Second

// live is the project's server-sent event stream (GET /p/{id}/live):
//
//	event: visitors     the number of visitors now, as text, at once and
//	                    after every change (the header's counter)
//	event: first-event  with ?first=1: an HTML fragment, once the project
//	                    has its first event (the Tracking page)
//
// It ends when the client goes away or the server shuts down (the hub
// closes its subscriptions).
func (h *Handler) live(w http.ResponseWriter, r *http.Request) {
	p := currentProject(r)
	wantFirst := r.URL.Query().Get("first") == "1"
	last := -1
	h.stream(w, r, p.ID, func(ctx context.Context, s *sseStream, _ time.Time) {
		if n, err := h.Hub.VisitorsNow(ctx, p.ID); err != nil {
			if ctx.Err() == nil {
				h.Log.Debug("live: count visitors", "project", p.ID, "err", err)
			}
		} else if n != last {
			last = n
			s.event("visitors", strconv.Itoa(n))
		}
		if wantFirst {
			f, ok, err := h.Hub.FirstEvent(ctx, p.ID)
			var buf bytes.Buffer
			if err == nil && ok && views.FirstEventArrived(views.FirstEvent{Name: f.Name, Path: f.Path}).Render(ctx, &buf) == nil {
				wantFirst = false
				s.event("first-event", buf.String())
			}
		}
		s.flush()
	})
}

// stream runs a project's server-sent event stream: update at once, after
// the hub signals new events (at most once per liveThrottle; since is when
// the signal that asked for it arrived), and every liveRefresh after
// re-checking access (a logout, a password change or a removal ends the
// stream); a heartbeat comment keeps proxies from closing it. It ends when
// the client goes away, a write fails, or the hub stops (server shutdown).
func (h *Handler) stream(w http.ResponseWriter, r *http.Request, projectID string, update func(ctx context.Context, s *sseStream, since time.Time)) {
	if h.Hub == nil {
		h.fail(w, r, errs.E(errs.Unavailable, "live updates are not available"))
		return
	}
	signals, unsubscribe := h.Hub.Subscribe(projectID)
	defer unsubscribe()

	rc := http.NewResponseController(w)
	// The server's read and write timeouts are for ordinary requests: this
	// one has no body to read, and its writes get their own deadline.
	_ = rc.SetReadDeadline(time.Time{})
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)

	ctx := r.Context()
	s := &sseStream{w: w, rc: rc}
	update(ctx, s, time.Now()) // events may have arrived since the page was rendered
	refresh := time.NewTicker(liveRefresh)
	defer refresh.Stop()
	heartbeat := time.NewTicker(liveHeartbeat)
	defer heartbeat.Stop()
	throttle := time.NewTimer(0)
	<-throttle.C
	var pending time.Time // when the signal a due update answers arrived
	next := time.Now().Add(liveThrottle)
	for s.err == nil {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-signals:
			if !ok {
				return // the server is shutting down
			}
			now := time.Now()
			if !pending.IsZero() {
				continue // an update is already due, and will see this too
			}
			if d := time.Until(next); d > 0 {
				pending = now
				throttle.Reset(d)
				continue
			}
			update(ctx, s, now)
			next = time.Now().Add(liveThrottle)
		case <-throttle.C:
			since := pending
			pending = time.Time{}
			update(ctx, s, since)
			next = time.Now().Add(liveThrottle)
		case <-refresh.C:
			if !h.stillAllowed(r, projectID) {
				return
			}
			update(ctx, s, time.Now())
		case <-heartbeat.C:
			s.comment("ping")
			s.flush()
		}
	}
	// A failed write: the client went away or stopped reading.
}

// sseStream writes server-sent events and remembers the first error.
type sseStream struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	err error
}

func (s *sseStream) write(text string) {
	if s.err != nil {
		return
	}
	_ = s.rc.SetWriteDeadline(time.Now().Add(liveWriteWait))
	_, s.err = fmt.Fprint(s.w, text)
}

// event sends one event; data may span lines (each becomes a data: line).
func (s *sseStream) event(name, data string) {
	var b strings.Builder
	b.WriteString("event: " + name + "\n")
	for line := range strings.SplitSeq(data, "\n") {
		b.WriteString("data: " + strings.TrimSuffix(line, "\r") + "\n")
	}
	b.WriteString("\n")
	s.write(b.String())
}

func (s *sseStream) comment(text string) { s.write(": " + text + "\n\n") }

func (s *sseStream) flush() {
	if s.err == nil {
		_ = s.rc.SetWriteDeadline(time.Now().Add(liveWriteWait))
		s.err = s.rc.Flush()
	}
}

// stillAllowed re-checks a long-lived request: the login session still
// exists, was issued after the user's last password change, and the user
// may still see the project.
func (h *Handler) stillAllowed(r *http.Request, projectID string) bool {
	ctx := r.Context()
	u, ok := currentUser(r)
	if !ok {
		return false
	}
	if _, exists, err := h.sessions.Store.Find(h.sessions.Token(ctx)); err != nil || !exists {
		return false
	}
	fresh, err := h.Accounts.User(ctx, u.ID)
	if err != nil || time.Unix(h.sessions.GetInt64(ctx, sessIssued), 0).Before(fresh.SessionsValidAfter) {
		return false
	}
	_, err = h.Accounts.Project(ctx, u.ID, projectID)
	return err == nil
}
