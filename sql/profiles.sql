-- Profiles: identify, counters, aliases and groups. The identity issue
-- builds merging on top of these.

-- op.identify_v1 creates or updates a profile; properties merge into the
-- existing ones, given names replace old ones, absent ones keep them.
CREATE OR REPLACE FUNCTION op.identify_v1(
    p_project text, p_id text, p_first_name text, p_last_name text, p_email text, p_avatar text,
    p_properties jsonb, p_seen_at timestamptz)
RETURNS void
LANGUAGE sql AS $fn$
    INSERT INTO profiles AS p (project_id, id, is_external, first_name, last_name, email, avatar,
                               properties, first_seen_at, last_seen_at)
    VALUES (p_project, p_id, true, p_first_name, p_last_name, p_email, p_avatar,
            coalesce(p_properties, '{}'), p_seen_at, p_seen_at)
    ON CONFLICT (project_id, id) DO UPDATE SET
        is_external = true,
        first_name = coalesce(excluded.first_name, p.first_name),
        last_name = coalesce(excluded.last_name, p.last_name),
        email = coalesce(excluded.email, p.email),
        avatar = coalesce(excluded.avatar, p.avatar),
        properties = p.properties || excluded.properties,
        first_seen_at = least(p.first_seen_at, excluded.first_seen_at),
        last_seen_at = greatest(p.last_seen_at, excluded.last_seen_at),
        updated_at = now();
$fn$;

-- op.profile_increment_v1 adds p_delta to a numeric property atomically
-- (one UPDATE: concurrent increments serialize on the row and none is lost)
-- and returns the new value. Errors: TLNTF unknown profile, TLNAN the
-- existing value is not a number.
CREATE OR REPLACE FUNCTION op.profile_increment_v1(p_project text, p_id text, p_property text, p_delta numeric)
RETURNS numeric
LANGUAGE plpgsql AS $fn$
DECLARE
    result numeric;
BEGIN
    UPDATE profiles p
    SET properties = jsonb_set(p.properties, ARRAY[p_property],
                               to_jsonb(coalesce((p.properties ->> p_property)::numeric, 0) + p_delta)),
        updated_at = now()
    WHERE p.project_id = p_project AND p.id = p_id
      AND (p.properties -> p_property IS NULL OR jsonb_typeof(p.properties -> p_property) IN ('number', 'null'))
    RETURNING (p.properties ->> p_property)::numeric INTO result;
    IF FOUND THEN
        RETURN result;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM profiles WHERE project_id = p_project AND id = p_id) THEN
        RAISE EXCEPTION 'profile not found' USING ERRCODE = 'TLNTF';
    END IF;
    RAISE EXCEPTION 'property "%" is not a number', p_property USING ERRCODE = 'TLNAN';
END
$fn$;

-- op.profile_ops_v1 applies a batch of server-side profile operations in
-- one transaction (the ingest writer's group commit): identifies (as
-- op.identify_v1) and increments (as op.profile_increment_v1; a decrement
-- is a negative delta). p_ops is a JSON array of
--   {"i", "kind": "identify", "project_id", "profile_id", "first_name",
--    "last_name", "email", "avatar", "properties", "seen_at"}
--   {"i", "kind": "increment", "project_id", "profile_id", "property", "delta"}
-- applied in (project_id, profile_id, i) order: each profile's operations in
-- the order the caller numbered them, and profile rows locked in key order,
-- the order ingest and merges lock them in, so batches never deadlock each
-- other. An operation that cannot apply fails alone, without raising: one
-- row per operation says ok, not_found (an increment of an unknown
-- profile) or not_numeric (the property holds something else than a
-- number), with the message the single-operation functions raise.
-- Keep the statements in step with op.identify_v1 and op.profile_increment_v1.
CREATE OR REPLACE FUNCTION op.profile_ops_v1(p_ops jsonb)
RETURNS TABLE (i integer, status text, message text)
LANGUAGE plpgsql AS $fn$
DECLARE
    o record;
