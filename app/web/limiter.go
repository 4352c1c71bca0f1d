package web

import (
	"sync"
	"time"
)

// limiter counts failed logins per key (an account, an IP address) in a
// sliding window. It lives in memory: with several instances each counts
// its own, which still bounds guessing to a small multiple.
type limiter struct {
	mu     sync.Mutex
	fails  map[string][]time.Time
	window time.Duration
	now    func() time.Time
}

// Login limits: per account, and per IP (a password-spraying client).
const (
	loginWindow     = 15 * time.Minute
	loginPerAccount = 10
	loginPerIP      = 30
)

func newLimiter() *limiter {
	return &limiter{fails: map[string][]time.Time{}, window: loginWindow, now: time.Now}
}

// blocked reports whether key has max or more failures in the window, and
// when the oldest of them leaves it.
func (l *limiter) blocked(key string, max int) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ts := l.prune(key)
	if len(ts) < max {
		return false, 0
	}
	return true, ts[len(ts)-max].Add(l.window).Sub(l.now())
}

// fail records a failure.
func (l *limiter) fail(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fails[key] = append(l.prune(key), l.now())
	if len(l.fails) > 100_000 { // a flood of distinct keys: forget the idle ones
		for k := range l.fails {
			if len(l.prune(k)) == 0 {
				delete(l.fails, k)
			}
		}
	}
}

// reset forgets a key's failures (after a successful login).
func (l *limiter) reset(key string) {
	l.mu.Lock()
	delete(l.fails, key)
	l.mu.Unlock()
}

func (l *limiter) prune(key string) []time.Time {
	ts := l.fails[key]
	cut := l.now().Add(-l.window)
	i := 0
	for i < len(ts) && ts[i].Before(cut) {
		i++
	}
	ts = ts[i:]
	if len(ts) == 0 {
		delete(l.fails, key)
		return nil
	}
	l.fails[key] = ts
	return ts
}
