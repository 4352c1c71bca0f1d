package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// NewClient returns an HTTP client for the benches' other requests:
// keep-alive connections, at most concurrency of them, all kept idle
// between requests.
func NewClient(concurrency int) *http.Client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        concurrency,
		MaxIdleConnsPerHost: concurrency,
		MaxConnsPerHost:     concurrency,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
		// A transport timeout, not Client.Timeout: that one costs a timer
		// and a context per request, which shows in the generator's profile.
		ResponseHeaderTimeout: 30 * time.Second,
	}
	return &http.Client{Transport: tr}
}

// bodyReader is a reusable request body: the transport closes it, which
// must not free anything because the caller reuses it for the next request
// (only after the answer, when the request has been written completely).
type bodyReader struct{ bytes.Reader }

func (*bodyReader) Close() error { return nil }

// Load is one closed-loop phase: Concurrency goroutines send single-event
// POST /track requests, each waiting for its answer before the next, until
// events First..First+Events-1 have all been sent. Each goroutine keeps one
// keep-alive connection (rawConn) for all its phases; Close them at the end.
type Load struct {
	URL         string // base URL of the server
	Gen         *Generator
	Concurrency int
	First       int64 // sequence number of the first event
	Events      int64
	Seed        uint64
	Progress    io.Writer     // progress lines; nil: none
	Every       time.Duration // progress interval
	Label       string
	Extra       func() string // appended to progress lines (e.g. server RSS)
	Acked       *atomic.Int64 // if set, counts 200 answers as they arrive

	conns    []*rawConn // one per worker, kept across phases
	heads    [][]byte   // per visitor (requestHeads), for headsFor
	headsFor string
}

// Close closes the load's connections.
func (l *Load) Close() {
	for _, c := range l.conns {
		c.close()
	}
	l.conns = nil
}

// Outcome is what a phase measured.
type Outcome struct {
	Sent      int64
	Acked     int64 // 200 responses
	Errors    int64 // everything else, transport errors included
	ByStatus  map[string]int64
	Wall      time.Duration
	Latencies []uint32 // microseconds, of acknowledged requests, sorted
	FirstErr  string
}

// Percentile returns the p-th percentile (0..1) latency in milliseconds.
func (o Outcome) Percentile(p float64) float64 {
	if len(o.Latencies) == 0 {
		return 0
	}
	i := int(p*float64(len(o.Latencies)-1) + 0.5)
	return float64(o.Latencies[i]) / 1000
}

// StatusLine summarises the errors by status ("503=12 transport=1").
func (o Outcome) StatusLine() string {
	keys := make([]string, 0, len(o.ByStatus))
	for k := range o.ByStatus {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%d ", k, o.ByStatus[k])
	}
	return strings.TrimSpace(b.String())
}

type worker struct {
	l       *Load
	conn    *rawConn
	heads   [][]byte
	rng     *rand.Rand
	buf     []byte
	lat     []uint32
	acked   int64
	errors  int64
	byCode  map[int]int64
	connErr int64
	first   string
}

// Run runs the phase and returns its outcome.
func (l *Load) Run(ctx context.Context) (Outcome, error) {
	u, err := url.Parse(strings.TrimRight(l.URL, "/") + "/track")
	if err != nil {
		return Outcome{}, err
	}
	if u.Scheme != "http" {
		return Outcome{}, fmt.Errorf("bench: %s: only http:// URLs", l.URL)
	}
	addr := u.Host
	if u.Port() == "" {
		addr += ":80"
	}
	if l.headsFor != u.String() || len(l.heads) != len(l.Gen.Visitors) {
		l.heads, l.headsFor = requestHeads(u, l.Gen.Visitors), u.String()
	}
	for len(l.conns) < l.Concurrency {
		l.conns = append(l.conns, &rawConn{addr: addr})
	}
	var next atomic.Int64
	next.Store(l.First - 1)
	last := l.First + l.Events - 1
	var done atomic.Int64

	workers := make([]*worker, l.Concurrency)
	per := int(l.Events)/l.Concurrency + 64
	for i := range workers {
		workers[i] = &worker{
			l:      l,
			conn:   l.conns[i],
			heads:  l.heads,
			rng:    rand.New(rand.NewPCG(l.Seed+uint64(i)*0x9e3779b97f4a7c15, uint64(l.First)+uint64(i))),
			buf:    make([]byte, 0, 2048),
			lat:    make([]uint32, 0, per),
			byCode: map[int]int64{},
		}
	}

	stopProgress := make(chan struct{})
	var progressDone sync.WaitGroup
	start := time.Now()
	if l.Progress != nil && l.Every > 0 {
		progressDone.Add(1)
		go func() {
			defer progressDone.Done()
			t := time.NewTicker(l.Every)
			defer t.Stop()
			prev, prevAt := int64(0), start
			for {
				select {
				case <-stopProgress:
					return
				case now := <-t.C:
					n := done.Load()
					rate := float64(n-prev) / now.Sub(prevAt).Seconds()
					prev, prevAt = n, now
					line := fmt.Sprintf("bench %s: %d/%d done, %.0f ev/s", l.Label, n, l.Events, rate)
					if l.Extra != nil {
						line += ", " + l.Extra()
					}
					fmt.Fprintln(l.Progress, line)
				}
			}
		}()
	}

	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				seq := next.Add(1)
				if seq > last {
					return
				}
				w.send(seq)
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	close(stopProgress)
	progressDone.Wait()
	if err := ctx.Err(); err != nil {
		return Outcome{}, err
	}

	o := Outcome{Sent: done.Load(), Wall: wall, ByStatus: map[string]int64{}}
	total := 0
	for _, w := range workers {
		total += len(w.lat)
	}
	o.Latencies = make([]uint32, 0, total)
	for _, w := range workers {
		o.Acked += w.acked
		o.Errors += w.errors
		o.Latencies = append(o.Latencies, w.lat...)
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
	slices.Sort(o.Latencies)
	return o, nil
}

// send posts one event and records the answer.
func (w *worker) send(seq int64) {
	v, buf := w.l.Gen.Next(w.rng, seq, w.buf)
	w.buf = buf
	t0 := time.Now()
	code, err := w.conn.post(w.heads[v.index], buf, 30*time.Second)
	if err != nil {
		w.errors++
		w.connErr++
		if w.first == "" {
			w.first = err.Error()
		}
		return
	}
	elapsed := time.Since(t0)
	if code == http.StatusOK {
		w.acked++
		if w.l.Acked != nil {
			w.l.Acked.Add(1)
		}
		us := elapsed.Microseconds()
		if us > int64(^uint32(0)) {
			us = int64(^uint32(0))
		}
		w.lat = append(w.lat, uint32(us))
		return
	}
	w.errors++
	w.byCode[code]++
}
