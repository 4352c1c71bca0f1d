package ingest

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// appendRows must say what encoding/json says of the same rows, for every
// field and for hostile strings: quotes, backslashes, control characters,
// NUL, invalid UTF-8, line separators, non-ASCII.
func TestAppendRows(t *testing.T) {
	f := func(x float64) *float64 { return &x }
	n := func(x int64) *int64 { return &x }
	nasty := []string{"", "plain", `q"uote`, `back\slash`, "tab\tnew\nline\rcr", "nul\x00byte", "\x01\x1f\x7f",
		"bad\xffutf8\xc3", "line\u2028sep\u2029", "é中文🎉", "</script>&amp;", `\u0041`}
	rows := []Row{
		{Ord: 1, ID: uuid.New(), ProjectID: "p", Name: "screen_view", DeviceID: "d", CreatedAt: time.Now(), OpensSession: true},
		{Ord: 2, ID: uuid.New(), ProjectID: "p", Name: "buy", DeviceID: "d", PrevDeviceID: "old", ProfileID: "u1",
			CreatedAt: time.Date(2026, 3, 29, 1, 30, 0, 123456789, time.FixedZone("x", 5*3600+1800)), DedupKey: "abcdef",
			Path: "/a", Origin: "https://x.test", Query: "?q=1", Hash: "#h", Referrer: "https://r.test/", ReferrerName: "R",
			ReferrerType: "search", UTMSource: "s", UTMMedium: "m", UTMCampaign: "c", UTMTerm: "t", UTMContent: "ct",
			Country: "DE", Region: "BE", City: "Berlin", Latitude: f(52.52), Longitude: f(-13.4050000001),
			OS: "Linux", OSVersion: "6", Browser: "Firefox", BrowserVersion: "127.0", Device: "desktop", Brand: "b", Model: "m",
			Duration: n(0), Revenue: n(-42), Groups: []string{"g1", `g"2`}, SDKName: "web", SDKVersion: "1.0",
			Properties: json.RawMessage(`{"a":[1,2,{"b":null}],"c":"\u00e9"}`), SkipProfile: true},
		{Ord: 3, ID: uuid.New(), CreatedAt: time.Unix(0, 0).UTC(), Latitude: f(0), Longitude: f(1e-7), Groups: []string{}},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		s := func() string {
			if rng.IntN(3) == 0 {
				return nasty[rng.IntN(len(nasty))]
			}
			b := make([]byte, rng.IntN(12))
			for j := range b {
				b[j] = byte(rng.IntN(256))
			}
			return string(b)
		}
		rows = append(rows, Row{Ord: 4 + i, ID: uuid.New(), ProjectID: s(), Name: s(), DeviceID: s(), ProfileID: s(),
			CreatedAt: time.Unix(rng.Int64N(4e9), rng.Int64N(1e9)), Path: s(), Referrer: s(), City: s(),
			Model: s(), Groups: []string{s(), s()}, SDKVersion: s(), Latitude: f(rng.NormFloat64() * 1e3)})
	}
	want, err := json.Marshal(rows)
	if err != nil {
		t.Fatal(err)
	}
	got := appendRows(nil, rows)
	var g, w []map[string]any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("appendRows wrote invalid JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	for i := range w {
		if !reflect.DeepEqual(g[i], w[i]) {
			t.Fatalf("row %d differs from encoding/json:\n got %v\nwant %v", i, g[i], w[i])
		}
	}
	if len(g) != len(w) {
		t.Fatalf("%d rows, want %d", len(g), len(w))
	}
}

// BenchmarkEncodeBatch compares appendRows with encoding/json on a batch of
// 16 typical browser events: go test ./app/ingest -run '^$' -bench EncodeBatch
func BenchmarkEncodeBatch(b *testing.B) {
	rows := make([]Row, 16)
	for i := range rows {
		rows[i] = Row{Ord: i + 1, ID: uuid.New(), ProjectID: "acme-1a2b3c4d", Name: "screen_view",
			DeviceID: "3f1c0e6a9b8d7c6e5f4a3b2c1d0e9f8a", CreatedAt: time.Now(), OpensSession: true,
			DedupKey: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b", Path: "/docs/getting-started", Origin: "https://example.com",
			Referrer: "https://www.google.com/", ReferrerName: "Google", ReferrerType: "search", Country: "DE",
			OS: "Windows", OSVersion: "10", Browser: "Chrome", BrowserVersion: "126.0.0.0", Device: "desktop",
			SDKName: "web", SDKVersion: "1.4.1", Properties: json.RawMessage(`{"__title":"Getting started","bench_run":"ab12"}`)}
	}
	b.Run("appendRows", func(b *testing.B) {
		var buf []byte
		for range b.N {
			buf = appendRows(buf[:0], rows)
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		for range b.N {
			if _, err := json.Marshal(rows); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// A coordinate JSON cannot say is left out (NULL) rather than breaking the
// batch's JSON.
func TestAppendRowsNonFiniteCoordinates(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(-1)
	out := appendRows(nil, []Row{{Ord: 1, ID: uuid.New(), CreatedAt: time.Now(), Latitude: &nan, Longitude: &inf}})
	var rows []map[string]any
	if err := json.Unmarshal(out, &rows); err != nil {
		t.Fatalf("invalid JSON: %v\n%s", err, out)
	}
	if _, ok := rows[0]["latitude"]; ok {
		t.Fatalf("NaN latitude written: %s", out)
	}
	if _, ok := rows[0]["longitude"]; ok {
		t.Fatalf("infinite longitude written: %s", out)
	}
}

// An answer is written byte for byte as encoding/json's Encoder wrote it.
func TestAnswerJSONMatchesEncodingJSON(t *testing.T) {
	for _, a := range []Answer{{}, {DeviceID: "0123456789abcdef0123456789abcdef", SessionID: uuid.NewString()},
		{DeviceID: "d"}, {DeviceID: `q"<>&` + "\u2028\x01", SessionID: "é"}} {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(a); err != nil {
			t.Fatal(err)
		}
		got := a.appendJSON(nil)
		var g, w Answer
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("%+v: invalid JSON %q: %v", a, got, err)
		}
		_ = json.Unmarshal(want.Bytes(), &w)
		if g != w || got[len(got)-1] != '\n' {
			t.Fatalf("%+v: wrote %q, encoding/json %q", a, got, want.Bytes())
		}
		if strings.ContainsAny(a.DeviceID+a.SessionID, "\"<>&\u2028\x01") {
			continue // escaped differently, equal once decoded (checked above)
		}
		if !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("%+v: wrote %q, encoding/json %q", a, got, want.Bytes())
		}
	}
}
