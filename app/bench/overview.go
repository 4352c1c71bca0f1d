package bench

// `tally bench overview` measures the web analytics overview on a big
// project: 10 million events over 90 days (app/seed), kept in a persistent
// data directory so that reruns skip the seeding. It times, as a logged-in
// owner over HTTP:
//   - the whole overview for 30 days, unfiltered: the page, then all the
//     partials it loads (cards, chart, every widget's default tab) in
//     parallel, as a browser does: page time + the slowest partial;
//   - the same with two filters (a country and a path prefix);
//   - the realtime page;
//   - ingest to SSE: from sending an event to /track until the project's
//     realtime stream shows it.
// Targets on the 2-core development machine: overview p50 under 250 ms,
// filtered under 1.5 s, realtime under 100 ms, ingest to browser under 2 s.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"tally/app/analytics"
	"tally/app/db"
	"tally/app/seed"
	"tally/jobs"
)

// OverviewResult is the JSON line `bench overview` prints.
type OverviewResult struct {
	Events        int64   `json:"events"`
	OverviewP50ms float64 `json:"overview_p50_ms"`
	OverviewP95ms float64 `json:"overview_p95_ms"`
	FilteredP50ms float64 `json:"filtered_p50_ms"`
	FilteredP95ms float64 `json:"filtered_p95_ms"`
	RealtimeP50ms float64 `json:"realtime_p50_ms"`
	SSELatencyMs  float64 `json:"sse_latency_ms"`
}

// The bench's account and project (onboarded on an empty server).
const (
	benchEmail    = "bench@example.com"
	benchPassword = "bench password 1"
	benchProject  = "Bench overview"
	benchSite     = "bench.example"
)

// filteredURL is the i-th filtered view: a country and a path prefix,
// different for every sample (a warm-up sample is i < 0).
func filteredURL(i int) string {
	countries := []string{"DE", "US", "FR", "GB", "NL", "ES", "IT", "CA", "BR", "IN", "JP", "PL", "SE", "AU"}
	prefixes := []string{"/blog", "/docs", "/features", "/integrations", "/customers"}
	i += 2
	return "f=country:is:" + countries[i%len(countries)] + "&f=path:starts_with:" + url.QueryEscape(prefixes[(i/len(countries))%len(prefixes)])
}

