package analytics_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"tally/app/analytics"
	"tally/app/dbtest"
	"tally/app/errs"
)

func TestFiltersURLRoundTrip(t *testing.T) {
	t.Parallel()
	filters := []analytics.Filter{
		{Field: "path", Op: "is", Values: []string{"/a,b", "/c:d", "/e%f", "/g h+i", "/ü?x=1&y=2#z"}},
		{Field: "country", Op: "is_not", Values: []string{""}},
		{Field: "referrer_name", Op: "is", Values: []string{"", "Google"}},
		{Field: "utm_campaign", Op: "is_set"},
		{Field: "properties.plan:type,x y", Op: "gte", Values: []string{"-1.5e3"}},
		{Field: "name", Op: "regex", Values: []string{`^(sign|log)_?in$`}},
		{Field: "browser", Op: "contains", Values: []string{`<script>alert("x")</script>`, `'; DROP TABLE events; --`}},
	}
	var params []string
	for _, f := range filters {
		params = append(params, analytics.EncodeFilter(f))
	}
	// Through a real URL, as the browser sends it.
	u := url.URL{Path: "/p/x"}
	v := url.Values{"f": params}
	u.RawQuery = v.Encode()
	back, err := url.Parse(u.String())
	if err != nil {
		t.Fatal(err)
	}
	got, err := analytics.ParseFilters(back.Query()["f"])
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, filters) {
		t.Errorf("round trip:\n got %#v\nwant %#v", got, filters)
	}
	if s := analytics.EncodeFilter(filters[0]); strings.Count(s, ",") != 4 || strings.Count(s, ":") != 2 {
		t.Errorf("separators inside values must be escaped: %s", s)
	}
	if got, err := analytics.ParseFilters([]string{"", ""}); err != nil || len(got) != 0 {
		t.Errorf("empty: %v %v", got, err)
	}
}

func TestParseFiltersRejects(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"path",                // no operator
		"nope:is:x",           // unknown field
		"properties.:is:x",    // empty property key
		"path:like:x",         // unknown operator
		"duration:gt:abc",     // not a number
		"duration:gt:NaN",     // not a number
		"duration:lt:1e99999", // exponent too large
		"path:is:%zz",         // bad escape
		"path:is:" + strings.Repeat("a", analytics.MaxValueLength+1),
		"path:is:" + strings.Repeat("a,", analytics.MaxValues+1),
		"path:is:a%00b", // NUL
		"path:is:%ff",   // not UTF-8
		"e.path:is:x",
		"path;DROP:is:x",
	} {
		if _, err := analytics.ParseFilters([]string{s}); errs.KindOf(err) != errs.Invalid {
			t.Errorf("%.60q: err %v, want invalid", s, err)
		}
	}
	many := make([]string, analytics.MaxFilters+1)
	for i := range many {
		many[i] = "path:is:x"
	}
	if _, err := analytics.ParseFilters(many); errs.KindOf(err) != errs.Invalid {
		t.Errorf("too many filters: %v", err)
	}
	// Every listed field and operator is accepted.
	for _, f := range analytics.Fields {
		for _, o := range analytics.Ops {
			if _, err := analytics.ParseFilters([]string{f.Key + ":" + o.Key + ":1"}); err != nil {
				t.Errorf("%s %s: %v", f.Key, o.Key, err)
			}
		}
	}
}

// compile runs op.filter_where_v1 on filters (JSON).
func compile(ctx context.Context, pool *pgxpool.Pool, filters any) (string, error) {
	b, err := json.Marshal(filters)
	if err != nil {
		return "", err
	}
	var clause string
	err = pool.QueryRow(ctx, `SELECT op.filter_where_v1($1::jsonb)`, string(b)).Scan(&clause)
	return clause, err
}

func pgCode(err error) string {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code
	}
	return ""
}