BEGIN
    FOR o IN
        SELECT x.i AS ord, x.kind, x.project_id, x.profile_id, x.first_name, x.last_name, x.email, x.avatar,
               x.properties, x.seen_at, x.property, x.delta
        FROM jsonb_to_recordset(p_ops) AS x(i integer, kind text, project_id text, profile_id text,
                                            first_name text, last_name text, email text, avatar text,
                                            properties jsonb, seen_at timestamptz, property text, delta numeric)
        ORDER BY x.project_id, x.profile_id, x.i
    LOOP
        i := o.ord;
        status := 'ok';
        message := NULL;
        IF o.kind = 'identify' THEN
            INSERT INTO profiles AS p (project_id, id, is_external, first_name, last_name, email, avatar,
                                       properties, first_seen_at, last_seen_at)
            VALUES (o.project_id, o.profile_id, true, o.first_name, o.last_name, o.email, o.avatar,
                    coalesce(o.properties, '{}'), o.seen_at, o.seen_at)
            ON CONFLICT (project_id, id) DO UPDATE SET
                is_external = true,
                first_name = coalesce(excluded.first_name, p.first_name),
                last_name = coalesce(excluded.last_name, p.last_name),
                email = coalesce(excluded.email, p.email),
                avatar = coalesce(excluded.avatar, p.avatar),
                properties = p.properties || excluded.properties,
                first_seen_at = least(p.first_seen_at, excluded.first_seen_at),
                last_seen_at = greatest(p.last_seen_at, excluded.last_seen_at),
                updated_at = now();
        ELSIF o.kind = 'increment' THEN
            UPDATE profiles p
            SET properties = jsonb_set(p.properties, ARRAY[o.property],
                                       to_jsonb(coalesce((p.properties ->> o.property)::numeric, 0) + o.delta)),
                updated_at = now()
            WHERE p.project_id = o.project_id AND p.id = o.profile_id
              AND (p.properties -> o.property IS NULL OR jsonb_typeof(p.properties -> o.property) IN ('number', 'null'));
            IF NOT FOUND THEN
                IF EXISTS (SELECT 1 FROM profiles p WHERE p.project_id = o.project_id AND p.id = o.profile_id) THEN
                    status := 'not_numeric';
                    message := format('property "%s" is not a number', o.property);
                ELSE
                    status := 'not_found';
                    message := 'profile not found';
                END IF;
            END IF;
        ELSE
            RAISE EXCEPTION 'unknown profile operation %', o.kind;
        END IF;
        RETURN NEXT;
    END LOOP;
END
$fn$;

-- op.resolve_profile_v1 returns the profile an id belongs to now (itself
-- unless it was merged into another).
CREATE OR REPLACE FUNCTION op.resolve_profile_v1(p_project text, p_id text)
RETURNS text
LANGUAGE sql STABLE AS $fn$
    SELECT coalesce((SELECT i.profile_id FROM profile_identities i
                     WHERE i.project_id = p_project AND i.alias_id = p_id), p_id);
$fn$;

-- op.merge_profiles_v1 merges p_from into p_to: from now on every id that
-- named p_from's person names p_to's, their profile rows become one (p_to's
-- identified values win, properties merge, first/last seen widen), and a
-- profile_merges row asks the merge job to rewrite history. Both ids are
-- resolved first, so chains collapse and merging twice (or two ids that
-- already name one person) does nothing: it then returns NULL, otherwise
-- the profile_merges id.
CREATE OR REPLACE FUNCTION op.merge_profiles_v1(p_project text, p_from text, p_to text)
RETURNS bigint
LANGUAGE plpgsql AS $fn$
DECLARE
    src text;
    dst text;
    f profiles;
    merge_id bigint;
BEGIN
    -- One merge of a project at a time, so two merges cannot each read the
    -- other's ids as unmerged and build a cycle.
    PERFORM pg_advisory_xact_lock(hashtextextended('tally.merge.' || p_project, 0));
    dst := op.resolve_profile_v1(p_project, p_to);
    src := op.resolve_profile_v1(p_project, p_from);
    IF src = dst THEN
        RETURN NULL;
    END IF;

    -- Rows in id order, the order ingest locks profiles in.
    PERFORM 1 FROM profiles WHERE project_id = p_project AND id IN (src, dst) ORDER BY id FOR UPDATE;

    UPDATE profile_identities SET profile_id = dst WHERE project_id = p_project AND profile_id = src;
    INSERT INTO profile_identities (project_id, alias_id, profile_id) VALUES (p_project, src, dst)
    ON CONFLICT (project_id, alias_id) DO UPDATE SET profile_id = excluded.profile_id;

    SELECT * INTO f FROM profiles WHERE project_id = p_project AND id = src;
    IF FOUND THEN
        INSERT INTO profiles AS p (project_id, id, is_external, first_name, last_name, email, avatar, properties, groups,
                                   first_seen_at, last_seen_at, country, region, city, os, browser, device, brand, model)
        VALUES (p_project, dst, f.is_external, f.first_name, f.last_name, f.email, f.avatar, f.properties, f.groups,
                f.first_seen_at, f.last_seen_at, f.country, f.region, f.city, f.os, f.browser, f.device, f.brand, f.model)
        ON CONFLICT (project_id, id) DO UPDATE SET
            is_external = p.is_external OR excluded.is_external,
            first_name = coalesce(p.first_name, excluded.first_name),
            last_name = coalesce(p.last_name, excluded.last_name),
            email = coalesce(p.email, excluded.email),
            avatar = coalesce(p.avatar, excluded.avatar),
            properties = excluded.properties || p.properties,
            groups = ARRAY(SELECT DISTINCT x FROM unnest(p.groups || excluded.groups) x ORDER BY 1),
            first_seen_at = least(p.first_seen_at, excluded.first_seen_at),
            last_seen_at = greatest(p.last_seen_at, excluded.last_seen_at),
            country = CASE WHEN excluded.last_seen_at > p.last_seen_at THEN coalesce(excluded.country, p.country) ELSE coalesce(p.country, excluded.country) END,
            region = CASE WHEN excluded.last_seen_at > p.last_seen_at THEN coalesce(excluded.region, p.region) ELSE coalesce(p.region, excluded.region) END,
            city = CASE WHEN excluded.last_seen_at > p.last_seen_at THEN coalesce(excluded.city, p.city) ELSE coalesce(p.city, excluded.city) END,
            os = coalesce(p.os, excluded.os),
            browser = coalesce(p.browser, excluded.browser),
            device = coalesce(p.device, excluded.device),
            brand = coalesce(p.brand, excluded.brand),
            model = coalesce(p.model, excluded.model),
            updated_at = now();
        DELETE FROM profiles WHERE project_id = p_project AND id = src;
    END IF;

    INSERT INTO profile_merges (project_id, from_id, to_id) VALUES (p_project, src, dst)
    RETURNING id INTO merge_id;
    RETURN merge_id;
