-- op.end_sessions_v1 ends the given open sessions: it marks them ended
-- and stores their session_end event (duration, bounce). Returns how many.
CREATE OR REPLACE FUNCTION op.end_sessions_v1(ids uuid[])
RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
    n integer;
BEGIN
    WITH u AS (
        UPDATE sessions s SET ended_at = s.last_event_at
        WHERE s.id = ANY (ids) AND s.ended_at IS NULL
        RETURNING s.*
    )
    INSERT INTO events (
        id, project_id, name, device_id, profile_id, session_id, created_at,
        path, origin, referrer, referrer_name, referrer_type,
        utm_source, utm_medium, utm_campaign, utm_term, utm_content,
        country, region, city, latitude, longitude,
        os, os_version, browser, browser_version, device, brand, model,
        duration, properties)
    SELECT gen_random_uuid(), u.project_id, 'session_end', u.device_id, coalesce(u.profile_id, u.device_id), u.id,
           u.last_event_at + interval '1 millisecond',
           u.exit_path, u.exit_origin, u.referrer, u.referrer_name, u.referrer_type,
           u.utm_source, u.utm_medium, u.utm_campaign, u.utm_term, u.utm_content,
           u.country, u.region, u.city, u.latitude, u.longitude,
           u.os, u.os_version, u.browser, u.browser_version, u.device, u.brand, u.model,
           u.duration,
           jsonb_build_object('bounce', u.is_bounce, 'screenViews', u.screen_view_count, 'events', u.event_count)
    FROM u;
    GET DIAGNOSTICS n = ROW_COUNT;
    -- Their start days are marked for the rollup refresh (one statement per
    -- call; see rollup_dirty). Duration and bounce are already current
    -- (every write keeps them so) and session_end events are not counted,
    -- so this is cheap insurance: a day holding ended sessions is recounted
    -- from what is stored once they are final.
    IF n > 0 THEN
        INSERT INTO rollup_dirty (project_id, day)
        SELECT DISTINCT s.project_id,
               (s.started_at AT TIME ZONE coalesce((SELECT p.timezone FROM projects p WHERE p.id = s.project_id), 'UTC'))::date
        FROM sessions s WHERE s.id = ANY (ids) AND s.ended_at IS NOT NULL;
    END IF;
    RETURN n;
END
$fn$;

-- op.close_sessions_v1 ends the sessions idle for longer than `idle`: it
-- forgets the devices' heads and ends the sessions they pointed at. Run
-- every minute by River; returns how many it closed (at most max_rows; call
-- again while it returns max_rows). The heads are few (the devices active
-- in the last half hour), so they are scanned rather than indexed: an
-- index on last_event_at would make every ingest update of a head non-HOT.
--
-- It never waits for a lock (SKIP LOCKED): a head a writer holds is closed
-- next time, and the job cannot deadlock with ingest.
CREATE OR REPLACE FUNCTION op.close_sessions_v1(idle interval DEFAULT '30 minutes', max_rows integer DEFAULT 5000)
RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
    ids uuid[];
BEGIN
    WITH h AS (
        SELECT project_id, device_id FROM session_heads
        WHERE last_event_at < now() - idle OR session_id IS NULL
        ORDER BY project_id, device_id
        LIMIT max_rows
        FOR UPDATE SKIP LOCKED
    ), gone AS (
        DELETE FROM session_heads x USING h
        WHERE x.project_id = h.project_id AND x.device_id = h.device_id
        RETURNING x.session_id
    )
    SELECT coalesce(array_agg(session_id) FILTER (WHERE session_id IS NOT NULL), '{}') INTO ids FROM gone;
    RETURN op.end_sessions_v1(ids);
END
$fn$;

-- op.prune_dedup_v1 forgets acknowledged requests older than the window.
CREATE OR REPLACE FUNCTION op.prune_dedup_v1(dedup_window interval DEFAULT '10 seconds')
RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
    n integer;
BEGIN
    DELETE FROM ingest_dedup WHERE created_at < now() - dedup_window;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$fn$;

-- op.ensure_salts_v1 makes sure the salts of yesterday, today and tomorrow
-- exist, drops older ones (old device ids can then never be recomputed:
-- that is the point) and returns the three.
CREATE OR REPLACE FUNCTION op.ensure_salts_v1(today date)
RETURNS TABLE (day date, salt bytea)
LANGUAGE plpgsql AS $fn$
BEGIN
    INSERT INTO salts (day, salt)
    SELECT d::date, gen_random_bytes(32)
    FROM generate_series(today - 1, today + 1, interval '1 day') d
    ON CONFLICT DO NOTHING;
    DELETE FROM salts s WHERE s.day < today - 1;
    RETURN QUERY SELECT s.day, s.salt FROM salts s WHERE s.day BETWEEN today - 1 AND today + 1 ORDER BY s.day;
END
$fn$;
