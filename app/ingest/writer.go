package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"tally/app/errs"
)

// Row is one event as op.ingest_v1 takes it (see sql/ingest.sql): the JSON
// keys are the composite type's field names; empty values become NULL.
type Row struct {
	Ord            int             `json:"ord"`
	ID             uuid.UUID       `json:"id"`
	ProjectID      string          `json:"project_id"`
	Name           string          `json:"name"`
	DeviceID       string          `json:"device_id"`
	PrevDeviceID   string          `json:"prev_device_id,omitempty"`
	ProfileID      string          `json:"profile_id,omitempty"`
	CreatedAt      time.Time       `json:"created_at"`
	OpensSession   bool            `json:"opens_session"`
	DedupKey       string          `json:"dedup_key,omitempty"`
	Path           string          `json:"path,omitempty"`
	Origin         string          `json:"origin,omitempty"`
	Query          string          `json:"query,omitempty"`
	Hash           string          `json:"hash,omitempty"`
	Referrer       string          `json:"referrer,omitempty"`
	ReferrerName   string          `json:"referrer_name,omitempty"`
	ReferrerType   string          `json:"referrer_type,omitempty"`
	UTMSource      string          `json:"utm_source,omitempty"`
	UTMMedium      string          `json:"utm_medium,omitempty"`
	UTMCampaign    string          `json:"utm_campaign,omitempty"`
	UTMTerm        string          `json:"utm_term,omitempty"`
	UTMContent     string          `json:"utm_content,omitempty"`
	Country        string          `json:"country,omitempty"`
	Region         string          `json:"region,omitempty"`
	City           string          `json:"city,omitempty"`
	Latitude       *float64        `json:"latitude,omitempty"`
	Longitude      *float64        `json:"longitude,omitempty"`
	OS             string          `json:"os,omitempty"`
	OSVersion      string          `json:"os_version,omitempty"`
	Browser        string          `json:"browser,omitempty"`
	BrowserVersion string          `json:"browser_version,omitempty"`
	Device         string          `json:"device,omitempty"`
	Brand          string          `json:"brand,omitempty"`
	Model          string          `json:"model,omitempty"`
	Duration       *int64          `json:"duration,omitempty"`
	Revenue        *int64          `json:"revenue,omitempty"`
	Groups         []string        `json:"groups,omitempty"`
	SDKName        string          `json:"sdk_name,omitempty"`
	SDKVersion     string          `json:"sdk_version,omitempty"`
	Properties     json.RawMessage `json:"properties,omitempty"`
	SkipProfile    bool            `json:"skip_profile,omitempty"` // set by the writer (seen.go)
}

// Result is what the SDK is told about a stored (or deduplicated) event.
type Result struct {
	DeviceID  string
	SessionID string
	Duplicate bool
}

type pending struct {
	row  Row
	done chan outcome // buffered: the writer never blocks on a gone caller
}

type outcome struct {
	res Result
	err error
}

// Writer commits events in groups: each batch is one transaction (one call of
// op.ingest_v1), and a request's 200 is sent only after its batch commits.
// The queue is bounded; when it is full, or the database is unreachable,
// callers get errs.Unavailable at once instead of waiting. Server-side
// profile operations are group-committed the same way (ApplyProfileOp,
// profileops.go), with the same options, and drained by the same Close.
type Writer struct {
	pool     *pgxpool.Pool
	log      *slog.Logger
	queue    chan *pending
	maxBatch int
	maxWait  time.Duration
	profiles *profileOps
	seen     *recentProfiles

	mu        sync.RWMutex // guards closed against Submit racing Close
	closed    bool
	wg        sync.WaitGroup
	downUntil atomic.Int64 // unix nanos: fail fast until then after a connection error

	Committed atomic.Int64 // events stored (not counting duplicates and session events)
	Batches   atomic.Int64
}

// WriterOptions tune the writer. Profile operations use the same queue
// size, batch size and number of writers as events, with their own wait:
// each is one request's whole work, answered only after the commit, so
// waiting long for a fuller batch costs more than it saves.
type WriterOptions struct {
	Queue, Batch, Writers int
	MaxWait               time.Duration
	ProfileMaxWait        time.Duration
}

