package ingest_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"tally/app/errs"
	"tally/app/ingest"
)

// fzSeeds are valid bodies of every type and edge cases around the limits;
// testdata/fuzz/FuzzDecodeTrack holds more (and every crasher found so far).
var fzSeeds = []string{
	`{"type":"track","payload":{"name":"signup","profileId":"u1","groups":["acme"],"properties":{"plan":"pro"}}}`,
	`{"type":"track","payload":{"name":"screen_view","properties":{"__path":"https://example.com/a?utm_source=x#h","__referrer":"https://www.google.com/","__title":"A"}}}`,
	`{"type":"track","payload":{"name":"revenue","profileId":42,"properties":{"__revenue":1999,"__timestamp":"2025-01-02T03:04:05.678Z"}}}`,
	`{"type":"track","payload":{"name":"queued","properties":{"__timestamp":1735787045678,"__deviceId":"d1","__ip":"81.2.69.142","__os":"iOS","__osVersion":"17","__browser":"Safari","__browserVersion":"17.1","__device":"mobile","__brand":"Apple","__model":"iPhone"}}}`,
	`{"type":"track","payload":{"name":"nested","properties":{"a":{"b":{"c":[1,"x",{"d":null}]}},"e":{},"f":true,"g":-1.5e3}}}`,
	`{"type":"identify","payload":{"profileId":"u1","firstName":"Ada","lastName":"L","email":"ada@example.com","avatar":"https://example.com/a.png","properties":{"logins":5}}}`,
	`{"type":"increment","payload":{"profileId":"u1","property":"logins","value":1}}`,
	`{"type":"decrement","payload":{"profileId":"u1","property":"credits","value":5}}`,
	`{"type":"increment","payload":{"profileId":7,"property":"logins"}}`,
	`{"type":"alias","payload":{"profileId":"u1","alias":"anon"}}`,
	`{"type":"group","payload":{"id":"acme","type":"company","name":"Acme","properties":{"seats":3,"__path":"/x"}}}`,
	`{"type":"assign_group","payload":{"groupIds":["acme",7],"profileId":"u1"}}`,
	`{"type":"replay","payload":{"chunk":"..."}}`,
	`{"type":"track","clientId":"00000000-0000-4000-8000-000000000000","clientSecret":"sec_00","payload":{"name":"x"}}`,
	// Edge cases.
	``,
	` `,
	`null`,
	`[]`,
	`"track"`,
	`{}`,
	`{"type":"track"}`,
	`{"type":"track","payload":null}`,
	`{"type":"track","payload":{"name":"x"}}}`,
	`{"type":"track","payload":{"name":"x"}} {}`,
	`{"type":"track","payload":{"name":"x"`,
	`{"type":"track","payload":{"name":"session_start"}}`,
	`{"type":"track","payload":{"name":" signup\n"}}`,
	`{"type":"track","payload":{"name":"a\u2028b"}}`,
	`{"type":"track","payload":{"name":"a\u0000b"}}`,
	`{"type":"track","payload":{"name":"x","properties":{"k\u0000":"v"}}}`,
	`{"type":"track","payload":{"name":"x","properties":{"k":["\u0000"]}}}`,
	`{"type":"track","payload":{"name":"x","properties":{"k":[{"\u0000":1}]}}}`,
	`{"type":"track","payload":{"name":"x","properties":{"__timestamp":null,"__revenue":"1"}}}`,
	`{"type":"track","payload":{"name":"x","properties":{"n":1e999}}}`,
	`{"type":"track","payload":{"name":"x","properties":{"n":1e-16384,"m":[0e-99999],"o":{"p":1E+5}}}}`,
	`{"type":"track","payload":{"name":"x","profileId":1.5}}`,
	`{"type":"track","payload":{"name":"x","groups":[{},null,"a"]}}`,
	`{"type":"track","payload":{"name":"x","properties":{"":1}}}`,
	`{"type":"track","payload":{"name":"x","properties":{"a":{"":1}}}}`,
	`{"type":"track","payload":{"name":"x","properties":{"a.b":1,"a":{"b":2}}}}`,
	`{"type":"increment","payload":{"profileId":"u1","property":"p","value":1e16}}`,
	`{"type":"alias","payload":{"profileId":7,"alias":"7"}}`,
	"{\"type\":\"track\",\"payload\":{\"name\":\"a\xffb\"}}",
	"\xef\xbb\xbf{\"type\":\"track\",\"payload\":{\"name\":\"bom\"}}",
	`{"type":"track","payload":{"name":"x","properties":{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":{"j":{"k":1}}}}}}}}}}}}}`,
	`{"type":"track","payload":{"name":"x","properties":{"a":[[[[[[[[[[[1]]]]]]]]]]]}}}`,
}

