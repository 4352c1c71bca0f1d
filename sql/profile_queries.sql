-- Profile queries of the dashboard: one profile with its stats, its
-- sessions and events (newest first, keyset-paged) and the profile list.
--
-- A profile's history is every row carrying its id or an id merged into it.
-- profile_identities maps each merged id straight to its profile, and the
-- merge job rewrites history asynchronously: until it is done some rows
-- still carry the old id, and the profile page must not lose them meanwhile.

-- op.profile_ids_v1 returns the ids whose rows belong to p_id's profile:
-- the profile's own id first (p_id resolved through merges, so an old id
-- names the person it belongs to now), then every id merged into it.
CREATE OR REPLACE FUNCTION op.profile_ids_v1(p_project text, p_id text)
RETURNS text[]
LANGUAGE sql STABLE AS $fn$
    -- MATERIALIZED: resolve once, not once per row the planner would
    -- substitute the call into.
    WITH r AS MATERIALIZED (SELECT op.resolve_profile_v1(p_project, p_id) AS id)
    SELECT array_prepend(r.id, ARRAY(SELECT i.alias_id FROM profile_identities i
                                     WHERE i.project_id = p_project AND i.profile_id = r.id
                                     ORDER BY i.alias_id))
    FROM r;
$fn$;

-- op.profile_v1 returns the profile p_id names (no row if there is none)
-- with the stats of its page header, over its whole history: sessions,
-- screen views, events (without session_start/session_end), the average
-- session duration in ms, the bounce rate (0..1, over sessions; 0 without
-- sessions) and revenue (minor units). One row, so the page is one query;
-- id is the resolved id, which differs from p_id for an old merged id.
CREATE OR REPLACE FUNCTION op.profile_v1(p_project text, p_id text)
RETURNS TABLE (
    id text, is_external boolean, first_name text, last_name text, email text, avatar text,
    properties jsonb, groups text[], first_seen_at timestamptz, last_seen_at timestamptz,
    country text, region text, city text, os text, browser text, device text, brand text, model text,
    sessions bigint, screen_views bigint, events bigint, avg_session_duration double precision,
    bounce_rate double precision, revenue bigint)
LANGUAGE sql STABLE AS $fn$
    -- MATERIALIZED: the ids are computed once; inlined, the call would be
    -- repeated in every partition's index condition.
    WITH ids AS MATERIALIZED (SELECT op.profile_ids_v1(p_project, p_id) AS ids)
    SELECT p.id, p.is_external, p.first_name, p.last_name, p.email, p.avatar,
           p.properties, p.groups, p.first_seen_at, p.last_seen_at,
           p.country, p.region, p.city, p.os, p.browser, p.device, p.brand, p.model,
           s.sessions, s.screen_views, e.events, s.avg_duration, s.bounce_rate, e.revenue
    FROM ids
    JOIN profiles p ON p.project_id = p_project AND p.id = ids.ids[1]
    -- profile_id = ANY(ids): index scans of sessions_project_profile and
    -- events_project_profile_time, one range per id.
    CROSS JOIN LATERAL (
        SELECT count(*) AS sessions,
               coalesce(sum(x.screen_view_count), 0)::bigint AS screen_views,
               coalesce(avg(x.duration), 0)::double precision AS avg_duration,
               coalesce(avg(x.is_bounce::integer), 0)::double precision AS bounce_rate
        FROM sessions x
        WHERE x.project_id = p_project AND x.profile_id = ANY (ids.ids)
    ) s
    CROSS JOIN LATERAL (
        SELECT count(*) FILTER (WHERE y.name NOT IN ('session_start', 'session_end')) AS events,
               coalesce(sum(y.revenue), 0)::bigint AS revenue
        FROM events y
        WHERE y.project_id = p_project AND y.profile_id = ANY (ids.ids)
    ) e;
$fn$;

-- op.profile_sessions_v1 returns up to p_limit (1..1000) of the profile's
-- sessions, newest first, started before p_before (NULL: now). Keyset on
-- (started_at, id): pass the last row's started_at and id as p_before and
-- p_before_id for the next page, so sessions that started at the same
-- instant are neither skipped nor repeated (p_before_id NULL: strictly
-- before p_before).
--
-- Each id of the profile gets its own newest-first walk of
-- sessions_project_profile that stops after p_limit rows, and the walks
-- are merged: the cost is the page, not the history.
CREATE OR REPLACE FUNCTION op.profile_sessions_v1(
    p_project text, p_id text, p_before timestamptz, p_limit integer, p_before_id uuid DEFAULT NULL)
RETURNS TABLE (
    id uuid, started_at timestamptz, ended_at timestamptz, duration bigint, event_count integer,
    screen_view_count integer, is_bounce boolean, entry_path text, exit_path text, referrer_name text,
    country text, city text, browser text, os text, device text, revenue bigint)
LANGUAGE sql STABLE AS $fn$
    SELECT s.id, s.started_at, s.ended_at, s.duration, s.event_count,
           s.screen_view_count, s.is_bounce, s.entry_path, s.exit_path, s.referrer_name,
           s.country, s.city, s.browser, s.os, s.device, s.revenue
    FROM unnest(op.profile_ids_v1(p_project, p_id)) AS i(profile_id)
    CROSS JOIN LATERAL (
        SELECT x.* FROM sessions x
        WHERE x.project_id = p_project AND x.profile_id = i.profile_id
          AND x.started_at <= coalesce(p_before, now())
          AND (x.started_at < coalesce(p_before, now()) OR x.id < p_before_id)
        ORDER BY x.started_at DESC, x.id DESC
        LIMIT least(greatest(coalesce(p_limit, 50), 1), 1000)
    ) s
    ORDER BY s.started_at DESC, s.id DESC
    LIMIT least(greatest(coalesce(p_limit, 50), 1), 1000);