// OverviewCmd parses the flags of `bench overview` and runs it.
func OverviewCmd(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench overview", flag.ContinueOnError)
	fs.SetOutput(stderr)
	events := fs.Int64("events", 10_000_000, "events the project must have (seeded when short)")
	days := fs.Int("days", 90, "days the seeded traffic spans")
	dataDir := fs.String("data-dir", "./data/bench-overview", "the embedded database, kept between runs")
	n := fs.Int("requests", 30, "measured loads of each view")
	target := fs.String("url", "", "a running server instead of the embedded one (needs --database-url)")
	dbURL := fs.String("database-url", "", "with --url: its database (to seed and to wait for the rollups)")
	email := fs.String("email", benchEmail, "with --url: an owner's email")
	password := fs.String("password", benchPassword, "with --url: their password")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *events < 3 || *days < 30 || *n < 1 {
		return errors.New("--events must be at least 3, --days at least 30, --requests positive")
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	base, database := *target, *dbURL
	var child *Child
	if base == "" {
		dir, err := filepath.Abs(*dataDir)
		if err != nil {
			return err
		}
		if child, err = startKeptChild(ctx, env, dir, stderr); err != nil {
			return err
		}
		defer child.stopKeep()
		base, database = child.URL, child.DatabaseURL()
	} else if database == "" {
		return errors.New("--url needs --database-url")
	}
	base = strings.TrimRight(base, "/")
	res, err := Overview(ctx, OverviewOptions{
		URL: base, DatabaseURL: database, Events: *events, Days: *days, Requests: *n,
		Email: *email, Password: *password, Log: log,
	})
	if err != nil {
		return err
	}
	if child != nil { // its shutdown logs come before the result line
		if err := child.stopKeep(); err != nil {
			fmt.Fprintf(stderr, "bench: server stop: %v\n", err)
		}
	}
	return json.NewEncoder(stdout).Encode(res)
}

// OverviewOptions configure Overview.
type OverviewOptions struct {
	URL, DatabaseURL string
	Events           int64
	Days             int
	Requests         int
	Email, Password  string
	Log              *slog.Logger
}

// Overview seeds (or reuses) the bench project on the server at o.URL and
// measures it.
func Overview(ctx context.Context, o OverviewOptions) (OverviewResult, error) {
	log := o.Log
	pool, err := db.NewPool(ctx, o.DatabaseURL, 6)
	if err != nil {
		return OverviewResult{}, err
	}
	defer pool.Close()
	web, err := newWebClient(ctx, o.URL, o.Email, o.Password)
	if err != nil {
		return OverviewResult{}, err
	}
	pid, err := benchProjectID(ctx, pool, o.Email)
	if err != nil {
		return OverviewResult{}, err
	}

	// Seed what is missing.
	var have int64
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE project_id = $1`, pid).Scan(&have); err != nil {
		return OverviewResult{}, err
	}
	if have < o.Events {
		log.Info("bench: seeding", "project", pid, "have", have, "events", o.Events-have, "days", o.Days)
		res, err := seed.Run(ctx, pool, seed.Options{ProjectID: pid, Events: o.Events - have, Days: o.Days,
			Seed: uint64(have) + 1, Analyze: true, Log: log})
		if err != nil {
			return OverviewResult{}, err
		}
		b, _ := json.Marshal(res)
		log.Info("bench: seeded " + string(b))
	} else {
		var newest time.Time
		_ = pool.QueryRow(ctx, `SELECT max(created_at) FROM events WHERE project_id = $1`, pid).Scan(&newest)
		log.Info("bench: reusing the seeded project", "project", pid, "events", have, "newest_event", newest.Format(time.RFC3339))
	}

	// The rollups must be complete before measuring.
	t0 := time.Now()
	if _, err := analytics.RefreshRollups(ctx, pool, 0, true); err != nil {
		return OverviewResult{}, err
	}
	for {
		var dirty int64
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM rollup_dirty WHERE project_id = $1`, pid).Scan(&dirty); err != nil {
			return OverviewResult{}, err
		}
		if dirty == 0 {
			break
		}
		if time.Since(t0) > 10*time.Minute {
			return OverviewResult{}, fmt.Errorf("rollups still have %d dirty days after 10 minutes", dirty)
		}
		time.Sleep(500 * time.Millisecond)
	}
	log.Info("bench: rollups refreshed", "seconds", time.Since(t0).Round(100*time.Millisecond).Seconds())
	// And closed chunks compressed (TimescaleDB), as the hourly job keeps
	// them on a running server.
	t0 = time.Now()
	n, err := jobs.CompressChunks(ctx, pool, jobs.CompressAfter)
	if err != nil {
		return OverviewResult{}, err
	}
	log.Info("bench: chunks compressed", "chunks", n, "seconds", time.Since(t0).Round(100*time.Millisecond).Seconds())

	out := OverviewResult{}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE project_id = $1`, pid).Scan(&out.Events); err != nil {
		return OverviewResult{}, err
	}
	page := "/p/" + pid + "?range=30d"
	unfiltered, err := web.timeView(ctx, func(int) string { return page }, o.Requests, log, "overview")
	if err != nil {
		return OverviewResult{}, err
	}
	out.OverviewP50ms, out.OverviewP95ms = pctl(unfiltered, 50), pctl(unfiltered, 95)
	// Every sample asks for another country and path prefix: the server
	// keeps a filtered answer for a few seconds, and a benchmark of that
	// cache would measure nothing.
	filtered, err := web.timeView(ctx, func(i int) string { return page + "&" + filteredURL(i) }, o.Requests, log, "filtered")
	if err != nil {
		return OverviewResult{}, err
	}
	out.FilteredP50ms, out.FilteredP95ms = pctl(filtered, 50), pctl(filtered, 95)
	realtime, err := web.timeView(ctx, func(int) string { return "/p/" + pid + "/realtime" }, o.Requests, log, "realtime")
	if err != nil {
		return OverviewResult{}, err
	}
	out.RealtimeP50ms = pctl(realtime, 50)
	lat, err := web.sseLatency(ctx, pool, pid, 10, log)
	if err != nil {
		return OverviewResult{}, err
	}
	out.SSELatencyMs = pctl(lat, 50)
	return out, nil
}

// benchProjectID finds the bench project, or creates it in the user's
// first organization (a server onboarded by someone else, --url).
func benchProjectID(ctx context.Context, pool *pgxpool.Pool, email string) (string, error) {
	var id string
	err := pool.QueryRow(ctx, `
		SELECT p.id FROM projects p JOIN memberships m ON m.organization_id = p.organization_id
		JOIN users u ON u.id = m.user_id
		WHERE p.name = $1 AND u.email = lower($2) ORDER BY p.created_at LIMIT 1`, benchProject, email).Scan(&id)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return "", err
	}
	return "", fmt.Errorf("%s has no project named %q: run the bench on an empty server, or create it", email, benchProject)
}

// webClient is a logged-in owner's browser.
type webClient struct {
	base   string
	client *http.Client // requests with a timeout
	stream *http.Client // the same cookies, no timeout (SSE)
}

var projectInPath = regexp.MustCompile(`^/p/([^/?]+)`)

// newWebClient onboards the bench owner on an empty server (creating the
// bench project) or logs in.
func newWebClient(ctx context.Context, base, email, password string) (*webClient, error) {
	jar, _ := cookiejar.New(nil)
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	tr := &http.Transport{MaxIdleConnsPerHost: 32, MaxConnsPerHost: 64, IdleConnTimeout: time.Minute}
	w := &webClient{base: base,
		client: &http.Client{Jar: jar, Timeout: 2 * time.Minute, CheckRedirect: noRedirect, Transport: tr},
		stream: &http.Client{Jar: jar, CheckRedirect: noRedirect, Transport: &http.Transport{}},
	}
	form := url.Values{"name": {"Bench Owner"}, "email": {email}, "password": {password},
		"organization": {"Bench"}, "project": {benchProject}, "domain": {"*"}, "timezone": {"UTC"}}
	res, err := w.post(ctx, "/welcome", form)
	if err != nil {
		return nil, err
	}
	if res.StatusCode == http.StatusSeeOther && projectInPath.MatchString(res.Header.Get("Location")) {
		return w, nil // onboarded: a fresh server
	}
	res, err = w.post(ctx, "/login", url.Values{"email": {email}, "password": {password}})
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusSeeOther {
		return nil, fmt.Errorf("cannot log in as %s: %d (the bench onboards an empty server, or pass --email/--password of an owner)", email, res.StatusCode)
	}
	return w, nil
}

func (w *webClient) post(ctx context.Context, path string, form url.Values) (*http.Response, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, w.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", w.base) // the dashboard's own forms pass the cross-origin check
	res, err := w.client.Do(req)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res, nil
}

// fetch GETs a dashboard URL (as HTMX does for partials when partial) and
// returns the body and the time to its last byte.
func (w *webClient) fetch(ctx context.Context, path string, partial bool) (string, time.Duration, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, w.base+path, nil)
	if partial {
		req.Header.Set("HX-Request", "true")
	}
	start := time.Now()
	res, err := w.client.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body) // gzipped on the wire (the transport asks for it)
	d := time.Since(start)
	body := string(b)
	if err != nil {
		return "", 0, err
	}
	if res.StatusCode != http.StatusOK {
		return "", 0, fmt.Errorf("GET %s: %d %.300s", path, res.StatusCode, body)
	}
	return body, d, nil
}

// loadPartials are the elements HTMX loads as soon as the page is there.
var loadPartials = regexp.MustCompile(`hx-get="([^"]+)"[^>]*hx-trigger="load"`)