END
$fn$;

-- op.link_device_v1 is identify's merge: a browser's anonymous device joins
-- the profile that identified on it. A device already linked to someone
-- stays with them: two people who sign in on one computer are never merged
-- implicitly (alias does that, explicitly). Returns the merge id or NULL.
CREATE OR REPLACE FUNCTION op.link_device_v1(p_project text, p_device text, p_profile text)
RETURNS bigint
LANGUAGE plpgsql AS $fn$
BEGIN
    IF p_device = p_profile OR EXISTS (
        SELECT 1 FROM profile_identities WHERE project_id = p_project AND alias_id = p_device) THEN
        RETURN NULL;
    END IF;
    RETURN op.merge_profiles_v1(p_project, p_device, p_profile);
END
$fn$;

-- op.rewrite_merge_v1 moves up to `batch` of a merge's events (and its
-- sessions) to the profile the merged id belongs to now, and returns how
-- many events it moved: the job calls it until it returns 0, one
-- transaction each, so ingest is never blocked for long and a restart
-- just continues.
CREATE OR REPLACE FUNCTION op.rewrite_merge_v1(p_merge bigint, batch integer DEFAULT 5000)
RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
    m profile_merges;
    dst text;
    cutoff timestamptz;
    moved integer := 0;
BEGIN
    SELECT * INTO m FROM profile_merges WHERE id = p_merge;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    dst := op.resolve_profile_v1(m.project_id, m.to_id);
    SELECT max(b.created_at) INTO cutoff FROM (
        SELECT e.created_at FROM events e
        WHERE e.project_id = m.project_id AND e.profile_id = m.from_id
        ORDER BY e.created_at LIMIT batch) b;
    IF cutoff IS NOT NULL THEN
        UPDATE events SET profile_id = dst
        WHERE project_id = m.project_id AND profile_id = m.from_id AND created_at <= cutoff;
        GET DIAGNOSTICS moved = ROW_COUNT;
    END IF;
    UPDATE sessions SET profile_id = dst WHERE project_id = m.project_id AND profile_id = m.from_id;
    UPDATE profile_merges SET events_moved = events_moved + moved,
                              finished_at = CASE WHEN moved = 0 THEN now() ELSE NULL END
    WHERE id = p_merge;
    RETURN moved;
END
$fn$;

-- op.group_upsert_v1 creates or updates a group; properties merge.
CREATE OR REPLACE FUNCTION op.group_upsert_v1(p_project text, p_id text, p_type text, p_name text, p_properties jsonb)
RETURNS void
LANGUAGE sql AS $fn$
    INSERT INTO groups AS g (project_id, id, type, name, properties)
    VALUES (p_project, p_id, p_type, p_name, coalesce(p_properties, '{}'))
    ON CONFLICT (project_id, id) DO UPDATE SET
        type = excluded.type, name = excluded.name,
        properties = g.properties || excluded.properties, updated_at = now();
$fn$;

-- op.assign_groups_v1 adds groups to a profile (creating an anonymous
-- profile if none exists yet).
CREATE OR REPLACE FUNCTION op.assign_groups_v1(p_project text, p_profile text, p_groups text[])
RETURNS void
LANGUAGE sql AS $fn$
    INSERT INTO profiles AS p (project_id, id, is_external, groups)
    VALUES (p_project, p_profile, false, ARRAY(SELECT DISTINCT unnest(p_groups) ORDER BY 1))
    ON CONFLICT (project_id, id) DO UPDATE SET
        groups = ARRAY(SELECT DISTINCT x FROM unnest(p.groups || excluded.groups) x ORDER BY 1),
        updated_at = now();
$fn$;
