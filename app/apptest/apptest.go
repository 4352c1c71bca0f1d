// Package apptest starts the real program for tests: the whole server on
// 127.0.0.1:0 against a fresh database of the test binary's PostgreSQL, with
// a project and a write client ready.
package apptest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"tally/app"
	"tally/app/config"
	"tally/app/dbtest"
	"tally/app/projects"
)

// Env is a running server with one project.
type Env struct {
	Server  *app.Server
	URL     string
	Pool    *pgxpool.Pool
	Project projects.Created
	Config  config.Config
	Logs    *LogBuffer // all the server's log lines, debug included
}

// LogBuffer collects log output safely from many goroutines.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String is everything logged so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Option adjusts the configuration before start.
type Option func(*config.Config)

// Start starts a server for t and stops it when t ends.
func Start(t testing.TB, opts ...Option) *Env {
	t.Helper()
	return StartOn(t, dbtest.NewDB(t), true, opts...)
}

// StartOn starts a server on an existing database; withProject creates the
// test project (a second server on the same database reuses the first's).
func StartOn(t testing.TB, url string, withProject bool, opts ...Option) *Env {
	t.Helper()
	cfg, _, err := config.Parse("test", nil, []string{
		"DATABASE_URL=" + url,
		"TALLY_LISTEN=127.0.0.1:0",
		"TALLY_DATA_DIR=" + t.TempDir(),
		"TALLY_GEOIP_DIR=" + GeoIPDir(),
		// Tests speak as a reverse proxy would, setting X-Forwarded-For to
		// play many visitors from one machine.
		"TALLY_TRUSTED_PROXIES=127.0.0.1/32,::1/128",
		// Tests send bursts from one address; the limit has its own test.
		"TALLY_INGEST_RATE_LIMIT=0",
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range opts {
		o(&cfg)
	}
	level := slog.LevelWarn
	if os.Getenv("TALLY_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	// Everything the server logs, at every level, is also kept for tests
	// that check what must never be logged (passwords, secrets).
	logs := &LogBuffer{}
	log := slog.New(slog.NewMultiHandler(
		slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}),
		slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}),
	))
	ctx := context.Background()
	srv, err := app.Start(ctx, cfg, log)
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	env := &Env{Server: srv, URL: srv.URL, Pool: srv.DB.Pool, Config: cfg, Logs: logs}
	if withProject {
		env.Project, err = projects.NewStore(srv.DB.Pool).Create(ctx, projects.NewProject{
			Name: "Test Site", Domains: []string{"example.com", "*.example.org"},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return env
}

// GeoIPDir is where tests find GeoIP databases (installed once per machine
// by the geoip tests; empty directory otherwise).
func GeoIPDir() string {
	if d := os.Getenv("TALLY_TEST_GEOIP_DIR"); d != "" {
		return d
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return dir + "/tally-test/geoip"
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// BrowserUA is a normal desktop Chrome user agent (headless Chromium's own
// says HeadlessChrome, which the bot filter drops).
const BrowserUA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"

// Response is a finished HTTP exchange.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v.
func (r Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("response %d is not JSON (%v): %s", r.Status, err, r.Body)
	}
}

var client = &http.Client{Timeout: 30 * time.Second}

// Do sends a request with the given headers.
func (e *Env) Do(t testing.TB, method, path string, body []byte, headers map[string]string) Response {
	t.Helper()
	req, err := http.NewRequest(method, e.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return Response{Status: res.StatusCode, Header: res.Header, Body: b}
}

// BrowserHeaders are what @openpanel/web sends from an allowed page.
func (e *Env) BrowserHeaders(ip string) map[string]string {
	return map[string]string{
		"Content-Type":          "application/json",
		"openpanel-client-id":   e.Project.ClientID,
		"openpanel-sdk-name":    "web",
		"openpanel-sdk-version": "1.4.1",
		"Origin":                "https://example.com",
		"User-Agent":            BrowserUA,
		"X-Forwarded-For":       ip, // believed only from trusted proxies
	}
}

// ServerHeaders are what @openpanel/sdk sends from a backend.
func (e *Env) ServerHeaders() map[string]string {
	return map[string]string{
		"Content-Type":            "application/json",
		"openpanel-client-id":     e.Project.ClientID,
		"openpanel-client-secret": e.Project.ClientSecret,
		"openpanel-sdk-name":      "node",
		"openpanel-sdk-version":   "1.3.1",
	}
}

// Track posts a /track body.
func (e *Env) Track(t testing.TB, body any, headers map[string]string) Response {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return e.Do(t, http.MethodPost, "/track", b, headers)
}
