package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"tally/app/errs"
)

// Limits on what one request may carry. Anything over them is a 400 with a
// message that names the limit, never a silent truncation.
const (
	MaxBodyBytes      = 1 << 20 // 413 above
	MaxDepth          = 10      // nesting of property objects and arrays
	MaxProperties     = 500     // after flattening
	MaxKeyLength      = 200
	MaxValueLength    = 16 << 10 // one string value
	MaxNameLength     = 80
	MaxIDLength       = 256 // profile, device, group ids
	MaxGroups         = 50
	MaxEventAge       = 365 * 24 * time.Hour // __timestamp further back is refused
	MaxClockSkew      = time.Minute          // __timestamp further ahead is replaced by the server's time
	maxStringFieldLen = 2048                 // names, emails, URLs
)

// Kinds of /track bodies.
const (
	TypeTrack       = "track"
	TypeIdentify    = "identify"
	TypeIncrement   = "increment"
	TypeDecrement   = "decrement"
	TypeAlias       = "alias"
	TypeGroup       = "group"
	TypeAssignGroup = "assign_group"
	TypeReplay      = "replay"
)

// Body is a decoded, validated POST /track body.
type Body struct {
	Type         string
	ClientID     string
	ClientSecret string
	Track        *TrackPayload
	Identify     *IdentifyPayload
	Counter      *CounterPayload // increment and decrement
	Alias        *AliasPayload
	Group        *GroupPayload
	AssignGroup  *AssignGroupPayload
}

// TrackPayload is one event. Magic (__*) properties are lifted out of
// Properties into Magic.
type TrackPayload struct {
	Name       string
	ProfileID  string
	Groups     []string
	Properties map[string]any // flattened, without the magic ones
	Magic      Magic
}

// Magic holds the __ properties the server reads and removes.
type Magic struct {
	Path, Referrer, DeviceID, IP           string
	Timestamp                              *time.Time
	Revenue                                *int64
	OS, OSVersion, Browser, BrowserVersion string
	Device, Brand, Model                   string
	// Identify is an inline identify (__identify: {profileId, firstName, ...}):
	// the event's visitor is identified, and the event is theirs.
	Identify *IdentifyPayload
}

type IdentifyPayload struct {
	ProfileID                          string
	FirstName, LastName, Email, Avatar string
	Properties                         map[string]any
	Magic                              Magic
}

type CounterPayload struct {
	ProfileID string
	Property  string
	Value     float64
}

type AliasPayload struct{ ProfileID, Alias string }

type GroupPayload struct {
	ID, Type, Name string
	Properties     map[string]any
}

type AssignGroupPayload struct {
	ProfileID string
	GroupIDs  []string
}

func invalid(format string, args ...any) error { return errs.E(errs.Invalid, format, args...) }

// decodeJSON parses JSON strictly enough for a database: valid UTF-8, no NUL
// characters, numbers kept exact, one value only.
func decodeJSON(data []byte) (map[string]any, error) {
	if !utf8.Valid(data) {
		return nil, invalid("body is not valid UTF-8")
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, invalid("body is empty: expected a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, invalid("body is not valid JSON: %s", jsonErr(err))
	}
	// Only white space may follow the value. (dec.More and dec.Token miss a
	// stray '}' or ']': More treats them as the end of a container.)
	if len(bytes.TrimSpace(data[dec.InputOffset():])) > 0 {
		return nil, invalid("body has data after the JSON value")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, invalid("body must be a JSON object")
	}
	return obj, nil
}

func jsonErr(err error) string {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return "it ends before the value is complete (truncated?)"
	}
	return clip(strings.TrimPrefix(err.Error(), "json: "), 120)
}

