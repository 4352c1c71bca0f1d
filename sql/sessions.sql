-- op.close_sessions_v1 ends the sessions idle for longer than `idle`: it
-- marks them ended, stores their session_end event (duration, bounce) and
-- forgets the device's head. Run every minute by River; returns how many it
-- closed (at most max_rows; call again while it returns max_rows).
--
-- It never waits for a lock (SKIP LOCKED): a session a writer is touching
-- is closed next time, and the job cannot deadlock with ingest.
CREATE OR REPLACE FUNCTION op.close_sessions_v1(idle interval DEFAULT '30 minutes', max_rows integer DEFAULT 5000)
RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
    closed integer;
BEGIN
    DELETE FROM session_heads h
    USING (SELECT project_id, device_id FROM session_heads
           WHERE last_event_at < now() - idle OR session_id IS NULL
           ORDER BY project_id, device_id
           LIMIT max_rows
           FOR UPDATE SKIP LOCKED) x
    WHERE h.project_id = x.project_id AND h.device_id = x.device_id;

    WITH c AS (
        SELECT id FROM sessions
        WHERE ended_at IS NULL AND last_event_at < now() - idle
        ORDER BY last_event_at
        LIMIT max_rows
        FOR UPDATE SKIP LOCKED
    ), u AS (
        UPDATE sessions s SET ended_at = s.last_event_at
        FROM c WHERE s.id = c.id
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
    GET DIAGNOSTICS closed = ROW_COUNT;
    RETURN closed;
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
