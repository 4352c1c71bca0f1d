package ingest_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"tally/app/apptest"
	"tally/app/config"
)

func TestBrowserTrafficIsRateLimitedPerAddress(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t, func(c *config.Config) { c.IngestRateLimit = 5 })
	limited := 0
	for i := range 10 {
		res := env.Track(t, screenView(fmt.Sprintf("https://example.com/%d", i), "", ""), env.BrowserHeaders("81.2.99.1"))
		switch res.Status {
		case http.StatusOK:
		case http.StatusTooManyRequests:
			limited++
			var body struct {
				Status  int
				Message string
			}
			res.JSON(t, &body)
			if body.Status != 429 || body.Message == "" {
				t.Fatalf("429 body %s", res.Body)
			}
			if res.Header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
		default:
			t.Fatalf("status %d", res.Status)
		}
	}
	if limited == 0 {
		t.Fatal("10 requests in a burst from one address with a limit of 5/s: none limited")
	}
	// Another address, and a backend with its secret, are not limited.
	if res := env.Track(t, screenView("https://example.com/x", "", ""), env.BrowserHeaders("81.2.99.2")); res.Status != 200 {
		t.Fatalf("another address: %d", res.Status)
	}
	for range 10 {
		if res := env.Track(t, map[string]any{"type": "track", "payload": map[string]any{"name": "backend"}}, env.ServerHeaders()); res.Status != 200 {
			t.Fatalf("backend: %d", res.Status)
		}
	}
}

// Each distinct wrong secret would cost an argon2id: after 20 in a minute a
// client's wrong secrets are refused at once, while the backend that knows
// the right one carries on.
func TestWrongSecretFloodIsRefusedCheaply(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t)
	body := map[string]any{"type": "track", "payload": map[string]any{"name": "backend"}}
	if res := env.Track(t, body, env.ServerHeaders()); res.Status != 200 {
		t.Fatalf("right secret: %d", res.Status)
	}
	var last int
	for i := range 25 {
		h := env.ServerHeaders()
		h["openpanel-client-secret"] = fmt.Sprintf("sec_%020d", i)
		last = env.Track(t, body, h).Status
	}
	if last != http.StatusTooManyRequests {
		t.Fatalf("25th wrong secret: %d, want 429", last)
	}
	start := time.Now()
	h := env.ServerHeaders()
	h["openpanel-client-secret"] = "sec_ffffffffffffffffffff"
	if res := env.Track(t, body, h); res.Status != 429 || time.Since(start) > 500*time.Millisecond {
		t.Fatalf("another wrong secret: %d after %v", res.Status, time.Since(start))
	}
	if res := env.Track(t, body, env.ServerHeaders()); res.Status != 200 {
		t.Fatalf("right secret during the flood: %d", res.Status)
	}
}
