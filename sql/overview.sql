-- The web analytics overview: filters, metric cards, series, breakdowns,
-- the realtime view, and the rollups that make unfiltered ranges fast.
--
-- Definitions (the raw and the rollup paths follow them exactly, so their
-- answers are equal; app/analytics tests that):
-- * Days are local days in the project's timezone.
-- * Visitors of a bucket are its distinct (local day, device) pairs over
--   events other than session_end: a bucket of a day or more sums each
--   day's distinct devices (device ids rotate daily: a visitor cannot be
--   followed across days anyway); a minute or hour is exact. A range's
--   total is the sum of daily visitors when it is made of whole local days,
--   its distinct devices otherwise.
-- * Sessions, bounces, duration and revenue come from sessions, by
--   started_at; pageviews are screen_view events, by created_at.
-- * Filters apply to events; session figures then count the sessions of
--   the matching events (that started in the range).
-- * Breakdown rows: count is sessions for session dimensions (sources,
--   entry/exit pages, devices, geo: a session's first event's values),
--   pageviews for path, events for event (custom events) and link_out
--   (properties.href of link_out events); visitors as above; NULL is ''.
--
-- Rollups (migrations/005_rollups.sql) answer unfiltered queries whose
-- range is whole local days of the project's own timezone and whose
-- interval is a day or more. Everything else reads events and sessions.
-- Every query function sets jit off (compiling cost seconds, saved
-- nothing) and work_mem high enough to hash a month of visitors.

-- op.filter_where_v1 compiles a filter list, a JSON array of
-- {"field": ..., "op": ..., "values": [...]}, to a boolean SQL expression
-- over events aliased "e" ('true' for none). Filters are AND-ed, values
-- OR-ed (the negative operators is_not and not_contains negate the OR:
-- "none of"). Fields are a whitelist of event columns and
-- "properties.<key>"; every identifier goes through format('%I') and every
-- value through format('%L'), so nothing from the input reaches the SQL
-- unquoted. A value "" means none (NULL or empty), as breakdown rows show
-- it. contains is case-insensitive, the other text operators are not;
-- gt/gte/lt/lte compare numbers (text that is not a number never matches;
-- the cast is guarded so it cannot fail). Anything wrong raises SQLSTATE
-- TLFLT with a message for the user.
CREATE OR REPLACE FUNCTION op.filter_where_v1(filters jsonb)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $fn$
DECLARE
    -- A number as the guard and the values accept it: no NaN, no
    -- Infinity, bounded digits and exponent, so ::numeric cannot fail.
    num_re constant text := '^[+-]?([0-9]{1,30}(\.[0-9]{0,30})?|\.[0-9]{1,30})([eE][+-]?[0-9]{1,3})?$';
    f jsonb;
    field text;
    fop text;
    vals text[];
    v text;
    col text;
    ctype text;
    prop text;
    ors text[];
    ands text[] := '{}';
    expr text;