// The compiler's semantics on a few hand-made events: which ones match.
func TestFilterWhereCases(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `SELECT op.ensure_partitions_v1(now() - interval '1 day', now())`); err != nil {
		t.Fatal(err)
	}
	// id: name, path, country, duration, properties
	_, err := pool.Exec(ctx, `INSERT INTO events (id, project_id, name, device_id, created_at, path, country, duration, revenue, properties)
		SELECT ('00000000-0000-0000-0000-00000000000' || i)::uuid, 'p', n, 'd', now(), p, c, du, NULL, pr::jsonb
		FROM (VALUES
			(1, 'screen_view', '/blog/a', 'DE', NULL, '{"plan": "pro", "n": "10"}'),
			(2, 'screen_view', '/Blog_x', 'FR', NULL, '{"plan": "free", "n": "2.5"}'),
			(3, 'signup', NULL, NULL, 1500, '{"n": "abc", "x": ""}'),
			(4, 'screen_view', '/a''b%c', '', 20, '{"n": 7, "plan": null}'),
			(5, 'link_out', '/blog', 'DE', NULL, '{"n": "1e400000"}')
		) v(i, n, p, c, du, pr)`)
	if err != nil {
		t.Fatal(err)
	}
	matches := func(filters []analytics.Filter) ([]int, error) {
		clause, err := compile(ctx, pool, filters)
		if err != nil {
			return nil, err
		}
		var ids []int
		// The test is the one place that puts a compiled clause in a query by hand.
		rows, err := pool.Query(ctx, `SELECT right(e.id::text, 1)::int FROM events e WHERE `+clause+` ORDER BY 1`)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", clause, err)
		}
		ids, err = pgx.CollectRows(rows, pgx.RowTo[int])
		if ids == nil {
			ids = []int{}
		}
		return ids, err
	}
	f := func(field, op string, values ...string) analytics.Filter {
		return analytics.Filter{Field: field, Op: op, Values: values}
	}
	cases := []struct {
		filters []analytics.Filter
		want    []int
	}{
		{nil, []int{1, 2, 3, 4, 5}},
		{[]analytics.Filter{f("path", "is", "/blog/a", "/blog")}, []int{1, 5}},
		{[]analytics.Filter{f("path", "is", "")}, []int{3}},
		{[]analytics.Filter{f("country", "is", "")}, []int{3, 4}},
		{[]analytics.Filter{f("country", "is_not", "")}, []int{1, 2, 5}},
		{[]analytics.Filter{f("country", "is_not", "DE")}, []int{2, 3, 4}},
		{[]analytics.Filter{f("country", "is_not", "DE", "FR")}, []int{3, 4}},
		{[]analytics.Filter{f("path", "contains", "BLOG")}, []int{1, 2, 5}},
		{[]analytics.Filter{f("path", "not_contains", "blog")}, []int{3, 4}},
		{[]analytics.Filter{f("path", "contains", "%")}, []int{4}},
		{[]analytics.Filter{f("path", "contains", "_")}, []int{2}},
		{[]analytics.Filter{f("path", "starts_with", "/blog")}, []int{1, 5}},
		{[]analytics.Filter{f("path", "starts_with", "/a'b%")}, []int{4}},
		{[]analytics.Filter{f("path", "ends_with", "a", "x")}, []int{1, 2}},
		{[]analytics.Filter{f("path", "regex", "^/[Bb]log")}, []int{1, 2, 5}},
		{[]analytics.Filter{f("path", "is_set")}, []int{1, 2, 4, 5}},
		{[]analytics.Filter{f("country", "is_not_set")}, []int{3, 4}},
		{[]analytics.Filter{f("duration", "gt", "100")}, []int{3}},
		{[]analytics.Filter{f("duration", "is", "20")}, []int{4}},
		{[]analytics.Filter{f("duration", "is", "")}, []int{1, 2, 5}},
		{[]analytics.Filter{f("duration", "is_set")}, []int{3, 4}},
		{[]analytics.Filter{f("duration", "starts_with", "15")}, []int{3}},
		{[]analytics.Filter{f("properties.plan", "is", "pro")}, []int{1}},
		{[]analytics.Filter{f("properties.plan", "is_set")}, []int{1, 2}},
		{[]analytics.Filter{f("properties.plan", "is_not_set")}, []int{3, 4, 5}},
		{[]analytics.Filter{f("properties.n", "gte", "7")}, []int{1, 4}},
		{[]analytics.Filter{f("properties.n", "lt", "7", "-1")}, []int{2}},
		{[]analytics.Filter{f("properties.n", "lte", "1e3")}, []int{1, 2, 4}},
		{[]analytics.Filter{f("properties.x", "is", "")}, []int{1, 2, 3, 4, 5}},
		{[]analytics.Filter{f("name", "is", "screen_view"), f("country", "is", "DE")}, []int{1}},
		{[]analytics.Filter{f("name", "is_not", "screen_view"), f("path", "is_set")}, []int{5}},
	}
	for _, c := range cases {
		got, err := matches(c.filters)
		if err != nil {
			t.Errorf("%+v: %v", c.filters, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%+v: matched %v, want %v", c.filters, got, c.want)
		}
	}

	// Clear errors (SQLSTATE TLFLT), and errs.Invalid through the store.
	bad := []any{
		map[string]any{"field": "path"},
		[]any{"path"},
		[]any{map[string]any{"field": "nope", "op": "is", "values": []string{"x"}}},
		[]any{map[string]any{"field": "path", "op": "nope", "values": []string{"x"}}},
		[]any{map[string]any{"field": "path", "op": "is", "values": []string{}}},
		[]any{map[string]any{"field": "path", "op": "is", "values": "x"}},
		[]any{map[string]any{"field": "path", "op": "is", "values": []any{1}}},
		[]any{map[string]any{"field": 1, "op": "is", "values": []string{"x"}}},
		[]any{map[string]any{"field": "path", "op": "regex", "values": []string{"("}}},
		[]any{map[string]any{"field": "path", "op": "regex", "values": []string{"a{2,1}"}}},
		[]any{map[string]any{"field": "path", "op": "regex", "values": []string{strings.Repeat("a", 501)}}},
		[]any{map[string]any{"field": "path", "op": "is", "values": []string{strings.Repeat("a", 1001)}}},
		[]any{map[string]any{"field": "duration", "op": "gt", "values": []string{"1e9999"}}},
		[]any{map[string]any{"field": "duration", "op": "is", "values": []string{"x"}}},
		[]any{map[string]any{"field": "properties.n", "op": "lt", "values": []string{"Infinity"}}},
		[]any{map[string]any{"field": "properties." + strings.Repeat("k", 201), "op": "is_set"}},
	}
	for _, b := range bad {
		if _, err := compile(ctx, pool, b); pgCode(err) != "TLFLT" {
			t.Errorf("%.100v: err %v, want SQLSTATE TLFLT", b, err)
		}
	}
	store := analytics.NewStore(pool)
	r, _ := analytics.ParseRange("7d", "", "", "", time.UTC, time.Now())
	q := analytics.Query{ProjectID: "p", Range: r, Filters: []analytics.Filter{f("path", "regex", "(")}}
	if _, err := store.Metrics(ctx, q); errs.KindOf(err) != errs.Invalid || !strings.Contains(errs.Message(err), "regular expression") {
		t.Errorf("bad regex through the store: %v (%s)", err, errs.Message(err))
	}
	if _, err := store.Breakdown(ctx, q, "path", 5); errs.KindOf(err) != errs.Invalid {
		t.Errorf("bad regex through the store: %v", err)
	}
	if _, _, err := store.Series(ctx, q, "visitors"); errs.KindOf(err) != errs.Invalid {
		t.Errorf("bad regex through the store: %v", err)
	}
}