// fzMagic are the properties DecodeTrack must lift out of Properties.
var fzMagic = map[string]bool{
	"__path": true, "__referrer": true, "__timestamp": true, "__deviceId": true, "__ip": true, "__revenue": true,
	"__os": true, "__osVersion": true, "__browser": true, "__browserVersion": true, "__device": true, "__brand": true, "__model": true,
}

// FuzzDecodeTrack checks DecodeTrack's contract on any input: no panic, and
// either an Invalid error with a message or a body that is safe to store.
func FuzzDecodeTrack(f *testing.F) {
	for _, s := range fzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ingest.DecodeTrack(data)
		if err != nil {
			fzCheckError(t, err)
			if b != nil {
				t.Fatalf("DecodeTrack returned a body and an error")
			}
			return
		}
		if b == nil {
			t.Fatal("DecodeTrack returned neither a body nor an error")
		}
		if !utf8.Valid(data) || !json.Valid(data) {
			t.Fatalf("accepted a body that is not one valid JSON value: %q", data)
		}
		fzCheckBody(t, b)
	})
}

// FuzzDecodeLegacyEvent checks POST /event's decoder the same way.
func FuzzDecodeLegacyEvent(f *testing.F) {
	for _, s := range []string{
		`{"name":"signup","timestamp":"2025-01-02T03:04:05Z","profileId":"u1","properties":{"plan":"pro"}}`,
		`{"name":"signup","timestamp":1735787045678}`,
		`{"name":"signup","timestamp":"x","properties":"oops"}`,
		`{"name":"signup","properties":{"__timestamp":"2025-01-02T03:04:05Z"}}`,
		`{"name":"x","timestamp":null,"properties":null}`,
		`{"name":5}`,
		`[]`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ingest.DecodeLegacyEvent(data)
		if err != nil {
			fzCheckError(t, err)
			return
		}
		if p == nil {
			t.Fatal("DecodeLegacyEvent returned neither a payload nor an error")
		}
		if !utf8.Valid(data) || !json.Valid(data) {
			t.Fatalf("accepted a body that is not one valid JSON value: %q", data)
		}
		fzCheckTrack(t, p)
		fzCheckEncodes(t, p)
	})
}

func fzCheckError(t *testing.T, err error) {
	t.Helper()
	if k := errs.KindOf(err); k != errs.Invalid {
		t.Fatalf("error of kind %q, want invalid: %v", k, err)
	}
	msg := errs.Message(err)
	if strings.TrimSpace(msg) == "" || len(msg) > 512 || !utf8.ValidString(msg) || strings.ContainsRune(msg, 0) {
		t.Fatalf("unclear error message %q", msg)
	}
}

func fzCheckBody(t *testing.T, b *ingest.Body) {
	t.Helper()
	set := 0
	for _, p := range []bool{b.Track != nil, b.Identify != nil, b.Counter != nil, b.Alias != nil, b.Group != nil, b.AssignGroup != nil} {
		if p {
			set++
		}
	}
	if set != 1 {
		t.Fatalf("type %q with %d payloads set, want exactly 1", b.Type, set)
	}
	switch b.Type {
	case ingest.TypeTrack:
		if b.Track == nil {
			t.Fatal("track without its payload")
		}
		fzCheckTrack(t, b.Track)
	case ingest.TypeIdentify:
		p := b.Identify
		if p == nil {
			t.Fatal("identify without its payload")
		}
		fzCheckID(t, "profileId", p.ProfileID, true)
		fzCheckProps(t, p.Properties)
	case ingest.TypeIncrement, ingest.TypeDecrement:
		c := b.Counter
		if c == nil {
			t.Fatalf("%s without its payload", b.Type)
		}
		fzCheckID(t, "profileId", c.ProfileID, true)
		if strings.TrimSpace(c.Property) == "" || len(c.Property) > ingest.MaxKeyLength {
			t.Fatalf("counter property %q", c.Property)
		}
		if c.Value != c.Value || c.Value > 1e15 || c.Value < -1e15 {
			t.Fatalf("counter value %v", c.Value)
		}
	case ingest.TypeAlias:
		a := b.Alias
		if a == nil {
			t.Fatal("alias without its payload")
		}
		fzCheckID(t, "profileId", a.ProfileID, true)
		fzCheckID(t, "alias", a.Alias, true)
		if a.ProfileID == a.Alias {
			t.Fatalf("alias of itself: %q", a.Alias)
		}
	case ingest.TypeGroup:
		g := b.Group
		if g == nil {
			t.Fatal("group without its payload")
		}
		fzCheckID(t, "id", g.ID, true)
		if g.Type == "" || g.Name == "" {
			t.Fatalf("group type %q name %q", g.Type, g.Name)
		}
		fzCheckProps(t, g.Properties)
	case ingest.TypeAssignGroup:
		a := b.AssignGroup
		if a == nil {
			t.Fatal("assign_group without its payload")
		}
		fzCheckID(t, "profileId", a.ProfileID, false)
		if len(a.GroupIDs) == 0 || len(a.GroupIDs) > ingest.MaxGroups {
			t.Fatalf("%d group ids", len(a.GroupIDs))
		}
		for _, id := range a.GroupIDs {
			fzCheckID(t, "groupIds", id, true)
		}
	default:
		t.Fatalf("accepted unknown type %q", b.Type)
	}
	fzCheckEncodes(t, b)
}

