package bench

// `tally bench pages` measures the dashboard: how long the server takes to
// render every page for a logged-in owner of an empty project (the issue's
// budget: under 50 ms at the median), and how many gzipped bytes of CSS and
// JavaScript the shell makes a browser load (budget: under 80 KB).

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// PageTiming is one page's latency.
type PageTiming struct {
	Path  string  `json:"path"`
	P50ms float64 `json:"p50_ms"`
	P99ms float64 `json:"p99_ms"`
}

// PagesResult is the JSON `bench pages` prints.
type PagesResult struct {
	Requests     int              `json:"requests_per_page"`
	Pages        []PageTiming     `json:"pages"`
	WorstP50ms   float64          `json:"worst_p50_ms"`
	ShellAssets  map[string]int64 `json:"shell_assets_gzip_bytes"`
	ShellTotalKB float64          `json:"shell_assets_gzip_kb"`
}

// PagesCmd parses the flags of `bench pages` and runs it.
func PagesCmd(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench pages", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("requests", 200, "requests per page")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *n < 1 {
		return errors.New("--requests must be positive")
	}
	child, err := StartChild(ctx, env, stderr)
	if err != nil {
		return err
	}
	defer child.Stop()
	res, err := Pages(ctx, child.URL, *n)
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(res)
}

// dashboardPages are the GET pages of an owner with one empty project;
// {p} is the project id, {o} the organization id.
var dashboardPages = []string{
	"/p/{p}", "/p/{p}/realtime", "/p/{p}/events", "/p/{p}/profiles", "/p/{p}/reports", "/p/{p}/dashboards",
	"/p/{p}/tracking", "/p/{p}/settings", "/p/{p}/settings/clients", "/p/{p}/settings/filters", "/p/{p}/settings/delete",
	"/o/{o}", "/o/{o}/members", "/o/{o}/settings", "/o/{o}/projects/new", "/orgs", "/account",
}

// Pages onboards an owner on the server at base and times every page.
func Pages(ctx context.Context, base string, n int) (PagesResult, error) {
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	form := url.Values{"name": {"Bench Owner"}, "email": {"bench@example.com"}, "password": {"bench password 1"},
		"organization": {"Bench Org"}, "project": {"bench.example"}, "domain": {"bench.example"}, "timezone": {"UTC"}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/welcome", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := client.Do(req)
	if err != nil {
		return PagesResult{}, err
	}
	res.Body.Close()
	loc := res.Header.Get("Location")
	m := regexp.MustCompile(`^/p/([^/]+)/`).FindStringSubmatch(loc)
	if res.StatusCode != http.StatusSeeOther || m == nil {
		return PagesResult{}, fmt.Errorf("onboarding answered %d to %q (the bench needs a server with no users)", res.StatusCode, loc)
	}
	projectID := m[1]
	var orgID string
	// The organization id is the one the project page's navigation links to.
	body, err := get(ctx, client, base+"/p/"+projectID)
	if err != nil {
		return PagesResult{}, err
	}
	if om := regexp.MustCompile(`href="/o/([^/"]+)"`).FindStringSubmatch(body); om != nil {
		orgID = om[1]
	} else {
		return PagesResult{}, errors.New("the project page links to no organization")
	}

	out := PagesResult{Requests: n, ShellAssets: map[string]int64{}}
	for _, tmpl := range dashboardPages {
		path := strings.NewReplacer("{p}", projectID, "{o}", orgID).Replace(tmpl)
		if _, err := get(ctx, client, base+path); err != nil { // warm-up, and the page must exist
			return PagesResult{}, err
		}
		d := make([]time.Duration, n)
		for i := range d {
			start := time.Now()
			if _, err := get(ctx, client, base+path); err != nil {
				return PagesResult{}, err
			}
			d[i] = time.Since(start)
		}
		slices.Sort(d)
		t := PageTiming{Path: tmpl, P50ms: ms(d[len(d)/2]), P99ms: ms(d[len(d)*99/100])}
		out.Pages = append(out.Pages, t)
		out.WorstP50ms = max(out.WorstP50ms, t.P50ms)
	}

	// The shell's assets: every stylesheet and script the page references
	// (echarts is loaded by chart pages only, so an empty page has none).
	for _, am := range regexp.MustCompile(`(?:src|href)="(/static/[^"]+\.(?:js|css))"`).FindAllStringSubmatch(body, -1) {
		size, err := gzipSize(ctx, base+am[1])
		if err != nil {
			return PagesResult{}, err
		}
		out.ShellAssets[am[1]] = size
		out.ShellTotalKB += float64(size) / 1024
	}
	out.ShellTotalKB = float64(int(out.ShellTotalKB*10)) / 10
	return out, nil
}

func get(ctx context.Context, c *http.Client, u string) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	res, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %d", u, res.StatusCode)
	}
	return string(b), err
}

// gzipSize is the bytes on the wire when the browser accepts gzip: the
// server's own compression when it compresses, else gzip -6 of the file.
func gzipSize(ctx context.Context, u string) (int64, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	req.Header.Set("Accept-Encoding", "gzip") // set by hand: the transport then leaves the body compressed
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %d %v", u, res.StatusCode, err)
	}
	if res.Header.Get("Content-Encoding") == "gzip" {
		return int64(len(b)), nil
	}
	var cw countWriter
	zw, _ := gzip.NewWriterLevel(&cw, 6)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return cw.n, nil
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
