-- Identity: merged ids, profile context, merges to rewrite, traffic filters.

-- Every id merged into a profile (an anonymous device, an old user id),
-- mapped straight to the profile it belongs to now: chains are collapsed
-- when a merge is written, so resolving an id is one lookup.
CREATE TABLE profile_identities (
    project_id  text NOT NULL,
    alias_id    text NOT NULL,
    profile_id  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, alias_id),
    CHECK (alias_id <> profile_id)
);
CREATE INDEX profile_identities_profile ON profile_identities (project_id, profile_id);
DROP TABLE profile_aliases;

-- The profile's latest context, for the profile list and page.
ALTER TABLE profiles
    ADD COLUMN country text, ADD COLUMN region text, ADD COLUMN city text,
    ADD COLUMN os text, ADD COLUMN browser text, ADD COLUMN device text,
    ADD COLUMN brand text, ADD COLUMN model text;
CREATE INDEX profiles_project_seen ON profiles (project_id, last_seen_at DESC);
CREATE INDEX profiles_properties ON profiles USING gin (properties jsonb_path_ops);

-- History rewrites waiting for (or done by) the merge job: what it did
-- survives a restart, and the job is idempotent anyway.
CREATE TABLE profile_merges (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id    text NOT NULL,
    from_id       text NOT NULL,
    to_id         text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    events_moved  bigint NOT NULL DEFAULT 0
);

CREATE INDEX sessions_project_profile ON sessions (project_id, profile_id, started_at);
CREATE INDEX sessions_project_device ON sessions (project_id, device_id);

-- Traffic filters: what a project never stores.
--   kind ip:      value is an address or CIDR
--   kind profile: value is a profile id
--   kind event:   field/op/value on an event column ("name" with op "is" by default)
CREATE TABLE project_filters (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id  text NOT NULL REFERENCES projects ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('ip', 'profile', 'event')),
    field       text,
    op          text,
    value       text NOT NULL CHECK (length(value) BETWEEN 1 AND 500),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX project_filters_project ON project_filters (project_id);

-- alias_v1 wrote to profile_aliases; merges replace both.
DROP FUNCTION IF EXISTS op.alias_v1(text, text, text);
