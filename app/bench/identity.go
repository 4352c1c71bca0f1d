package bench

// Identity benchmarks:
//
//   - `tally bench identify` measures server-side profile calls (identify and
//     increment, one request each, as @openpanel/sdk sends them from a
//     backend) and checks that no increment was lost or applied twice.
//   - `tally bench merge` measures the merge job: one anonymous browser with a
//     large history identifies while the site's ingest load runs, and the
//     bench times how long the history rewrite takes and how much it slows
//     ingest down.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// IdentifyResult is the one JSON line `bench identify` prints.
type IdentifyResult struct {
	Ops             int64   `json:"ops"`
	Acknowledged    int64   `json:"acknowledged"`
	OpsPerSec       float64 `json:"ops_per_sec"`
	IdentifyPerSec  float64 `json:"identify_per_sec"`
	IncrementPerSec float64 `json:"increment_per_sec"`
	P50ms           float64 `json:"p50_ms"`
	P99ms           float64 `json:"p99_ms"`
	Errors          int64   `json:"errors"`
	IncrementsExact bool    `json:"increments_exact"`
}

// IdentifyOptions configure `bench identify`.
type IdentifyOptions struct {
	Ops, Concurrency, Profiles int
	IdentifyPct                int // share of identify among the operations, the rest increments
}

// counterProps are the properties the increments add to. Identifies never
// set them, so their sums are exactly the acknowledged increments.
var counterProps = [2]string{"logins", "credits"}

// IdentifyCmd parses the flags of `bench identify` and runs it.
func IdentifyCmd(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench identify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o IdentifyOptions
	fs.IntVar(&o.Ops, "ops", 100_000, "operations in the measured phase (half identify, half increment)")
	fs.IntVar(&o.Concurrency, "concurrency", 64, "concurrent connections (one request in flight on each)")
	fs.IntVar(&o.Profiles, "profiles", 5000, "profiles created by identify before measuring (the pool the operations pick from)")
	fs.IntVar(&o.IdentifyPct, "identify-pct", 50, "percentage of identify among the operations (the rest are increments)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.Ops < 1 || o.Concurrency < 1 || o.Profiles < 1 || o.IdentifyPct < 0 || o.IdentifyPct > 100 {
		return errors.New("--ops, --concurrency and --profiles must be positive, --identify-pct 0..100")
	}
	debug.SetGCPercent(400)
	res, err := Identify(ctx, o, env, stderr)
	if err != nil {
		return err
	}
	return printJSON(stdout, res)
}

// profileOp is one server-side profile call of the identify bench.
type profileOp struct {
	kind    int // opIdentify or opIncrement
	counter int // opIncrement: index in counterProps
}

const (
	opIdentify = iota
	opIncrement
)

// opsOutcome is what a run of profile calls measured.
type opsOutcome struct {
	Sent, Acked, Errors int64
	AckedIdentify       int64
	AckedCounter        [2]int64 // by counterProps index
	ByStatus            map[string]int64
	FirstErr            string
	Wall                time.Duration
	Latencies           []uint32 // µs, acknowledged requests, sorted
	LatIdentify, LatInc []uint32
}

func (o opsOutcome) statusLine() string {
	return Outcome{ByStatus: o.ByStatus}.StatusLine()
}

func percentile(lat []uint32, p float64) float64 {
	return Outcome{Latencies: lat}.Percentile(p)
}

// opsRun is a closed loop of profile calls: Concurrency goroutines each
// send one request and wait for its answer before the next.
type opsRun struct {
	client      *http.Client
	url         string
	header      http.Header
	concurrency int
	ops         int64
	seed        uint64
	pick        func(rng *rand.Rand, seq int64) profileOp
	body        func(rng *rand.Rand, seq int64, op profileOp, buf []byte) []byte
	label       string
	progress    io.Writer
}

type opsWorker struct {
	acked, errors, ackedID int64
	ackedCounter           [2]int64
	byCode                 map[int]int64
	connErr                int64
	first                  string
	latID, latInc          []uint32
}

