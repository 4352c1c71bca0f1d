// Package analytics answers the dashboard's questions about traffic: the
// overview's metric cards, its time series and its breakdown widgets, for
// any time range in the project's timezone and any list of filters, and the
// realtime view. The answers are computed by the versioned SQL functions of
// sql/overview.sql; unfiltered ranges of whole days read the rollup tables
// (kept a few seconds behind by a River job), everything else reads the raw
// events and sessions. Both paths give identical answers (tested). A
// filtered overview's requests share one pass over the range's events
// (bundle.go). The exact definitions are at the top of sql/overview.sql.
//
// Unique visitors: devices are anonymous and their ids rotate daily, so a
// range's visitors are the sum of each day's distinct visitors (in the
// project's timezone); within one day they are exact.
package analytics

import (
	"time"
)

// Filter is one condition of the filter bar. Field is an event column
// (see Fields) or "properties.<key>"; several Values are OR-ed; filters of
// a query are AND-ed.
type Filter struct {
	Field  string   `json:"field"`
	Op     string   `json:"op"`
	Values []string `json:"values"`
}

// Operators of filters.
const (
	OpIs          = "is"
	OpIsNot       = "is_not"
	OpContains    = "contains"
	OpNotContains = "not_contains"
	OpStartsWith  = "starts_with"
	OpEndsWith    = "ends_with"
	OpRegex       = "regex"
	OpIsSet       = "is_set"
	OpIsNotSet    = "is_not_set"
	OpGt          = "gt"
	OpGte         = "gte"
	OpLt          = "lt"
	OpLte         = "lte"
)

// Range is a time range [From, To) with the interval its series uses, in a
// timezone. Key is the preset it came from ("7d", "custom", ...).
type Range struct {
	Key      string
	From, To time.Time
	Interval string // minute, hour, day, week, month
	TZ       *time.Location
}

// Query is what every overview answer is about.
type Query struct {
	ProjectID string
	Range     Range
	Filters   []Filter
}

// Metrics are the overview's cards for one range.
type Metrics struct {
	Visitors        int64
	Sessions        int64
	Pageviews       int64
	PagesPerSession float64
	BounceRate      float64 // 0..100
	AvgDuration     float64 // seconds
	Revenue         int64   // minor units
}

// Comparison is a range's metrics and those of the previous period of
// equal length.
type Comparison struct {
	Current, Previous Metrics
}

// Point is one bucket of a series (Bucket in the range's timezone).
type Point struct {
	Bucket time.Time
	Value  float64
}

// Row is one line of a breakdown widget.
type Row struct {
	Value    string // "" means "(none)": direct traffic, unknown country...
	Visitors int64
	Count    int64   // pageviews for page widgets, events for event widgets, sessions otherwise
	Share    float64 // Count / total of the widget, 0..1
}

// FeedEvent is one event of the realtime feed.
type FeedEvent struct {
	Name      string
	Path      string
	Country   string
	City      string
	Browser   string
	Device    string
	CreatedAt time.Time
}

// GeoPoint is where visitors are, for the realtime map.
type GeoPoint struct {
	Latitude, Longitude float64
	City, Country       string
	Visitors            int64
}

// Realtime is the realtime page: the last 5 minutes' visitors, the latest
// events, and the top pages, referrers and countries of the last 30 minutes.
type Realtime struct {
	Visitors     int64
	Feed         []FeedEvent
	TopPages     []Row
	TopReferrers []Row
	TopCountries []Row
	Points       []GeoPoint
}
