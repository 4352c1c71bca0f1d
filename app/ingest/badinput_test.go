package ingest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"tally/app/apptest"
)

// badCase is one hostile or broken request and the answer it must get.
type badCase struct {
	name    string
	method  string // POST when empty
	path    string // /track when empty
	body    []byte
	headers map[string]string
	status  int
	msg     string // substring of the JSON message (400/404/413) or of the body (other statuses)
	check   func(t *testing.T, res apptest.Response)
}

var badDeviceRe = regexp.MustCompile(`^[0-9a-f]{32}$`)

// badDelete as a header value removes the header.
const badDelete = "\x00delete"

func badMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func badOf(typ string, payload any) []byte {
	return badMarshal(map[string]any{"type": typ, "payload": payload})
}

func badTrack(payload map[string]any) []byte { return badOf("track", payload) }

func badProps(props map[string]any) []byte {
	return badTrack(map[string]any{"name": "bad_props", "properties": props})
}

// badNest wraps a leaf in levels objects.
func badNest(levels int) any {
	var v any = "leaf"
	for range levels {
		v = map[string]any{"n": v}
	}
	return v
}

func badManyKeys(n int) map[string]any {
	m := make(map[string]any, n)
	for i := range n {
		m[fmt.Sprintf("k%d", i)] = i
	}
	return m
}

