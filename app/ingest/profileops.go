package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"tally/app/errs"
)

// ProfileOp is one server-side profile operation as op.profile_ops_v1 takes
// it (see sql/profiles.sql): an identify, or an increment (a decrement is a
// negative Delta).
type ProfileOp struct {
	I          int             `json:"i"` // set by the batcher: the op's place in its batch
	Kind       string          `json:"kind"`
	ProjectID  string          `json:"project_id"`
	ProfileID  string          `json:"profile_id"`
	FirstName  string          `json:"first_name,omitempty"`
	LastName   string          `json:"last_name,omitempty"`
	Email      string          `json:"email,omitempty"`
	Avatar     string          `json:"avatar,omitempty"`
	Properties json.RawMessage `json:"properties,omitempty"`
	SeenAt     *time.Time      `json:"seen_at,omitempty"`
	Property   string          `json:"property,omitempty"`
	Delta      float64         `json:"delta"` // 0 too: NULL would clear the property
}

// The kinds of ProfileOp.
const (
	OpIdentify  = "identify"
	OpIncrement = "increment"
)

type profileJob struct {
	op   ProfileOp
	done chan error // buffered: the batcher never blocks on a gone caller
}

// profileOps commits server-side identifies and increments in groups, like
// the Writer does events: a batch is one transaction, one call of
// op.profile_ops_v1, and each caller is answered after its batch commits.
//
// Operations are sharded by profile: every operation of one profile goes
// through one queue and one goroutine, so a profile's operations apply in
// the order they arrived (within a batch the function keeps that order, and
// a batch commits before its goroutine takes the next), and two concurrent
// batches never touch the same profile.
type profileOps struct {
	pool     *pgxpool.Pool
	log      *slog.Logger
	shards   []chan *profileJob
	seed     maphash.Seed
	maxBatch int
	maxWait  time.Duration
	down     *atomic.Int64 // the Writer's downUntil: one database, one verdict

	mu     sync.RWMutex // guards closed against submit racing close
	closed bool
	wg     sync.WaitGroup

	committed, batches atomic.Int64
}

func newProfileOps(pool *pgxpool.Pool, o WriterOptions, down *atomic.Int64, log *slog.Logger) *profileOps {
	n := max(o.Writers, 1)
	p := &profileOps{pool: pool, log: log, shards: make([]chan *profileJob, n), seed: maphash.MakeSeed(),
		maxBatch: max(o.Batch, 1), maxWait: o.ProfileMaxWait, down: down}
	for i := range p.shards {
		p.shards[i] = make(chan *profileJob, max(o.Queue/n, 1))
		p.wg.Add(1)
		go p.run(p.shards[i])
	}
	return p
}

func (p *profileOps) shard(op *ProfileOp) chan *profileJob {
	if len(p.shards) == 1 {
		return p.shards[0]
	}
	var h maphash.Hash
	h.SetSeed(p.seed)
	_, _ = h.WriteString(op.ProjectID)
	_ = h.WriteByte(0)
	_, _ = h.WriteString(op.ProfileID)
	return p.shards[h.Sum64()%uint64(len(p.shards))]
}

var errDatabaseDown = errs.E(errs.Unavailable, "the database is unavailable, retry shortly")

// submit queues one operation and waits until its batch has committed.
func (p *profileOps) submit(ctx context.Context, op ProfileOp) error {
	if time.Now().UnixNano() < p.down.Load() {
		return errDatabaseDown
	}
	j := &profileJob{op: op, done: make(chan error, 1)}
	q := p.shard(&op)
	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		return ErrShuttingDown
	}
	select {
	case q <- j:
	default:
		p.mu.RUnlock()
		return errs.E(errs.Unavailable, "the profile queue is full, retry shortly")
	}
	p.mu.RUnlock()
	select {
	case err := <-j.done:
		return err
	case <-ctx.Done():
		// The operation may still be applied.
		return errs.Wrap(errs.Unavailable, ctx.Err(), "the profile operation was not confirmed in time, retry")
	}
}

func (p *profileOps) queueLen() int {
	n := 0
	for _, q := range p.shards {
		n += len(q)
	}
	return n
}

// close stops taking operations; the queued ones are still applied.
func (p *profileOps) close() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		for _, q := range p.shards {
			close(q)
		}
	}
	p.mu.Unlock()
}

// maxBatchBytes bounds a batch's JSON (a request's properties may be up to
// a megabyte; jsonb takes at most 255 MB).
const maxBatchBytes = 4 << 20