// checkClauseShape fails unless every ";", "$", comment start and
// backslash of the clause is inside a quoted literal or identifier.
func checkClauseShape(clause string) error {
	for i := 0; i < len(clause); i++ {
		c := clause[i]
		switch {
		case c == '\'':
			escapes := i > 0 && (clause[i-1] == 'E' || clause[i-1] == 'e')
			j := i + 1
			for ; j < len(clause); j++ {
				if escapes && clause[j] == '\\' {
					j++
					continue
				}
				if clause[j] == '\'' {
					if j+1 < len(clause) && clause[j+1] == '\'' {
						j++
						continue
					}
					break
				}
			}
			if j >= len(clause) {
				return fmt.Errorf("unterminated literal at %d", i)
			}
			i = j
		case c == '"':
			j := strings.IndexByte(clause[i+1:], '"')
			if j < 0 {
				return fmt.Errorf("unterminated identifier at %d", i)
			}
			i += j + 1
		case c == ';' || c == '$' || c == '\\' || c == 0:
			return fmt.Errorf("%q outside quotes at %d", c, i)
		case c == '-' && i+1 < len(clause) && clause[i+1] == '-',
			c == '/' && i+1 < len(clause) && clause[i+1] == '*',
			c == '*' && i+1 < len(clause) && clause[i+1] == '/':
			return fmt.Errorf("comment token outside quotes at %d", i)
		}
	}
	return nil
}

// dbState is a fingerprint of what a clause must never change: the events,
// and the schema.
func dbState(ctx context.Context, pool *pgxpool.Pool) (string, error) {
	var s string
	err := pool.QueryRow(ctx, `SELECT
		(SELECT count(*) || ':' || coalesce(sum(hashtext(e::text)), 0) FROM events e) || '/' ||
		(SELECT count(*) FROM pg_class) || '/' || (SELECT count(*) FROM pg_proc) || '/' ||
		(SELECT count(*) FROM projects)`).Scan(&s)
	return s, err
}

