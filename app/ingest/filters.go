package ingest

import (
	"encoding/json"
	"net/netip"
	"strings"

	"tally/app/projects"
)

// filterSet is a project's traffic filters, compiled once per client load:
// it runs on every request, so it is plain comparisons, no regexps.
type filterSet struct {
	prefixes []netip.Prefix
	profiles map[string]bool
	events   []projects.Filter
}

func compileFilters(fs []projects.Filter) *filterSet {
	if len(fs) == 0 {
		return nil
	}
	set := &filterSet{profiles: map[string]bool{}}
	for _, f := range fs {
		switch f.Kind {
		case projects.FilterIP:
			if p, err := netip.ParsePrefix(f.Value); err == nil {
				set.prefixes = append(set.prefixes, p)
			}
		case projects.FilterProfile:
			set.profiles[f.Value] = true
		case projects.FilterEvent:
			set.events = append(set.events, f)
		}
	}
	return set
}

// ignoresVisitor reports whether requests from ip, or about profile, are ignored.
func (s *filterSet) ignoresVisitor(ip netip.Addr, profile string) bool {
	if s == nil {
		return false
	}
	for _, p := range s.prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return profile != "" && s.profiles[profile]
}

// ignoresEvent reports whether an event filter matches the row.
func (s *filterSet) ignoresEvent(r *Row, props map[string]any) bool {
	if s == nil {
		return false
	}
	for _, f := range s.events {
		if matchFilter(f, fieldValue(r, props, f.Field)) {
			return true
		}
	}
	return false
}

func matchFilter(f projects.Filter, v string) bool {
	switch f.Op {
	case "is":
		return v == f.Value
	case "is_not":
		return v != f.Value
	case "contains":
		return strings.Contains(v, f.Value)
	case "starts_with":
		return strings.HasPrefix(v, f.Value)
	case "ends_with":
		return strings.HasSuffix(v, f.Value)
	case "matches":
		return globMatch(f.Value, v)
	}
	return false
}

// globMatch matches v against a pattern where * stands for any run of
// characters (linear time: no backtracking blow-up on hostile input).
func globMatch(pattern, v string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return v == pattern
	}
	if !strings.HasPrefix(v, parts[0]) {
		return false
	}
	v = v[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(v, mid)
		if i < 0 {
			return false
		}
		v = v[i+len(mid):]
	}
	return strings.HasSuffix(v, last)
}

func fieldValue(r *Row, props map[string]any, field string) string {
	if key, ok := strings.CutPrefix(field, "properties."); ok {
		switch x := props[key].(type) {
		case string:
			return x
		case nil:
			return ""
		default:
			return strings.TrimSpace(strings.Trim(jsonText(x), `"`))
		}
	}
	switch field {
	case "name":
		return r.Name
	case "path":
		return r.Path
	case "origin":
		return r.Origin
	case "query":
		return r.Query
	case "referrer":
		return r.Referrer
	case "referrer_name":
		return r.ReferrerName
	case "referrer_type":
		return r.ReferrerType
	case "utm_source":
		return r.UTMSource
	case "utm_medium":
		return r.UTMMedium
	case "utm_campaign":
		return r.UTMCampaign
	case "utm_term":
		return r.UTMTerm
	case "utm_content":
		return r.UTMContent
	case "country":
		return r.Country
	case "region":
		return r.Region
	case "city":
		return r.City
	case "os":
		return r.OS
	case "browser":
		return r.Browser
	case "device":
		return r.Device
	case "brand":
		return r.Brand
	case "model":
		return r.Model
	case "sdk_name":
		return r.SDKName
	}
	return ""
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}