func (p *profileOps) run(q chan *profileJob) {
	defer p.wg.Done()
	b := profileBatch{jobs: make([]*profileJob, 0, p.maxBatch), max: p.maxBatch}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		first, ok := <-q
		if !ok {
			return
		}
		b.reset()
		b.add(first)
		// Take what is already waiting, then give a partial batch a moment
		// to fill.
		open := b.fill(q)
		if open && !b.full() && p.maxWait > 0 {
			timer.Reset(p.maxWait)
		wait:
			for !b.full() {
				select {
				case j, ok := <-q:
					if !ok {
						break wait
					}
					b.add(j)
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
		p.flush(b.jobs)
	}
}

type profileBatch struct {
	jobs       []*profileJob
	bytes, max int
}

func (b *profileBatch) reset() {
	clear(b.jobs) // let the answered jobs go
	b.jobs, b.bytes = b.jobs[:0], 0
}

func (b *profileBatch) add(j *profileJob) {
	b.jobs = append(b.jobs, j)
	b.bytes += 256 + len(j.op.Properties) + len(j.op.ProfileID) + len(j.op.Property) +
		len(j.op.FirstName) + len(j.op.LastName) + len(j.op.Email) + len(j.op.Avatar)
}

func (b *profileBatch) full() bool { return len(b.jobs) >= b.max || b.bytes >= maxBatchBytes }

// fill drains the queue without blocking; it reports whether the queue is
// still open.
func (b *profileBatch) fill(q chan *profileJob) bool {
	for !b.full() {
		select {
		case j, ok := <-q:
			if !ok {
				return false
			}
			b.add(j)
		default:
			return true
		}
	}
	return true
}

func (p *profileOps) flush(batch []*profileJob) {
	if time.Now().UnixNano() < p.down.Load() {
		for _, j := range batch {
			j.done <- errDatabaseDown
		}
		return
	}
	results, err := p.commit(batch)
	if err != nil && len(batch) > 1 && profileDataError(err) {
		// An operation the database refuses (a value it cannot store) must
		// not fail the others: split the batch until it stands alone. The
		// halves commit one after the other, the earlier first, so each
		// profile's order holds.
		half := len(batch) / 2
		p.flush(batch[:half])
		p.flush(batch[half:])
		return
	}
	if err != nil {
		if !profileDataError(err) {
			if isConnError(err) {
				p.down.Store(time.Now().Add(time.Second).UnixNano())
			}
			p.log.Error("profile batch failed", "ops", len(batch), "err", err)
		}
		err = profileErr(err)
		for _, j := range batch {
			j.done <- err
		}
		return
	}
	p.committed.Add(int64(len(batch)))
	p.batches.Add(1)
	for i, j := range batch {
		j.done <- results[i]
	}
}

// commit applies the batch in one call of op.profile_ops_v1 and returns
// each operation's own outcome; a deadlock (with a merge) is retried.
func (p *profileOps) commit(batch []*profileJob) ([]error, error) {
	ops := make([]ProfileOp, len(batch))
	for i, j := range batch {
		ops[i] = j.op
		ops[i].I = i + 1
	}
	payload, err := json.Marshal(ops)
	if err != nil {
		return nil, err
	}
	var lastErr error
	for attempt := 0; attempt < 4; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		results, err := p.call(ctx, payload, ops)
		cancel()
		if err == nil {
			return results, nil
		}
		lastErr = err
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && (pgErr.Code == "40P01" || pgErr.Code == "40001") {
			continue
		}
		return nil, err
	}
	return nil, lastErr
}

func (p *profileOps) call(ctx context.Context, payload []byte, ops []ProfileOp) ([]error, error) {
	rs, err := p.pool.Query(ctx, "SELECT i, status, message FROM op.profile_ops_v1($1::jsonb)", payload)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	results := make([]error, len(ops))
	seen := 0
	for rs.Next() {
		var i int
		var status string
		var message *string
		if err := rs.Scan(&i, &status, &message); err != nil {
			return nil, err
		}
		if i < 1 || i > len(ops) {
			return nil, errors.New("op.profile_ops_v1 returned an unknown operation")
		}
		seen++
		msg := ""
		if message != nil {
			msg = *message
		}
		switch status {
		case "ok":
		case "not_found":
			results[i-1] = errs.E(errs.NotFound, "profile not found")
		case "not_numeric":
			results[i-1] = errs.E(errs.Invalid, "%s", msg)
		default:
			results[i-1] = errs.E(errs.Internal, "profile operation: unexpected status %q", status)
		}
	}
	if err := rs.Err(); err != nil {
		return nil, err
	}
	if seen != len(ops) {
		return nil, errors.New("op.profile_ops_v1 did not answer every operation")
	}
	return results, nil
}

// profileDataError tells an error caused by an operation's values (out of
// range, too long for an index) from one of the database itself.
func profileDataError(err error) bool {
	var pgErr *pgconn.PgError
	return isDataError(err) || errors.As(err, &pgErr) && pgErr.Code[:2] == "54"
}

// profileErr maps a failed batch's error for its callers: what the single
// statement gave before batching (dbErr), and a database that is down,
// overloaded or shutting down is unavailable (503, retry) rather than broken.
func profileErr(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code[:2] {
		case "40", "53", "57", "08":
			return errs.Wrap(errs.Unavailable, err, "the profile operation could not be applied, retry shortly")
		case "54":
			return errs.Wrap(errs.Invalid, err, "a value cannot be stored: "+pgErr.Message)
		}
	}
	return dbErr(err)
}
