package realtime

import "time"

// SetIdleCheck shortens the idle ping interval of a hub not yet started.
func (h *Hub) SetIdleCheck(d time.Duration) { h.idle = d }

// The queries, for plan tests.
const (
	VisitorsNowSQL = visitorsNowSQL
	FirstEventSQL  = firstEventSQL
)
