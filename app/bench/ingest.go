// Package bench measures the server under load: `tally bench ingest` sends
// realistic browser events over many keep-alive connections to a server it
// starts (or one given by URL) and reports throughput, latency, memory, and
// whether every acknowledged event was stored.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"time"
)

// Result is the one JSON line `bench ingest` prints.
type Result struct {
	Events       int64   `json:"events"`       // sent in the measured phase
	Acknowledged int64   `json:"acknowledged"` // answered 200
	Stored       int64   `json:"stored"`       // found in the database afterwards; -1 unknown
	EventsPerSec float64 `json:"events_per_sec"`
	P50ms        float64 `json:"p50_ms"`
	P99ms        float64 `json:"p99_ms"`
	RSSMB        float64 `json:"rss_mb"` // peak RSS of the server process; -1 unknown
	Errors       int64   `json:"errors"`
}

// IngestOptions configure `bench ingest`.
type IngestOptions struct {
	Events, Warmup, Concurrency int
	URL                         string // empty: start a server
	ClientID, ClientSecret      string
	DatabaseURL                 string // --url mode: for the stored count
	PID                         int    // --url mode: server process to sample RSS of
	CPUProfile                  string
	Visitors                    int
	// Floor measures the floor server (floor.go) instead of tally, on
	// tally's database and with the same load.
	Floor        bool
	FloorWriters int
	FloorMaxWait time.Duration
	FloorKeys    bool
}

