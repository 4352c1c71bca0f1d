// Package realtime tells the dashboard when events arrive. Ingest sends one
// PostgreSQL notification per committed batch (pg_notify('tally_events',
// 'project-a,project-b') in op.ingest_v1, or '*' for "everyone"); the Hub
// holds the process's one LISTEN connection and signals the subscribers of
// each project named. It also answers the small questions live pages ask:
// how many visitors are on a site now, and what its first event was.
package realtime

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"

	"tally/app/errs"
)

// Channel is the notification channel ingest notifies on.
const Channel = "tally_events"

// ApplicationName marks the hub's connection in pg_stat_activity.
const ApplicationName = "tally realtime"

// Reconnection backoff after the listening connection is lost.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// idleCheck is how often a quiet listening connection is pinged.
const idleCheck = 30 * time.Second

// Hub fans notifications out to subscribers. Start it once per process.
type Hub struct {
	pool *pgxpool.Pool
	log  *slog.Logger

	mu      sync.Mutex
	subs    map[string]map[*sub]struct{}
	stopped bool
	firsts  map[string]First        // first events found (they never change)
	counts  map[string]visitorCount // recent counts, shared by every stream of a project

	idle      time.Duration // idleCheck; shorter in tests
	cancel    context.CancelFunc
	done      chan struct{}
	listening atomic.Bool
	// Connects counts successful LISTENs (tests wait for reconnects).
	Connects atomic.Int64
}

type sub struct{ ch chan struct{} }

// New returns a hub on pool; it listens once Start is called.
func New(pool *pgxpool.Pool, log *slog.Logger) *Hub {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Hub{pool: pool, log: log, subs: map[string]map[*sub]struct{}{}, firsts: map[string]First{}, counts: map[string]visitorCount{}, idle: idleCheck, done: make(chan struct{})}
}

// Start opens the listening connection in the background: it reconnects,
// with backoff, whenever the connection is lost, until Stop.
func (h *Hub) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go h.run(ctx)
}

// Stop closes the listening connection and every subscriber's channel, so
// streams waiting on them end. Safe to call more than once, and without Start.
func (h *Hub) Stop() {
	h.mu.Lock()
	if h.stopped {
		h.mu.Unlock()
		return
	}
	h.stopped = true
	for _, set := range h.subs {
		for s := range set {
			close(s.ch)
		}
	}
	h.subs = nil
	h.mu.Unlock()
	if h.cancel == nil {
		return
	}
	h.cancel()
	select {
	case <-h.done:
	case <-time.After(5 * time.Second):
		h.log.Warn("realtime listener did not stop in time")
	}
}

// Listening reports whether the hub currently holds a LISTEN connection.
func (h *Hub) Listening() bool { return h.listening.Load() }

// Subscribe returns a channel that receives a signal after events of the
// project are committed. Signals coalesce: a subscriber that has not taken
// the last one gets no second, and the hub never waits for it. The channel
// is closed when the hub stops; cancel unsubscribes (call it once done).
func (h *Hub) Subscribe(projectID string) (<-chan struct{}, func()) {
	s := &sub{ch: make(chan struct{}, 1)}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		close(s.ch)
		return s.ch, func() {}
	}
	set := h.subs[projectID]
	if set == nil {
		set = map[*sub]struct{}{}
		h.subs[projectID] = set
	}
	set[s] = struct{}{}
	var once sync.Once
	return s.ch, func() {
		once.Do(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			if set := h.subs[projectID]; set != nil {
				delete(set, s)
				if len(set) == 0 {
					delete(h.subs, projectID)
				}
			}
		})
	}
}

// Publish signals the subscribers of a notification payload: project ids
// separated by commas, or "*" for all.
func (h *Hub) Publish(payload string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	// New events make the shared counts stale: the next stream to ask
	// counts again.
	if payload == "*" {
		clear(h.counts)
		for _, set := range h.subs {
			signal(set)
		}
		return
	}
	for id := range strings.SplitSeq(payload, ",") {
		delete(h.counts, id)
		signal(h.subs[id])
	}
}

func signal(set map[*sub]struct{}) {
	for s := range set {
		select {
		case s.ch <- struct{}{}:
		default: // one signal is already pending: that is enough
		}
	}
}

