package analytics

import (
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"

	"tally/app/errs"
)

// Fields are the filterable event columns, in the order the UI lists them.
// "properties.<key>" filters a custom property. op.filter_where_v1 has the
// same whitelist (and is the authority).
var Fields = []Option{
	{"name", "Event name"},
	{"path", "Path"},
	{"origin", "Origin"},
	{"query", "Query string"},
	{"hash", "Hash"},
	{"referrer", "Referrer URL"},
	{"referrer_name", "Referrer"},
	{"referrer_type", "Referrer type"},
	{"utm_source", "UTM source"},
	{"utm_medium", "UTM medium"},
	{"utm_campaign", "UTM campaign"},
	{"utm_term", "UTM term"},
	{"utm_content", "UTM content"},
	{"country", "Country"},
	{"region", "Region"},
	{"city", "City"},
	{"os", "OS"},
	{"os_version", "OS version"},
	{"browser", "Browser"},
	{"browser_version", "Browser version"},
	{"device", "Device type"},
	{"brand", "Brand"},
	{"model", "Model"},
	{"profile_id", "Profile ID"},
	{"device_id", "Device ID"},
	{"session_id", "Session ID"},
	{"duration", "Duration (ms)"},
	{"revenue", "Revenue"},
	{"sdk_name", "SDK name"},
	{"sdk_version", "SDK version"},
}

// Ops are the filter operators, with the labels the UI shows.
var Ops = []Option{
	{OpIs, "is"},
	{OpIsNot, "is not"},
	{OpContains, "contains"},
	{OpNotContains, "does not contain"},
	{OpStartsWith, "starts with"},
	{OpEndsWith, "ends with"},
	{OpRegex, "matches regex"},
	{OpIsSet, "is set"},
	{OpIsNotSet, "is not set"},
	{OpGt, ">"},
	{OpGte, ">="},
	{OpLt, "<"},
	{OpLte, "<="},
}

// Limits of a filter list (op.filter_where_v1 enforces the same).
const (
	MaxFilters     = 20
	MaxValues      = 50
	MaxValueLength = 1000
	MaxRegexLength = 500
	MaxPropertyKey = 200
)

// PropertyPrefix starts a custom-property filter field.
const PropertyPrefix = "properties."

var numberRE = regexp.MustCompile(`^[+-]?([0-9]{1,30}(\.[0-9]{0,30})?|\.[0-9]{1,30})([eE][+-]?[0-9]{1,3})?$`)

func isField(s string) bool {
	if strings.HasPrefix(s, PropertyPrefix) {
		k := s[len(PropertyPrefix):]
		return k != "" && utf8.RuneCountInString(k) <= MaxPropertyKey
	}
	for _, f := range Fields {
		if f.Key == s {
			return true
		}
	}
	return false
}

func isOp(s string) bool {
	for _, o := range Ops {
		if o.Key == s {
			return true
		}
	}
	return false
}

// needsValues: every operator but is_set and is_not_set compares values.
func needsValues(op string) bool { return op != OpIsSet && op != OpIsNotSet }

func numericOp(op string) bool {
	return op == OpGt || op == OpGte || op == OpLt || op == OpLte
}

// FieldLabel is a field's label ("properties.plan" is "plan").
func FieldLabel(field string) string {
	if strings.HasPrefix(field, PropertyPrefix) {
		return field[len(PropertyPrefix):]
	}
	for _, f := range Fields {
		if f.Key == field {
			return f.Label
		}
	}
	return field
}

// OpLabel is an operator's label.
func OpLabel(op string) string {
	for _, o := range Ops {
		if o.Key == op {
			return o.Label
		}
	}
	return op
}

// Validate checks one filter as op.filter_where_v1 does, for an early,
// clear message (errs.Invalid). The database stays the authority (for
// regular expressions, whose syntax is PostgreSQL's).
func (f Filter) Validate() error {
	if !isField(f.Field) {
		return errs.E(errs.Invalid, "unknown filter field %q", truncate(f.Field, 60))
	}
	if !isOp(f.Op) {
		return errs.E(errs.Invalid, "unknown filter operator %q", truncate(f.Op, 30))
	}
	if !utf8.ValidString(f.Field) || strings.ContainsRune(f.Field, 0) {
		return errs.E(errs.Invalid, "a filter field is not valid text")
	}
	if len(f.Values) > MaxValues {
		return errs.E(errs.Invalid, "a filter has at most %d values", MaxValues)
	}
	for _, v := range f.Values {
		if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
			return errs.E(errs.Invalid, "a filter value is not valid text")
		}
		if utf8.RuneCountInString(v) > MaxValueLength {
			return errs.E(errs.Invalid, "a filter value is longer than %d characters", MaxValueLength)
		}
	}
	if !needsValues(f.Op) {
		return nil
	}
	if len(f.Values) == 0 {
		return errs.E(errs.Invalid, "filter %s %s needs a value", FieldLabel(f.Field), OpLabel(f.Op))
	}
	numericField := f.Field == "duration" || f.Field == "revenue"
	for _, v := range f.Values {
		if f.Op == OpRegex && utf8.RuneCountInString(v) > MaxRegexLength {
			return errs.E(errs.Invalid, "a regular expression is longer than %d characters", MaxRegexLength)
		}
		number := numericOp(f.Op) || numericField && (f.Op == OpIs || f.Op == OpIsNot) && v != ""
		if number && !numberRE.MatchString(v) {
			return errs.E(errs.Invalid, "filter %s %s: %q is not a number", FieldLabel(f.Field), OpLabel(f.Op), truncate(v, 40))
		}
	}
	return nil
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

// ParseFilters reads the URL form of filters: one value per filter,
// "field:op:v1,v2" where each value is url.QueryEscape'd (so "," and ":"
// inside a value are %2C and %3A). Empty strings are skipped.
func ParseFilters(values []string) ([]Filter, error) {
	var out []Filter
	for _, s := range values {
		if s == "" {
			continue
		}
		if len(out) >= MaxFilters {
			return nil, errs.E(errs.Invalid, "at most %d filters", MaxFilters)
		}
		field, rest, ok := strings.Cut(s, ":")
		if !ok {
			return nil, errs.E(errs.Invalid, "filter %q: want field:operator:values", truncate(s, 60))
		}
		op, vals, _ := strings.Cut(rest, ":")
		// The field may itself be escaped (properties with odd keys).
		if f, err := url.QueryUnescape(field); err == nil {
			field = f
		} else {
			return nil, errs.E(errs.Invalid, "filter %q: bad escape in the field", truncate(s, 60))
		}
		f := Filter{Field: field, Op: op}
		if needsValues(op) {
			for _, v := range strings.Split(vals, ",") {
				u, err := url.QueryUnescape(v)
				if err != nil {
					return nil, errs.E(errs.Invalid, "filter %q: bad escape in a value", truncate(s, 60))
				}
				f.Values = append(f.Values, u)
			}
		}
		if err := f.Validate(); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// EncodeFilter is the URL form of a filter (the value of one "f" query
// parameter); ParseFilters reads it back.
func EncodeFilter(f Filter) string {
	var b strings.Builder
	b.WriteString(url.QueryEscape(f.Field))
	b.WriteByte(':')
	b.WriteString(f.Op)
	b.WriteByte(':')
	if needsValues(f.Op) {
		for i, v := range f.Values {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(url.QueryEscape(v))
		}
	}
	return b.String()
}