BEGIN
    IF filters IS NULL OR jsonb_typeof(filters) = 'null' THEN
        RETURN 'true';
    END IF;
    IF jsonb_typeof(filters) <> 'array' THEN
        RAISE EXCEPTION 'filters must be a list' USING ERRCODE = 'TLFLT';
    END IF;
    IF jsonb_array_length(filters) > 20 THEN
        RAISE EXCEPTION 'at most 20 filters' USING ERRCODE = 'TLFLT';
    END IF;
    FOR f IN SELECT x FROM jsonb_array_elements(filters) x LOOP
        IF jsonb_typeof(f) <> 'object'
           OR jsonb_typeof(f->'field') IS DISTINCT FROM 'string'
           OR jsonb_typeof(f->'op') IS DISTINCT FROM 'string' THEN
            RAISE EXCEPTION 'a filter needs a field and an operator' USING ERRCODE = 'TLFLT';
        END IF;
        field := f->>'field';
        fop := f->>'op';
        IF f->'values' IS NULL OR jsonb_typeof(f->'values') = 'null' THEN
            vals := '{}';
        ELSIF jsonb_typeof(f->'values') <> 'array' THEN
            RAISE EXCEPTION 'filter values must be a list' USING ERRCODE = 'TLFLT';
        ELSIF jsonb_array_length(f->'values') > 50 THEN
            RAISE EXCEPTION 'a filter has at most 50 values' USING ERRCODE = 'TLFLT';
        ELSIF EXISTS (SELECT 1 FROM jsonb_array_elements(f->'values') x WHERE jsonb_typeof(x) <> 'string') THEN
            RAISE EXCEPTION 'filter values must be text' USING ERRCODE = 'TLFLT';
        ELSE
            SELECT coalesce(array_agg(x ORDER BY n), '{}') INTO vals FROM jsonb_array_elements_text(f->'values') WITH ORDINALITY AS t(x, n);
        END IF;
        IF EXISTS (SELECT 1 FROM unnest(vals) x WHERE length(x) > 1000) THEN
            RAISE EXCEPTION 'a filter value is longer than 1000 characters' USING ERRCODE = 'TLFLT';
        END IF;

        -- The field: a whitelisted column, or a custom property.
        ctype := CASE field
            WHEN 'name' THEN 'text' WHEN 'path' THEN 'text' WHEN 'origin' THEN 'text'
            WHEN 'query' THEN 'text' WHEN 'hash' THEN 'text'
            WHEN 'referrer' THEN 'text' WHEN 'referrer_name' THEN 'text' WHEN 'referrer_type' THEN 'text'
            WHEN 'utm_source' THEN 'text' WHEN 'utm_medium' THEN 'text' WHEN 'utm_campaign' THEN 'text'
            WHEN 'utm_term' THEN 'text' WHEN 'utm_content' THEN 'text'
            WHEN 'country' THEN 'text' WHEN 'region' THEN 'text' WHEN 'city' THEN 'text'
            WHEN 'os' THEN 'text' WHEN 'os_version' THEN 'text'
            WHEN 'browser' THEN 'text' WHEN 'browser_version' THEN 'text'
            WHEN 'device' THEN 'text' WHEN 'brand' THEN 'text' WHEN 'model' THEN 'text'
            WHEN 'profile_id' THEN 'text' WHEN 'device_id' THEN 'text' WHEN 'session_id' THEN 'uuid'
            WHEN 'sdk_name' THEN 'text' WHEN 'sdk_version' THEN 'text'
            WHEN 'duration' THEN 'numeric' WHEN 'revenue' THEN 'numeric'
        END;
        prop := NULL;
        IF ctype = 'uuid' THEN
            col := format('e.%I::text', field);
            ctype := 'text';
        ELSIF ctype IS NOT NULL THEN
            col := format('e.%I', field);
        ELSIF left(field, 11) = 'properties.' AND length(field) BETWEEN 12 AND 211 THEN
            prop := substr(field, 12);
            col := format('(e.properties->>%L)', prop);
            ctype := 'text';
        ELSE
            RAISE EXCEPTION 'unknown filter field "%"', left(field, 60) USING ERRCODE = 'TLFLT';
        END IF;

        IF fop NOT IN ('is_set', 'is_not_set') AND cardinality(vals) = 0 THEN
            RAISE EXCEPTION 'the filter on "%" needs a value', left(field, 60) USING ERRCODE = 'TLFLT';
        END IF;
        IF fop IN ('gt', 'gte', 'lt', 'lte') OR (ctype = 'numeric' AND fop IN ('is', 'is_not')) THEN
            FOREACH v IN ARRAY vals LOOP
                IF v !~ num_re AND NOT (v = '' AND fop IN ('is', 'is_not')) THEN
                    RAISE EXCEPTION '"%" is not a number', left(v, 40) USING ERRCODE = 'TLFLT';
                END IF;
            END LOOP;
        END IF;

        ors := '{}';
        CASE fop
        WHEN 'is', 'is_not' THEN
            FOREACH v IN ARRAY vals LOOP
                IF v = '' THEN
                    ors := ors || CASE WHEN ctype = 'numeric' THEN format('%s IS NULL', col)
                                       ELSE format('coalesce(%s, '''') = ''''', col) END;
                ELSIF ctype = 'numeric' THEN
                    ors := ors || format('%s = %L::numeric', col, v);
                ELSE
                    ors := ors || format('%s = %L', col, v);
                END IF;
            END LOOP;
        WHEN 'contains', 'not_contains' THEN
            FOREACH v IN ARRAY vals LOOP
                ors := ors || format('%s ILIKE %L', CASE WHEN ctype = 'numeric' THEN col || '::text' ELSE col END,
                                     '%' || op.like_escape_v1(v) || '%');
            END LOOP;
        WHEN 'starts_with' THEN
            FOREACH v IN ARRAY vals LOOP
                ors := ors || format('%s LIKE %L', CASE WHEN ctype = 'numeric' THEN col || '::text' ELSE col END,
                                     op.like_escape_v1(v) || '%');
            END LOOP;
        WHEN 'ends_with' THEN
            FOREACH v IN ARRAY vals LOOP
                ors := ors || format('%s LIKE %L', CASE WHEN ctype = 'numeric' THEN col || '::text' ELSE col END,
                                     '%' || op.like_escape_v1(v));
            END LOOP;
        WHEN 'regex' THEN
            FOREACH v IN ARRAY vals LOOP
                IF length(v) > 500 THEN
                    RAISE EXCEPTION 'a regular expression is longer than 500 characters' USING ERRCODE = 'TLFLT';
                END IF;
                BEGIN
                    PERFORM '' ~ v;
                EXCEPTION WHEN invalid_regular_expression OR program_limit_exceeded OR out_of_memory THEN
                    RAISE EXCEPTION 'invalid regular expression "%": %', left(v, 60), SQLERRM USING ERRCODE = 'TLFLT';
                END;
                ors := ors || format('%s ~ %L', CASE WHEN ctype = 'numeric' THEN col || '::text' ELSE col END, v);
            END LOOP;
        WHEN 'is_set' THEN
            ors := ARRAY[CASE WHEN ctype = 'numeric' THEN format('%s IS NOT NULL', col)
                              ELSE format('coalesce(%s, '''') <> ''''', col) END];
        WHEN 'is_not_set' THEN
            ors := ARRAY[CASE WHEN ctype = 'numeric' THEN format('%s IS NULL', col)
                              ELSE format('coalesce(%s, '''') = ''''', col) END];
        WHEN 'gt', 'gte', 'lt', 'lte' THEN
            expr := CASE WHEN ctype = 'numeric' THEN col
                         ELSE format('(CASE WHEN length(%s) <= 100 AND %s ~ %L THEN (%s)::numeric END)', col, col, num_re, col) END;
            FOREACH v IN ARRAY vals LOOP
                ors := ors || format('%s %s %L::numeric', expr,
                                     CASE fop WHEN 'gt' THEN '>' WHEN 'gte' THEN '>=' WHEN 'lt' THEN '<' ELSE '<=' END, v);
            END LOOP;
        ELSE
            RAISE EXCEPTION 'unknown filter operator "%"', left(fop, 30) USING ERRCODE = 'TLFLT';
        END CASE;

        expr := '(' || array_to_string(ors, ' OR ') || ')';
        IF fop IN ('is_not', 'not_contains') THEN
            expr := format('NOT coalesce(%s, false)', expr);
        END IF;
        ands := ands || expr;
    END LOOP;
    IF cardinality(ands) = 0 THEN
        RETURN 'true';
    END IF;
    RETURN array_to_string(ands, ' AND ');
END
$fn$;