// DecodeTrack decodes and validates a POST /track body.
func DecodeTrack(data []byte) (*Body, error) {
	obj, err := decodeJSON(data)
	if err != nil {
		return nil, err
	}
	b := &Body{}
	if b.Type, err = optString(obj, "type", 32); err != nil {
		return nil, err
	}
	if b.ClientID, err = optString(obj, "clientId", 64); err != nil {
		return nil, err
	}
	if b.ClientSecret, err = optString(obj, "clientSecret", 256); err != nil {
		return nil, err
	}
	raw, ok := obj["payload"]
	if !ok || raw == nil {
		return nil, invalid("payload is required")
	}
	p, ok := raw.(map[string]any)
	if !ok {
		return nil, invalid("payload must be an object")
	}
	switch b.Type {
	case TypeTrack:
		b.Track, err = decodeTrackPayload(p)
	case TypeIdentify:
		b.Identify, err = decodeIdentify(p)
	case TypeIncrement, TypeDecrement:
		b.Counter, err = decodeCounter(p)
	case TypeAlias:
		b.Alias, err = decodeAlias(p)
	case TypeGroup:
		b.Group, err = decodeGroup(p)
	case TypeAssignGroup:
		b.AssignGroup, err = decodeAssignGroup(p)
	case TypeReplay:
		return nil, invalid("session replay is not supported")
	case "":
		return nil, invalid("type is required (track, identify, increment, decrement, alias, group or assign_group)")
	default:
		return nil, invalid("unknown type %q", clip(b.Type, 32))
	}
	if err != nil {
		return nil, err
	}
	return b, nil
}

// DecodeLegacyEvent decodes POST /event: {name, timestamp, profileId, properties}.
func DecodeLegacyEvent(data []byte) (*TrackPayload, error) {
	obj, err := decodeJSON(data)
	if err != nil {
		return nil, err
	}
	if ts, ok := obj["timestamp"]; ok && ts != nil {
		if obj["properties"] == nil {
			obj["properties"] = map[string]any{}
		}
		// A properties value that is not an object is left for
		// decodeTrackPayload to refuse, not silently replaced.
		if props, ok := obj["properties"].(map[string]any); ok {
			props["__timestamp"] = ts
		}
	}
	return decodeTrackPayload(obj)
}

// DecodeLegacyProfile decodes POST /profile (identify).
func DecodeLegacyProfile(data []byte) (*IdentifyPayload, error) {
	obj, err := decodeJSON(data)
	if err != nil {
		return nil, err
	}
	return decodeIdentify(obj)
}

// DecodeLegacyCounter decodes POST /profile/increment and /decrement.
func DecodeLegacyCounter(data []byte) (*CounterPayload, error) {
	obj, err := decodeJSON(data)
	if err != nil {
		return nil, err
	}
	return decodeCounter(obj)
}

func decodeTrackPayload(p map[string]any) (*TrackPayload, error) {
	t := &TrackPayload{}
	name, ok := p["name"].(string)
	if !ok {
		return nil, invalid("name is required and must be a string")
	}
	if err := validateName(name); err != nil {
		return nil, err
	}
	t.Name = strings.TrimSpace(name)
	var err error
	if t.ProfileID, err = optID(p, "profileId"); err != nil {
		return nil, err
	}
	if t.Groups, err = optIDList(p, "groups"); err != nil {
		return nil, err
	}
	if t.Properties, t.Magic, err = decodeProperties(p["properties"]); err != nil {
		return nil, err
	}
	return t, nil
}

// validateName checks an event name: 1-80 printable characters; the
// session events are the server's own. Surrounding spaces are trimmed (by
// the caller) but a newline or other control character anywhere, even at
// an end, is refused.
func validateName(name string) error {
	for _, r := range name {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return invalid("name must not contain control characters or newlines")
		}
	}
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return invalid("name must not be empty")
	case utf8.RuneCountInString(name) > MaxNameLength:
		return invalid("name is longer than %d characters", MaxNameLength)
	case name == "session_start" || name == "session_end":
		return invalid("%s is reserved for the server", name)
	}
	return nil
}