func FuzzFilterWhere(f *testing.F) {
	pool := dbtest.NewPool(f)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `SELECT op.ensure_partitions_v1(now() - interval '1 day', now())`); err != nil {
		f.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO organizations (id, name) VALUES ('o', 'o');
		INSERT INTO projects (id, organization_id, name) VALUES ('p', 'o', 'p');
		INSERT INTO events (id, project_id, name, device_id, created_at, path, country, duration, properties)
		VALUES (gen_random_uuid(), 'p', 'screen_view', 'd1', now(), '/a', 'DE', 10, '{"k": "v", "n": "5"}'),
		       (gen_random_uuid(), 'p', 'x', 'd2', now(), NULL, NULL, NULL, '{}')`); err != nil {
		f.Fatal(err)
	}
	before, err := dbState(ctx, pool)
	if err != nil {
		f.Fatal(err)
	}
	hostile := []string{
		"'", "''", `"`, `\`, `\'`, "'); DROP TABLE events; --", "*/", "/*", "--", "$$", "$1", "$fn$",
		"\x00", "a\x00b", strings.Repeat("x", 5000), "ünï©ødé 🎉", "\xff\xfe", "%", "_", "\\%", "(", "[", "a{99999}",
		"1e999999", "NaN", "-Infinity", "1e-999", "00000000000000000000000000000000001", "e.path", "1; SELECT 1",
		"\n", "\t\r", "E'x'", "U&'\\0041'", "pg_sleep(10)",
	}
	fields := []string{"path", "name", "duration", "revenue", "session_id", "properties.k", "properties.n", "properties.'",
		"properties.a\"b", "properties.", "unknown", "e.path", "path; DROP TABLE events", "PATH", "properties"}
	ops := []string{"is", "is_not", "contains", "not_contains", "starts_with", "ends_with", "regex", "is_set",
		"is_not_set", "gt", "gte", "lt", "lte", "like", "", "is; --"}
	for i, h := range hostile {
		f.Add(fields[i%len(fields)], ops[i%len(ops)], h, "x")
	}
	for i, field := range fields {
		f.Add(field, ops[(i+3)%len(ops)], "1", "a'b")
	}
	f.Add("properties.'); DROP TABLE events; --", "gt", "1", "2")
	f.Add("path", "regex", "(a|b", "x")
	f.Add("duration", "is", "", "1e3")
	f.Fuzz(func(t *testing.T, field, op, v1, v2 string) {
		filters := []analytics.Filter{{Field: field, Op: op, Values: []string{v1, v2}}, {Field: "path", Op: "is", Values: []string{v2}}}
		goErr := filters[0].Validate()
		if goErr == nil {
			goErr = filters[1].Validate()
		}
		if goErr != nil && errs.KindOf(goErr) != errs.Invalid {
			t.Fatalf("Validate: %v is not invalid", goErr)
		}
		clause, err := compile(ctx, pool, filters)
		if err != nil {
			code := pgCode(err)
			switch {
			case code == "TLFLT":
				// The clear error; Go may have let it through only for a regex
				// (PostgreSQL's syntax decides).
				if goErr == nil && op != "regex" {
					t.Fatalf("SQL refused what Go accepted: %v", err)
				}
				return
			case code == "22P05" && (strings.Contains(v1, "\x00") || strings.Contains(v2, "\x00") || strings.Contains(field, "\x00") || strings.Contains(op, "\x00")):
				return // jsonb has no NUL: refused before the compiler
			}
			t.Fatalf("compile %q %q %q %q: unexpected error %v", field, op, v1, v2, err)
		}
		allText := utf8.ValidString(field) && utf8.ValidString(op) && utf8.ValidString(v1) && utf8.ValidString(v2)
		if goErr != nil && allText {
			// Go is stricter than SQL only about text that is not UTF-8
			// (JSON carries it to SQL as U+FFFD). Each string on its own:
			// two halves of one character are each invalid.
			t.Fatalf("SQL accepted what Go refused (%v): %s", goErr, clause)
		}
		if err := checkClauseShape(clause); err != nil {
			t.Fatalf("clause %q: %v", clause, err)
		}
		tx, err := pool.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Rollback(ctx) }()
		b := &pgx.Batch{}
		b.Queue(`SET LOCAL statement_timeout = '5s'`)
		b.Queue(`EXPLAIN SELECT count(*) FROM events e WHERE ` + clause)
		b.Queue(`SELECT count(*) FROM events e WHERE ` + clause)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			t.Fatalf("EXPLAIN and run %q: %v", clause, err)
		}
		if err := tx.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
		after, err := dbState(ctx, pool)
		if err != nil {
			t.Fatal(err)
		}
		if after != before {
			t.Fatalf("the database changed (%s -> %s) with clause %q", before, after, clause)
		}
	})
}
