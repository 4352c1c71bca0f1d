package ingest

import (
	"sync"
	"time"
)

// recentProfilesMax bounds the profiles remembered: about 100 bytes each, so
// at most ~10 MB. Past it, new profiles are simply not remembered (their
// events take the database's own once-a-minute check).
const recentProfilesMax = 100_000

// recentProfiles remembers the profiles whose last seen this process wrote
// in the past minute, so their events skip op.ingest_v1's profiles upsert.
// The upsert itself writes a profile at most once a minute, but deciding
// that costs a key probe and a row lock per event; this map answers for
// almost every event of a visit instead. A profile's last seen then lags by
// up to a minute per server process, as it could before.
//
// Only committed writes are remembered (a rolled-back batch wrote nothing),
// keyed by what the row names: the profile id the site gave, or the device.
type recentProfiles struct {
	ttl int64 // nanoseconds
	max int

	mu        sync.Mutex
	at        map[string]int64 // key -> unix nanos of the write
	lastSweep int64
}

func newRecentProfiles(ttl time.Duration, max int) *recentProfiles {
	return &recentProfiles{ttl: int64(ttl), max: max, at: make(map[string]int64)}
}

// touches reports whether op.ingest_v1 writes the row's profile (sql/ingest.sql:
// browsing devices, and the ids sites give).
func touches(r *Row) bool { return r.OpensSession || r.ProfileID != "" }

func profileKey(r *Row) string {
	id := r.ProfileID
	if id == "" {
		id = r.DeviceID
	}
	return r.ProjectID + "\x00" + id
}

// mark sets SkipProfile on the rows whose profile was written less than
// ttl ago.
func (c *recentProfiles) mark(rows []Row, now time.Time) {
	n := now.UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range rows {
		r := &rows[i]
		if !touches(r) {
			continue
		}
		if at, ok := c.at[profileKey(r)]; ok && n-at < c.ttl {
			r.SkipProfile = true
		}
	}
}

// remember records the committed batch's profile writes: its rows that were
// stored (not duplicates) and not skipped.
func (c *recentProfiles) remember(rows []Row, results []Result, now time.Time) {
	n := now.UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range rows {
		r := &rows[i]
		if !touches(r) || r.SkipProfile || results[i].Duplicate {
			continue
		}
		k := profileKey(r)
		if _, ok := c.at[k]; !ok && len(c.at) >= c.max && !c.sweep(n) {
			continue
		}
		c.at[k] = n
	}
}

// sweep forgets expired entries, at most once per quarter ttl (a full map of
// fresh entries must not cost a scan per batch). It reports whether there
// is room.
func (c *recentProfiles) sweep(n int64) bool {
	if n-c.lastSweep >= c.ttl/4 {
		c.lastSweep = n
		for k, at := range c.at {
			if n-at >= c.ttl {
				delete(c.at, k)
			}
		}
	}
	return len(c.at) < c.max
}