// timeView loads a page and then, in parallel, every partial it loads on
// arrival, n times after two warm-ups; each sample is the page's time plus
// the slowest partial's.
func (w *webClient) timeView(ctx context.Context, pathOf func(i int) string, n int, log *slog.Logger, name string) ([]time.Duration, error) {
	var samples, pages []time.Duration
	perPartial := map[string][]time.Duration{}
	for i := -2; i < n; i++ {
		path := pathOf(i)
		body, pd, err := w.fetch(ctx, path, false)
		if err != nil {
			return nil, err
		}
		var parts []string
		for _, m := range loadPartials.FindAllStringSubmatch(body, -1) {
			parts = append(parts, html.UnescapeString(m[1]))
		}
		times := make([]time.Duration, len(parts))
		errs := make([]error, len(parts))
		var wg sync.WaitGroup
		for j, p := range parts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, times[j], errs[j] = w.fetch(ctx, p, true)
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
		if i < 0 {
			if i == -2 {
				log.Info("bench: view", "name", name, "path", path, "partials", len(parts))
			}
			continue
		}
		slowest := time.Duration(0)
		for j, p := range parts {
			slowest = max(slowest, times[j])
			key := p
			if k, _, ok := strings.Cut(p, "?"); ok {
				key = k
				if u, err := url.Parse(p); err == nil && u.Query().Get("tab") != "" {
					key += "?tab=" + u.Query().Get("tab")
				}
			}
			key = projectInPath.ReplaceAllString(key, "/p/{id}")
			perPartial[key] = append(perPartial[key], times[j])
		}
		pages = append(pages, pd)
		samples = append(samples, pd+slowest)
	}
	slices.Sort(samples)
	slices.Sort(pages)
	attrs := []any{"name", name, "p50_ms", pctl(samples, 50), "p95_ms", pctl(samples, 95), "page_p50_ms", pctl(pages, 50)}
	keys := make([]string, 0, len(perPartial))
	for k := range perPartial {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		d := perPartial[k]
		slices.Sort(d)
		attrs = append(attrs, k, fmt.Sprintf("p50 %.1f ms, p95 %.1f ms", pctl(d, 50), pctl(d, 95)))
	}
	log.Info("bench: timed", attrs...)
	return samples, nil
}