// IngestCmd parses the flags of `bench ingest` and runs it.
func IngestCmd(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench ingest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o IngestOptions
	fs.IntVar(&o.Events, "events", 200_000, "events in the measured phase")
	fs.IntVar(&o.Warmup, "warmup", 2000, "events sent first and not measured")
	fs.IntVar(&o.Concurrency, "concurrency", 64, "concurrent connections (one request in flight on each)")
	fs.StringVar(&o.URL, "url", "", "base URL of a running tally server (default: start one on a fresh embedded database)")
	fs.StringVar(&o.ClientID, "client-id", "", "with --url: the project's client id")
	fs.StringVar(&o.ClientSecret, "client-secret", "", "with --url: the client secret (sent as a server-side SDK would; the server then believes X-Forwarded-For)")
	fs.StringVar(&o.DatabaseURL, "database-url", "", "with --url: the server's database, to count stored events (default: stored is -1)")
	fs.IntVar(&o.PID, "pid", 0, "with --url: the server's process id, to sample its RSS (default: rss_mb is -1)")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the load generator to this file")
	fs.IntVar(&o.Visitors, "visitors", 20_000, "distinct simulated browsers")
	fs.BoolVar(&o.Floor, "floor", false, "measure the floor server instead: net/http and one COPYed row per event, none of tally's work (the most tally could reach here)")
	fs.IntVar(&o.FloorWriters, "floor-writers", 4, "with --floor: concurrent COPY transactions")
	fs.DurationVar(&o.FloorMaxWait, "floor-max-wait", 500*time.Microsecond, "with --floor: how long a batch waits to fill")
	fs.BoolVar(&o.FloorKeys, "floor-keys", false, "with --floor: also write a dedup key per event and upsert each device's session head, in the same transaction")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.Events < 1 || o.Concurrency < 1 || o.Warmup < 0 {
		return errors.New("--events and --concurrency must be positive, --warmup not negative")
	}
	if o.Floor && o.URL != "" {
		return errors.New("--floor starts its own servers: it does not take --url")
	}
	floorSet := false
	fs.Visit(func(f *flag.Flag) { floorSet = floorSet || (f.Name != "floor" && strings.HasPrefix(f.Name, "floor")) })
	if floorSet && !o.Floor {
		return errors.New("--floor-keys, --floor-writers and --floor-max-wait need --floor")
	}
	if o.Floor && (o.FloorWriters < 1 || o.FloorMaxWait < 0) {
		return errors.New("--floor-writers must be positive and --floor-max-wait not negative")
	}
	if o.URL != "" && o.ClientID == "" {
		return errors.New("--url needs --client-id (and --client-secret unless the project allows Origin https://" + Site + ")")
	}
	if o.CPUProfile != "" {
		f, err := os.Create(o.CPUProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	// The generator shares the machine with the server: collect garbage
	// less often (its heap is a few MB).
	debug.SetGCPercent(400)
	res, err := Ingest(ctx, o, env, stderr)
	if err != nil {
		return err
	}
	line, _ := json.Marshal(res)
	_, err = fmt.Fprintf(stdout, "%s\n", line)
	return err
}

// Ingest runs the ingest benchmark; progress goes to stderr.
func Ingest(ctx context.Context, o IngestOptions, env []string, stderr io.Writer) (Result, error) {
	base, clientID, secret, dbURL, pid := o.URL, o.ClientID, o.ClientSecret, o.DatabaseURL, o.PID
	dbPid := pid // the process whose children are PostgreSQL
	var projectID string
	if base == "" {
		child, err := StartChild(ctx, env, stderr)
		if err != nil {
			return Result{}, err
		}
		defer func() {
			fmt.Fprintln(stderr, "bench: stopping the server")
			if err := child.Stop(); err != nil {
				fmt.Fprintf(stderr, "bench: server stop: %v\n", err)
			}
		}()
		p, err := child.CreateProject(ctx)
		if err != nil {
			return Result{}, err
		}
		base, clientID, secret, dbURL, pid, projectID = child.URL, p.ClientID, "", child.DatabaseURL(), child.Pid(), p.ProjectID
		dbPid = pid
		fmt.Fprintf(stderr, "bench: project %s, client %s\n", p.ProjectID, p.ClientID)
		if o.Floor {
			floor, err := startFloor(ctx, child, p.ProjectID, o.FloorWriters, o.FloorMaxWait, o.FloorKeys, stderr)
			if err != nil {
				return Result{}, err
			}
			defer func() { // before the tally child, which owns the database
				if err := floor.Stop(); err != nil {
					fmt.Fprintf(stderr, "bench: floor server stop: %v\n", err)
				}
			}()
			base, pid = floor.URL, floor.Pid()
			fmt.Fprintln(stderr, "bench: measuring the floor server, not tally")
		}
	} else if dbURL != "" {
		var err error
		if projectID, err = ProjectOfClient(ctx, dbURL, clientID); err != nil {
			return Result{}, err
		}
	}

	// What @openpanel/web sends from a page of the site (plus the secret
	// a server-side SDK would add, in --url mode when given).
	header := http.Header{
		"Content-Type":          {"application/json"},
		"Openpanel-Client-Id":   {clientID},
		"Openpanel-Sdk-Name":    {"web"},
		"Openpanel-Sdk-Version": {"1.4.1"},
		"Origin":                {"https://" + Site},
		"Accept":                {"*/*"},
	}
	if secret != "" {
		header["Openpanel-Client-Secret"] = []string{secret}
	}
	runID := randomHex(4)
	gen := NewGenerator(GenOptions{Visitors: o.Visitors, Seed: 1, RunID: runID, Header: header})
	var rss *RSS
	if pid > 0 {
		rss = SampleRSS(pid, 100*time.Millisecond)
	}
	extra := func() string {
		if rss == nil {
			return ""
		}
		return fmt.Sprintf("server RSS %.0f MB", rss.Current())
	}
	load := Load{URL: base, Gen: gen, Concurrency: o.Concurrency, Seed: 42,
		Progress: stderr, Every: 2 * time.Second, Extra: extra}
	defer load.Close()

	if o.Warmup > 0 {
		fmt.Fprintf(stderr, "bench: warmup, %d events\n", o.Warmup)
		load.Label, load.First, load.Events = "warmup", 1, int64(o.Warmup)
		w, err := load.Run(ctx)
		if err != nil {
			return Result{}, err
		}
		if w.Errors > 0 {
			fmt.Fprintf(stderr, "bench: warmup errors: %s (first: %s)\n", w.StatusLine(), w.FirstErr)
		}
		if w.Acked == 0 {
			return Result{}, fmt.Errorf("no event of the warmup was acknowledged: %s (%s)", w.StatusLine(), w.FirstErr)
		}
	}

	fmt.Fprintf(stderr, "bench: measuring, %d events over %d connections\n", o.Events, o.Concurrency)
	load.Label, load.First, load.Events = "ingest", int64(o.Warmup)+1, int64(o.Events)
	commits0 := int64(-1)
	if dbURL != "" {
		commits0, _ = Commits(ctx, dbURL)
	}
	floor0 := int64(-1)
	if o.Floor {
		var err error
		// The floor server keeps no properties, so no run id: its rows
		// are the project's rows (CountStored's second count).
		if _, floor0, err = CountStored(ctx, dbURL, projectID, runID, 0); err != nil {
			return Result{}, fmt.Errorf("count events: %w", err)
		}
	}
	self0 := SelfCPU()
	var cpu0, db0 CPU
	if pid > 0 {
		cpu0, _ = ProcessCPU(pid)
		db0, _ = ProcessCPU(dbPid)
	}
	m, err := load.Run(ctx)
	if err != nil {
		return Result{}, err
	}
	if m.Acked > 0 {
		// Processor time per event does not depend on what else the
		// machine runs, unlike events per second: it is the number to
		// compare across changes on a shared machine.
		perEvent := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(m.Acked) }
		self := perEvent(SelfCPU() - self0)
		line := fmt.Sprintf("bench: CPU per event: load generator %.0f µs", self)
		cpu1, err := ProcessCPU(pid)
		db1, dbErr := ProcessCPU(dbPid)
		if pid > 0 && err == nil && dbErr == nil {
			srv, pg := perEvent(cpu1.Own-cpu0.Own), perEvent(db1.Descendants-db0.Descendants)
			line += fmt.Sprintf(", server %.0f µs, server's children (PostgreSQL) %.0f µs; all together: %.0f ev/s per core",
				srv, pg, 1e6/(srv+pg+self))
		}
		fmt.Fprintln(stderr, line)
	}
	if commits0 >= 0 {
		// Every transaction of the database, not only ingest batches:
		// under this load xact_commit grows about twice as fast as the
		// calls of op.ingest_v1 (pg_stat_statements counted 1,081 calls
		// for 32,000 events), so this is a lower bound of the batch size.
		if c, err := Commits(ctx, dbURL); err == nil && c > commits0 {
			fmt.Fprintf(stderr, "bench: %d database commits (all of them), at least %.1f acknowledged events per batch\n", c-commits0, float64(m.Acked)/float64(c-commits0))
		}
	}
	res := Result{
		Events: m.Sent, Acknowledged: m.Acked, Errors: m.Errors, Stored: -1, RSSMB: -1,
		EventsPerSec: round(float64(m.Acked)/m.Wall.Seconds(), 1),
		P50ms:        round(m.Percentile(0.50), 2),
		P99ms:        round(m.Percentile(0.99), 2),
	}
	fmt.Fprintf(stderr, "bench: %d acknowledged in %.2fs; latency p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n",
		m.Acked, m.Wall.Seconds(), m.Percentile(0.5), m.Percentile(0.9), m.Percentile(0.99), m.Percentile(1))
	if m.Errors > 0 {
		fmt.Fprintf(stderr, "bench: errors by status: %s (first transport error: %q)\n", m.StatusLine(), m.FirstErr)
	}
	if rss != nil {
		maxMB, hwmMB := rss.Stop()
		res.RSSMB = round(math.Max(maxMB, hwmMB), 1)
		fmt.Fprintf(stderr, "bench: server RSS max sampled %.1f MB, VmHWM %.1f MB\n", maxMB, hwmMB)
	}
	if o.Floor {
		_, all, err := CountStored(ctx, dbURL, projectID, runID, 0)
		if err != nil {
			return Result{}, fmt.Errorf("count stored events: %w", err)
		}
		res.Stored = all - floor0
		fmt.Fprintf(stderr, "bench: stored %d rows during the measured phase\n", res.Stored)
		if res.Stored != m.Acked {
			fmt.Fprintf(stderr, "bench: WARNING: stored %d != acknowledged %d\n", res.Stored, m.Acked)
		}
	} else if dbURL != "" && projectID != "" {
		run, all, err := CountStored(ctx, dbURL, projectID, runID, int64(o.Warmup))
		if err != nil {
			return Result{}, fmt.Errorf("count stored events: %w", err)
		}
		res.Stored = run
		fmt.Fprintf(stderr, "bench: stored %d of this run's measured events (project total %d, including warmup)\n", run, all)
		if run != m.Acked {
			fmt.Fprintf(stderr, "bench: WARNING: stored %d != acknowledged %d\n", run, m.Acked)
		}
	}
	return res, nil
}

func round(x float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(x*p) / p
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