func (r *opsRun) run(ctx context.Context) (opsOutcome, error) {
	tmpl, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url+"/track", nil)
	if err != nil {
		return opsOutcome{}, err
	}
	var next, done atomic.Int64
	workers := make([]*opsWorker, r.concurrency)
	start := time.Now()
	stop := make(chan struct{})
	var progress sync.WaitGroup
	if r.progress != nil {
		progress.Add(1)
		go func() {
			defer progress.Done()
			t := time.NewTicker(2 * time.Second)
			defer t.Stop()
			prev, prevAt := int64(0), start
			for {
				select {
				case <-stop:
					return
				case now := <-t.C:
					n := done.Load()
					fmt.Fprintf(r.progress, "bench %s: %d/%d done, %.0f ops/s\n", r.label, n, r.ops, float64(n-prev)/now.Sub(prevAt).Seconds())
					prev, prevAt = n, now
				}
			}
		}()
	}
	var wg sync.WaitGroup
	for i := range workers {
		w := &opsWorker{byCode: map[int]int64{}}
		workers[i] = w
		rng := rand.New(rand.NewPCG(r.seed+uint64(i)*0x9e3779b97f4a7c15, uint64(i)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, 1024)
			var body bodyReader
			for ctx.Err() == nil {
				seq := next.Add(1)
				if seq > r.ops {
					return
				}
				op := r.pick(rng, seq)
				buf = r.body(rng, seq, op, buf[:0])
				body.Reset(buf)
				req := *tmpl
				req.Header = r.header
				req.Body = &body
				req.ContentLength = int64(len(buf))
				b := buf
				req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
				t0 := time.Now()
				res, err := r.client.Do(&req)
				if err != nil {
					w.errors++
					w.connErr++
					if w.first == "" {
						w.first = err.Error()
					}
					done.Add(1)
					continue
				}
				var msg []byte
				if res.StatusCode != http.StatusOK && w.first == "" {
					msg, _ = io.ReadAll(io.LimitReader(res.Body, 300))
				}
				_, _ = io.Copy(io.Discard, res.Body)
				_ = res.Body.Close()
				us := min(time.Since(t0).Microseconds(), int64(^uint32(0)))
				done.Add(1)
				if res.StatusCode != http.StatusOK {
					w.errors++
					w.byCode[res.StatusCode]++
					if w.first == "" {
						w.first = fmt.Sprintf("%d %s", res.StatusCode, bytes.TrimSpace(msg))
					}
					continue
				}
				w.acked++
				if op.kind == opIdentify {
					w.ackedID++
					w.latID = append(w.latID, uint32(us))
				} else {
					w.ackedCounter[op.counter]++
					w.latInc = append(w.latInc, uint32(us))
				}
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	close(stop)
	progress.Wait()
	if err := ctx.Err(); err != nil {
		return opsOutcome{}, err
	}
	o := opsOutcome{Sent: min(next.Load(), r.ops), Wall: wall, ByStatus: map[string]int64{}}
	for _, w := range workers {
		o.Acked += w.acked
		o.Errors += w.errors
		o.AckedIdentify += w.ackedID
		o.AckedCounter[0] += w.ackedCounter[0]
		o.AckedCounter[1] += w.ackedCounter[1]
		o.LatIdentify = append(o.LatIdentify, w.latID...)
		o.LatInc = append(o.LatInc, w.latInc...)
		for code, n := range w.byCode {
			o.ByStatus[strconv.Itoa(code)] += n
		}
		if w.connErr > 0 {
			o.ByStatus["transport"] += w.connErr
		}
		if o.FirstErr == "" {
			o.FirstErr = w.first
		}
	}
	o.Latencies = append(append(make([]uint32, 0, len(o.LatIdentify)+len(o.LatInc)), o.LatIdentify...), o.LatInc...)
	slices.Sort(o.Latencies)
	slices.Sort(o.LatIdentify)
	slices.Sort(o.LatInc)
	return o, nil
}

// identifyBody appends an identify of profile p: a new email now and then,
// names, and a few properties that change on every call.
func identifyBody(buf []byte, rng *rand.Rand, profile string, seq int64) []byte {
	plans := [...]string{"free", "pro", "team", "enterprise"}
	payload := map[string]any{
		"profileId": profile,
		"firstName": "Ada",
		"lastName":  "Bench " + strconv.Itoa(rng.IntN(1000)),
		"properties": map[string]any{
			"plan":      plans[rng.IntN(len(plans))],
			"seats":     1 + rng.IntN(50),
			"last_call": seq,
			"company":   map[string]any{"name": "Acme " + strconv.Itoa(rng.IntN(200)), "size": rng.IntN(5000)},
		},
	}
	if rng.IntN(2) == 0 {
		payload["email"] = profile + "+" + strconv.Itoa(rng.IntN(100)) + "@example.com"
	}
	b, _ := json.Marshal(map[string]any{"type": "identify", "payload": payload})
	return append(buf, b...)
}

func incrementBody(buf []byte, profile, property string) []byte {
	buf = append(buf, `{"type":"increment","payload":{"profileId":`...)
	buf = strconv.AppendQuote(buf, profile)
	buf = append(buf, `,"property":`...)
	buf = strconv.AppendQuote(buf, property)
	return append(buf, `,"value":1}}`...)
}

// startProject starts a child server and creates a project in it; stop
// stops the server.
func startProject(ctx context.Context, env []string, stderr io.Writer) (c *Child, p projectInfo, stop func(), err error) {
	c, err = StartChild(ctx, env, stderr)
	if err != nil {
		return nil, projectInfo{}, nil, err
	}
	stop = func() {
		fmt.Fprintln(stderr, "bench: stopping the server")
		if err := c.Stop(); err != nil {
			fmt.Fprintf(stderr, "bench: server stop: %v\n", err)
		}
	}
	created, err := c.CreateProject(ctx)
	if err != nil {
		stop()
		return nil, projectInfo{}, nil, err
	}
	fmt.Fprintf(stderr, "bench: project %s, client %s\n", created.ProjectID, created.ClientID)
	return c, projectInfo{ID: created.ProjectID, ClientID: created.ClientID, Secret: created.ClientSecret}, stop, nil
}

type projectInfo struct{ ID, ClientID, Secret string }

// cpuMeter reports processor time per operation across a phase: the load
// generator, the server and its descendants (PostgreSQL), user and system.
type cpuMeter struct {
	pid      int
	self0    time.Duration
	child0   procTimes
	machine0 time.Duration
	at       time.Time
}

func startCPU(pid int) cpuMeter {
	m := cpuMeter{pid: pid, self0: SelfCPU(), at: time.Now()}
	m.child0, _ = readProcTimes(pid)
	m.machine0, _ = machineBusy()
	return m
}

// machineBusy is the processor time all processes of the machine have used
// since boot (/proc/stat, idle and iowait excluded): on a shared machine it
// shows how much of it the benchmark did not get.
func machineBusy() (time.Duration, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, errors.New("unexpected /proc/stat")
	}
	var busy int64
	for i, v := range f[1:9] { // user nice system idle iowait irq softirq steal
		if i == 3 || i == 4 {
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		busy += n
	}
	return time.Duration(busy) * clockTick, nil
}

// line describes the phase's CPU per op and the share of the machine used.
func (m cpuMeter) line(ops int64, unit string) string {
	wall := time.Since(m.at)
	self := SelfCPU() - m.self0
	c, err := readProcTimes(m.pid)
	if err != nil || ops <= 0 {
		return fmt.Sprintf("load generator %.1fs CPU", self.Seconds())
	}
	d := c.sub(m.child0)
	srv, pg := d.ownUser+d.ownSys, d.descUser+d.descSys
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(ops) }
	line := fmt.Sprintf("CPU per %s: server %.0f µs (%.0f%% system), PostgreSQL %.0f µs (%.0f%% system), load generator %.0f µs (%.0f %s/s per core); "+
		"busy cores over %.1fs: server %.2f, PostgreSQL %.2f, generator %.2f",
		unit, per(srv), pct(d.ownSys, srv), per(pg), pct(d.descSys, pg), per(self), 1e6/(per(srv)+per(pg)+per(self)), unit,
		wall.Seconds(), srv.Seconds()/wall.Seconds(), pg.Seconds()/wall.Seconds(), self.Seconds()/wall.Seconds())
	if busy, err := machineBusy(); err == nil && m.machine0 > 0 {
		others := (busy - m.machine0 - srv - pg - self).Seconds() / wall.Seconds()
		line += fmt.Sprintf(", other processes and steal %.2f (of %d cores)", max(others, 0), runtime.NumCPU())
	}
	return line
}

func pct(part, whole time.Duration) float64 {
	if whole <= 0 {
		return 0
	}
	return 100 * float64(part) / float64(whole)
}

// walStats are PostgreSQL's WAL counters (pg_stat_wal).
type walStats struct {
	records, fpi, bytes, writes, syncs int64
	commits                            int64
}

func readWAL(ctx context.Context, dbURL string) (walStats, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return walStats{}, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var w walStats
	if _, err := conn.Exec(ctx, "SELECT pg_stat_clear_snapshot()"); err != nil {
		return w, err
	}
	err = conn.QueryRow(ctx, `
		SELECT w.wal_records, w.wal_fpi, w.wal_bytes::bigint, w.wal_write, w.wal_sync, d.xact_commit
		FROM pg_stat_wal w, pg_stat_database d WHERE d.datname = current_database()`).
		Scan(&w.records, &w.fpi, &w.bytes, &w.writes, &w.syncs, &w.commits)
	return w, err
}

// walLine describes the WAL written for ops operations over wall.
func walLine(before, after walStats, ops int64, wall time.Duration) string {
	if ops <= 0 || wall <= 0 {
		return ""
	}
	syncs := after.syncs - before.syncs
	commits := after.commits - before.commits
	line := fmt.Sprintf("WAL: %d commits (%.2f ops each), %d flushes (%.0f/s, %.1f commits each), %.0f bytes and %.2f full-page images per op",
		commits, float64(ops)/float64(max(commits, 1)), syncs, float64(syncs)/wall.Seconds(), float64(commits)/float64(max(syncs, 1)),
		float64(after.bytes-before.bytes)/float64(ops), float64(after.fpi-before.fpi)/float64(ops))
	return line
}

// Identify runs the identify benchmark; progress goes to stderr.
func Identify(ctx context.Context, o IdentifyOptions, env []string, stderr io.Writer) (IdentifyResult, error) {
	c, p, stop, err := startProject(ctx, env, stderr)
	if err != nil {
		return IdentifyResult{}, err
	}
	defer stop()
	if p.Secret == "" {
		return IdentifyResult{}, errors.New("the created project's client has no secret")
	}
	// What @openpanel/sdk sends from a Node backend.
	header := http.Header{
		"Content-Type":            {"application/json"},
		"Openpanel-Client-Id":     {p.ClientID},
		"Openpanel-Client-Secret": {p.Secret},
		"Openpanel-Sdk-Name":      {"node"},
		"Openpanel-Sdk-Version":   {"1.0.0"},
		"User-Agent":              {"node"},
		"Accept":                  {"*/*"},
	}
	client := NewClient(o.Concurrency)
	defer client.CloseIdleConnections()
	run := randomHex(4)
	profileID := func(i int) string { return "bench-" + run + "-" + strconv.Itoa(i) }

	// One call first: the server checks the secret (argon2id) once and
	// caches it, instead of every connection of the warmup at once.
	first := identifyBody(nil, rand.New(rand.NewPCG(1, 2)), profileID(0), 0)
	if status, answer, err := postTrack(ctx, client, c.URL, header, first); err != nil || status != http.StatusOK {
		return IdentifyResult{}, requestErr("first identify", status, answer, err)
	}

	warm := opsRun{client: client, url: c.URL, header: header, concurrency: o.Concurrency, ops: int64(o.Profiles), seed: 7,
		label: "warmup", progress: stderr,
		pick: func(*rand.Rand, int64) profileOp { return profileOp{kind: opIdentify} },
		body: func(rng *rand.Rand, seq int64, _ profileOp, buf []byte) []byte {
			return identifyBody(buf, rng, profileID(int(seq-1)), seq)
		}}
	fmt.Fprintf(stderr, "bench: warmup, identify %d profiles\n", o.Profiles)
	w, err := warm.run(ctx)
	if err != nil {
		return IdentifyResult{}, err
	}
	if w.Errors > 0 {
		return IdentifyResult{}, fmt.Errorf("warmup: %d of %d identifies failed: %s (first: %s)", w.Errors, w.Sent, w.statusLine(), w.FirstErr)
	}

	measure := warm
	measure.ops, measure.seed, measure.label = int64(o.Ops), 42, "identify"
	measure.pick = func(rng *rand.Rand, _ int64) profileOp {
		if rng.IntN(100) < o.IdentifyPct {
			return profileOp{kind: opIdentify}
		}
		return profileOp{kind: opIncrement, counter: rng.IntN(2)}
	}
	measure.body = func(rng *rand.Rand, seq int64, op profileOp, buf []byte) []byte {
		profile := profileID(rng.IntN(o.Profiles))
		if op.kind == opIdentify {
			return identifyBody(buf, rng, profile, seq)
		}
		return incrementBody(buf, profile, counterProps[op.counter])
	}
	fmt.Fprintf(stderr, "bench: measuring, %d operations over %d connections\n", o.Ops, o.Concurrency)
	wal0, walErr := readWAL(ctx, c.DatabaseURL())
	cpu := startCPU(c.Pid())
	m, err := measure.run(ctx)
	if err != nil {
		return IdentifyResult{}, err
	}
	fmt.Fprintln(stderr, "bench: "+cpu.line(m.Acked, "op"))
	if wal1, err := readWAL(ctx, c.DatabaseURL()); err == nil && walErr == nil {
		fmt.Fprintln(stderr, "bench: "+walLine(wal0, wal1, m.Acked, m.Wall))
	}
	secs := m.Wall.Seconds()
	res := IdentifyResult{
		Ops: m.Sent, Acknowledged: m.Acked, Errors: m.Errors,
		OpsPerSec:       round(float64(m.Acked)/secs, 1),
		IdentifyPerSec:  round(float64(m.AckedIdentify)/secs, 1),
		IncrementPerSec: round(float64(m.AckedCounter[0]+m.AckedCounter[1])/secs, 1),
		P50ms:           round(percentile(m.Latencies, 0.5), 2),
		P99ms:           round(percentile(m.Latencies, 0.99), 2),
	}
	fmt.Fprintf(stderr, "bench: %d acknowledged in %.2fs (%d identify, %d increment); latency p50 %.2f ms, p99 %.2f ms, max %.2f ms; identify p50 %.2f p99 %.2f ms, increment p50 %.2f p99 %.2f ms\n",
		m.Acked, secs, m.AckedIdentify, m.AckedCounter[0]+m.AckedCounter[1],
		percentile(m.Latencies, 0.5), percentile(m.Latencies, 0.99), percentile(m.Latencies, 1),
		percentile(m.LatIdentify, 0.5), percentile(m.LatIdentify, 0.99), percentile(m.LatInc, 0.5), percentile(m.LatInc, 0.99))
	if m.Errors > 0 {
		fmt.Fprintf(stderr, "bench: errors by status: %s (first: %q)\n", m.statusLine(), m.FirstErr)
	}

	sums, profiles, err := counterSums(ctx, c.DatabaseURL(), p.ID)
	if err != nil {
		return IdentifyResult{}, fmt.Errorf("sum the counters: %w", err)
	}
	res.IncrementsExact = sums == m.AckedCounter
	for i, prop := range counterProps {
		fmt.Fprintf(stderr, "bench: %s: sum over %d profiles %d, acknowledged increments %d\n", prop, profiles, sums[i], m.AckedCounter[i])
	}
	if !res.IncrementsExact {
		fmt.Fprintln(stderr, "bench: WARNING: the counters do not equal the acknowledged increments")
	}
	return res, nil
}

// counterSums adds up the counter properties over the project's profiles.
func counterSums(ctx context.Context, dbURL, projectID string) (sums [2]int64, profiles int64, err error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return sums, 0, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	err = conn.QueryRow(ctx, `
		SELECT coalesce(sum((properties->>'logins')::numeric), 0)::bigint,
		       coalesce(sum((properties->>'credits')::numeric), 0)::bigint,
		       count(*)
		FROM profiles WHERE project_id = $1`, projectID).Scan(&sums[0], &sums[1], &profiles)
	return sums, profiles, err
}

// postTrack sends one /track request and returns the status and body.
func postTrack(ctx context.Context, client *http.Client, base string, header http.Header, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/track", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header = header.Clone()
	res, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	return res.StatusCode, answer, err
}

func requestErr(what string, status int, answer []byte, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return fmt.Errorf("%s: status %d: %s", what, status, bytes.TrimSpace(answer))
}

func printJSON(w io.Writer, v any) error {
	line, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", line)
	return err
}

// MergeResult is the one JSON line `bench merge` prints.
type MergeResult struct {
	History                 int64   `json:"history"`
	MergeSeconds            float64 `json:"merge_seconds"` // -1: not finished in time
	EventsMoved             int64   `json:"events_moved"`
	BaselineEventsPerSec    float64 `json:"baseline_events_per_sec"`
	DuringMergeEventsPerSec float64 `json:"during_merge_events_per_sec"`
	ThroughputChangePct     float64 `json:"throughput_change_pct"`
	Errors                  int64   `json:"errors"`
}

// MergeOptions configure `bench merge`.
type MergeOptions struct {
	History, Events, Warmup, Concurrency int
	Timeout                              time.Duration
}

// MergeCmd parses the flags of `bench merge` and runs it.
func MergeCmd(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench merge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o MergeOptions
	fs.IntVar(&o.History, "history", 100_000, "historic events of the anonymous device that identifies")
	fs.IntVar(&o.Events, "events", 60_000, "ingest events in each phase (baseline, then during the merge)")
	fs.IntVar(&o.Warmup, "warmup", 2000, "ingest events sent first and not measured")
	fs.IntVar(&o.Concurrency, "concurrency", 64, "concurrent ingest connections")
	fs.DurationVar(&o.Timeout, "timeout", 5*time.Minute, "give up waiting for the merge after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.History < 1 || o.Events < 1 || o.Concurrency < 1 || o.Warmup < 0 {
		return errors.New("--history, --events and --concurrency must be positive, --warmup not negative")
	}
	debug.SetGCPercent(400)
	res, err := Merge(ctx, o, env, stderr)
	if err != nil {
		return err
	}
	return printJSON(stdout, res)
}

// The browser whose history gets merged: an address and agent that the
// generated visitors never have.
const (
	mergeUA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/127.0.0.0 Safari/537.36"
	mergeIP = "93.184.216.34"
)

// Merge runs the merge benchmark; progress goes to stderr.
func Merge(ctx context.Context, o MergeOptions, env []string, stderr io.Writer) (MergeResult, error) {
	c, p, stop, err := startProject(ctx, env, stderr)
	if err != nil {
		return MergeResult{}, err
	}
	defer stop()
	dbURL := c.DatabaseURL()

	browser := http.Header{
		"Content-Type":          {"application/json"},
		"Openpanel-Client-Id":   {p.ClientID},
		"Openpanel-Sdk-Name":    {"web"},
		"Openpanel-Sdk-Version": {"1.4.1"},
		"Origin":                {"https://" + Site},
		"Accept":                {"*/*"},
	}
	mergeHeader := browser.Clone()
	mergeHeader.Set("User-Agent", mergeUA)
	mergeHeader.Set("X-Forwarded-For", mergeIP)
	client := NewClient(1)
	defer client.CloseIdleConnections()
	var acked atomic.Int64 // the load's 200 answers as they arrive, for a window inside a phase

	// The device id the server gives this browser today.
	status, answer, err := postTrack(ctx, client, c.URL, mergeHeader,
		[]byte(`{"type":"track","payload":{"name":"screen_view","properties":{"__path":"https://`+Site+`/pricing","__title":"Pricing"}}}`))
	if err != nil || status != http.StatusOK {
		return MergeResult{}, requestErr("first browser event", status, answer, err)
	}
	var ids struct {
		DeviceID string `json:"deviceId"`
	}
	if err := json.Unmarshal(answer, &ids); err != nil || ids.DeviceID == "" {
		return MergeResult{}, fmt.Errorf("first browser event answered %s: %v", answer, err)
	}
	device := ids.DeviceID
	fmt.Fprintf(stderr, "bench: merging device %s\n", device)

	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return MergeResult{}, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	t0 := time.Now()
	if err := seedHistory(ctx, conn, p.ID, device, o.History); err != nil {
		return MergeResult{}, fmt.Errorf("seed history: %w", err)
	}
	var before int64
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM events WHERE project_id = $1 AND profile_id = $2`, p.ID, device).Scan(&before); err != nil {
		return MergeResult{}, err
	}
	fmt.Fprintf(stderr, "bench: seeded %d historic events in %.1fs; the device has %d events\n", o.History, time.Since(t0).Seconds(), before)
	// Fresh statistics, as autovacuum would have them on a live server.
	if _, err := conn.Exec(ctx, "ANALYZE events"); err != nil {
		return MergeResult{}, err
	}

	gen := NewGenerator(GenOptions{Seed: 3, RunID: randomHex(4), Header: browser})
	load := Load{URL: c.URL, Gen: gen, Concurrency: o.Concurrency, Seed: 42,
		Progress: stderr, Every: 2 * time.Second, Acked: &acked}
	defer load.Close()
	var loadErrors int64
	phase := func(label string, first int64, events int) (Outcome, error) {
		load.Label, load.First, load.Events = label, first, int64(events)
		out, err := load.Run(ctx)
		if err != nil {
			return out, err
		}
		loadErrors += out.Errors
		if out.Errors > 0 {
			fmt.Fprintf(stderr, "bench %s: errors by status: %s (first transport error: %q)\n", label, out.StatusLine(), out.FirstErr)
		}
		return out, nil
	}
	seq := int64(1)
	if o.Warmup > 0 {
		fmt.Fprintf(stderr, "bench: warmup, %d events\n", o.Warmup)
		if _, err := phase("warmup", seq, o.Warmup); err != nil {
			return MergeResult{}, err
		}
		seq += int64(o.Warmup)
	}

	fmt.Fprintf(stderr, "bench: phase A (baseline), %d events over %d connections\n", o.Events, o.Concurrency)
	cpu := startCPU(c.Pid())
	a, err := phase("baseline", seq, o.Events)
	if err != nil {
		return MergeResult{}, err
	}
	seq += int64(o.Events)
	baseline := float64(a.Acked) / a.Wall.Seconds()
	fmt.Fprintf(stderr, "bench: baseline %.0f ev/s, p50 %.2f ms, p99 %.2f ms; %s\n", baseline, a.Percentile(0.5), a.Percentile(0.99), cpu.line(a.Acked, "event"))

	fmt.Fprintf(stderr, "bench: phase B, %d events; identify of the device after 1s\n", o.Events)
	type loadDone struct {
		out Outcome
		err error
		at  time.Time
	}
	finished := make(chan loadDone, 1)
	cpu = startCPU(c.Pid())
	go func() {
		out, err := phase("during-merge", seq, o.Events)
		finished <- loadDone{out, err, time.Now()}
	}()
	var loadEnd *loadDone
	select {
	case d := <-finished:
		loadEnd = &d
	case <-time.After(time.Second):
	case <-ctx.Done():
		return MergeResult{}, ctx.Err()
	}
	if loadEnd != nil {
		fmt.Fprintln(stderr, "bench: WARNING: phase B ended before the identify: use more --events")
	}

	identify := []byte(`{"type":"identify","payload":{"profileId":"merged-user","firstName":"Merged","email":"merged@example.com"}}`)
	// On a connection of its own: the load's are all busy.
	single := NewClient(1)
	defer single.CloseIdleConnections()
	status, answer, err = postTrack(ctx, single, c.URL, mergeHeader, identify)
	if err != nil || status != http.StatusOK {
		return MergeResult{}, requestErr("identify", status, answer, err)
	}
	identified := time.Now()
	acked0 := acked.Load()
	winCPU := startCPU(c.Pid())
	var winCPULine string
	fmt.Fprintln(stderr, "bench: identify acknowledged; waiting for the merge job")

	// Poll the merge's row (cheap) rather than count the device's events
	// every 100 ms; its finished_at is set by the batch that found none left.
	var mergeDone time.Time
	var acked1 int64
	var windowEnd time.Time
	var moved int64
	var dbSeconds float64
	deadline := identified.Add(o.Timeout)
	lastReport := identified
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for mergeDone.IsZero() {
		select {
		case <-ctx.Done():
			return MergeResult{}, ctx.Err()
		case d := <-finished:
			loadEnd = &d
			windowEnd, acked1 = d.at, acked.Load()
			fmt.Fprintln(stderr, "bench: phase B load ended before the merge finished")
			continue
		case <-tick.C:
		}
		var fin *time.Time
		var created time.Time
		err := conn.QueryRow(ctx, `
			SELECT events_moved, created_at, finished_at FROM profile_merges
			WHERE project_id = $1 AND from_id = $2 ORDER BY id DESC LIMIT 1`, p.ID, device).Scan(&moved, &created, &fin)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return MergeResult{}, fmt.Errorf("poll the merge: %w", err)
		}
		now := time.Now()
		if fin != nil {
			mergeDone = now
			dbSeconds = fin.Sub(created).Seconds()
			if windowEnd.IsZero() {
				windowEnd, acked1 = now, acked.Load()
				winCPULine = winCPU.line(acked1-acked0, "event")
			}
			break
		}
		if now.Sub(lastReport) >= 2*time.Second {
			lastReport = now
			fmt.Fprintf(stderr, "bench: merge running %.1fs, %d events moved\n", now.Sub(identified).Seconds(), moved)
		}
		if now.After(deadline) {
			fmt.Fprintf(stderr, "bench: merge not finished after %s (%d events moved)\n", o.Timeout, moved)
			break
		}
	}
	if loadEnd == nil {
		d := <-finished
		loadEnd = &d
	}
	if loadEnd.err != nil {
		return MergeResult{}, loadEnd.err
	}
	b := loadEnd.out
	fmt.Fprintf(stderr, "bench: phase B %.0f ev/s over the whole phase, p50 %.2f ms, p99 %.2f ms; %s\n",
		float64(b.Acked)/b.Wall.Seconds(), b.Percentile(0.5), b.Percentile(0.99), cpu.line(b.Acked, "event"))

	res := MergeResult{History: int64(o.History), MergeSeconds: -1, EventsMoved: moved, Errors: loadErrors,
		BaselineEventsPerSec: round(baseline, 1)}
	if windowEnd.IsZero() { // the merge did not finish: measure until the load ended
		windowEnd, acked1 = loadEnd.at, acked.Load()
	}
	// Ingest throughput while the merge ran: the acknowledged events from
	// the identify's answer until the merge finished (or the load ended).
	during := float64(b.Acked) / b.Wall.Seconds()
	if win := windowEnd.Sub(identified); win > 500*time.Millisecond {
		during = float64(acked1-acked0) / win.Seconds()
		fmt.Fprintf(stderr, "bench: during the merge (%.1fs window): %d events acknowledged, %.0f ev/s\n", win.Seconds(), acked1-acked0, during)
		if winCPULine != "" {
			fmt.Fprintln(stderr, "bench: during the merge: "+winCPULine)
		}
	}
	res.DuringMergeEventsPerSec = round(during, 1)
	if baseline > 0 {
		res.ThroughputChangePct = round((during-baseline)/baseline*100, 1)
	}
	if !mergeDone.IsZero() {
		res.MergeSeconds = round(mergeDone.Sub(identified).Seconds(), 2)
		fmt.Fprintf(stderr, "bench: merge finished %.2fs after the identify's answer (database: %.2fs from the merge row to finished_at), %d events moved\n",
			res.MergeSeconds, dbSeconds, moved)
	}

	var left, merged int64
	err = conn.QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE profile_id = $2), count(*) FILTER (WHERE profile_id = 'merged-user')
		FROM events WHERE project_id = $1 AND profile_id IN ($2, 'merged-user')`, p.ID, device).Scan(&left, &merged)
	if err != nil {
		return MergeResult{}, err
	}
	fmt.Fprintf(stderr, "bench: events still on the device: %d; on merged-user: %d (history %d + the first browser event)\n", left, merged, o.History)
	if left != 0 || merged != before {
		fmt.Fprintln(stderr, "bench: WARNING: the merge did not move exactly the device's events")
	}
	// Autovacuum of the rewritten partitions would compete with ingest too:
	// say whether it ran inside the measured window.
	var vacuums, analyzes int64
	if err := conn.QueryRow(ctx, `
		SELECT coalesce(sum(autovacuum_count), 0)::bigint, coalesce(sum(autoanalyze_count), 0)::bigint
		FROM pg_stat_user_tables WHERE relname LIKE 'events%'`).Scan(&vacuums, &analyzes); err == nil {
		fmt.Fprintf(stderr, "bench: events partitions: %d autovacuums, %d autoanalyzes so far\n", vacuums, analyzes)
	}
	return res, nil
}

