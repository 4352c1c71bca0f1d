-- Ingest: one call per batch of events, inside the writer's transaction.

-- The shape of one event handed to op.ingest_v1 (as a JSON array of objects
-- whose keys are these field names). ord numbers the batch 1..n.
DO $$ BEGIN
    CREATE TYPE op.ingest_event_v1 AS (
        ord             integer,
        id              uuid,
        project_id      text,
        name            text,
        device_id       text,
        prev_device_id  text,      -- the id under yesterday's salt, set only just after a salt rotation
        profile_id      text,
        created_at      timestamptz,
        opens_session   boolean,   -- a browser event: may start a session
        dedup_key       text,      -- hex; identical requests inside the window are duplicates
        path text, origin text, query text, hash text,
        referrer text, referrer_name text, referrer_type text,
        utm_source text, utm_medium text, utm_campaign text, utm_term text, utm_content text,
        country text, region text, city text, latitude double precision, longitude double precision,
        os text, os_version text, browser text, browser_version text, device text, brand text, model text,
        duration bigint, revenue bigint, groups text[],
        sdk_name text, sdk_version text,
        properties jsonb,
        skip_profile    boolean    -- the writer touched this profile's last seen in the past minute
    );
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;
-- Databases made before skip_profile existed (jsonb_populate_recordset
-- matches fields by name, so the attribute's position does not matter).
DO $$ BEGIN
    ALTER TYPE op.ingest_event_v1 ADD ATTRIBUTE skip_profile boolean;
EXCEPTION WHEN duplicate_column THEN NULL;
END $$;

-- op.ingest_v1 deduplicates, assigns sessions, inserts the events (and a
-- session_start before each new session's first event) and upserts the
-- sessions rows. It answers, per event, the device and session ids to
-- return to the SDK and whether the event was a duplicate (not stored again).
--
-- Concurrency: a device's session_heads row is locked (in sorted order)
-- before its session is decided, so concurrent batches, in this process or
-- another, agree on one session per device. Sessions rows are only touched
-- after all heads are locked. A duplicate key committed concurrently by
-- another batch raises SQLSTATE TLDUP; the writer retries the batch, which
-- then sees it as a duplicate.
CREATE OR REPLACE FUNCTION op.ingest_v1(
    batch jsonb,
    dedup_window interval DEFAULT '10 seconds',
    session_idle interval DEFAULT '30 minutes')
RETURNS TABLE (ord integer, device_id text, session_id uuid, duplicate boolean)
LANGUAGE plpgsql AS $fn$
DECLARE
    evs op.ingest_event_v1[];
    n integer;
    now_ts timestamptz := now();
    dev text[];
    prof text[];
    sid uuid[];
    dirty_p text[] := '{}';         -- (project, time) pairs whose local days the rollups
    dirty_t timestamptz[] := '{}';  -- must recompute: events' times and their sessions' starts
    dup boolean[];
    opened integer[] := '{}';
    r record;
    cur_project text;
    cur_device text;
    cur_sid uuid;
    cur_start timestamptz;
    cur_last timestamptz;
    -- The heads to write back: one per device of the batch that has a session.
    hp text[] := '{}';
    hd text[] := '{}';
    hs uuid[] := '{}';
    ha timestamptz[] := '{}';
    hl timestamptz[] := '{}';
    replaced uuid[] := '{}';
    expected integer;
    written integer;
    notified text;
BEGIN
    SELECT array_agg(e ORDER BY e.ord) INTO evs
    FROM jsonb_populate_recordset(NULL::op.ingest_event_v1, batch) e;
    n := coalesce(array_length(evs, 1), 0);
    IF n = 0 THEN
        RETURN;
    END IF;
    sid := array_fill(NULL::uuid, ARRAY[n]);

    -- Duplicates: the same request acknowledged inside the window, or an
    -- earlier event of this batch with the same key.
    SELECT array_agg(x.is_dup ORDER BY x.ord) INTO dup
    FROM (
        SELECT e.ord,
               e.dedup_key IS NOT NULL AND (
                   e.ord <> min(e.ord) OVER (PARTITION BY e.dedup_key)
                   OR coalesce(k.created_at > now_ts - dedup_window, false)) AS is_dup
        FROM unnest(evs) e
        -- One primary-key probe per event whatever the statistics say. The
        -- window test stays outside: a planner that believes no row is
        -- recent (stale statistics) would otherwise scan the created_at
        -- index, i.e. the whole window, for every event, or hash it all.
        LEFT JOIN LATERAL (SELECT d.created_at FROM ingest_dedup d
                           WHERE d.key = decode(e.dedup_key, 'hex')
                           LIMIT 1) k ON true
    ) x;

    -- Just after the daily salt rotation a visitor's id changes; keep the
    -- old one while its session is alive so the visit stays one visitor.
    SELECT array_agg(
               CASE WHEN e.prev_device_id IS NOT NULL AND EXISTS (
                        SELECT 1 FROM session_heads h
                        WHERE h.project_id = e.project_id AND h.device_id = e.prev_device_id
                          AND h.last_event_at >= e.created_at - session_idle)
                    THEN e.prev_device_id ELSE e.device_id END
               ORDER BY e.ord) INTO dev
    FROM unnest(evs) e;

    -- Each event's profile: the id the site gave, or else the device,
    -- resolved through merges (an identified visitor's later anonymous
    -- events belong to them).
    -- (LATERAL ... LIMIT 1 here and below: a key probe per event whatever
    -- the statistics said when the plan was cached; plans made while a
    -- table was small otherwise hash a full scan of it in every batch.)
    SELECT array_agg(coalesce(i.profile_id, e.profile_id, dev[e.ord]) ORDER BY e.ord) INTO prof
    FROM unnest(evs) e
    LEFT JOIN LATERAL (SELECT pi.profile_id FROM profile_identities pi
                       WHERE pi.project_id = e.project_id AND pi.alias_id = coalesce(e.profile_id, dev[e.ord])
                       LIMIT 1) i ON true;

    -- Heads for devices that may open a session, created in sorted order.
    INSERT INTO session_heads (project_id, device_id)
    SELECT DISTINCT e.project_id, dev[e.ord]
    FROM unnest(evs) e
    WHERE NOT dup[e.ord] AND e.opens_session
    ORDER BY 1, 2
    ON CONFLICT DO NOTHING;

    -- Lock the batch's heads in one statement, in key order (the order every
    -- writer uses, so two batches never deadlock).
    -- (A key probe per device, whatever the statistics say.)
    PERFORM 1
    FROM (SELECT DISTINCT e.project_id, dev[e.ord] AS device_id
          FROM unnest(evs) e WHERE NOT dup[e.ord]
          ORDER BY 1, 2) x,
         LATERAL (SELECT 1 FROM session_heads h
                  WHERE h.project_id = x.project_id AND h.device_id = x.device_id
                  FOR UPDATE) l;

    FOR r IN
        SELECT e.ord, e.project_id, dev[e.ord] AS device_id, e.created_at, e.opens_session,
               h.session_id AS h_sid, h.started_at AS h_start, h.last_event_at AS h_last
        FROM unnest(evs) e
        LEFT JOIN LATERAL (SELECT h.session_id, h.started_at, h.last_event_at
                           FROM session_heads h
                           WHERE h.project_id = e.project_id AND h.device_id = dev[e.ord]
                           LIMIT 1) h ON true
        WHERE NOT dup[e.ord]
        ORDER BY e.project_id, dev[e.ord], e.created_at, e.ord
    LOOP
        dirty_p := dirty_p || r.project_id;
        dirty_t := dirty_t || r.created_at;
        IF cur_device IS DISTINCT FROM r.device_id OR cur_project IS DISTINCT FROM r.project_id THEN
            IF cur_sid IS NOT NULL THEN
                hp := array_append(hp, cur_project);
                hd := array_append(hd, cur_device);
                hs := array_append(hs, cur_sid);
                ha := array_append(ha, cur_start);
                hl := array_append(hl, cur_last);
            END IF;
            cur_project := r.project_id;
            cur_device := r.device_id;
            cur_sid := r.h_sid;
            cur_start := r.h_start;
            cur_last := r.h_last;
        END IF;
        IF cur_sid IS NOT NULL
           AND r.created_at <= cur_last + session_idle
           AND r.created_at >= cur_start - session_idle THEN
            sid[r.ord] := cur_sid;
            cur_last := greatest(cur_last, r.created_at);
            cur_start := least(cur_start, r.created_at);
            dirty_p := dirty_p || r.project_id; -- its session may have begun on another day
            dirty_t := dirty_t || cur_start;
        ELSIF r.opens_session AND r.created_at > now_ts - interval '15 minutes' THEN
            IF cur_sid IS NOT NULL THEN
                replaced := array_append(replaced, cur_sid); -- its visitor moved on: it has ended
            END IF;
            cur_sid := gen_random_uuid();
            cur_start := r.created_at;
            cur_last := r.created_at;
            sid[r.ord] := cur_sid;
            opened := array_append(opened, r.ord);
        END IF;
    END LOOP;
    IF cur_sid IS NOT NULL THEN
        hp := array_append(hp, cur_project);
        hd := array_append(hd, cur_device);
        hs := array_append(hs, cur_sid);
        ha := array_append(ha, cur_start);
        hl := array_append(hl, cur_last);
    END IF;
    -- Write the heads back in one statement. Each row exists and is locked
    -- (above), so this always takes the conflict path: a probe of the key
    -- index per device whatever the statistics say, then a HOT update.
    INSERT INTO session_heads (project_id, device_id, session_id, started_at, last_event_at)
    SELECT * FROM unnest(hp, hd, hs, ha, hl)
    ON CONFLICT ON CONSTRAINT session_heads_pkey DO UPDATE
        SET session_id = excluded.session_id, started_at = excluded.started_at, last_event_at = excluded.last_event_at;

    INSERT INTO events (
        id, project_id, name, device_id, profile_id, session_id, created_at,
        path, origin, query, hash, referrer, referrer_name, referrer_type,
        utm_source, utm_medium, utm_campaign, utm_term, utm_content,
        country, region, city, latitude, longitude,
        os, os_version, browser, browser_version, device, brand, model,
        duration, revenue, groups, sdk_name, sdk_version, properties)
    SELECT e.id, e.project_id, e.name, dev[e.ord], prof[e.ord], sid[e.ord], e.created_at,
           e.path, e.origin, e.query, e.hash, e.referrer, e.referrer_name, e.referrer_type,
           e.utm_source, e.utm_medium, e.utm_campaign, e.utm_term, e.utm_content,
           e.country, e.region, e.city, e.latitude, e.longitude,
           e.os, e.os_version, e.browser, e.browser_version, e.device, e.brand, e.model,
           e.duration, e.revenue, coalesce(e.groups, '{}'), e.sdk_name, e.sdk_version, coalesce(e.properties, '{}')
    FROM unnest(evs) e
    WHERE NOT dup[e.ord]
    UNION ALL
    -- session_start, just before the session's first event, with its context.
    SELECT gen_random_uuid(), e.project_id, 'session_start', dev[e.ord], prof[e.ord], sid[e.ord],
           e.created_at - interval '1 millisecond',
           e.path, e.origin, e.query, e.hash, e.referrer, e.referrer_name, e.referrer_type,
           e.utm_source, e.utm_medium, e.utm_campaign, e.utm_term, e.utm_content,
           e.country, e.region, e.city, e.latitude, e.longitude,
           e.os, e.os_version, e.browser, e.browser_version, e.device, e.brand, e.model,
           NULL, NULL, coalesce(e.groups, '{}'), e.sdk_name, e.sdk_version, '{}'
    FROM unnest(evs) e
    WHERE e.ord = ANY (opened);

    -- Rollups (sql/overview.sql): the local days this batch changes are
    -- recomputed soon: its events' days and the start days of the sessions
    -- they extend, collected by the loop above (a statement over evs costs
    -- as much again as this whole function: every reference copies the
    -- batch). Appended rows, one per project and day: no batch waits on
    -- another.
    INSERT INTO rollup_dirty (project_id, day)
    SELECT DISTINCT x.p, (x.t AT TIME ZONE coalesce((SELECT pr.timezone FROM projects pr WHERE pr.id = x.p LIMIT 1), 'UTC'))::date
    FROM unnest(dirty_p, dirty_t) x(p, t);

    WITH b AS (
        SELECT sid[e.ord] AS session_id, dev[e.ord] AS dev_id, prof[e.ord] AS prof_id, e.*
        FROM unnest(evs) e
        WHERE NOT dup[e.ord] AND sid[e.ord] IS NOT NULL
    ), agg AS (
        -- Plain aggregates only: an ordered aggregate sorts per group, and
        -- that cost dominated the whole batch. Firsts and lasts come from
        -- DISTINCT ON below.
        SELECT b.session_id,
               min(b.created_at) AS started_at,
               max(b.created_at) AS last_event_at,
               count(*) AS event_count,
               count(*) FILTER (WHERE b.name = 'screen_view') AS screen_views,
               coalesce(sum(b.revenue), 0) AS revenue
        FROM b
        GROUP BY b.session_id
    ), f AS (  -- each session's first event: its context
        SELECT DISTINCT ON (b.session_id) b.*
        FROM b
        ORDER BY b.session_id, b.created_at, b.ord
    ), l AS (  -- its latest event: its profile
        SELECT DISTINCT ON (b.session_id) b.session_id, b.prof_id
        FROM b
        ORDER BY b.session_id, b.created_at DESC, b.ord DESC
    ), sv_in AS (  -- first and last page views: entry and exit
        SELECT DISTINCT ON (b.session_id) b.session_id, b.path, b.origin
        FROM b WHERE b.name = 'screen_view'
        ORDER BY b.session_id, b.created_at, b.ord
    ), sv_out AS (
        SELECT DISTINCT ON (b.session_id) b.session_id, b.path, b.origin
        FROM b WHERE b.name = 'screen_view'
        ORDER BY b.session_id, b.created_at DESC, b.ord DESC
    )
    INSERT INTO sessions AS s (
        id, project_id, device_id, profile_id, started_at, last_event_at, duration,
        event_count, screen_view_count, is_bounce, revenue,
        entry_path, entry_origin, exit_path, exit_origin,
        referrer, referrer_name, referrer_type, utm_source, utm_medium, utm_campaign, utm_term, utm_content,
        country, region, city, latitude, longitude,
        os, os_version, browser, browser_version, device, brand, model)
    SELECT a.session_id, f.project_id, f.dev_id, l.prof_id, a.started_at, a.last_event_at,
           (extract(epoch FROM a.last_event_at - a.started_at) * 1000)::bigint,
           a.event_count, a.screen_views, a.event_count <= 1, a.revenue,
           sv_in.path, sv_in.origin, sv_out.path, sv_out.origin,
           f.referrer, f.referrer_name, f.referrer_type, f.utm_source, f.utm_medium, f.utm_campaign, f.utm_term, f.utm_content,
           f.country, f.region, f.city, f.latitude, f.longitude,
           f.os, f.os_version, f.browser, f.browser_version, f.device, f.brand, f.model
    FROM agg a
    JOIN f USING (session_id)
    JOIN l USING (session_id)
    LEFT JOIN sv_in USING (session_id)
    LEFT JOIN sv_out USING (session_id)
    ORDER BY a.session_id
    ON CONFLICT (id) DO UPDATE SET
        profile_id = CASE WHEN excluded.profile_id <> excluded.device_id THEN excluded.profile_id ELSE s.profile_id END,
        started_at = least(s.started_at, excluded.started_at),
        last_event_at = greatest(s.last_event_at, excluded.last_event_at),
        duration = (extract(epoch FROM greatest(s.last_event_at, excluded.last_event_at)
                                    - least(s.started_at, excluded.started_at)) * 1000)::bigint,
        event_count = s.event_count + excluded.event_count,
        screen_view_count = s.screen_view_count + excluded.screen_view_count,
        is_bounce = s.event_count + excluded.event_count <= 1,
        revenue = s.revenue + excluded.revenue,
        entry_path = CASE WHEN s.entry_path IS NULL OR (excluded.entry_path IS NOT NULL AND excluded.started_at < s.started_at)
                          THEN coalesce(excluded.entry_path, s.entry_path) ELSE s.entry_path END,
        entry_origin = CASE WHEN s.entry_path IS NULL OR (excluded.entry_path IS NOT NULL AND excluded.started_at < s.started_at)
                            THEN coalesce(excluded.entry_origin, s.entry_origin) ELSE s.entry_origin END,
        exit_path = CASE WHEN excluded.exit_path IS NOT NULL AND excluded.last_event_at >= s.last_event_at
                         THEN excluded.exit_path ELSE s.exit_path END,
        exit_origin = CASE WHEN excluded.exit_path IS NOT NULL AND excluded.last_event_at >= s.last_event_at
                           THEN excluded.exit_origin ELSE s.exit_origin END;

    -- Sessions replaced by a new one of the same device end now (the close
    -- job only sees the sessions that devices' heads still point at).
    IF cardinality(replaced) > 0 THEN
        PERFORM op.end_sessions_v1(replaced);
    END IF;

    -- Profiles: anonymous ones for browsing devices, and the ids sites give;
    -- last seen and the latest context, written at most once a minute. The
    -- writer marks skip_profile on events whose profile it wrote in the past
    -- minute (app/ingest/seen.go): most events then cost no probe here. (A
    -- freshness probe before the insert would skip the row locks, but its
    -- plan, cached while the table was small, can pick the last-seen index
    -- and walk every recent profile; the arbiter index cannot go wrong.)
    INSERT INTO profiles AS p (project_id, id, is_external, first_seen_at, last_seen_at,
                               country, region, city, os, browser, device, brand, model)
    SELECT DISTINCT ON (e.project_id, prof[e.ord])
           e.project_id, prof[e.ord], prof[e.ord] <> dev[e.ord], e.created_at, e.created_at,
           e.country, e.region, e.city, e.os, e.browser, e.device, e.brand, e.model
    FROM unnest(evs) e
    WHERE NOT dup[e.ord] AND (e.opens_session OR prof[e.ord] <> dev[e.ord])
      AND NOT coalesce(e.skip_profile, false)
    ORDER BY e.project_id, prof[e.ord], e.created_at DESC
    ON CONFLICT (project_id, id) DO UPDATE SET
        last_seen_at = excluded.last_seen_at,
        country = coalesce(excluded.country, p.country),
        region = coalesce(excluded.region, p.region),
        city = coalesce(excluded.city, p.city),
        os = coalesce(excluded.os, p.os),
        browser = coalesce(excluded.browser, p.browser),
        device = coalesce(excluded.device, p.device),
        brand = coalesce(excluded.brand, p.brand),
        model = coalesce(excluded.model, p.model)
    WHERE p.last_seen_at < excluded.last_seen_at - interval '1 minute';

    -- Remember what we acknowledge. A key that another batch committed since
    -- our check above means a concurrent duplicate: abort, and the writer's
    -- retry answers it as one.
    SELECT count(*) INTO expected FROM unnest(evs) e WHERE NOT dup[e.ord] AND e.dedup_key IS NOT NULL;
    INSERT INTO ingest_dedup AS d (key, device_id, session_id, created_at)
    SELECT decode(e.dedup_key, 'hex'), dev[e.ord], sid[e.ord], now_ts
    FROM unnest(evs) e
    WHERE NOT dup[e.ord] AND e.dedup_key IS NOT NULL
    ORDER BY 1
    ON CONFLICT (key) DO UPDATE
        SET device_id = excluded.device_id, session_id = excluded.session_id, created_at = excluded.created_at
        WHERE d.created_at <= now_ts - dedup_window;
    GET DIAGNOSTICS written = ROW_COUNT;
    IF written <> expected THEN
        RAISE EXCEPTION 'concurrent duplicate request' USING ERRCODE = 'TLDUP';
    END IF;

    -- Tell the dashboard's realtime hub which projects got events: one
    -- notification per batch, delivered only if this transaction commits.
    -- The payload must stay under 8000 bytes: with that many projects, '*'.
    SELECT string_agg(DISTINCT e.project_id, ',') INTO notified
    FROM unnest(evs) e WHERE NOT dup[e.ord];
    IF notified IS NOT NULL THEN
        PERFORM pg_notify('tally_events', CASE WHEN octet_length(notified) < 8000 THEN notified ELSE '*' END);
    END IF;

    RETURN QUERY
    SELECT e.ord,
           CASE WHEN dup[e.ord] THEN d.device_id ELSE dev[e.ord] END,
           CASE WHEN dup[e.ord] THEN d.session_id ELSE sid[e.ord] END,
           dup[e.ord]
    FROM unnest(evs) e
    LEFT JOIN LATERAL (SELECT d.device_id, d.session_id FROM ingest_dedup d
                       WHERE dup[e.ord] AND d.key = decode(e.dedup_key, 'hex')
                       LIMIT 1) d ON true
    ORDER BY e.ord;
END
$fn$;

-- op.current_session_v1 answers GET /track/device-id: the device's session
-- if it is still alive.
CREATE OR REPLACE FUNCTION op.current_session_v1(p_project text, p_device text, session_idle interval DEFAULT '30 minutes')
RETURNS uuid
LANGUAGE sql STABLE AS $fn$
    SELECT h.session_id FROM session_heads h
    WHERE h.project_id = p_project AND h.device_id = p_device
      AND h.last_event_at > now() - session_idle;
$fn$;