-- op.like_escape_v1 escapes LIKE's wildcards (the default escape is \).
CREATE OR REPLACE FUNCTION op.like_escape_v1(s text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT replace(replace(replace(s, '\', '\\'), '%', '\%'), '_', '\_');
$fn$;

-- op.whole_days_v1: [p_from, p_to) is made of whole local days of p_tz.
CREATE OR REPLACE FUNCTION op.whole_days_v1(p_from timestamptz, p_to timestamptz, p_tz text)
RETURNS boolean
LANGUAGE sql STABLE AS $fn$
    SELECT p_to > p_from
       AND (p_from AT TIME ZONE p_tz)::time = time '00:00'
       AND (p_to AT TIME ZONE p_tz)::time = time '00:00';
$fn$;

-- op.rollups_answer_v1: the rollups can answer an unfiltered query of
-- [p_from, p_to) in p_tz: whole local days, in the timezone the project's
-- rollups are kept in.
CREATE OR REPLACE FUNCTION op.rollups_answer_v1(p_project text, p_from timestamptz, p_to timestamptz, p_tz text)
RETURNS boolean
LANGUAGE sql STABLE AS $fn$
    SELECT op.whole_days_v1(p_from, p_to, p_tz)
       AND EXISTS (SELECT 1 FROM projects p WHERE p.id = p_project AND p.timezone = p_tz);
$fn$;

-- The dimensions of breakdowns. Session dimensions are sessions columns.
CREATE OR REPLACE FUNCTION op.session_dims_v1()
RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT ARRAY['referrer_name', 'referrer', 'referrer_type',
                 'utm_source', 'utm_medium', 'utm_campaign', 'utm_term', 'utm_content',
                 'entry_path', 'exit_path',
                 'device', 'browser', 'browser_version', 'os', 'os_version', 'brand', 'model',
                 'country', 'region', 'city'];
$fn$;

CREATE OR REPLACE FUNCTION op.event_dims_v1()
RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT ARRAY['path', 'event', 'link_out'];
$fn$;

-- op.overview_metrics_v1: the cards' sums for [p_from, p_to) in p_tz:
-- visitors, sessions, bounced sessions, total session duration (ms),
-- pageviews and revenue. p_raw: never read the rollups (tests).
CREATE OR REPLACE FUNCTION op.overview_metrics_v1(
    p_project text, p_from timestamptz, p_to timestamptz, p_tz text,
    p_filters jsonb DEFAULT '[]', p_raw boolean DEFAULT false)
RETURNS TABLE (visitors bigint, sessions bigint, bounces bigint, duration bigint, pageviews bigint, revenue bigint)
LANGUAGE plpgsql STABLE
SET jit = off SET work_mem = '64MB'
AS $fn$
DECLARE
    clause text := op.filter_where_v1(p_filters);
    whole boolean := op.whole_days_v1(p_from, p_to, p_tz);
BEGIN
    IF clause = 'true' AND NOT p_raw AND op.rollups_answer_v1(p_project, p_from, p_to, p_tz) THEN
        RETURN QUERY
        SELECT coalesce(sum(r.visitors), 0)::bigint, coalesce(sum(r.sessions), 0)::bigint,
               coalesce(sum(r.bounces), 0)::bigint, coalesce(sum(r.duration), 0)::bigint,
               coalesce(sum(r.pageviews), 0)::bigint, coalesce(sum(r.revenue), 0)::bigint
        FROM rollup_days r
        WHERE r.project_id = p_project
          AND r.day >= (p_from AT TIME ZONE p_tz)::date AND r.day < (p_to AT TIME ZONE p_tz)::date;
        RETURN;
    END IF;
    -- $1 project, $2 from, $3 to, $4 tz, $5 whole days. m: the matching
    -- events, read once (with a filter, the sessions are theirs).
    RETURN QUERY EXECUTE format($q$
        WITH m AS MATERIALIZED (
            SELECT e.created_at, e.name, e.device_id COLLATE "C" AS device_id, e.session_id
            FROM events e
            WHERE e.project_id = $1 AND e.created_at >= $2 AND e.created_at < $3 AND (%1$s))
        SELECT ev.visitors, se.sessions, se.bounces, se.duration, ev.pageviews, se.revenue
        FROM (SELECT count(*) FILTER (WHERE g.n > 0)::bigint AS visitors,
                     coalesce(sum(g.pv), 0)::bigint AS pageviews
              FROM (SELECT count(*) FILTER (WHERE m.name <> 'session_end') AS n,
                           count(*) FILTER (WHERE m.name = 'screen_view') AS pv
                    FROM m
                    GROUP BY CASE WHEN $5 THEN (m.created_at AT TIME ZONE $4)::date END, m.device_id) g) ev,
             (SELECT count(*)::bigint AS sessions,
                     count(*) FILTER (WHERE s.is_bounce)::bigint AS bounces,
                     coalesce(sum(s.duration), 0)::bigint AS duration,
                     coalesce(sum(s.revenue), 0)::bigint AS revenue
              %2$s) se
        $q$, clause, op.sessions_from_v1(clause, 'SELECT m.session_id FROM m'))
    USING p_project, p_from, p_to, p_tz, whole;
END
$fn$;

-- op.sessions_from_v1: the FROM and WHERE of the sessions (alias s) a
-- query counts: those started in [$2, $3), and with a filter (clause not
-- 'true') only the sessions of the events that match it in [$2, $3) —
-- their ids from ids_sql (a query with a session_id column; NULL: the
-- events themselves). Each id is one primary-key probe, whatever the
-- planner believes of the statistics (a nested loop rescanning events per
-- session is what it chose on stale statistics).
CREATE OR REPLACE FUNCTION op.sessions_from_v1(clause text, ids_sql text DEFAULT NULL)
RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT CASE WHEN clause = 'true' THEN
        'FROM sessions s WHERE s.project_id = $1 AND s.started_at >= $2 AND s.started_at < $3'
    ELSE format('FROM (SELECT DISTINCT i.session_id FROM (%s) i WHERE i.session_id IS NOT NULL) i
                 CROSS JOIN LATERAL (SELECT s.* FROM sessions s WHERE s.id = i.session_id LIMIT 1) s
                 WHERE s.project_id = $1 AND s.started_at >= $2 AND s.started_at < $3',
                coalesce(ids_sql, format('SELECT e.session_id FROM events e
                                          WHERE e.project_id = $1 AND e.created_at >= $2 AND e.created_at < $3 AND (%s)', clause)))
    END;
$fn$;

-- op.overview_series_v1: the cards' sums per bucket of p_interval
-- (minute, hour, day, week, month) over [p_from, p_to) in p_tz, every
-- bucket present (empty ones 0). Minutes and hours are local clock hours
-- stepped in absolute time (23 or 25 of them on a DST change day, the
-- repeated hour twice); days, weeks (from Monday) and months are local.
-- p_metric says which figures are needed (the others are 0): visitors and
-- pageviews come from events, the rest from sessions.
CREATE OR REPLACE FUNCTION op.overview_series_v1(
    p_project text, p_from timestamptz, p_to timestamptz, p_tz text, p_interval text,
    p_metric text DEFAULT NULL, p_filters jsonb DEFAULT '[]', p_raw boolean DEFAULT false)
RETURNS TABLE (bucket timestamptz, visitors bigint, sessions bigint, bounces bigint, duration bigint, pageviews bigint, revenue bigint)
LANGUAGE plpgsql STABLE
SET jit = off SET work_mem = '64MB'
AS $fn$
DECLARE
    clause text := op.filter_where_v1(p_filters);
    need_events boolean := p_metric IS NULL OR p_metric IN ('visitors', 'pageviews', 'pages_per_session');
    need_sessions boolean := p_metric IS NULL OR p_metric NOT IN ('visitors', 'pageviews');
    step interval;
    buckets text;
BEGIN
    IF p_interval NOT IN ('minute', 'hour', 'day', 'week', 'month') THEN
        RAISE EXCEPTION 'unknown interval "%"', left(p_interval, 30) USING ERRCODE = 'TLFLT';
    END IF;
    IF p_to <= p_from THEN
        RETURN;
    END IF;
    step := ('1 ' || p_interval)::interval;
    -- The buckets, as date_trunc(p_interval, t, p_tz) names them.
    IF p_interval IN ('minute', 'hour') THEN
        buckets := 'SELECT b FROM generate_series(date_trunc($5, $2, $4), $3 - interval ''1 microsecond'', $6) b';
    ELSE
        buckets := 'SELECT b AT TIME ZONE $4 AS b FROM generate_series(date_trunc($5, $2 AT TIME ZONE $4),
                                                                       ($3 AT TIME ZONE $4) - interval ''1 microsecond'', $6) b';
    END IF;
    IF extract(epoch FROM p_to - p_from) / extract(epoch FROM step) > 2100 THEN
        RAISE EXCEPTION 'too many buckets: choose a larger interval' USING ERRCODE = 'TLFLT';
    END IF;

    IF clause = 'true' AND NOT p_raw AND p_interval IN ('day', 'week', 'month')
       AND op.rollups_answer_v1(p_project, p_from, p_to, p_tz) THEN
        RETURN QUERY EXECUTE format($q$
            WITH b AS (%s),
            r AS (SELECT date_trunc($5, r.day::timestamp) AT TIME ZONE $4 AS b,
                         sum(r.visitors) AS visitors, sum(r.sessions) AS sessions, sum(r.bounces) AS bounces,
                         sum(r.duration) AS duration, sum(r.pageviews) AS pageviews, sum(r.revenue) AS revenue
                  FROM rollup_days r
                  WHERE r.project_id = $1
                    AND r.day >= ($2 AT TIME ZONE $4)::date AND r.day < ($3 AT TIME ZONE $4)::date
                  GROUP BY 1)
            SELECT b.b, coalesce(r.visitors, 0)::bigint, coalesce(r.sessions, 0)::bigint,
                   coalesce(r.bounces, 0)::bigint, coalesce(r.duration, 0)::bigint,
                   coalesce(r.pageviews, 0)::bigint, coalesce(r.revenue, 0)::bigint
            FROM b LEFT JOIN r ON r.b = b.b
            ORDER BY b.b
            $q$, buckets)
        USING p_project, p_from, p_to, p_tz, p_interval, step;
        RETURN;
    END IF;

    -- m: the matching events, read once (with a filter, the sessions are
    -- theirs); $7, $8: whether events and sessions are needed at all.
    RETURN QUERY EXECUTE format($q$
        WITH b AS (%1$s),
        m AS MATERIALIZED (
            SELECT e.created_at, e.name, e.device_id COLLATE "C" AS device_id, e.session_id
            FROM events e
            WHERE ($7 OR (%4$s)) AND e.project_id = $1 AND e.created_at >= $2 AND e.created_at < $3 AND (%2$s)),
        ev AS (SELECT g.b, count(*) FILTER (WHERE g.n > 0) AS visitors, sum(g.pv) AS pageviews
               FROM (SELECT date_trunc($5, m.created_at, $4) AS b,
                            count(*) FILTER (WHERE m.name <> 'session_end') AS n,
                            count(*) FILTER (WHERE m.name = 'screen_view') AS pv
                     FROM m
                     WHERE $7
                     GROUP BY 1, (m.created_at AT TIME ZONE $4)::date, m.device_id) g
               GROUP BY g.b),
        se AS (SELECT date_trunc($5, s.started_at, $4) AS b,
                      count(*) AS sessions, count(*) FILTER (WHERE s.is_bounce) AS bounces,
                      sum(s.duration) AS duration, sum(s.revenue) AS revenue
               %3$s AND $8
               GROUP BY 1)
        SELECT b.b, coalesce(ev.visitors, 0)::bigint, coalesce(se.sessions, 0)::bigint,
               coalesce(se.bounces, 0)::bigint, coalesce(se.duration, 0)::bigint,
               coalesce(ev.pageviews, 0)::bigint, coalesce(se.revenue, 0)::bigint
        FROM b LEFT JOIN ev ON ev.b = b.b LEFT JOIN se ON se.b = b.b
        ORDER BY b.b
        $q$, buckets, clause, op.sessions_from_v1(clause, 'SELECT m.session_id FROM m'),
             CASE WHEN clause = 'true' THEN 'false' ELSE '$8' END)
    USING p_project, p_from, p_to, p_tz, p_interval, step, need_events, need_sessions;
END
$fn$;

-- op.overview_breakdown_v1: the top p_limit values of dimension p_dim
-- (see op.session_dims_v1, op.event_dims_v1) over [p_from, p_to) in p_tz,
-- by count descending then value (bytewise), with their visitors and the
-- total count of all values (for shares).
CREATE OR REPLACE FUNCTION op.overview_breakdown_v1(
    p_project text, p_from timestamptz, p_to timestamptz, p_tz text, p_dim text, p_limit integer,
    p_filters jsonb DEFAULT '[]', p_raw boolean DEFAULT false)
RETURNS TABLE (value text, visitors bigint, count bigint, total bigint)
LANGUAGE plpgsql STABLE
SET jit = off SET work_mem = '64MB'
AS $fn$
DECLARE
    clause text := op.filter_where_v1(p_filters);
    whole boolean := op.whole_days_v1(p_from, p_to, p_tz);
    src text;
BEGIN
    IF NOT (p_dim = ANY (op.session_dims_v1() || op.event_dims_v1())) THEN
        RAISE EXCEPTION 'unknown breakdown "%"', left(p_dim, 30) USING ERRCODE = 'TLFLT';
    END IF;
    IF p_limit IS NULL OR p_limit < 1 OR p_limit > 10000 THEN
        RAISE EXCEPTION 'a breakdown has 1 to 10000 rows' USING ERRCODE = 'TLFLT';
    END IF;

    IF clause = 'true' AND NOT p_raw AND op.rollups_answer_v1(p_project, p_from, p_to, p_tz) THEN
        RETURN QUERY
        SELECT a.value, a.visitors, a.count, (sum(a.count) OVER ())::bigint
        FROM (SELECT r.value, sum(r.visitors)::bigint AS visitors, sum(r.count)::bigint AS count
              FROM rollup_dims r
              WHERE r.project_id = p_project AND r.dim = p_dim
                AND r.day >= (p_from AT TIME ZONE p_tz)::date AND r.day < (p_to AT TIME ZONE p_tz)::date
              GROUP BY r.value) a
        ORDER BY a.count DESC, a.value COLLATE "C"
        LIMIT p_limit;
        RETURN;
    END IF;

    -- src: (value, day key, device id, n) groups; the day key is the local
    -- day for whole-day ranges (visitors summed per day), NULL otherwise.
    IF p_dim = ANY (op.session_dims_v1()) THEN
        src := format($q$
            SELECT coalesce(s.%1$I, '') COLLATE "C" AS value, count(*) AS n
            %2$s
            GROUP BY 1, CASE WHEN $5 THEN (s.started_at AT TIME ZONE $4)::date END, s.device_id COLLATE "C"
            $q$, p_dim, op.sessions_from_v1(clause));
    ELSE
        src := format($q$
            SELECT %1$s COLLATE "C" AS value, count(*) AS n
            FROM events e
            WHERE e.project_id = $1 AND e.created_at >= $2 AND e.created_at < $3 AND %2$s AND (%3$s)
            GROUP BY 1, CASE WHEN $5 THEN (e.created_at AT TIME ZONE $4)::date END, e.device_id COLLATE "C"
            $q$,
            CASE p_dim WHEN 'path' THEN 'coalesce(e.path, '''')'
                       WHEN 'event' THEN 'e.name'
                       ELSE 'coalesce(e.properties->>''href'', '''')' END,
            CASE p_dim WHEN 'path' THEN 'e.name = ''screen_view'''
                       WHEN 'event' THEN 'e.name NOT IN (''screen_view'', ''session_start'', ''session_end'')'
                       ELSE 'e.name = ''link_out''' END,
            clause);
    END IF;
    RETURN QUERY EXECUTE format($q$
        SELECT a.value, a.visitors, a.count, (sum(a.count) OVER ())::bigint
        FROM (SELECT g.value, count(*)::bigint AS visitors, sum(g.n)::bigint AS count
              FROM (%s) g
              GROUP BY g.value) a
        ORDER BY a.count DESC, a.value COLLATE "C"
        LIMIT $6
        $q$, src)
    USING p_project, p_from, p_to, p_tz, whole, p_limit;
END
$fn$;

-- op.has_revenue_v1: the project has had revenue (per the rollups).
CREATE OR REPLACE FUNCTION op.has_revenue_v1(p_project text)
RETURNS boolean
LANGUAGE sql STABLE AS $fn$
    SELECT EXISTS (SELECT 1 FROM rollup_days r WHERE r.project_id = p_project AND r.revenue <> 0);
$fn$;

-- Realtime: the last minutes, always raw. PL/pgSQL with EXECUTE: each
-- call is planned with its project and its window's start as constants.
-- (A plain SQL function is planned for any project and any window: on a
-- month's native partition that plan was a parallel scan of the month,
-- 1.7 s instead of 3 ms; and TimescaleDB excludes chunks while planning
-- only for a constant bound.)

-- op.realtime_visitors_v1: distinct devices with events (other than
-- session_end) in the last p_window.
CREATE OR REPLACE FUNCTION op.realtime_visitors_v1(p_project text, p_window interval)
RETURNS bigint
LANGUAGE plpgsql STABLE
SET jit = off
AS $fn$
DECLARE
    n bigint;
BEGIN
    EXECUTE $q$
        SELECT count(DISTINCT e.device_id) FROM events e
        WHERE e.project_id = $1 AND e.created_at > $2 AND e.name <> 'session_end'
    $q$ INTO n USING p_project, now() - p_window;
    RETURN n;
END
$fn$;

-- op.realtime_feed_v1: the latest p_limit events of the last 30 minutes,
-- newest first, without session_start and session_end.
CREATE OR REPLACE FUNCTION op.realtime_feed_v1(p_project text, p_limit integer)
RETURNS TABLE (name text, path text, country text, city text, browser text, device text, created_at timestamptz)
LANGUAGE plpgsql STABLE
SET jit = off
AS $fn$
BEGIN
    RETURN QUERY EXECUTE $q$
        SELECT e.name, coalesce(e.path, ''), coalesce(e.country, ''), coalesce(e.city, ''),
               coalesce(e.browser, ''), coalesce(e.device, ''), e.created_at
        FROM events e
        WHERE e.project_id = $1 AND e.created_at > $3
          AND e.name NOT IN ('session_start', 'session_end')
        ORDER BY e.created_at DESC, e.id
        LIMIT least(greatest($2, 0), 1000)
    $q$ USING p_project, p_limit, now() - interval '30 minutes';
END
$fn$;

-- op.realtime_top_v1: a breakdown of the last p_window (raw).
CREATE OR REPLACE FUNCTION op.realtime_top_v1(p_project text, p_window interval, p_dim text, p_limit integer)
RETURNS TABLE (value text, visitors bigint, count bigint, total bigint)
LANGUAGE sql STABLE AS $fn$
    SELECT b.* FROM op.overview_breakdown_v1(
        p_project, now() - p_window, now() + interval '1 minute',
        coalesce((SELECT p.timezone FROM projects p WHERE p.id = p_project), 'UTC'),
        p_dim, p_limit, '[]', true) b;
$fn$;

-- op.realtime_geo_v1: where the last p_window's visitors are: distinct
-- devices per place (coordinates rounded to about a kilometre), most first.
CREATE OR REPLACE FUNCTION op.realtime_geo_v1(p_project text, p_window interval, p_limit integer)
RETURNS TABLE (latitude double precision, longitude double precision, city text, country text, visitors bigint)
LANGUAGE plpgsql STABLE
SET jit = off
AS $fn$
BEGIN
    RETURN QUERY EXECUTE $q$
        SELECT round(e.latitude::numeric, 2)::double precision, round(e.longitude::numeric, 2)::double precision,
               coalesce(e.city, ''), coalesce(e.country, ''), count(DISTINCT e.device_id)
        FROM events e
        WHERE e.project_id = $1 AND e.created_at > $2 AND e.name <> 'session_end'
          AND e.latitude IS NOT NULL AND e.longitude IS NOT NULL
          AND e.latitude BETWEEN -90 AND 90 AND e.longitude BETWEEN -180 AND 180
        GROUP BY 1, 2, 3, 4
        ORDER BY 5 DESC, 4, 3, 1, 2
        LIMIT least(greatest($3, 0), 5000)
    $q$ USING p_project, now() - p_window, p_limit;
END
$fn$;

-- Rollups ------------------------------------------------------------------

-- op.rollup_day_v1 recomputes one project's local day: deletes its rows
-- and writes them again from events and sessions, with the definitions
-- above (so the rollups equal the raw answers).
CREATE OR REPLACE FUNCTION op.rollup_day_v1(p_project text, p_day date, p_tz text)
RETURNS void
LANGUAGE plpgsql
SET jit = off SET work_mem = '64MB'
-- One process: a refresh runs beside ingest and must not take every core
-- (parallel workers tripled its CPU for the same wall time).
SET max_parallel_workers_per_gather = 0
AS $fn$
DECLARE
    lo timestamptz := p_day::timestamp AT TIME ZONE p_tz;
    hi timestamptz := (p_day + 1)::timestamp AT TIME ZONE p_tz;
BEGIN
    DELETE FROM rollup_days r WHERE r.project_id = p_project AND r.day = p_day;
    -- dim = ANY(...): one index range per dimension.
    DELETE FROM rollup_dims r
    WHERE r.project_id = p_project AND r.dim = ANY (op.session_dims_v1() || op.event_dims_v1()) AND r.day = p_day;

    INSERT INTO rollup_days (project_id, day, visitors, sessions, bounces, duration, pageviews, revenue)
    SELECT p_project, p_day, ev.visitors, se.sessions, se.bounces, se.duration, ev.pageviews, se.revenue
    FROM (SELECT count(*) FILTER (WHERE g.n > 0) AS visitors, coalesce(sum(g.pv), 0) AS pageviews
          FROM (SELECT count(*) FILTER (WHERE e.name <> 'session_end') AS n,
                       count(*) FILTER (WHERE e.name = 'screen_view') AS pv
                FROM events e
                WHERE e.project_id = p_project AND e.created_at >= lo AND e.created_at < hi
                GROUP BY e.device_id COLLATE "C") g) ev,
         (SELECT count(*) AS sessions, count(*) FILTER (WHERE s.is_bounce) AS bounces,
                 coalesce(sum(s.duration), 0) AS duration, coalesce(sum(s.revenue), 0) AS revenue
          FROM sessions s
          WHERE s.project_id = p_project AND s.started_at >= lo AND s.started_at < hi) se
    WHERE ev.visitors > 0 OR ev.pageviews > 0 OR se.sessions > 0;

    INSERT INTO rollup_dims (project_id, dim, day, value, visitors, count)
    SELECT p_project, g.dim, p_day, g.value, count(*), sum(g.n)
    FROM (SELECT d.dim COLLATE "C" AS dim, coalesce(d.value, '') COLLATE "C" AS value, count(*) AS n
          FROM sessions s
          CROSS JOIN LATERAL (VALUES
              ('referrer_name', s.referrer_name), ('referrer', s.referrer), ('referrer_type', s.referrer_type),
              ('utm_source', s.utm_source), ('utm_medium', s.utm_medium), ('utm_campaign', s.utm_campaign),
              ('utm_term', s.utm_term), ('utm_content', s.utm_content),
              ('entry_path', s.entry_path), ('exit_path', s.exit_path),
              ('device', s.device), ('browser', s.browser), ('browser_version', s.browser_version),
              ('os', s.os), ('os_version', s.os_version), ('brand', s.brand), ('model', s.model),
              ('country', s.country), ('region', s.region), ('city', s.city)) d(dim, value)
          WHERE s.project_id = p_project AND s.started_at >= lo AND s.started_at < hi
          GROUP BY 1, 2, s.device_id COLLATE "C") g
    GROUP BY g.dim, g.value;

    INSERT INTO rollup_dims (project_id, dim, day, value, visitors, count)
    SELECT p_project, g.dim, p_day, g.value, count(*), sum(g.n)
    FROM (SELECT d.dim COLLATE "C" AS dim, d.value COLLATE "C" AS value, count(*) AS n
          FROM events e
          CROSS JOIN LATERAL (
              SELECT 'path', coalesce(e.path, '') WHERE e.name = 'screen_view'
              UNION ALL
              SELECT 'event', e.name WHERE e.name NOT IN ('screen_view', 'session_start', 'session_end')
              UNION ALL
              SELECT 'link_out', coalesce(e.properties->>'href', '') WHERE e.name = 'link_out') d(dim, value)
          WHERE e.project_id = p_project AND e.created_at >= lo AND e.created_at < hi
            AND e.name NOT IN ('session_start', 'session_end')
          GROUP BY 1, 2, e.device_id COLLATE "C") g
    GROUP BY g.dim, g.value;
END
$fn$;

-- op.refresh_rollups_v1 recomputes up to max_days dirty (project, day)
-- pairs, newest days first, in the caller's transaction, and returns how
-- many it took off the dirty list (0: nothing was dirty, or wait is false
-- and another refresh is running). Call it with max_days 1 in a loop for
-- a transaction per day (app/analytics.RefreshRollups does). One refresh
-- at a time (an advisory lock): two would delete and insert the same rows.
CREATE OR REPLACE FUNCTION op.refresh_rollups_v1(max_days integer DEFAULT 1, wait boolean DEFAULT true)
RETURNS integer
LANGUAGE plpgsql
SET jit = off
AS $fn$
DECLARE
    lock_key constant bigint := 7233187063939950450; -- "dirtyrol"
    r record;
    tz text;
    n integer := 0;
BEGIN
    IF wait THEN
        PERFORM pg_advisory_xact_lock(lock_key);
    ELSIF NOT pg_try_advisory_xact_lock(lock_key) THEN
        RETURN 0;
    END IF;
    FOR r IN
        SELECT d.project_id, d.day FROM rollup_dirty d
        GROUP BY 1, 2
        ORDER BY 2 DESC, 1
        LIMIT greatest(max_days, 1)
    LOOP
        -- Only the rows this statement sees go: a batch committing after
        -- it leaves its row for the next refresh, and this recompute
        -- (later statements, later snapshots) sees everything before.
        DELETE FROM rollup_dirty d WHERE d.project_id = r.project_id AND d.day = r.day;
        n := n + 1;
        SELECT p.timezone INTO tz FROM projects p WHERE p.id = r.project_id;
        IF FOUND THEN
            PERFORM op.rollup_day_v1(r.project_id, r.day, tz);
        END IF;
    END LOOP;
    RETURN n;
END
$fn$;

-- op.mark_rollups_dirty_v1 marks a project's local days overlapping
-- [p_from, p_to] for recomputing: for writers that bypass op.ingest_v1
-- (bulk loads, seeding). Returns how many days it marked.
CREATE OR REPLACE FUNCTION op.mark_rollups_dirty_v1(p_project text, p_from timestamptz, p_to timestamptz)
RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
    tz text := coalesce((SELECT p.timezone FROM projects p WHERE p.id = p_project), 'UTC');
    n integer;
BEGIN
    INSERT INTO rollup_dirty (project_id, day)
    SELECT p_project, d::date
    FROM generate_series((p_from AT TIME ZONE tz)::date::timestamp, (p_to AT TIME ZONE tz)::date::timestamp, interval '1 day') d;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$fn$;

-- op.overview_filtered_v1 answers everything the overview asks of one
-- filtered range in one pass over its matching events (the filtered
-- overview is otherwise one scan of the range per widget): rows of kind
-- 'total' (the cards' sums), 'series' (per bucket of p_interval, every
-- bucket present) and 'dim' (for each dimension of p_dims its top
-- p_dim_limit values with visitors, count and the dimension's total).
-- Same definitions and answers as op.overview_metrics_v1,
-- op.overview_series_v1 and op.overview_breakdown_v1 with the filter (the
-- tests compare them). app/analytics shares one call among the overview's
-- concurrent requests. No nested loops: a nested loop between events and
-- sessions on a mistaken estimate costs seconds.
CREATE OR REPLACE FUNCTION op.overview_filtered_v1(
    p_project text, p_from timestamptz, p_to timestamptz, p_tz text, p_interval text,
    p_filters jsonb, p_dims text[] DEFAULT '{}', p_dim_limit integer DEFAULT 100)
RETURNS TABLE (kind text, dim text, value text, bucket timestamptz,
               visitors bigint, sessions bigint, bounces bigint, duration bigint, pageviews bigint, revenue bigint,
               count bigint, total bigint)
LANGUAGE plpgsql STABLE
SET jit = off SET work_mem = '128MB' SET enable_nestloop = off SET enable_sort = off
AS $fn$
DECLARE
    clause text := op.filter_where_v1(p_filters);
    whole boolean := op.whole_days_v1(p_from, p_to, p_tz);
    hourly boolean := p_interval IN ('minute', 'hour');
    step interval;
    buckets text;
    sdims text;    -- a GROUP BY over s per wanted session dimension
    edims text;    -- a GROUP BY over m per wanted event dimension
    scols text;    -- the session dimensions' columns, only those asked for
    href text;     -- link_out's target, read only when asked for (reading
                   -- properties costs as much as the rest of the scan)
    hb text;       -- an event's bucket, when finer than its day
    evbucket text; -- a (day, device) group's bucket
    visitors text; -- the range's visitors
BEGIN
    IF p_interval NOT IN ('minute', 'hour', 'day', 'week', 'month') THEN
        RAISE EXCEPTION 'unknown interval "%"', left(p_interval, 30) USING ERRCODE = 'TLFLT';
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(p_dims) d WHERE NOT (d = ANY (op.session_dims_v1() || op.event_dims_v1()))) THEN
        RAISE EXCEPTION 'unknown breakdown' USING ERRCODE = 'TLFLT';
    END IF;
    IF p_to <= p_from THEN
        RETURN;
    END IF;
    step := ('1 ' || p_interval)::interval;
    IF extract(epoch FROM p_to - p_from) / extract(epoch FROM step) > 2100 THEN
        RAISE EXCEPTION 'too many buckets: choose a larger interval' USING ERRCODE = 'TLFLT';
    END IF;
    IF hourly THEN
        buckets := 'SELECT b FROM generate_series(date_trunc($5, $2, $4), $3 - interval ''1 microsecond'', $6) b';
        hb := 'date_trunc($5, m.created_at, $4)';
        evbucket := 'ev.hb';
    ELSE
        buckets := 'SELECT b AT TIME ZONE $4 AS b FROM generate_series(date_trunc($5, $2 AT TIME ZONE $4),
                                                                       ($3 AT TIME ZONE $4) - interval ''1 microsecond'', $6) b';
        -- A day or more: a bucket is a function of the local day, so the
        -- time zone is applied per group, not per event.
        hb := 'NULL::timestamptz';
        evbucket := 'date_trunc($5, ev.day::timestamp) AT TIME ZONE $4';
    END IF;
    -- Visitors: with a day or more per bucket and whole days, ev's groups
    -- are the distinct (day, device) pairs already.
    IF whole AND NOT hourly THEN
        visitors := 'SELECT count(*) FILTER (WHERE ev.n > 0) FROM ev';
    ELSE
        visitors := 'SELECT count(*) FROM (SELECT DISTINCT CASE WHEN $7 THEN ev.day END, ev.device_id FROM ev WHERE ev.n > 0) x';
    END IF;
    -- Only the dimensions asked for (whitelisted above): the work is per
    -- dimension. Each is grouped by (value, day, device) and then by value;
    -- values in the "C" collation: grouping compares bytes, not locale rules.
    SELECT coalesce(string_agg(format(
               'SELECT %L::text AS dim, coalesce(s.%I, '''') COLLATE "C" AS value, s.vday, s.device_id, count(*) AS n FROM s GROUP BY 2, 3, 4',
               d, d), ' UNION ALL '),
               'SELECT NULL::text, NULL::text, NULL::date, NULL::text, 0::bigint WHERE false'),
           coalesce(string_agg(format(', s.%I', d), ''), '') INTO sdims, scols
    FROM (SELECT DISTINCT x AS d FROM unnest(p_dims) x) u WHERE d = ANY (op.session_dims_v1());
    SELECT coalesce(string_agg(CASE d
               WHEN 'path' THEN 'SELECT ''path''::text, coalesce(m.path, '''') COLLATE "C", m.vday, m.device_id, count(*)
                                 FROM m WHERE m.name = ''screen_view'' GROUP BY 2, 3, 4'
               WHEN 'event' THEN 'SELECT ''event''::text, m.name COLLATE "C", m.vday, m.device_id, count(*)
                                  FROM m WHERE m.name NOT IN (''screen_view'', ''session_start'', ''session_end'') GROUP BY 2, 3, 4'
               ELSE 'SELECT ''link_out''::text, coalesce(m.href, '''') COLLATE "C", m.vday, m.device_id, count(*)
                     FROM m WHERE m.name = ''link_out'' GROUP BY 2, 3, 4' END, ' UNION ALL '),
               'SELECT NULL::text, NULL::text, NULL::date, NULL::text, 0::bigint WHERE false') INTO edims
    FROM (SELECT DISTINCT x AS d FROM unnest(p_dims) x) u WHERE d = ANY (op.event_dims_v1());
    href := CASE WHEN 'link_out' = ANY (p_dims) THEN 'CASE WHEN e.name = ''link_out'' THEN e.properties->>''href'' END'
                 ELSE 'NULL::text' END;
    -- $1 project, $2 from, $3 to, $4 tz, $5 interval, $6 step, $7 whole
    -- days, $8 rows per dimension.
    RETURN QUERY EXECUTE format($q$
        WITH m AS %9$s (
            SELECT e.created_at, e.name, e.device_id COLLATE "C" AS device_id, e.session_id, e.path,
                   %5$s AS href, x.day, CASE WHEN $7 THEN x.day END AS vday
            FROM events e
            CROSS JOIN LATERAL (SELECT (e.created_at AT TIME ZONE $4)::date AS day) x
            WHERE e.project_id = $1 AND e.created_at >= $2 AND e.created_at < $3 AND (%2$s)),
        -- (session, bucket, day, device) groups of the events, then
        -- (bucket, day, device) groups: visitors and pageviews. Grouping
        -- by session first makes the session list and ev a few times
        -- smaller inputs than the events.
        es AS MATERIALIZED (
               SELECT m.session_id, %6$s AS hb, m.day, m.device_id,
                      count(*) FILTER (WHERE m.name <> 'session_end') AS n,
                      count(*) FILTER (WHERE m.name = 'screen_view') AS pv
               FROM m GROUP BY 1, 2, 3, 4),
        s AS MATERIALIZED (
            SELECT s.id, s.device_id COLLATE "C" AS device_id, s.started_at, s.is_bounce, s.duration, s.revenue,
                   CASE WHEN $7 THEN (s.started_at AT TIME ZONE $4)::date END AS vday%10$s
            FROM sessions s
            WHERE s.project_id = $1 AND s.started_at >= $2 AND s.started_at < $3
              -- An array probed through the primary key (the index
              -- scan sorts it and drops repeats): a hash join with the
              -- range's sessions costs a second at this size.
              AND s.id = ANY (ARRAY(SELECT es.session_id FROM es WHERE es.session_id IS NOT NULL))),
        ev AS MATERIALIZED (
               SELECT es.hb, es.day, es.device_id, sum(es.n) AS n, sum(es.pv) AS pv
               FROM es GROUP BY 1, 2, 3),
        tot AS (SELECT (%8$s)::bigint AS visitors,
                       (SELECT coalesce(sum(ev.pv), 0) FROM ev)::bigint AS pageviews,
                       count(*)::bigint AS sessions, count(*) FILTER (WHERE s.is_bounce)::bigint AS bounces,
                       coalesce(sum(s.duration), 0)::bigint AS duration, coalesce(sum(s.revenue), 0)::bigint AS revenue
                FROM s),
        b AS (%1$s),
        evb AS (SELECT %7$s AS b, count(*) FILTER (WHERE ev.n > 0) AS visitors, sum(ev.pv) AS pageviews FROM ev GROUP BY 1),
        seb AS (SELECT date_trunc($5, s.started_at, $4) AS b, count(*) AS sessions,
                       count(*) FILTER (WHERE s.is_bounce) AS bounces, sum(s.duration) AS duration, sum(s.revenue) AS revenue
                FROM s GROUP BY 1),
        dr AS (SELECT g.dim, g.value, count(*)::bigint AS visitors, sum(g.n)::bigint AS count
               FROM (%3$s UNION ALL %4$s) g(dim, value, day, device_id, n)
               GROUP BY 1, 2),
        dt AS (SELECT dr.*, (sum(dr.count) OVER (PARTITION BY dr.dim))::bigint AS total,
                      row_number() OVER (PARTITION BY dr.dim ORDER BY dr.count DESC, dr.value) AS rn
               FROM dr)
        SELECT 'total', NULL, NULL, NULL::timestamptz, tot.visitors, tot.sessions, tot.bounces, tot.duration,
               tot.pageviews, tot.revenue, NULL::bigint, NULL::bigint
        FROM tot
        UNION ALL
        SELECT 'series', NULL, NULL, b.b, coalesce(evb.visitors, 0)::bigint, coalesce(seb.sessions, 0)::bigint,
               coalesce(seb.bounces, 0)::bigint, coalesce(seb.duration, 0)::bigint,
               coalesce(evb.pageviews, 0)::bigint, coalesce(seb.revenue, 0)::bigint, NULL, NULL
        FROM b LEFT JOIN evb ON evb.b = b.b LEFT JOIN seb ON seb.b = b.b
        UNION ALL
        SELECT 'dim', dt.dim, dt.value, NULL, dt.visitors, NULL, NULL, NULL, NULL, NULL, dt.count, dt.total
        FROM dt WHERE dt.rn <= $8
        $q$, buckets, clause, sdims, edims, href, hb, evbucket, visitors,
        -- Without event dimensions only es reads the events: straight from
        -- the scan, not through a stored copy.
        CASE WHEN p_dims && op.event_dims_v1() THEN 'MATERIALIZED' ELSE 'NOT MATERIALIZED' END,
        scols)
    USING p_project, p_from, p_to, p_tz, p_interval, step, whole, p_dim_limit;
END
$fn$;