func (h *Hub) run(ctx context.Context) {
	defer close(h.done)
	backoff := minBackoff
	for {
		wasUp := false
		err := h.listen(ctx, func() {
			backoff, wasUp = minBackoff, true
			if h.Connects.Load() > 1 {
				h.log.Info("realtime: listening again")
			}
		})
		h.listening.Store(false)
		if ctx.Err() != nil {
			return
		}
		if wasUp {
			h.log.Warn("realtime: listening connection lost; reconnecting", "err", err)
		} else {
			h.log.Debug("realtime: cannot listen yet; retrying", "err", err, "in", backoff)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

// listen holds one LISTEN connection until it fails or ctx ends.
func (h *Hub) listen(ctx context.Context, connected func()) error {
	cfg := h.pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = ApplicationName
	// A timed-out wait only interrupts the read (a deadline), so the idle
	// check below can wake up without losing the connection.
	cfg.BuildContextWatcherHandler = func(pc *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.DeadlineContextWatcherHandler{Conn: pc.Conn()}
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	conn, err := pgx.ConnectConfig(cctx, cfg)
	cancel()
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		return err
	}
	h.listening.Store(true)
	if h.Connects.Load() > 0 {
		// Notifications sent while we were away are lost: everyone recounts.
		h.Publish("*")
	}
	h.Connects.Add(1)
	connected()
	for {
		wctx, cancel := context.WithTimeout(ctx, h.idle)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			h.Publish(n.Payload)
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded) && !conn.IsClosed():
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err = conn.Ping(pctx)
			cancel()
			if err != nil {
				return err
			}
		default:
			return err
		}
	}
}

// visitorsNowSQL reads events_project_time (project_id, created_at) for the
// window only; partitions (chunks) outside it are pruned.
const visitorsNowSQL = `
	SELECT count(DISTINCT device_id) FROM events
	WHERE project_id = $1 AND created_at > now() - interval '5 minutes' AND name <> 'session_end'`

// firstEventSQL: the range on project_id (rather than "=") with ORDER BY
// project_id, created_at leaves events_project_time as the only index that
// gives the order: one short probe per partition (chunk), merged. With "=",
// an index on created_at alone (TimescaleDB creates one by default;
// migration 006 drops it, but an external schema may have one) may be
// chosen for a chunk, and then walks every project's events up to this
// one's first. (With deterministic
// collations, >= and <= together are equality.)
const firstEventSQL = `
	SELECT name, coalesce(path, ''), created_at FROM events
	WHERE project_id >= $1 AND project_id <= $1 AND name NOT IN ('session_start', 'session_end')
	ORDER BY project_id, created_at LIMIT 1`

// VisitorsNow is how many distinct devices sent events to the project in
// the last five minutes (session ends, written later by a job, excluded).
func (h *Hub) VisitorsNow(ctx context.Context, projectID string) (int, error) {
	// Every open dashboard of a project asks after the same notification:
	// one count per project per second serves them all.
	h.mu.Lock()
	c, ok := h.counts[projectID]
	h.mu.Unlock()
	if ok && time.Since(c.at) < visitorsCacheTTL {
		return c.n, nil
	}
	var n int
	err := h.pool.QueryRow(ctx, visitorsNowSQL, projectID).Scan(&n)
	if err != nil {
		return 0, errs.Wrap(errs.Internal, err, "count the visitors now")
	}
	h.mu.Lock()
	if len(h.counts) > 10_000 { // projects nobody watches any more
		clear(h.counts)
	}
	h.counts[projectID] = visitorCount{n: n, at: time.Now()}
	h.mu.Unlock()
	return n, nil
}

// visitorsCacheTTL bounds how stale a shared count may be; streams recount
// at most once a second anyway.
const visitorsCacheTTL = 900 * time.Millisecond

type visitorCount struct {
	n  int
	at time.Time
}

// First is a project's first event.
type First struct {
	Name string
	Path string // "" for events without a page
	At   time.Time
}

// FirstEvent is the project's earliest event (session bookkeeping events
// aside); ok is false while it has none. Once found it is remembered: a
// first event does not change.
func (h *Hub) FirstEvent(ctx context.Context, projectID string) (First, bool, error) {
	h.mu.Lock()
	f, ok := h.firsts[projectID]
	h.mu.Unlock()
	if ok {
		return f, true, nil
	}
	err := h.pool.QueryRow(ctx, firstEventSQL, projectID).Scan(&f.Name, &f.Path, &f.At)
	if errors.Is(err, pgx.ErrNoRows) {
		return First{}, false, nil
	}
	if err != nil {
		return First{}, false, errs.Wrap(errs.Internal, err, "look up the first event")
	}
	h.mu.Lock()
	h.firsts[projectID] = f
	h.mu.Unlock()
	return f, true, nil
}