// sseLatency sends n events to /track, each with a path of its own, and
// times each until the realtime stream's feed shows it.
func (w *webClient) sseLatency(ctx context.Context, pool *pgxpool.Pool, pid string, n int, log *slog.Logger) ([]time.Duration, error) {
	var clientID string
	if err := pool.QueryRow(ctx, `SELECT id::text FROM clients WHERE project_id = $1 AND revoked_at IS NULL
	                               ORDER BY created_at LIMIT 1`, pid).Scan(&clientID); err != nil {
		return nil, fmt.Errorf("the bench project's client: %w", err)
	}
	// Browser events need the site in the project's allow-list.
	if _, err := pool.Exec(ctx, `UPDATE projects SET domains = array_append(domains, $2)
	                             WHERE id = $1 AND NOT ($2 = ANY (domains) OR '*' = ANY (domains))`, pid, benchSite); err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, _ := http.NewRequestWithContext(sctx, http.MethodGet, w.base+"/p/"+pid+"/realtime/stream", nil)
	req.Header.Set("Accept", "text/event-stream")
	res, err := w.stream.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET realtime stream: %d", res.StatusCode)
	}
	type sse struct {
		name, data string
		at         time.Time
	}
	events := make(chan sse, 64)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 64<<10), 8<<20)
		var name string
		var data strings.Builder
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if name != "" {
					select {
					case events <- sse{name, data.String(), time.Now()}:
					case <-sctx.Done():
						return
					}
				}
				name = ""
				data.Reset()
			case strings.HasPrefix(line, "event: "):
				name = line[len("event: "):]
			case strings.HasPrefix(line, "data: "):
				data.WriteString(line[len("data: "):])
				data.WriteByte('\n')
			}
		}
	}()
	// The stream's first state.
	first := time.After(10 * time.Second)
	for got := false; !got; {
		select {
		case e, ok := <-events:
			if !ok {
				return nil, errors.New("the realtime stream ended")
			}
			got = e.name == "feed"
		case <-first:
			got = true
		}
	}
	var out []time.Duration
	track := &http.Client{Timeout: 30 * time.Second}
	for i := range n {
		marker := "/bench-sse-" + strconv.FormatInt(time.Now().UnixNano(), 36)
		body := `{"type":"track","payload":{"name":"screen_view","properties":{"__path":"https://` + benchSite + marker + `"}}}`
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, w.base+"/track", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Openpanel-Client-Id", clientID)
		req.Header.Set("Openpanel-Sdk-Name", "web")
		req.Header.Set("Origin", "https://"+benchSite)
		req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0."+strconv.Itoa(i)+" Safari/537.36")
		req.Header.Set("X-Forwarded-For", "81.2.69."+strconv.Itoa(10+i))
		start := time.Now()
		tres, err := track.Do(req)
		if err != nil {
			return nil, err
		}
		_, _ = io.Copy(io.Discard, tres.Body)
		tres.Body.Close()
		if tres.StatusCode/100 != 2 {
			return nil, fmt.Errorf("POST /track: %d", tres.StatusCode)
		}
		acked := time.Since(start)
		timeout := time.After(15 * time.Second)
	wait:
		for {
			select {
			case e, ok := <-events:
				if !ok {
					return nil, errors.New("the realtime stream ended")
				}
				if e.name == "feed" && strings.Contains(e.data, marker) {
					out = append(out, e.at.Sub(start))
					log.Info("bench: ingest to stream", "ms", ms(e.at.Sub(start)), "track_ack_ms", ms(acked))
					break wait
				}
			case <-timeout:
				return nil, fmt.Errorf("event %s not in the realtime stream after 15 s", marker)
			}
		}
		time.Sleep(1500 * time.Millisecond) // past the stream's throttle
	}
	slices.Sort(out)
	return out, nil
}