func decodeIdentify(p map[string]any) (*IdentifyPayload, error) {
	id, err := optID(p, "profileId")
	if err != nil {
		return nil, err
	}
	if id == "" {
		return nil, invalid("profileId is required")
	}
	out := &IdentifyPayload{ProfileID: id}
	for _, f := range []struct {
		key string
		dst *string
	}{{"firstName", &out.FirstName}, {"lastName", &out.LastName}, {"email", &out.Email}, {"avatar", &out.Avatar}} {
		if *f.dst, err = optString(p, f.key, maxStringFieldLen); err != nil {
			return nil, err
		}
	}
	if out.Properties, out.Magic, err = decodeProperties(p["properties"]); err != nil {
		return nil, err
	}
	return out, nil
}

func decodeCounter(p map[string]any) (*CounterPayload, error) {
	id, err := optID(p, "profileId")
	if err != nil {
		return nil, err
	}
	if id == "" {
		return nil, invalid("profileId is required")
	}
	prop, err := optString(p, "property", MaxKeyLength)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(prop) == "" {
		return nil, invalid("property is required")
	}
	c := &CounterPayload{ProfileID: id, Property: prop, Value: 1}
	if v, ok := p["value"]; ok && v != nil {
		n, ok := v.(json.Number)
		if !ok {
			return nil, invalid("value must be a number")
		}
		f, err := n.Float64()
		if err != nil || math.IsInf(f, 0) || math.Abs(f) > 1e15 {
			return nil, invalid("value must be a finite number below 1e15")
		}
		c.Value = f
	}
	return c, nil
}

func decodeAlias(p map[string]any) (*AliasPayload, error) {
	id, err := optID(p, "profileId")
	if err != nil {
		return nil, err
	}
	alias, err := optID(p, "alias")
	if err != nil {
		return nil, err
	}
	if id == "" || alias == "" {
		return nil, invalid("alias needs profileId and alias")
	}
	if id == alias {
		return nil, invalid("a profile cannot be an alias of itself")
	}
	return &AliasPayload{ProfileID: id, Alias: alias}, nil
}

func decodeGroup(p map[string]any) (*GroupPayload, error) {
	g := &GroupPayload{}
	var err error
	if g.ID, err = optID(p, "id"); err != nil {
		return nil, err
	}
	if g.ID == "" {
		return nil, invalid("id is required")
	}
	if g.Type, err = optString(p, "type", MaxIDLength); err != nil {
		return nil, err
	}
	if g.Name, err = optString(p, "name", maxStringFieldLen); err != nil {
		return nil, err
	}
	if g.Type == "" || g.Name == "" {
		return nil, invalid("a group needs a type and a name")
	}
	if g.Properties, _, err = decodeProperties(p["properties"]); err != nil {
		return nil, err
	}
	return g, nil
}

func decodeAssignGroup(p map[string]any) (*AssignGroupPayload, error) {
	a := &AssignGroupPayload{}
	var err error
	if a.ProfileID, err = optID(p, "profileId"); err != nil {
		return nil, err
	}
	if a.GroupIDs, err = optIDList(p, "groupIds"); err != nil {
		return nil, err
	}
	if len(a.GroupIDs) == 0 {
		return nil, invalid("groupIds must list at least one group")
	}
	return a, nil
}

// optString reads an optional string field.
func optString(obj map[string]any, key string, max int) (string, error) {
	v, ok := obj[key]
	if !ok || v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", invalid("%s must be a string", key)
	}
	if len(s) > max {
		return "", invalid("%s is longer than %d bytes", key, max)
	}
	if strings.ContainsRune(s, 0) {
		return "", invalid("%s must not contain NUL characters", key)
	}
	return s, nil
}

// optID reads an id that SDKs send as a string or a number.
func optID(obj map[string]any, key string) (string, error) {
	v, ok := obj[key]
	if !ok || v == nil {
		return "", nil
	}
	var s string
	switch x := v.(type) {
	case string:
		s = strings.TrimSpace(x)
	case json.Number:
		if _, err := strconv.ParseInt(x.String(), 10, 64); err != nil {
			return "", invalid("%s must be a string or a whole number", key)
		}
		s = x.String()
	default:
		return "", invalid("%s must be a string or a number", key)
	}
	if len(s) > MaxIDLength {
		return "", invalid("%s is longer than %d bytes", key, MaxIDLength)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return "", invalid("%s must not contain control characters", key)
		}
	}
	return s, nil
}

