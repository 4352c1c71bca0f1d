package web

import "time"

// SetLiveRefresh shortens the live stream's refresh (and access re-check)
// for a test; it returns the function that restores it. Only for tests that
// do not run in parallel.
func SetLiveRefresh(d time.Duration) (restore func()) {
	old := liveRefresh
	liveRefresh = d
	return func() { liveRefresh = old }
}