func fzCheckTrack(t *testing.T, p *ingest.TrackPayload) {
	t.Helper()
	name := p.Name
	if n := utf8.RuneCountInString(name); n < 1 || n > ingest.MaxNameLength || strings.TrimSpace(name) == "" {
		t.Fatalf("name %q: %d characters", name, n)
	}
	for _, r := range name {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			t.Fatalf("name %q contains control character or newline %U", name, r)
		}
	}
	if n := strings.TrimSpace(name); n == "session_start" || n == "session_end" {
		t.Fatalf("reserved name %q accepted", name)
	}
	fzCheckID(t, "profileId", p.ProfileID, false)
	if len(p.Groups) > ingest.MaxGroups {
		t.Fatalf("%d groups", len(p.Groups))
	}
	for _, g := range p.Groups {
		fzCheckID(t, "groups", g, true)
	}
	fzCheckProps(t, p.Properties)
}

func fzCheckID(t *testing.T, field, id string, required bool) {
	t.Helper()
	if required && id == "" {
		t.Fatalf("%s is empty", field)
	}
	if len(id) > ingest.MaxIDLength {
		t.Fatalf("%s of %d bytes", field, len(id))
	}
	for _, r := range id {
		if unicode.IsControl(r) {
			t.Fatalf("%s %q contains control character %U", field, id, r)
		}
	}
}

func fzCheckProps(t *testing.T, props map[string]any) {
	t.Helper()
	if props == nil {
		t.Fatal("properties are nil, want an empty map")
	}
	if len(props) > ingest.MaxProperties {
		t.Fatalf("%d properties", len(props))
	}
	for k := range props {
		if k == "" || len(k) > ingest.MaxKeyLength {
			t.Fatalf("property key %q of %d bytes", k, len(k))
		}
		if fzMagic[k] {
			t.Fatalf("magic property %q left in properties", k)
		}
		fzCheckNumbers(t, props[k])
	}
}

// fzCheckNumbers checks that every number fits PostgreSQL's numeric, which
// jsonb stores numbers as: at most 16383 digits after the point, and (well
// within) 131072 before it.
func fzCheckNumbers(t *testing.T, v any) {
	t.Helper()
	switch x := v.(type) {
	case json.Number:
		s := strings.TrimLeft(x.String(), "-")
		mant, exp := s, 0
		if i := strings.IndexAny(s, "eE"); i >= 0 {
			mant = s[:i]
			e, err := strconv.Atoi(s[i+1:])
			if err != nil {
				t.Fatalf("number %q has an exponent out of int range", x)
			}
			exp = e
		}
		intPart, frac, _ := strings.Cut(mant, ".")
		if scale := len(frac) - exp; scale > 16383 {
			t.Fatalf("number %q has %d digits after the point: PostgreSQL refuses it", x, scale)
		}
		if weight := len(intPart) + exp; weight > 131072 {
			t.Fatalf("number %q has %d digits before the point: PostgreSQL refuses it", x, weight)
		}
	case []any:
		for _, item := range x {
			fzCheckNumbers(t, item)
		}
	case map[string]any:
		for _, item := range x {
			fzCheckNumbers(t, item)
		}
	}
}

// fzCheckEncodes re-encodes v as the server does before storing it: no
// error, and no NUL anywhere (PostgreSQL text and jsonb reject it).
func fzCheckEncodes(t *testing.T, v any) {
	t.Helper()
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("re-encoding failed: %v", err)
	}
	if strings.ContainsRune(string(out), 0) {
		t.Fatal("re-encoded body contains a NUL byte")
	}
	var back any
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatalf("re-encoded body does not decode: %v", err)
	}
	fzNoNUL(t, back)
}

func fzNoNUL(t *testing.T, v any) {
	t.Helper()
	switch x := v.(type) {
	case string:
		if strings.ContainsRune(x, 0) {
			t.Fatalf("string %q contains NUL", x)
		}
	case []any:
		for _, item := range x {
			fzNoNUL(t, item)
		}
	case map[string]any:
		for k, item := range x {
			if strings.ContainsRune(k, 0) {
				t.Fatalf("key %q contains NUL", k)
			}
			fzNoNUL(t, item)
		}
	}
}