// NewWriter starts the writer goroutines.
func NewWriter(pool *pgxpool.Pool, o WriterOptions, log *slog.Logger) *Writer {
	w := &Writer{pool: pool, log: log, queue: make(chan *pending, o.Queue), maxBatch: o.Batch, maxWait: o.MaxWait,
		seen: newRecentProfiles(time.Minute, recentProfilesMax)}
	for range o.Writers {
		w.wg.Add(1)
		go w.run()
	}
	w.profiles = newProfileOps(pool, o, &w.downUntil, log)
	return w
}

// ApplyProfileOp queues a server-side identify or increment and waits until
// its batch has committed. The error is the operation's own: errs.NotFound
// for an increment of an unknown profile, errs.Invalid for a property that
// is not a number or a value the database cannot store, errs.Unavailable
// when the queue is full or the database unreachable.
func (w *Writer) ApplyProfileOp(ctx context.Context, op ProfileOp) error {
	return w.profiles.submit(ctx, op)
}

// ProfileQueueLen is how many profile operations wait for their batch.
func (w *Writer) ProfileQueueLen() int { return w.profiles.queueLen() }

// ProfileOpsCommitted is how many profile operations were committed (in
// how many batches).
func (w *Writer) ProfileOpsCommitted() (ops, batches int64) {
	return w.profiles.committed.Load(), w.profiles.batches.Load()
}

// ErrShuttingDown is returned once Close has begun.
var ErrShuttingDown = errs.E(errs.Unavailable, "the server is shutting down, retry shortly")

// Submit queues one event and waits until it is committed.
func (w *Writer) Submit(ctx context.Context, row Row) (Result, error) {
	if time.Now().UnixNano() < w.downUntil.Load() {
		return Result{}, errs.E(errs.Unavailable, "the database is unavailable, retry shortly")
	}
	p := &pending{row: row, done: make(chan outcome, 1)}
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return Result{}, ErrShuttingDown
	}
	select {
	case w.queue <- p:
	default:
		w.mu.RUnlock()
		return Result{}, errs.E(errs.Unavailable, "the ingest queue is full, retry shortly")
	}
	w.mu.RUnlock()
	select {
	case o := <-p.done:
		return o.res, o.err
	case <-ctx.Done():
		// The event may still be committed; the SDK's retry is then
		// answered as a duplicate.
		return Result{}, errs.Wrap(errs.Unavailable, ctx.Err(), "the event was not confirmed in time, retry")
	}
}

// QueueLen is how many events wait for the writer.
func (w *Writer) QueueLen() int { return len(w.queue) }

// Healthy is false while the writer fails fast after a database error.
func (w *Writer) Healthy() bool { return time.Now().UnixNano() >= w.downUntil.Load() }

// Close stops accepting events and profile operations and waits until every
// queued one is committed (or answered with an error), or ctx ends.
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.queue)
	}
	w.mu.Unlock()
	w.profiles.close()
	done := make(chan struct{})
	go func() { w.wg.Wait(); w.profiles.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *Writer) run() {
	defer w.wg.Done()
	batch := make([]*pending, 0, w.maxBatch)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		first, ok := <-w.queue
		if !ok {
			return
		}
		batch = append(batch[:0], first)
		// Take what is already waiting, then give a partial batch a moment
		// to fill: fewer, larger commits are what make ingest fast.
		open := w.fill(&batch)
		if open && len(batch) < w.maxBatch && w.maxWait > 0 {
			timer.Reset(w.maxWait)
		wait:
			for len(batch) < w.maxBatch {
				select {
				case p, ok := <-w.queue:
					if !ok {
						break wait
					}
					batch = append(batch, p)
				case <-timer.C:
					break wait
				}
			}
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		}
		w.flush(batch)
	}
}

// fill drains the queue without blocking; it reports whether it is still open.
func (w *Writer) fill(batch *[]*pending) bool {
	for len(*batch) < w.maxBatch {
		select {
		case p, ok := <-w.queue:
			if !ok {
				return false
			}
			*batch = append(*batch, p)
		default:
			return true
		}
	}
	return true
}