// TestBadInputIsRefusedClearly sends broken and hostile requests to the real
// server: each gets the exact status the protocol asks for and a message
// that says what is wrong; none is a 5xx, none is stored, and the server
// stays healthy.
func TestBadInputIsRefusedClearly(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t)
	ctx := context.Background()

	// Clients authentication must refuse: a read client, a revoked one, and
	// one without a project.
	readID, revokedID, orphanID := uuid.NewString(), uuid.NewString(), uuid.NewString()
	for _, q := range []struct {
		sql string
		id  string
	}{
		{`INSERT INTO clients (id, organization_id, project_id, name, type) VALUES ($1, $2, $3, 'reader', 'read')`, readID},
		{`INSERT INTO clients (id, organization_id, project_id, name, type, revoked_at) VALUES ($1, $2, $3, 'old', 'write', now())`, revokedID},
		{`INSERT INTO clients (id, organization_id, project_id, name, type) VALUES ($1, $2, NULLIF($3, $3), 'org', 'root')`, orphanID},
	} {
		if _, err := env.Pool.Exec(ctx, q.sql, q.id, env.Project.OrganizationID, env.Project.ProjectID); err != nil {
			t.Fatal(err)
		}
	}
	// A profile with a non-numeric property, for the increment case.
	if res := env.Track(t, map[string]any{"type": "identify", "payload": map[string]any{"profileId": "u-text", "properties": map[string]any{"plan": "pro"}}}, env.ServerHeaders()); res.Status != 200 {
		t.Fatalf("identify: %d %s", res.Status, res.Body)
	}

	with := func(h map[string]string, kv ...string) map[string]string {
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == badDelete {
				delete(h, kv[i])
			} else {
				h[kv[i]] = kv[i+1]
			}
		}
		return h
	}
	browser := func(kv ...string) map[string]string { return with(env.BrowserHeaders("81.2.69.200"), kv...) }
	server := func(kv ...string) map[string]string { return with(env.ServerHeaders(), kv...) }
	ok := func(name string) []byte { return badTrack(map[string]any{"name": name}) }
	valid := ok("bad_auth") // a valid body, refused for who sends it

	now := time.Now()
	futureName := "ok_future_timestamp"
	storedAtServerTime := func(name string) func(t *testing.T, res apptest.Response) {
		return func(t *testing.T, res apptest.Response) {
			var created time.Time
			if err := env.Pool.QueryRow(ctx, `SELECT created_at FROM events WHERE name = $1`, name).Scan(&created); err != nil {
				t.Fatalf("event %s not stored: %v", name, err)
			}
			if d := created.Sub(now); d < -5*time.Second || d > 2*time.Minute {
				t.Fatalf("created_at %s, want the server's time (about %s)", created, now)
			}
		}
	}
	okBody := func(name string, props map[string]any) []byte {
		return badTrack(map[string]any{"name": name, "properties": props})
	}
	deepJSON := `{"type":"track","payload":{"name":"bad_deep","properties":{"a":` +
		strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}}}`

	cases := []badCase{
		// Not JSON, or not one JSON object.
		{name: "malformed JSON", body: []byte(`{type:"track",payload:{}}`), headers: browser(), status: 400, msg: "body is not valid JSON: invalid character"},
		{name: "single quotes", body: []byte(`{'type':'track'}`), headers: browser(), status: 400, msg: "body is not valid JSON"},
		{name: "truncated JSON", body: []byte(`{"type":"track","payload":{"name":"bad_truncated"`), headers: browser(), status: 400, msg: "truncated"},
		{name: "truncated inside a string", body: []byte(`{"type":"track","payload":{"name":"bad_trunc`), headers: browser(), status: 400, msg: "truncated"},
		{name: "empty body", body: nil, headers: browser(), status: 400, msg: "body is empty"},
		{name: "white space body", body: []byte(" \r\n\t "), headers: browser(), status: 400, msg: "body is empty"},
		{name: "JSON array", body: []byte(`[{"type":"track","payload":{"name":"bad_array"}}]`), headers: browser(), status: 400, msg: "body must be a JSON object"},
		{name: "JSON string", body: []byte(`"track"`), headers: browser(), status: 400, msg: "body must be a JSON object"},
		{name: "JSON number", body: []byte(`42`), headers: browser(), status: 400, msg: "body must be a JSON object"},
		{name: "JSON null", body: []byte(`null`), headers: browser(), status: 400, msg: "body must be a JSON object"},
		{name: "trailing garbage", body: []byte(`{"type":"track","payload":{"name":"bad_trailing"}} garbage`), headers: browser(), status: 400, msg: "data after the JSON value"},
		{name: "two objects", body: []byte(`{"type":"track","payload":{"name":"bad_two"}}{"type":"track","payload":{"name":"bad_two"}}`), headers: browser(), status: 400, msg: "data after the JSON value"},
		{name: "trailing closing brace", body: []byte(`{"type":"track","payload":{"name":"bad_brace"}}}`), headers: browser(), status: 400, msg: "data after the JSON value"},
		{name: "trailing closing bracket", body: []byte(`{"type":"track","payload":{"name":"bad_bracket"}}]`), headers: browser(), status: 400, msg: "data after the JSON value"},
		{name: "invalid UTF-8", body: []byte("{\"type\":\"track\",\"payload\":{\"name\":\"bad_\xff\xfe\"}}"), headers: browser(), status: 400, msg: "not valid UTF-8"},
		{name: "raw NUL in a string", body: []byte("{\"type\":\"track\",\"payload\":{\"name\":\"bad_\x00nul\"}}"), headers: browser(), status: 400, msg: "body is not valid JSON"},
		{name: "raw NUL after the object", body: []byte("{\"type\":\"track\",\"payload\":{\"name\":\"bad_nul_after\"}}\x00"), headers: browser(), status: 400, msg: "data after the JSON value"},
		{name: "byte order mark", body: []byte("\xef\xbb\xbf{\"type\":\"track\",\"payload\":{\"name\":\"bad_bom\"}}"), headers: browser(), status: 400, msg: "body is not valid JSON"},
		{name: "JSON nested beyond the parser's limit", body: []byte(deepJSON), headers: browser(), status: 400, msg: "exceeded max depth"},

		// Wrong types.
		{name: "type is a number", body: []byte(`{"type":1,"payload":{"name":"bad_type"}}`), headers: browser(), status: 400, msg: "type must be a string"},
		{name: "type missing", body: []byte(`{"payload":{"name":"bad_type"}}`), headers: browser(), status: 400, msg: "type is required"},
		{name: "payload is a string", body: badOf("track", "bad_payload"), headers: browser(), status: 400, msg: "payload must be an object"},
		{name: "payload is an array", body: badOf("track", []any{"bad_payload"}), headers: browser(), status: 400, msg: "payload must be an object"},
		{name: "payload missing", body: []byte(`{"type":"track"}`), headers: browser(), status: 400, msg: "payload is required"},
		{name: "payload null", body: []byte(`{"type":"track","payload":null}`), headers: browser(), status: 400, msg: "payload is required"},
		{name: "name is a number", body: badTrack(map[string]any{"name": 7}), headers: browser(), status: 400, msg: "name is required and must be a string"},
		{name: "name missing", body: badTrack(map[string]any{"properties": map[string]any{}}), headers: browser(), status: 400, msg: "name is required and must be a string"},
		{name: "name empty", body: ok(""), headers: browser(), status: 400, msg: "name must not be empty"},
		{name: "name only spaces", body: ok("   "), headers: browser(), status: 400, msg: "name must not be empty"},
		{name: "profileId is an object", body: badTrack(map[string]any{"name": "bad_pid", "profileId": map[string]any{"id": 1}}), headers: browser(), status: 400, msg: "profileId must be a string or a number"},
		{name: "profileId is a boolean", body: badTrack(map[string]any{"name": "bad_pid", "profileId": true}), headers: browser(), status: 400, msg: "profileId must be a string or a number"},
		{name: "profileId is a fraction", body: []byte(`{"type":"track","payload":{"name":"bad_pid","profileId":1.5}}`), headers: browser(), status: 400, msg: "profileId must be a string or a whole number"},
		{name: "profileId too long", body: badTrack(map[string]any{"name": "bad_pid", "profileId": strings.Repeat("p", 257)}), headers: browser(), status: 400, msg: "profileId is longer than 256 bytes"},
		{name: "properties is an array", body: badTrack(map[string]any{"name": "bad_props", "properties": []any{1}}), headers: browser(), status: 400, msg: "properties must be an object"},
		{name: "properties is a string", body: badTrack(map[string]any{"name": "bad_props", "properties": "plan=pro"}), headers: browser(), status: 400, msg: "properties must be an object"},
		{name: "groups is a string", body: badTrack(map[string]any{"name": "bad_groups", "groups": "acme"}), headers: browser(), status: 400, msg: "groups must be an array of strings"},
		{name: "groups entry is an object", body: badTrack(map[string]any{"name": "bad_groups", "groups": []any{"acme", map[string]any{}}}), headers: browser(), status: 400, msg: "groups[1] must be a string or a number"},
		{name: "too many groups", body: badTrack(map[string]any{"name": "bad_groups", "groups": strings.Split(strings.Repeat("g,", 50)+"g", ",")}), headers: browser(), status: 400, msg: "groups has more than 50 entries"},
		{name: "clientId in body is a number", body: []byte(`{"type":"track","clientId":5,"payload":{"name":"bad_client"}}`), headers: browser(), status: 400, msg: "clientId must be a string"},
		{name: "increment value is a string", body: badOf("increment", map[string]any{"profileId": "u-text", "property": "logins", "value": "1"}), headers: server(), status: 400, msg: "value must be a number"},
		{name: "increment value is a boolean", body: badOf("increment", map[string]any{"profileId": "u-text", "property": "logins", "value": true}), headers: server(), status: 400, msg: "value must be a number"},
		{name: "increment value too large", body: []byte(`{"type":"increment","payload":{"profileId":"u-text","property":"logins","value":1e16}}`), headers: server(), status: 400, msg: "value must be a finite number below 1e15"},
		{name: "__timestamp is a boolean", body: badProps(map[string]any{"__timestamp": true}), headers: browser(), status: 400, msg: "__timestamp must be an ISO 8601 string or epoch milliseconds"},
		{name: "__timestamp is fractional milliseconds", body: []byte(`{"type":"track","payload":{"name":"bad_ts","properties":{"__timestamp":1.5e12}}}`), headers: browser(), status: 400, msg: "__timestamp must be an ISO 8601 string or epoch milliseconds"},
		{name: "__revenue is a string", body: badTrack(map[string]any{"name": "revenue", "properties": map[string]any{"__revenue": "12.50"}}), headers: server(), status: 400, msg: "__revenue must be a whole number of minor units"},
		{name: "__revenue is a fraction", body: []byte(`{"type":"track","payload":{"name":"revenue","properties":{"__revenue":12.5}}}`), headers: server(), status: 400, msg: "__revenue must be a whole number of minor units"},
		{name: "__path is a number", body: badProps(map[string]any{"__path": 5}), headers: browser(), status: 400, msg: "__path must be a string"},

		// Limits.
		{name: "body over 1 MiB", body: badProps(map[string]any{"blob": strings.Repeat("x", 1<<20)}), headers: browser(), status: 413, msg: "body is larger than 1 MiB"},
		{name: "properties nested 12 levels", body: badProps(map[string]any{"root": badNest(11)}), headers: browser(), status: 400, msg: "nested deeper than 10 levels"},
		{name: "arrays nested 12 levels", body: []byte(`{"type":"track","payload":{"name":"bad_deep","properties":{"a":[[[[[[[[[[[[1]]]]]]]]]]]]}}}`), headers: browser(), status: 400, msg: "nested deeper than 10 levels"},
		{name: "501 properties", body: badProps(badManyKeys(501)), headers: browser(), status: 400, msg: "more than 500 properties"},
		{name: "501 properties after flattening", body: badProps(map[string]any{"o": badManyKeys(501)}), headers: browser(), status: 400, msg: "more than 500 properties"},
		{name: "property array of 501 items", body: badProps(map[string]any{"list": make([]int, 501)}), headers: browser(), status: 400, msg: "a property array has more than 500 items"},
		{name: "property key of 201 bytes", body: badProps(map[string]any{strings.Repeat("k", 201): 1}), headers: browser(), status: 400, msg: "is longer than 200 bytes"},
		{name: "nested key over 200 bytes", body: badProps(map[string]any{strings.Repeat("k", 150): map[string]any{strings.Repeat("j", 60): 1}}), headers: browser(), status: 400, msg: "is longer than 200 bytes"},
		{name: "property value over 16 KiB", body: badProps(map[string]any{"v": strings.Repeat("v", 16<<10+1)}), headers: browser(), status: 400, msg: "a property value is longer than 16384 bytes"},
		{name: "empty property key", body: badProps(map[string]any{"": 1}), headers: browser(), status: 400, msg: "property keys must not be empty"},
		{name: "property number out of range", body: []byte(`{"type":"track","payload":{"name":"bad_num","properties":{"n":1e999}}}`), headers: browser(), status: 400, msg: "a property number is out of range"},
		{name: "property number with a huge negative exponent", body: []byte(`{"type":"track","payload":{"name":"bad_num","properties":{"n":1e-16384}}}`), headers: browser(), status: 400, msg: "a property number is out of range"},
		{name: "property zero with a huge exponent", body: []byte(`{"type":"track","payload":{"name":"bad_num","properties":{"a":[0e-99999]}}}`), headers: browser(), status: 400, msg: "a property number is out of range"},
		{name: "property number with 20000 decimals", body: []byte(`{"type":"track","payload":{"name":"bad_num","properties":{"n":0.` + strings.Repeat("0", 20000) + `1}}}`), headers: browser(), status: 400, msg: "a property number is longer than 100 characters"},
		{name: "identify property number with a huge negative exponent", body: []byte(`{"type":"identify","payload":{"profileId":"u1","properties":{"n":1e-16384}}}`), headers: server(), status: 400, msg: "a property number is out of range"},
		{name: "group property number with a huge negative exponent", body: []byte(`{"type":"group","payload":{"id":"acme","type":"company","name":"Acme","properties":{"n":1e-16384}}}`), headers: server(), status: 400, msg: "a property number is out of range"},
		{name: "name of 81 characters", body: ok(strings.Repeat("n", 81)), headers: browser(), status: 400, msg: "name is longer than 80 characters"},
		{name: "name of 81 multibyte characters", body: ok(strings.Repeat("é", 81)), headers: browser(), status: 400, msg: "name is longer than 80 characters"},
		{name: "email over 2048 bytes", body: badOf("identify", map[string]any{"profileId": "u1", "email": strings.Repeat("a", 2049) + "@example.com"}), headers: server(), status: 400, msg: "email is longer than 2048 bytes"},

		// Names, NUL and control characters.
		{name: "name with a newline", body: ok("sign\nup"), headers: browser(), status: 400, msg: "name must not contain control characters or newlines"},
		{name: "name with a trailing newline", body: ok("bad_signup\n"), headers: browser(), status: 400, msg: "name must not contain control characters or newlines"},
		{name: "name with a leading carriage return", body: ok("\rbad_signup"), headers: browser(), status: 400, msg: "name must not contain control characters or newlines"},
		{name: "name with a line separator", body: ok("bad\u2028signup"), headers: browser(), status: 400, msg: "name must not contain control characters or newlines"},
		{name: "name with an escaped NUL", body: ok("bad\x00signup"), headers: browser(), status: 400, msg: "name must not contain control characters or newlines"},
		{name: "property key with an escaped NUL", body: badProps(map[string]any{"k\x00": 1}), headers: browser(), status: 400, msg: "property keys must not contain NUL characters"},
		{name: "nested key with an escaped NUL", body: badProps(map[string]any{"o": map[string]any{"\x00": 1}}), headers: browser(), status: 400, msg: "property keys must not contain NUL characters"},
		{name: "key inside an array with an escaped NUL", body: badProps(map[string]any{"a": []any{map[string]any{"\x00": 1}}}), headers: browser(), status: 400, msg: "invalid property key inside an array"},
		{name: "property value with an escaped NUL", body: badProps(map[string]any{"v": "a\x00b"}), headers: browser(), status: 400, msg: "property values must not contain NUL characters"},
		{name: "array item with an escaped NUL", body: badProps(map[string]any{"v": []any{"ok", "a\x00b"}}), headers: browser(), status: 400, msg: "property values must not contain NUL characters"},
		{name: "profileId with an escaped NUL", body: badTrack(map[string]any{"name": "bad_pid", "profileId": "u\x00"}), headers: browser(), status: 400, msg: "profileId must not contain control characters"},
		{name: "__path with an escaped NUL", body: badProps(map[string]any{"__path": "https://example.com/\x00"}), headers: browser(), status: 400, msg: "__path must not contain NUL characters"},
		{name: "firstName with an escaped NUL", body: badOf("identify", map[string]any{"profileId": "u1", "firstName": "A\x00"}), headers: server(), status: 400, msg: "firstName must not contain NUL characters"},

		// Types and reserved names.
		{name: "unknown type", body: badOf("pageview", map[string]any{"name": "bad_type"}), headers: browser(), status: 400, msg: `unknown type "pageview"`},
		{name: "type replay", body: badOf("replay", map[string]any{"chunk": "..."}), headers: browser(), status: 400, msg: "session replay is not supported"},
		{name: "reserved session_start", body: ok("session_start"), headers: browser(), status: 400, msg: "session_start is reserved for the server"},
		{name: "reserved session_end", body: ok("session_end"), headers: server(), status: 400, msg: "session_end is reserved for the server"},
		{name: "reserved name padded with spaces", body: ok(" session_start "), headers: browser(), status: 400, msg: "session_start is reserved for the server"},
		{name: "identify without profileId", body: badOf("identify", map[string]any{"email": "ada@example.com"}), headers: server(), status: 400, msg: "profileId is required"},
		{name: "identify with an invalid email", body: badOf("identify", map[string]any{"profileId": "u1", "email": "ada at example"}), headers: server(), status: 400, msg: "is not a valid address"},
		{name: "identify with a javascript avatar", body: badOf("identify", map[string]any{"profileId": "u1", "avatar": "javascript:alert(1)"}), headers: server(), status: 400, msg: "avatar must be an http(s) URL"},
		{name: "identify with a data avatar", body: badOf("identify", map[string]any{"profileId": "u1", "avatar": "data:image/png;base64,AAAA"}), headers: server(), status: 400, msg: "avatar must be an http(s) URL"},
		{name: "increment of an unknown profile", body: badOf("increment", map[string]any{"profileId": "nobody", "property": "logins"}), headers: server(), status: 404, msg: "profile not found"},
		{name: "increment of a text property", body: badOf("increment", map[string]any{"profileId": "u-text", "property": "plan"}), headers: server(), status: 400, msg: `property "plan" is not a number`},
		{name: "increment without property", body: badOf("increment", map[string]any{"profileId": "u-text"}), headers: server(), status: 400, msg: "property is required"},
		{name: "alias onto itself", body: badOf("alias", map[string]any{"profileId": "u1", "alias": "u1"}), headers: server(), status: 400, msg: "a profile cannot be an alias of itself"},
		{name: "alias onto itself as number and string", body: badOf("alias", map[string]any{"profileId": 7, "alias": " 7 "}), headers: server(), status: 400, msg: "a profile cannot be an alias of itself"},
		{name: "alias without alias", body: badOf("alias", map[string]any{"profileId": "u1"}), headers: server(), status: 400, msg: "alias needs profileId and alias"},
		{name: "group without a name", body: badOf("group", map[string]any{"id": "acme", "type": "company"}), headers: server(), status: 400, msg: "a group needs a type and a name"},
		{name: "group without an id", body: badOf("group", map[string]any{"type": "company", "name": "Acme"}), headers: server(), status: 400, msg: "id is required"},
		{name: "assign_group without groups", body: badOf("assign_group", map[string]any{"profileId": "u1", "groupIds": []any{}}), headers: server(), status: 400, msg: "groupIds must list at least one group"},

		// Revenue.
		{name: "__revenue on another event", body: badTrack(map[string]any{"name": "bad_purchase", "properties": map[string]any{"__revenue": 1999}}), headers: server(), status: 400, msg: "__revenue is only accepted on events named revenue"},
		{name: "__revenue from the browser", body: badTrack(map[string]any{"name": "revenue", "properties": map[string]any{"__revenue": 1999}}), headers: browser(), status: 400, msg: "revenue from the browser is disabled"},

		// Timestamps.
		{name: "__timestamp in the future is replaced", body: okBody(futureName, map[string]any{"__timestamp": now.Add(365 * 24 * time.Hour).UTC().Format(time.RFC3339Nano)}), headers: browser(), status: 200, check: storedAtServerTime(futureName)},
		{name: "__timestamp at the end of int64 milliseconds", body: []byte(`{"type":"track","payload":{"name":"ok_future_epoch","properties":{"__timestamp":9223372036854775807}}}`), headers: server(), status: 200, check: storedAtServerTime("ok_future_epoch")},
		{name: "__timestamp over a year old", body: badProps(map[string]any{"__timestamp": "2001-01-01T00:00:00Z"}), headers: browser(), status: 400, msg: "more than a year in the past"},
		{name: "__timestamp of epoch 0", body: badProps(map[string]any{"__timestamp": 0}), headers: server(), status: 400, msg: "more than a year in the past"},
		{name: "__timestamp at the start of int64 milliseconds", body: []byte(`{"type":"track","payload":{"name":"bad_ts","properties":{"__timestamp":-9223372036854775808}}}`), headers: server(), status: 400, msg: "more than a year in the past"},
		{name: "__timestamp of year 1", body: badProps(map[string]any{"__timestamp": "0001-01-01T00:00:00Z"}), headers: server(), status: 400, msg: "more than a year in the past"},
		{name: "__timestamp unparseable", body: badProps(map[string]any{"__timestamp": "yesterday"}), headers: browser(), status: 400, msg: `__timestamp "yesterday" is not an ISO 8601 time`},
		{name: "__timestamp with a 25 hour offset", body: badProps(map[string]any{"__timestamp": "2025-01-01T00:00:00+25:00"}), headers: browser(), status: 400, msg: "is not an ISO 8601 time"},

		// Authentication: 401 with a plain-text reason.
		{name: "malformed client id", body: valid, headers: browser("openpanel-client-id", "not-a-uuid"), status: 401, msg: "invalid client id"},
		{name: "unknown client id", body: valid, headers: browser("openpanel-client-id", "00000000-0000-4000-8000-000000000000"), status: 401, msg: "unknown client id"},
		{name: "missing client id", body: valid, headers: browser("openpanel-client-id", badDelete), status: 401, msg: "missing client id"},
		{name: "malformed client id in the body", body: []byte(`{"type":"track","clientId":"../../etc/passwd","payload":{"name":"bad_auth"}}`), headers: browser("openpanel-client-id", badDelete), status: 401, msg: "invalid client id"},
		{name: "wrong secret", body: valid, headers: server("openpanel-client-secret", "sec_00000000000000000000"), status: 401, msg: "wrong client secret"},
		{name: "wrong secret in the body", body: []byte(`{"type":"track","clientSecret":"sec_wrong","payload":{"name":"bad_auth"}}`), headers: server("openpanel-client-secret", badDelete), status: 401, msg: "wrong client secret"},
		{name: "read client", body: valid, headers: browser("openpanel-client-id", readID), status: 401, msg: "a read client cannot send events"},
		{name: "revoked client", body: valid, headers: browser("openpanel-client-id", revokedID), status: 401, msg: "client has been revoked"},
		{name: "client without a project", body: valid, headers: browser("openpanel-client-id", orphanID), status: 401, msg: "client has no project"},
		{name: "disallowed origin", body: valid, headers: browser("Origin", "https://evil.test"), status: 401, msg: "origin not allowed"},
		{name: "origin null", body: valid, headers: browser("Origin", "null"), status: 401, msg: "origin not allowed"},
		{name: "origin of 10 KB", body: valid, headers: browser("Origin", "https://"+strings.Repeat("a", 10<<10)+".com"), status: 401, msg: "origin not allowed"},
		{name: "no origin and no secret", body: valid, headers: browser("Origin", badDelete), status: 401, msg: "a client secret (server-side) or an allowed Origin (browser) is required"},

		// Hostile headers: ignored, the event is stored.
		{name: "User-Agent of 60 KB", body: ok("ok_long_user_agent"), headers: browser("User-Agent", "Mozilla/5.0 "+strings.Repeat("A", 60<<10)), status: 200},
		{name: "headers over 64 KiB", body: valid, headers: browser("X-Junk", strings.Repeat("j", 80<<10)), status: 431, msg: "Request Header Fields Too Large"},
		{name: "garbage X-Forwarded-For", body: ok("ok_garbage_xff"), headers: browser("X-Forwarded-For", "not-an-ip, , [::1, 999.999.1.1, ::ffff:, "+strings.Repeat("1.2.3.4.,", 2000)), status: 200},
		{name: "garbage Forwarded", body: ok("ok_garbage_forwarded"), headers: browser("X-Forwarded-For", badDelete, "Forwarded", `for="[2001:db8::1;for=;;;,,,for="_hidden", for=unknown;by=`+strings.Repeat(";", 5000)), status: 200},
		{name: "garbage openpanel-client-ip", body: ok("ok_garbage_client_ip"), headers: server("openpanel-client-ip", "\xff\xfe%00 1.1.1.1.1 <script>"), status: 200},
		{name: "garbage SDK name and version", body: ok("ok_garbage_sdk"), headers: browser("openpanel-sdk-name", strings.Repeat("\xff\xfe", 5000), "openpanel-sdk-version", strings.Repeat("é", 5000)), status: 200},
		{name: "NUL escape in a UTM value", body: okBody("ok_utm_nul", map[string]any{"__path": "https://example.com/?utm_source=%00news%00&utm_medium=%0A"}), headers: browser(), status: 200},

		// Legacy endpoints.
		{name: "legacy /event with a numeric name", path: "/event", body: []byte(`{"name":7,"timestamp":"2025-01-01T00:00:00Z"}`), headers: browser(), status: 400, msg: "name is required and must be a string"},
		{name: "legacy /event with string properties", path: "/event", body: []byte(`{"name":"bad_legacy","timestamp":"` + now.UTC().Format(time.RFC3339) + `","properties":"plan=pro"}`), headers: browser(), status: 400, msg: "properties must be an object"},
		{name: "legacy /event empty", path: "/event", body: nil, headers: browser(), status: 400, msg: "body is empty"},
		{name: "legacy /event array", path: "/event", body: []byte(`[]`), headers: browser(), status: 400, msg: "body must be a JSON object"},
		{name: "legacy /event unauthenticated", path: "/event", body: []byte(`{"name":"bad_legacy"}`), headers: browser("Origin", "https://evil.test"), status: 401, msg: "origin not allowed"},
		{name: "legacy /profile without profileId", path: "/profile", body: []byte(`{"firstName":"Ada"}`), headers: server(), status: 400, msg: "profileId is required"},
		{name: "legacy /profile/increment with a string value", path: "/profile/increment", body: []byte(`{"profileId":"u-text","property":"logins","value":"one"}`), headers: server(), status: 400, msg: "value must be a number"},
		{name: "/api/track malformed", path: "/api/track", body: []byte(`{"type":`), headers: browser(), status: 400, msg: "truncated"},

		{name: "device-id with an unknown client", method: http.MethodGet, path: "/track/device-id", headers: browser("openpanel-client-id", "00000000-0000-4000-8000-000000000001"), status: 401, msg: "unknown client id"},

		// Methods the routes do not take.
		{name: "GET /track", method: http.MethodGet, body: nil, headers: browser(), status: 405},
		{name: "PUT /track", method: http.MethodPut, body: valid, headers: browser(), status: 405},
		{name: "DELETE /event", method: http.MethodDelete, path: "/event", headers: browser(), status: 405},
	}

	var (
		mu       sync.Mutex
		serverEr []string
	)
	t.Run("cases", func(t *testing.T) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				method, path := c.method, c.path
				if method == "" {
					method = http.MethodPost
				}
				if path == "" {
					path = "/track"
				}
				res := env.Do(t, method, path, c.body, c.headers)
				if res.Status >= 500 {
					mu.Lock()
					serverEr = append(serverEr, fmt.Sprintf("%s: %d", c.name, res.Status))
					mu.Unlock()
				}
				badCheck(t, c, res)
			})
		}
	})
	if len(cases) < 45 {
		t.Errorf("only %d cases", len(cases))
	}
	if len(serverEr) > 0 {
		t.Errorf("server errors: %v", serverEr)
	}

	// The server is still healthy and stores a valid event.
	if res := env.Do(t, http.MethodGet, "/healthz/ready", nil, nil); res.Status != 200 {
		t.Fatalf("ready: %d %s", res.Status, res.Body)
	}
	res := env.Track(t, map[string]any{"type": "track", "payload": map[string]any{"name": "ok_after_bad_input", "properties": map[string]any{"plan": "pro"}}}, env.BrowserHeaders("81.2.69.201"))
	if res.Status != 200 {
		t.Fatalf("valid event after the bad ones: %d %s", res.Status, res.Body)
	}
	var a struct{ DeviceID, SessionID string }
	res.JSON(t, &a)
	var plan string
	if err := env.Pool.QueryRow(ctx, `SELECT properties->>'plan' FROM events WHERE name = 'ok_after_bad_input' AND device_id = $1`, a.DeviceID).Scan(&plan); err != nil || plan != "pro" {
		t.Fatalf("valid event not stored: plan %q, %v", plan, err)
	}
	// Nothing refused was stored.
	rows, err := env.Pool.Query(ctx, `SELECT DISTINCT name FROM events WHERE name <> 'session_start' AND name NOT LIKE 'ok\_%'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		_ = rows.Scan(&n)
		t.Errorf("refused event %q was stored", n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

// badCheck asserts the status and that the answer has the protocol's shape
// and a message that says what is wrong.
func badCheck(t *testing.T, c badCase, res apptest.Response) {
	t.Helper()
	body := string(res.Body)
	if len(body) > 300 {
		body = body[:300] + "..."
	}
	if res.Status != c.status {
		t.Fatalf("status %d, want %d: %s", res.Status, c.status, body)
	}
	switch c.status {
	case 400, 404, 413:
		if ct := res.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q, want application/json", ct)
		}
		var e map[string]any
		if err := json.Unmarshal(res.Body, &e); err != nil {
			t.Fatalf("body is not JSON (%v): %s", err, body)
		}
		msg, _ := e["message"].(string)
		if len(e) != 3 || e["status"] != float64(c.status) || e["error"] != http.StatusText(c.status) || msg == "" {
			t.Errorf(`body %s, want {"status":%d,"error":%q,"message":...}`, body, c.status, http.StatusText(c.status))
		}
		if !strings.Contains(msg, c.msg) {
			t.Errorf("message %q does not say %q", msg, c.msg)
		}
	case 401:
		if ct := res.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
			t.Errorf("Content-Type %q, want text/plain; charset=utf-8", ct)
		}
		if !strings.Contains(string(res.Body), c.msg) {
			t.Errorf("reason %q does not say %q", body, c.msg)
		}
	case 200:
		var a struct {
			DeviceID  string `json:"deviceId"`
			SessionID string `json:"sessionId"`
		}
		if err := json.Unmarshal(res.Body, &a); err != nil || !badDeviceRe.MatchString(a.DeviceID) {
			t.Errorf("answer %s, want a device id (%v)", body, err)
		}
	default:
		if !strings.Contains(string(res.Body), c.msg) {
			t.Errorf("body %q does not say %q", body, c.msg)
		}
	}
	if c.check != nil {
		c.check(t, res)
	}
}