func optIDList(obj map[string]any, key string) ([]string, error) {
	v, ok := obj[key]
	if !ok || v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, invalid("%s must be an array of strings", key)
	}
	if len(list) > MaxGroups {
		return nil, invalid("%s has more than %d entries", key, MaxGroups)
	}
	out := make([]string, 0, len(list))
	for i, item := range list {
		name := fmt.Sprintf("%s[%d]", key, i) // names the entry in a message
		id, err := optID(map[string]any{name: item}, name)
		if err != nil {
			return nil, err
		}
		if id != "" {
			out = append(out, id)
		}
	}
	return out, nil
}

// decodeProperties validates a properties object, lifts the magic
// properties out and flattens nested objects to dotted keys.
func decodeProperties(v any) (map[string]any, Magic, error) {
	var m Magic
	if v == nil {
		return map[string]any{}, m, nil
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, m, invalid("properties must be an object")
	}
	out := make(map[string]any, len(obj))
	for k, val := range obj {
		if strings.HasPrefix(k, "__") {
			handled, err := m.set(k, val)
			if err != nil {
				return nil, m, err
			}
			if handled {
				continue
			}
		}
		if err := flatten(out, k, val, 1); err != nil {
			return nil, m, err
		}
	}
	return out, m, nil
}

func flatten(out map[string]any, key string, v any, depth int) error {
	if depth > MaxDepth {
		return invalid("properties are nested deeper than %d levels", MaxDepth)
	}
	if key == "" {
		return invalid("property keys must not be empty")
	}
	if len(key) > MaxKeyLength {
		return invalid("property key %q... is longer than %d bytes", clip(key, 40), MaxKeyLength)
	}
	if strings.ContainsRune(key, 0) {
		return invalid("property keys must not contain NUL characters")
	}
	if obj, ok := v.(map[string]any); ok {
		if len(obj) == 0 {
			return put(out, key, map[string]any{})
		}
		for k, child := range obj {
			if err := flatten(out, key+"."+k, child, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := checkValue(v, depth); err != nil {
		return err
	}
	return put(out, key, v)
}

func put(out map[string]any, key string, v any) error {
	if len(out) >= MaxProperties {
		return invalid("more than %d properties", MaxProperties)
	}
	out[key] = v
	return nil
}

// checkValue validates a leaf value (arrays are kept as arrays).
func checkValue(v any, depth int) error {
	if depth > MaxDepth {
		return invalid("properties are nested deeper than %d levels", MaxDepth)
	}
	switch x := v.(type) {
	case string:
		if len(x) > MaxValueLength {
			return invalid("a property value is longer than %d bytes", MaxValueLength)
		}
		if strings.ContainsRune(x, 0) {
			return invalid("property values must not contain NUL characters")
		}
	case []any:
		if len(x) > MaxProperties {
			return invalid("a property array has more than %d items", MaxProperties)
		}
		for _, item := range x {
			if err := checkValue(item, depth+1); err != nil {
				return err
			}
		}
	case map[string]any:
		for k, item := range x {
			if strings.ContainsRune(k, 0) || len(k) > MaxKeyLength {
				return invalid("invalid property key inside an array")
			}
			if err := checkValue(item, depth+1); err != nil {
				return err
			}
		}
	case json.Number:
		return checkNumber(x)
	}
	return nil
}

// Bounds on a property number's literal. PostgreSQL keeps JSON numbers as
// numeric, which refuses more than 16383 digits after the point (1e-16384,
// or 0.000…1 written out): such a number must be a 400 here, not a failed
// batch there.
const (
	maxNumberLength   = 100
	maxNumberExponent = 1000
)

func checkNumber(n json.Number) error {
	s := n.String()
	if len(s) > maxNumberLength {
		return invalid("a property number is longer than %d characters", maxNumberLength)
	}
	if f, err := n.Float64(); err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return invalid("a property number is out of range")
	}
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		exp, err := strconv.Atoi(strings.TrimPrefix(s[i+1:], "+"))
		if err != nil || exp < -maxNumberExponent || exp > maxNumberExponent {
			return invalid("a property number is out of range")
		}
	}
	return nil
}

// set reads one magic property; it reports false for __ keys that are not
// magic (they stay ordinary properties, as __title does).
func (m *Magic) set(key string, v any) (bool, error) {
	str := func(max int) (string, error) {
		s, ok := v.(string)
		if !ok {
			if v == nil {
				return "", nil
			}
			return "", invalid("%s must be a string", key)
		}
		if len(s) > max {
			return "", invalid("%s is longer than %d bytes", key, max)
		}
		if strings.ContainsRune(s, 0) {
			return "", invalid("%s must not contain NUL characters", key)
		}
		return s, nil
	}
	var err error
	switch key {
	case "__path":
		m.Path, err = str(maxStringFieldLen * 4)
	case "__referrer":
		m.Referrer, err = str(maxStringFieldLen * 4)
	case "__deviceId":
		m.DeviceID, err = str(MaxIDLength)
	case "__ip":
		m.IP, err = str(64)
	case "__os":
		m.OS, err = str(64)
	case "__osVersion":
		m.OSVersion, err = str(64)
	case "__browser":
		m.Browser, err = str(64)
	case "__browserVersion":
		m.BrowserVersion, err = str(64)
	case "__device":
		m.Device, err = str(64)
	case "__brand":
		m.Brand, err = str(64)
	case "__model":
		m.Model, err = str(128)
	case "__timestamp":
		var t time.Time
		t, err = parseTimestamp(v)
		if err == nil {
			m.Timestamp = &t
		}
	case "__identify":
		obj, ok := v.(map[string]any)
		if !ok {
			return true, invalid("__identify must be an object with a profileId")
		}
		id, err := decodeIdentify(obj)
		if err != nil {
			return true, err
		}
		m.Identify = id
		return true, nil
	case "__revenue":
		n, ok := v.(json.Number)
		if !ok {
			return true, invalid("__revenue must be a whole number of minor units (cents)")
		}
		r, perr := strconv.ParseInt(n.String(), 10, 64)
		if perr != nil {
			return true, invalid("__revenue must be a whole number of minor units (cents)")
		}
		m.Revenue = &r
	default:
		return false, nil
	}
	return true, err
}

// parseTimestamp accepts ISO 8601 / RFC 3339 strings and epoch milliseconds.
func parseTimestamp(v any) (time.Time, error) {
	switch x := v.(type) {
	case string:
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999"} {
			if t, err := time.Parse(layout, x); err == nil {
				return t.UTC(), nil
			}
		}
		return time.Time{}, invalid("__timestamp %q is not an ISO 8601 time", clip(x, 40))
	case json.Number:
		ms, err := strconv.ParseInt(x.String(), 10, 64)
		if err != nil {
			return time.Time{}, invalid("__timestamp must be an ISO 8601 string or epoch milliseconds")
		}
		// Epoch milliseconds reach ±292 million years; keep the time within
		// what ISO 8601 (and encoding/json) can write. Beyond year 9999 it
		// is the far future, which eventTime replaces with the server's time
		// anyway; before year 1 it is refused as too old.
		t := time.UnixMilli(ms).UTC()
		switch {
		case t.Year() > 9999:
			t = time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC)
		case t.Year() < 1:
			return time.Time{}, invalid("__timestamp %d is more than a year in the past", ms)
		}
		return t, nil
	}
	return time.Time{}, invalid("__timestamp must be an ISO 8601 string or epoch milliseconds")
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// eventTime applies the __timestamp rules: the client's time unless it is
// more than a minute ahead (then ours), refused when older than a year.
func eventTime(ts *time.Time, now time.Time) (time.Time, error) {
	if ts == nil {
		return now, nil
	}
	if ts.After(now.Add(MaxClockSkew)) {
		return now, nil
	}
	if ts.Before(now.Add(-MaxEventAge)) {
		return time.Time{}, invalid("__timestamp %s is more than a year in the past", ts.Format(time.RFC3339))
	}
	return *ts, nil
}