func (w *Writer) flush(batch []*pending) {
	if time.Now().UnixNano() < w.downUntil.Load() {
		w.fail(batch, errs.E(errs.Unavailable, "the database is unavailable, retry shortly"))
		return
	}
	results, err := w.commit(batch)
	if isDataError(err) && len(batch) > 1 {
		// One event the database refuses must not fail its neighbours:
		// commit them one by one, and only the bad one gets the error.
		for _, p := range batch {
			w.flush([]*pending{p})
		}
		return
	}
	if isDataError(err) {
		w.log.Warn("event refused by the database", "err", err)
		w.fail(batch, errs.Wrap(errs.Invalid, err, "the event has a value the database cannot store"))
		return
	}
	if err != nil {
		if isConnError(err) {
			w.downUntil.Store(time.Now().Add(time.Second).UnixNano())
		}
		w.log.Error("ingest batch failed", "events", len(batch), "err", err)
		w.fail(batch, errs.Wrap(errs.Unavailable, err, "the event could not be stored, retry shortly"))
		return
	}
	stored := 0
	for i, p := range batch {
		if !results[i].Duplicate {
			stored++
		}
		p.done <- outcome{res: results[i]}
	}
	w.Committed.Add(int64(stored))
	w.Batches.Add(1)
}

func (w *Writer) fail(batch []*pending, err error) {
	for _, p := range batch {
		p.done <- outcome{err: err}
	}
}

// commit runs op.ingest_v1 for the batch, retrying what a retry can fix: a
// concurrent duplicate (TLDUP), a deadlock, a missing partition.
func (w *Writer) commit(batch []*pending) ([]Result, error) {
	rows := make([]Row, len(batch))
	for i, p := range batch {
		rows[i] = p.row
		rows[i].Ord = i + 1
	}
	w.seen.mark(rows, time.Now())
	payload := appendRows(make([]byte, 0, 768*len(rows)), rows)
	var lastErr error
	for attempt := 0; attempt < 4; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		results, err := w.call(ctx, payload, len(batch))
		cancel()
		if err == nil {
			w.seen.remember(rows, results, time.Now())
			return results, nil
		}
		lastErr = err
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) {
			return nil, err
		}
		switch pgErr.Code {
		case "TLDUP", "40P01", "40001":
			continue
		case "23514": // no partition for a row: make them and retry
			w.ensurePartitions(rows)
			continue
		default:
			return nil, err
		}
	}
	return nil, lastErr
}

func (w *Writer) call(ctx context.Context, payload []byte, n int) ([]Result, error) {
	rs, err := w.pool.Query(ctx, "SELECT ord, device_id, session_id, duplicate FROM op.ingest_v1($1::jsonb)", payload)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	results := make([]Result, n)
	for rs.Next() {
		var ord int
		var dev *string
		var sid *uuid.UUID
		var dup bool
		if err := rs.Scan(&ord, &dev, &sid, &dup); err != nil {
			return nil, err
		}
		if ord < 1 || ord > n {
			return nil, errors.New("op.ingest_v1 returned an unknown ord")
		}
		r := Result{Duplicate: dup}
		if dev != nil {
			r.DeviceID = *dev
		}
		if sid != nil {
			r.SessionID = sid.String()
		}
		results[ord-1] = r
	}
	return results, rs.Err()
}

func (w *Writer) ensurePartitions(rows []Row) {
	lo, hi := rows[0].CreatedAt, rows[0].CreatedAt
	for _, r := range rows {
		if r.CreatedAt.Before(lo) {
			lo = r.CreatedAt
		}
		if r.CreatedAt.After(hi) {
			hi = r.CreatedAt
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := w.pool.Exec(ctx, "SELECT op.ensure_partitions_v1($1, $2)", lo, hi); err != nil {
		w.log.Error("creating partitions", "err", err)
	}
}

// isDataError tells an error caused by the data (a value out of range, an
// invalid string) from one caused by the database being unwell.
func isDataError(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	return strings.HasPrefix(pgErr.Code, "22") || (strings.HasPrefix(pgErr.Code, "23") && pgErr.Code != "23514")
}

// isConnError tells a database that is down or unreachable from a query error.
func isConnError(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// 57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now, 08xxx connection
		return pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03" || pgErr.Code[:2] == "08"
	}
	return !errors.Is(err, context.Canceled)
}
