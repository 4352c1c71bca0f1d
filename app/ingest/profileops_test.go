package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"tally/app/apptest"
	"tally/app/config"
	"tally/app/dbtest"
	"tally/app/errs"
	"tally/app/ingest"
)

// holdProfile locks a profile's row in a transaction of its own: a batch
// that touches the profile waits until release, and what is submitted
// meanwhile piles up in the queue.
func holdProfile(t *testing.T, pool *pgxpool.Pool, project, id string) (release func()) {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := tx.QueryRow(ctx, `SELECT 1 FROM profiles WHERE project_id = $1 AND id = $2 FOR UPDATE`, project, id).Scan(&n); err != nil {
		_ = tx.Rollback(ctx)
		t.Fatalf("lock profile %s: %v", id, err)
	}
	var once sync.Once
	release = func() { once.Do(func() { _ = tx.Rollback(ctx) }) }
	t.Cleanup(release)
	return release
}

// waitLockWaiter waits until a statement of the database waits for a lock.
func waitLockWaiter(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		if err := pool.QueryRow(context.Background(), `
			SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no batch is waiting for the held profile")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitQueued waits until n profile operations wait in the writer's queue.
func waitQueued(t *testing.T, w *ingest.Writer, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for w.ProfileQueueLen() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d profile operations queued, want %d", w.ProfileQueueLen(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

type profileCall struct {
	typ     string
	payload map[string]any
	status  int
	msg     string // in the JSON error's message
}

// sendQueued sends the calls one after the other into the queue (each is
// queued before the next is sent, so their arrival order is theirs) and
// returns a function that waits for the answers.
func sendQueued(t *testing.T, env *apptest.Env, queued int, calls []profileCall) func() []apptest.Response {
	t.Helper()
	h := env.ServerHeaders()
	res := make([]apptest.Response, len(calls))
	var wg sync.WaitGroup
	for i, c := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i] = env.Track(t, map[string]any{"type": c.typ, "payload": c.payload}, h)
		}()
		waitQueued(t, env.Server.Writer, queued+i+1)
	}
	return func() []apptest.Response { wg.Wait(); return res }
}

func checkCalls(t *testing.T, calls []profileCall, res []apptest.Response) {
	t.Helper()
	for i, c := range calls {
		r := res[i]
		if r.Status != c.status {
			t.Errorf("%s %v: %d %s, want %d", c.typ, c.payload, r.Status, r.Body, c.status)
			continue
		}
		if c.status == 200 {
			continue
		}
		var body struct {
			Status  int    `json:"status"`
			Message string `json:"message"`
		}
		r.JSON(t, &body)
		if body.Status != c.status || !strings.Contains(body.Message, c.msg) || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			t.Errorf("%s %v: %s (%s), want a JSON %d with %q", c.typ, c.payload, r.Body, r.Header.Get("Content-Type"), c.status, c.msg)
		}
	}
}

// Server-side identifies and increments are committed in batches, and an
// operation that cannot apply (an increment of an unknown profile, of a
// property that is not a number, to a value PostgreSQL cannot store) fails
// alone with the answer it got before batching; the rest of its batch
// applies, in order.
func TestProfileOpsBatchFailsOnlyItsBadOps(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t, func(c *config.Config) { c.IngestWriters = 1 })
	ctx := context.Background()
	pid := env.Project.ProjectID
	w := env.Server.Writer
	for _, p := range []map[string]any{
		{"profileId": "blocker"},
		{"profileId": "counted", "properties": map[string]any{"logins": 1}},
		{"profileId": "texty", "properties": map[string]any{"plan": "pro"}},
		{"profileId": "huge"},
	} {
		if r := identify(t, env, env.ServerHeaders(), p); r.Status != 200 {
			t.Fatalf("identify %v: %d %s", p, r.Status, r.Body)
		}
	}
	// numeric's largest magnitude: one more overflows.
	if _, err := env.Pool.Exec(ctx, `UPDATE profiles SET properties = jsonb_build_object('big', repeat('9', 131072)::numeric)
		WHERE project_id = $1 AND id = 'huge'`, pid); err != nil {
		t.Fatal(err)
	}
	blocked := func() (wait func()) {
		release := holdProfile(t, env.Pool, pid, "blocker")
		done := make(chan apptest.Response, 1)
		go func() {
			done <- env.Track(t, map[string]any{"type": "increment", "payload": map[string]any{"profileId": "blocker", "property": "n"}}, env.ServerHeaders())
		}()
		waitLockWaiter(t, env.Pool)
		return func() {
			release()
			if r := <-done; r.Status != 200 {
				t.Errorf("blocker increment: %d %s", r.Status, r.Body)
			}
		}
	}

	// Round 1: one batch with an unknown profile and a text property among
	// valid identifies and increments.
	unblock := blocked()
	_, batches0 := w.ProfileOpsCommitted()
	calls := []profileCall{
		{"increment", map[string]any{"profileId": "counted", "property": "logins", "value": 2}, 200, ""},
		{"increment", map[string]any{"profileId": "nobody", "property": "logins"}, 404, "profile not found"},
		{"identify", map[string]any{"profileId": "fresh", "firstName": "Fresh", "properties": map[string]any{"plan": "free"}}, 200, ""},
		{"increment", map[string]any{"profileId": "texty", "property": "plan"}, 400, `property "plan" is not a number`},
		{"decrement", map[string]any{"profileId": "counted", "property": "logins", "value": 0.5}, 200, ""},
		{"identify", map[string]any{"profileId": "texty", "lastName": "Text", "email": "t@example.com"}, 200, ""},
		{"increment", map[string]any{"profileId": "fresh", "property": "visits"}, 200, ""},
	}
	answers := sendQueued(t, env, 0, calls)
	unblock()
	checkCalls(t, calls, answers())
	if _, batches := w.ProfileOpsCommitted(); batches-batches0 != 2 {
		t.Errorf("%d batches for the blocker and round 1, want 2", batches-batches0)
	}

	// Round 2: a value the database cannot store among valid operations.
	unblock = blocked()
	calls2 := []profileCall{
		{"increment", map[string]any{"profileId": "counted", "property": "logins", "value": 10}, 200, ""},
		{"identify", map[string]any{"profileId": "huge", "firstName": "Huge"}, 200, ""},
		{"increment", map[string]any{"profileId": "huge", "property": "big"}, 400, "a value cannot be stored"},
		{"increment", map[string]any{"profileId": "huge", "property": "small", "value": 3}, 200, ""},
		{"increment", map[string]any{"profileId": "nobody", "property": "logins"}, 404, "profile not found"},
		{"increment", map[string]any{"profileId": "fresh", "property": "visits"}, 200, ""},
	}
	answers = sendQueued(t, env, 0, calls2)
	unblock()
	checkCalls(t, calls2, answers())

	var logins, visits, small, blockerN float64
	var bigDigits int
	var freshName, texty, textyEmail, hugeName string
	err := env.Pool.QueryRow(ctx, `
		SELECT (SELECT (properties->>'logins')::float8 FROM profiles WHERE project_id = $1 AND id = 'counted'),
		       (SELECT (properties->>'visits')::float8 FROM profiles WHERE project_id = $1 AND id = 'fresh'),
		       (SELECT first_name FROM profiles WHERE project_id = $1 AND id = 'fresh'),
		       (SELECT last_name || ' ' || (properties->>'plan') FROM profiles WHERE project_id = $1 AND id = 'texty'),
		       (SELECT email FROM profiles WHERE project_id = $1 AND id = 'texty'),
		       (SELECT length(properties->>'big') FROM profiles WHERE project_id = $1 AND id = 'huge'),
		       (SELECT (properties->>'small')::float8 FROM profiles WHERE project_id = $1 AND id = 'huge'),
		       (SELECT first_name FROM profiles WHERE project_id = $1 AND id = 'huge'),
		       (SELECT (properties->>'n')::float8 FROM profiles WHERE project_id = $1 AND id = 'blocker')`, pid).
		Scan(&logins, &visits, &freshName, &texty, &textyEmail, &bigDigits, &small, &hugeName, &blockerN)
	if err != nil {
		t.Fatal(err)
	}
	if logins != 1+2-0.5+10 || visits != 2 || freshName != "Fresh" || texty != "Text pro" || textyEmail != "t@example.com" ||
		bigDigits != 131072 || small != 3 || hugeName != "Huge" || blockerN != 2 {
		t.Fatalf("logins=%v visits=%v fresh=%q texty=%q %q big digits=%d small=%v huge=%q blocker n=%v",
			logins, visits, freshName, texty, textyEmail, bigDigits, small, hugeName, blockerN)
	}
	var nobody int
	_ = env.Pool.QueryRow(ctx, `SELECT count(*) FROM profiles WHERE project_id = $1 AND id = 'nobody'`, pid).Scan(&nobody)
	if nobody != 0 {
		t.Fatal("an increment created the unknown profile")
	}
}

// Concurrent increments and decrements of one property are all applied,
// none twice, and they are group-committed.
func TestProfileOpsConcurrentIncrementsAreExact(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t)
	h := env.ServerHeaders()
	if r := identify(t, env, h, map[string]any{"profileId": "hot", "properties": map[string]any{"credits": 1000}}); r.Status != 200 {
		t.Fatalf("identify: %d %s", r.Status, r.Body)
	}
	ops0, batches0 := env.Server.Writer.ProfileOpsCommitted()
	const incs, decs = 200, 50
	var wg sync.WaitGroup
	var failed sync.Map
	for i := range incs + decs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			typ, prop := "increment", "logins"
			if i%5 == 0 && i/5 < decs {
				typ, prop = "decrement", "credits"
			}
			r := env.Track(t, map[string]any{"type": typ, "payload": map[string]any{"profileId": "hot", "property": prop}}, h)
			if r.Status != 200 {
				failed.Store(i, fmt.Sprintf("%d %s", r.Status, r.Body))
			}
		}()
	}
	wg.Wait()
	failed.Range(func(k, v any) bool { t.Errorf("op %v: %v", k, v); return true })
	var logins, credits int
	if err := env.Pool.QueryRow(context.Background(), `
		SELECT (properties->>'logins')::int, (properties->>'credits')::int FROM profiles WHERE project_id = $1 AND id = 'hot'`,
		env.Project.ProjectID).Scan(&logins, &credits); err != nil {
		t.Fatal(err)
	}
	if logins != incs || credits != 1000-decs {
		t.Fatalf("logins %d, credits %d: want %d and %d", logins, credits, incs, 1000-decs)
	}
	ops1, batches1 := env.Server.Writer.ProfileOpsCommitted()
	t.Logf("%d operations in %d batches", ops1-ops0, batches1-batches0)
	if ops1-ops0 != incs+decs || batches1-batches0 >= ops1-ops0 {
		t.Fatalf("%d operations in %d batches: want %d operations, group-committed", ops1-ops0, batches1-batches0, incs+decs)
	}
}

func newProfileWriter(t *testing.T, pool *pgxpool.Pool, o ingest.WriterOptions) *ingest.Writer {
	t.Helper()
	w := ingest.NewWriter(pool, o, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { _ = w.Close(context.Background()) })
	return w
}

type submitted struct {
	op  ingest.ProfileOp
	err error
}

// submitQueued submits the operations one after the other into the queue
// (each queued before the next) and returns a function that waits for them.
func submitQueued(t *testing.T, w *ingest.Writer, queued int, ops []ingest.ProfileOp) func() []submitted {
	t.Helper()
	out := make([]submitted, len(ops))
	var wg sync.WaitGroup
	for i, op := range ops {
		out[i].op = op
		wg.Add(1)
		go func() { defer wg.Done(); out[i].err = w.ApplyProfileOp(context.Background(), op) }()
		waitQueued(t, w, queued+i+1)
	}
	return func() []submitted { wg.Wait(); return out }
}

// The operations of one profile apply in the order they arrived, also when
// one batch holds several of them among other profiles' (the batch is
// applied in profile order), and an operation's outcome depends on those
// before it.
func TestProfileOpsApplyInArrivalOrderPerProfile(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	ctx := context.Background()
	w := newProfileWriter(t, pool, ingest.WriterOptions{Queue: 100, Batch: 100, Writers: 1, MaxWait: time.Millisecond})
	now := time.Now().UTC().Truncate(time.Microsecond)
	ident := func(profile, last, props string) ingest.ProfileOp {
		return ingest.ProfileOp{Kind: ingest.OpIdentify, ProjectID: "p", ProfileID: profile, LastName: last, Properties: []byte(props), SeenAt: &now}
	}
	inc := func(profile, prop string, d float64) ingest.ProfileOp {
		return ingest.ProfileOp{Kind: ingest.OpIncrement, ProjectID: "p", ProfileID: profile, Property: prop, Delta: d}
	}
	if err := w.ApplyProfileOp(ctx, ident("blocker", "", `{}`)); err != nil {
		t.Fatal(err)
	}
	release := holdProfile(t, pool, "p", "blocker")
	blocker := make(chan error, 1)
	go func() { blocker <- w.ApplyProfileOp(ctx, inc("blocker", "n", 1)) }()
	waitLockWaiter(t, pool)
	_, batches0 := w.ProfileOpsCommitted()

	ops := []ingest.ProfileOp{
		inc("zed", "x", 1), // before zed exists: not found
		ident("m", "A", `{"x": 1}`),
		ident("zed", "Z", `{}`),
		inc("m", "x", 1),
		inc("zed", "x", 1), // after: applies
		ident("m", "", `{"x": "text"}`),
		inc("m", "x", 1), // not a number now
		ident("a", "first", `{}`),
		ident("m", "B", `{"x": 10}`),
		ident("a", "second", `{}`),
		inc("m", "x", -3),
		inc("zed", "x", 1),
	}
	wantErr := []errs.Kind{errs.NotFound, "", "", "", "", "", errs.Invalid, "", "", "", "", ""}
	wait := submitQueued(t, w, 0, ops)
	release()
	if err := <-blocker; err != nil {
		t.Fatal(err)
	}
	for i, s := range wait() {
		got := errs.Kind("")
		if s.err != nil {
			got = errs.KindOf(s.err)
		}
		if got != wantErr[i] {
			t.Errorf("op %d %+v: %v, want %q", i, s.op, s.err, wantErr[i])
		}
	}
	if _, batches := w.ProfileOpsCommitted(); batches-batches0 != 2 {
		t.Fatalf("%d batches, want 2 (the blocker's, then all the others together)", batches-batches0)
	}
	var mLast, aLast string
	var mX, zedX float64
	if err := pool.QueryRow(ctx, `
		SELECT (SELECT last_name FROM profiles WHERE id = 'm'), (SELECT (properties->>'x')::float8 FROM profiles WHERE id = 'm'),
		       (SELECT last_name FROM profiles WHERE id = 'a'), (SELECT (properties->>'x')::float8 FROM profiles WHERE id = 'zed')`).
		Scan(&mLast, &mX, &aLast, &zedX); err != nil {
		t.Fatal(err)
	}
	if mLast != "B" || mX != 7 || aLast != "second" || zedX != 2 {
		t.Fatalf("m: %q x=%v, a: %q, zed x=%v; want B 7, second, 2", mLast, mX, aLast, zedX)
	}
}

// A full profile queue answers 503 with Retry-After at once (the SDK
// retries) instead of queueing without bound; what was queued is applied.
func TestProfileOpsQueueIsBounded(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t, func(c *config.Config) { c.IngestWriters, c.IngestQueue = 1, 2 })
	h := env.ServerHeaders()
	pid := env.Project.ProjectID
	if r := identify(t, env, h, map[string]any{"profileId": "q"}); r.Status != 200 {
		t.Fatalf("identify: %d %s", r.Status, r.Body)
	}
	release := holdProfile(t, env.Pool, pid, "q")
	inc := profileCall{"increment", map[string]any{"profileId": "q", "property": "n"}, 200, ""}
	first := make(chan apptest.Response, 1)
	go func() { first <- env.Track(t, map[string]any{"type": inc.typ, "payload": inc.payload}, h) }()
	waitLockWaiter(t, env.Pool)
	answers := sendQueued(t, env, 0, []profileCall{inc, inc}) // the queue is full now
	start := time.Now()
	r := env.Track(t, map[string]any{"type": "increment", "payload": map[string]any{"profileId": "q", "property": "n"}}, h)
	if r.Status != 503 || r.Header.Get("Retry-After") == "" || time.Since(start) > 2*time.Second {
		t.Fatalf("with the queue full: %d %s (Retry-After %q) after %v, want a quick 503", r.Status, r.Body, r.Header.Get("Retry-After"), time.Since(start))
	}
	checkCalls(t, []profileCall{{"increment", nil, 503, "queue is full"}}, []apptest.Response{r})
	release()
	if r := <-first; r.Status != 200 {
		t.Fatalf("first: %d %s", r.Status, r.Body)
	}
	checkCalls(t, []profileCall{inc, inc}, answers())
	var n int
	_ = env.Pool.QueryRow(context.Background(), `SELECT (properties->>'n')::int FROM profiles WHERE project_id = $1 AND id = 'q'`, pid).Scan(&n)
	if n != 3 {
		t.Fatalf("n = %d, want the 3 accepted increments", n)
	}
}

// Close (the server's shutdown) applies every queued operation before it
// returns, and refuses new ones.
func TestProfileOpsCloseDrainsTheQueue(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	ctx := context.Background()
	w := ingest.NewWriter(pool, ingest.WriterOptions{Queue: 100, Batch: 4, Writers: 2, MaxWait: time.Millisecond}, slog.New(slog.DiscardHandler))
	op := func(kind, profile string) ingest.ProfileOp {
		now := time.Now()
		return ingest.ProfileOp{Kind: kind, ProjectID: "p", ProfileID: profile, Property: "n", Delta: 1, Properties: []byte(`{}`), SeenAt: &now}
	}
	if err := w.ApplyProfileOp(ctx, op(ingest.OpIdentify, "d")); err != nil {
		t.Fatal(err)
	}
	release := holdProfile(t, pool, "p", "d")
	first := make(chan error, 1)
	go func() { first <- w.ApplyProfileOp(ctx, op(ingest.OpIncrement, "d")) }()
	waitLockWaiter(t, pool)
	ops := make([]ingest.ProfileOp, 10)
	for i := range ops {
		ops[i] = op(ingest.OpIncrement, "d")
	}
	wait := submitQueued(t, w, 0, ops)
	closed := make(chan error, 1)
	go func() { closed <- w.Close(ctx) }()
	// Until Close has begun an operation is still taken: with a cancelled
	// context the call returns at once instead of waiting behind the held
	// profile (the increment of an unknown profile changes nothing later).
	gone, cancel := context.WithCancel(ctx)
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := w.ApplyProfileOp(gone, op(ingest.OpIncrement, "other"))
		if errors.Is(err, ingest.ErrShuttingDown) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after Close: %v, want ErrShuttingDown", err)
		}
		time.Sleep(time.Millisecond)
	}
	release()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for _, s := range wait() {
		if s.err != nil {
			t.Fatalf("queued op: %v", s.err)
		}
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	var n int
	_ = pool.QueryRow(ctx, `SELECT (properties->>'n')::int FROM profiles WHERE id = 'd'`).Scan(&n)
	if n != 11 {
		t.Fatalf("n = %d, want 11", n)
	}
}

// With the database unreachable, profile operations answer "unavailable"
// quickly, and after the first failure at once, like events.
func TestProfileOpsFailFastWhenTheDatabaseIsDown(t *testing.T) {
	t.Parallel()
	cfg, err := pgxpool.ParseConfig("postgres://tally@127.0.0.1:1/tally?connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	w := newProfileWriter(t, pool, ingest.WriterOptions{Queue: 10, Batch: 10, Writers: 1, MaxWait: time.Millisecond})
	op := ingest.ProfileOp{Kind: ingest.OpIncrement, ProjectID: "p", ProfileID: "x", Property: "n", Delta: 1}
	for i := range 2 {
		start := time.Now()
		err := w.ApplyProfileOp(context.Background(), op)
		if errs.KindOf(err) != errs.Unavailable || time.Since(start) > 3*time.Second {
			t.Fatalf("call %d: %v after %v, want a quick unavailable", i, err, time.Since(start))
		}
		if i == 1 && time.Since(start) > 50*time.Millisecond {
			t.Fatalf("second call took %v: it should fail fast", time.Since(start))
		}
	}
	if w.Healthy() {
		t.Fatal("the writer reports healthy with the database down")
	}
}
