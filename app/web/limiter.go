package web

import (
	"net/netip"
	"sync"
	"time"
)

// limiter counts failures per key (an account, an IP address) in a sliding
// window. It lives in memory: with several instances each counts its own,
// which still bounds guessing to a small multiple.
//
// Its memory is bounded whatever a client sends: a key keeps at most
// maxPerKey timestamps, keys are cut to maxKeyLen bytes, and at maxKeys new
// keys are not tracked until idle ones have been swept (existing keys,
// like an attacker's IP address, keep counting).
type limiter struct {
	mu        sync.Mutex
	fails     map[string][]time.Time
	window    time.Duration
	now       func() time.Time
	lastSweep time.Time
}

const (
	maxPerKey = 64
	maxKeyLen = 300
	maxKeys   = 100_000
)

// Login limits. Per account and address: a guesser is stopped after 10
// tries; per account from anywhere: a distributed guess is stopped after
// 100, and a stranger cannot lock the owner out with 10 wrong passwords
// from their own address. Per address: password spraying across accounts.
const (
	loginWindow         = 15 * time.Minute
	loginPerAccountAddr = 10
	loginPerAccount     = 100
	loginPerIP          = 30
)

func newLimiter() *limiter {
	return &limiter{fails: map[string][]time.Time{}, window: loginWindow, now: time.Now}
}

func clipKey(key string) string {
	if len(key) > maxKeyLen {
		return key[:maxKeyLen]
	}
	return key
}

// addrKey is the part of an address one client controls: the address for
// IPv4, the /64 network for IPv6 (where one host rotates through many).
func addrKey(ip netip.Addr) string {
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// blocked reports whether key has max or more failures in the window, and
// when the oldest of them leaves it.
func (l *limiter) blocked(key string, max int) (bool, time.Duration) {
	key = clipKey(key)
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
	key = clipKey(key)
	l.mu.Lock()
	defer l.mu.Unlock()
	ts := l.prune(key)
	if ts == nil && len(l.fails) >= maxKeys {
		if l.now().Sub(l.lastSweep) < 10*time.Second {
			return
		}
		l.lastSweep = l.now()
		for k := range l.fails {
			l.prune(k)
		}
		if len(l.fails) >= maxKeys {
			return
		}
	}
	if len(ts) >= maxPerKey {
		ts = ts[1:]
	}
	l.fails[key] = append(ts, l.now())
}

// reset forgets a key's failures (after a successful login).
func (l *limiter) reset(key string) {
	l.mu.Lock()
	delete(l.fails, clipKey(key))
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