// pctl is the p-th percentile of sorted durations, in milliseconds.
func pctl(sorted []time.Duration, p int) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := min(len(sorted)*p/100, len(sorted)-1)
	return ms(sorted[i])
}

// startKeptChild starts `serve` on an embedded cluster in dir, which
// survives the run (stopKeep leaves it).
func startKeptChild(ctx context.Context, env []string, dir string, stderr io.Writer) (*Child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	// As root the cluster runs as "postgres", which must reach <dir>/postgres.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	c := &Child{Exe: exe, DataDir: dir, URL: "http://" + addr, Env: childEnv(env), exited: make(chan struct{}), stderr: stderr}
	c.cmd = exec.Command(exe, "serve", "--listen", addr, "--data-dir", dir)
	c.cmd.Env = c.Env
	c.cmd.Stdout, c.cmd.Stderr = stderr, stderr
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	go func() { c.waitErr = c.cmd.Wait(); close(c.exited) }()
	fmt.Fprintf(stderr, "bench: server pid %d at %s, data kept in %s\n", c.Pid(), c.URL, dir)
	if err := c.waitReady(ctx, "server", 5*time.Minute); err != nil {
		_ = c.stopKeep()
		return nil, err
	}
	return c, nil
}

// stopKeep stops the server like Stop but keeps its data directory.
func (c *Child) stopKeep() error {
	select {
	case <-c.exited:
		return c.waitErr
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(2 * time.Minute):
		_ = c.cmd.Process.Kill()
		<-c.exited
		return errors.New("server did not stop within two minutes: killed")
	}
	return c.waitErr
}