// seedHistory writes n events of an anonymous device, spread over the past
// 20 days, straight through op.ingest_v1 in batches of 5,000.
func seedHistory(ctx context.Context, conn *pgx.Conn, projectID, device string, n int) error {
	type event struct {
		Ord          int             `json:"ord"`
		ID           uuid.UUID       `json:"id"`
		ProjectID    string          `json:"project_id"`
		Name         string          `json:"name"`
		DeviceID     string          `json:"device_id"`
		CreatedAt    time.Time       `json:"created_at"`
		OpensSession bool            `json:"opens_session"`
		Path         string          `json:"path"`
		Origin       string          `json:"origin"`
		Browser      string          `json:"browser"`
		OS           string          `json:"os"`
		Device       string          `json:"device"`
		Properties   json.RawMessage `json:"properties"`
	}
	const batch = 5000
	pages := sitePages()
	newest := time.Now().Add(-time.Hour)
	span := 20 * 24 * time.Hour
	rng := rand.New(rand.NewPCG(11, 12))
	evs := make([]event, 0, batch)
	for done := 0; done < n; {
		evs = evs[:0]
		for i := 0; i < batch && done < n; i++ {
			at := newest.Add(-span + time.Duration(float64(span)*float64(done)/float64(n)))
			evs = append(evs, event{
				Ord: i + 1, ID: uuid.New(), ProjectID: projectID, Name: "screen_view", DeviceID: device,
				CreatedAt: at.UTC(), Path: pages[rng.IntN(len(pages))].path, Origin: "https://" + Site,
				Browser: "Chrome", OS: "Mac OS", Device: "desktop", Properties: json.RawMessage(`{}`),
			})
			done++
		}
		body, err := json.Marshal(evs)
		if err != nil {
			return err
		}
		rows, err := conn.Query(ctx, `SELECT * FROM op.ingest_v1($1::jsonb)`, string(body))
		if err != nil {
			return err
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}
