package analytics

import (
	"strings"
	"time"

	"tally/app/errs"
)

// Option is a choice the UI offers: a key for the URL and a label.
type Option struct {
	Key, Label string
}

// RangeKeys are the range presets, in the order the UI lists them.
var RangeKeys = []Option{
	{"30m", "Last 30 minutes"},
	{"1h", "Last hour"},
	{"today", "Today"},
	{"yesterday", "Yesterday"},
	{"7d", "Last 7 days"},
	{"30d", "Last 30 days"},
	{"3m", "Last 3 months"},
	{"6m", "Last 6 months"},
	{"12m", "Last 12 months"},
	{"mtd", "Month to date"},
	{"lastmonth", "Last month"},
	{"ytd", "Year to date"},
	{"custom", "Custom"},
}

// Intervals are the series' bucket sizes, smallest first.
var Intervals = []Option{
	{"minute", "Minute"},
	{"hour", "Hour"},
	{"day", "Day"},
	{"week", "Week"},
	{"month", "Month"},
}

// DefaultRange is the range of an overview URL without one.
const DefaultRange = "7d"

// MaxBuckets is the most buckets a series may have.
const MaxBuckets = 2000

// DefaultInterval is the interval a range preset uses when none is chosen.
func DefaultInterval(key string) string {
	switch key {
	case "30m", "1h":
		return "minute"
	case "today", "yesterday":
		return "hour"
	case "3m", "6m":
		return "week"
	case "12m", "ytd":
		return "month"
	default:
		return "day"
	}
}

func validInterval(s string) bool {
	for _, o := range Intervals {
		if o.Key == s {
			return true
		}
	}
	return false
}

// ParseRange resolves a range preset (or "custom" with from and to, both
// YYYY-MM-DD, inclusive local days) at now in the timezone tz. Day-based
// ranges are whole local days [midnight, midnight) and include today; the
// minute ranges (30m, 1h) end at the end of the current minute. key ""
// is DefaultRange; interval "" is DefaultInterval(key). A range with more
// than MaxBuckets buckets at its interval is invalid.
func ParseRange(key, from, to, interval string, tz *time.Location, now time.Time) (Range, error) {
	if tz == nil {
		tz = time.UTC
	}
	key = strings.TrimSpace(key)
	if key == "" {
		key = DefaultRange
	}
	interval = strings.TrimSpace(interval)
	if interval == "" {
		interval = DefaultInterval(key)
	}
	if !validInterval(interval) {
		return Range{}, errs.E(errs.Invalid, "unknown interval %q", interval)
	}
	now = now.In(tz)
	today := day(now.Year(), now.Month(), now.Day(), tz)
	tomorrow := today.AddDate(0, 0, 1)
	r := Range{Key: key, Interval: interval, TZ: tz}
	switch key {
	case "30m", "1h":
		d := 30 * time.Minute
		if key == "1h" {
			d = time.Hour
		}
		end := now.Truncate(time.Minute).Add(time.Minute)
		r.From, r.To = end.Add(-d), end
	case "today":
		r.From, r.To = today, tomorrow
	case "yesterday":
		r.From, r.To = today.AddDate(0, 0, -1), today
	case "7d":
		r.From, r.To = today.AddDate(0, 0, -6), tomorrow
	case "30d":
		r.From, r.To = today.AddDate(0, 0, -29), tomorrow
	case "3m", "6m", "12m":
		months := map[string]int{"3m": 3, "6m": 6, "12m": 12}[key]
		r.From, r.To = addDays(now, 0, -months, 1, tz), tomorrow
	case "mtd":
		r.From, r.To = day(now.Year(), now.Month(), 1, tz), tomorrow
	case "lastmonth":
		first := day(now.Year(), now.Month(), 1, tz)
		r.From, r.To = firstOfMonth(first.AddDate(0, 0, -1), tz), first
	case "ytd":
		r.From, r.To = day(now.Year(), time.January, 1, tz), tomorrow
	case "custom":
		f, err := parseDay(from, tz)
		if err != nil {
			return Range{}, errs.E(errs.Invalid, "custom range: the start %q is not a date (YYYY-MM-DD)", from)
		}
		t, err := parseDay(to, tz)
		if err != nil {
			return Range{}, errs.E(errs.Invalid, "custom range: the end %q is not a date (YYYY-MM-DD)", to)
		}
		if t.Before(f) {
			return Range{}, errs.E(errs.Invalid, "custom range: the end is before the start")
		}
		r.From, r.To = f, t.AddDate(0, 0, 1)
	default:
		return Range{}, errs.E(errs.Invalid, "unknown range %q", key)
	}
	if n := len(r.Buckets()); n > MaxBuckets {
		return Range{}, errs.E(errs.Invalid, "%d %s buckets are too many (at most %d): choose a larger interval", n, interval, MaxBuckets)
	}
	return r, nil
}

