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

-- op.alias_v1 records that p_alias names the same person as p_profile.
CREATE OR REPLACE FUNCTION op.alias_v1(p_project text, p_profile text, p_alias text)
RETURNS void
LANGUAGE sql AS $fn$
    INSERT INTO profile_aliases (project_id, alias, profile_id)
    VALUES (p_project, p_alias, p_profile)
    ON CONFLICT (project_id, alias) DO UPDATE SET profile_id = excluded.profile_id;
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