$fn$;

-- op.profile_events_v1 returns up to p_limit (1..1000) of the profile's
-- events, session_start/session_end included (they mark the timeline),
-- newest first: keyset on (created_at, id), strictly before the cursor
-- (the last row of the previous page; both NULL: from the newest). id
-- breaks ties, so events stored at the same instant are all returned
-- exactly once across pages, which an offset or a time alone cannot do.
--
-- Shaped like op.profile_sessions_v1: one bounded walk of
-- events_project_profile_time per id, merged. created_at <= cursor is the
-- index condition (and prunes partitions); the id tie-break is a filter.
CREATE OR REPLACE FUNCTION op.profile_events_v1(
    p_project text, p_id text, p_cursor_time timestamptz, p_cursor_id uuid, p_limit integer)
RETURNS TABLE (
    id uuid, name text, created_at timestamptz, session_id uuid, path text, origin text,
    referrer_name text, country text, city text, browser text, os text, device text, properties jsonb)
LANGUAGE sql STABLE AS $fn$
    SELECT e.id, e.name, e.created_at, e.session_id, e.path, e.origin,
           e.referrer_name, e.country, e.city, e.browser, e.os, e.device, e.properties
    FROM unnest(op.profile_ids_v1(p_project, p_id)) AS i(profile_id)
    CROSS JOIN LATERAL (
        SELECT x.* FROM events x
        WHERE x.project_id = p_project AND x.profile_id = i.profile_id
          AND x.created_at <= coalesce(p_cursor_time, 'infinity')
          AND (p_cursor_time IS NULL OR x.created_at < p_cursor_time OR x.id < p_cursor_id)
        ORDER BY x.created_at DESC, x.id DESC
        LIMIT least(greatest(coalesce(p_limit, 50), 1), 1000)
    ) e
    ORDER BY e.created_at DESC, e.id DESC
    LIMIT least(greatest(coalesce(p_limit, 50), 1), 1000);
$fn$;

-- op.profile_list_v1 returns up to p_limit (1..1000) profiles of the list,
-- last seen first, then by id: keyset on (last_seen_at DESC, id ASC),
-- after the cursor (the previous page's last row; both NULL: from the top).
-- Filters, each off when NULL:
--   p_search      case-insensitive substring of the id, the name ("first
--                 last") or the email; % _ \ match themselves
--   p_properties  properties @> p_properties (GIN index profiles_properties)
--   p_identified  true: identified profiles only; false: anonymous only
--
-- The query is assembled from fixed fragments, only for the filters given,
-- and run with every value as a parameter: a one-shot plan for the actual
-- filters can pick the GIN index for a selective property filter, or walk
-- profiles_project_seen newest first and stop at the page, which one
-- generic plan with "p IS NULL OR ..." conditions cannot.
CREATE OR REPLACE FUNCTION op.profile_list_v1(
    p_project text, p_search text, p_properties jsonb, p_cursor_seen timestamptz, p_cursor_id text,
    p_limit integer, p_identified boolean DEFAULT NULL)
RETURNS TABLE (
    id text, is_external boolean, first_name text, last_name text, email text, avatar text,
    country text, city text, os text, browser text, device text,
    first_seen_at timestamptz, last_seen_at timestamptz)
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    q text := $q$
        SELECT p.id, p.is_external, p.first_name, p.last_name, p.email, p.avatar,
               p.country, p.city, p.os, p.browser, p.device, p.first_seen_at, p.last_seen_at
        FROM profiles p
        WHERE p.project_id = $1$q$;
    pattern text;
BEGIN
    IF p_search IS NOT NULL AND p_search <> '' THEN
        -- The term is a parameter; escaping makes it a literal LIKE pattern.
        pattern := '%' || replace(replace(replace(p_search, '\', '\\'), '%', '\%'), '_', '\_') || '%';
        q := q || $q$
          AND (p.id ILIKE $2 ESCAPE '\'
               OR concat_ws(' ', p.first_name, p.last_name) ILIKE $2 ESCAPE '\'
               OR p.email ILIKE $2 ESCAPE '\')$q$;
    END IF;
    IF p_properties IS NOT NULL THEN
        q := q || $q$
          AND p.properties @> $3$q$;
    END IF;
    IF p_identified IS NOT NULL THEN
        q := q || $q$
          AND p.is_external = $4$q$;
    END IF;
    IF p_cursor_seen IS NOT NULL THEN
        q := q || $q$
          AND p.last_seen_at <= $5
          AND (p.last_seen_at < $5 OR p.id > $6)$q$;
    END IF;
    q := q || $q$
        ORDER BY p.last_seen_at DESC, p.id
        LIMIT $7$q$;
    RETURN QUERY EXECUTE q
        USING p_project, pattern, p_properties, p_identified, p_cursor_seen, p_cursor_id,
              least(greatest(coalesce(p_limit, 50), 1), 1000);
END
$fn$;