// day is local midnight of a date (Go moves a midnight that does not exist
// to the first instant that does, as PostgreSQL does).
func day(y int, m time.Month, d int, tz *time.Location) time.Time {
	return time.Date(y, m, d, 0, 0, 0, 0, tz)
}

func firstOfMonth(t time.Time, tz *time.Location) time.Time {
	return day(t.Year(), t.Month(), 1, tz)
}

// addDays is local midnight of now's date moved by years, months and days
// (AddDate normalization: March 31 minus a month is March 3).
func addDays(now time.Time, years, months, days int, tz *time.Location) time.Time {
	return day(now.Year()+years, now.Month()+time.Month(months), now.Day()+days, tz)
}

func parseDay(s string, tz *time.Location) (time.Time, error) {
	t, err := time.ParseInLocation("2006-01-02", strings.TrimSpace(s), tz)
	if err != nil {
		return time.Time{}, err
	}
	if t.Year() < 1970 || t.Year() > 9000 {
		return time.Time{}, errs.E(errs.Invalid, "year out of range")
	}
	return day(t.Year(), t.Month(), t.Day(), tz), nil
}

// WholeDays reports whether the range is made of whole local days: both
// ends are local midnights.
func (r Range) WholeDays() bool {
	tz := r.loc()
	return r.To.After(r.From) && isMidnight(r.From.In(tz)) && isMidnight(r.To.In(tz))
}

func isMidnight(t time.Time) bool {
	h, m, s := t.Clock()
	return h == 0 && m == 0 && s == 0 && t.Nanosecond() == 0
}

func (r Range) loc() *time.Location {
	if r.TZ == nil {
		return time.UTC
	}
	return r.TZ
}

// Days is how many local days a whole-day range has.
func (r Range) Days() int {
	tz := r.loc()
	f, t := r.From.In(tz), r.To.In(tz)
	n := 0
	for d := day(f.Year(), f.Month(), f.Day(), tz); d.Before(t); d = d.AddDate(0, 0, 1) {
		n++
	}
	return n
}

// Previous is the range of the same length just before r: as many local
// days for whole-day ranges, the same duration otherwise.
func (r Range) Previous() Range {
	p := r
	if r.WholeDays() {
		n := r.Days()
		tz := r.loc()
		f := r.From.In(tz)
		p.From = day(f.Year(), f.Month(), f.Day()-n, tz)
		p.To = r.From
		return p
	}
	d := r.To.Sub(r.From)
	p.From, p.To = r.From.Add(-d), r.From
	return p
}

// Buckets are the starts of the range's series buckets, as SQL makes them:
// minutes and hours are local clock hours stepped in absolute time (a day
// when clocks go forward has 23 hours, one when they go back 25, with the
// repeated hour twice); days, weeks (from Monday) and months are local
// calendar units, 23 to 25 hours long around a DST change.
func (r Range) Buckets() []time.Time {
	tz := r.loc()
	var out []time.Time
	switch r.Interval {
	case "minute", "hour":
		step := time.Minute
		if r.Interval == "hour" {
			step = time.Hour
		}
		start := truncClock(r.From.In(tz), step)
		for b := start; b.Before(r.To); b = b.Add(step) {
			out = append(out, b)
			if len(out) > MaxBuckets {
				break
			}
		}
	default:
		f := r.From.In(tz)
		var b time.Time
		switch r.Interval {
		case "week":
			wd := (int(f.Weekday()) + 6) % 7 // Monday 0
			b = day(f.Year(), f.Month(), f.Day()-wd, tz)
		case "month":
			b = day(f.Year(), f.Month(), 1, tz)
		default:
			b = day(f.Year(), f.Month(), f.Day(), tz)
		}
		for i := 0; ; i++ {
			var t time.Time
			switch r.Interval {
			case "week":
				t = day(b.Year(), b.Month(), b.Day()+7*i, tz)
			case "month":
				t = day(b.Year(), b.Month()+time.Month(i), 1, tz)
			default:
				t = day(b.Year(), b.Month(), b.Day()+i, tz)
			}
			if !t.Before(r.To) || len(out) > MaxBuckets {
				break
			}
			out = append(out, t)
		}
	}
	return out
}

// truncClock truncates t to its local minute or hour (zones with offsets
// of half hours keep their local hours).
func truncClock(t time.Time, step time.Duration) time.Time {
	if step == time.Minute {
		return t.Truncate(time.Minute) // every offset is whole minutes
	}
	return t.Add(-time.Duration(t.Minute())*time.Minute - time.Duration(t.Second())*time.Second - time.Duration(t.Nanosecond()))
}
