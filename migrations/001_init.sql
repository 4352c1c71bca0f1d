-- Core schema: tenants, clients, the event store, sessions and profiles.
-- Analytics functions live in schema op (see sql/); tables stay in public.

CREATE SCHEMA IF NOT EXISTS op;
CREATE EXTENSION IF NOT EXISTS pgcrypto;  -- gen_random_bytes for salts

CREATE TABLE organizations (
    id          text PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE projects (
    id                     text PRIMARY KEY,
    organization_id        text NOT NULL REFERENCES organizations ON DELETE CASCADE,
    name                   text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- CORS allow-list: exact hosts ("example.com"), wildcards ("*.example.com") or "*".
    domains                text[] NOT NULL DEFAULT '{}',
    timezone               text NOT NULL DEFAULT 'UTC',
    -- Whether browsers (no client secret) may send __revenue.
    allow_browser_revenue  boolean NOT NULL DEFAULT false,
    created_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX projects_organization ON projects (organization_id);

CREATE TABLE clients (
    id               uuid PRIMARY KEY,
    organization_id  text NOT NULL REFERENCES organizations ON DELETE CASCADE,
    project_id       text REFERENCES projects ON DELETE CASCADE,
    name             text NOT NULL DEFAULT '',
    type             text NOT NULL CHECK (type IN ('write', 'read', 'root')),
    -- argon2id hash; NULL for browser-only clients that have no secret.
    secret_hash      text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    revoked_at       timestamptz
);
CREATE INDEX clients_project ON clients (project_id);

-- Daily salts for the cookieless device id; yesterday's is kept so a visit
-- that crosses midnight stays one visitor.
CREATE TABLE salts (
    day   date PRIMARY KEY,
    salt  bytea NOT NULL
);

CREATE TABLE events (
    id               uuid NOT NULL,
    project_id       text NOT NULL,
    name             text NOT NULL,
    device_id        text NOT NULL,
    profile_id       text,
    session_id       uuid,
    created_at       timestamptz NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT now(),
    path             text,
    origin           text,
    query            text,
    hash             text,
    referrer         text,
    referrer_name    text,
    referrer_type    text,
    utm_source       text,
    utm_medium       text,
    utm_campaign     text,
    utm_term         text,
    utm_content      text,
    country          text,
    region           text,
    city             text,
    latitude         double precision,
    longitude        double precision,
    os               text,
    os_version       text,
    browser          text,
    browser_version  text,
    device           text,
    brand            text,
    model            text,
    duration         bigint,   -- milliseconds (session_end: the session's length)
    revenue          bigint,   -- minor units
    groups           text[] NOT NULL DEFAULT '{}',
    sdk_name         text,
    sdk_version      text,
    properties       jsonb NOT NULL DEFAULT '{}'
){{if not .timescale}} PARTITION BY RANGE (created_at){{end}};
{{if .timescale}}
SELECT create_hypertable('events', 'created_at', chunk_time_interval => interval '7 days');
ALTER TABLE events SET (timescaledb.compress, timescaledb.compress_segmentby = 'project_id',
                        timescaledb.compress_orderby = 'created_at DESC');
{{end}}
CREATE INDEX events_project_time ON events (project_id, created_at);
CREATE INDEX events_project_name_time ON events (project_id, name, created_at);
CREATE INDEX events_project_profile_time ON events (project_id, profile_id, created_at);

-- One row per session: what dashboards read instead of scanning events.
-- duration and is_bounce are kept current on every write, ended_at is set
-- when the session closes (30 minutes without events).
CREATE TABLE sessions (
    id                 uuid PRIMARY KEY,
    project_id         text NOT NULL,
    device_id          text NOT NULL,
    profile_id         text,
    started_at         timestamptz NOT NULL,
    last_event_at      timestamptz NOT NULL,
    ended_at           timestamptz,
    duration           bigint NOT NULL DEFAULT 0,   -- milliseconds
    event_count        integer NOT NULL DEFAULT 0,  -- without session_start/session_end
    screen_view_count  integer NOT NULL DEFAULT 0,
    is_bounce          boolean NOT NULL DEFAULT true,
    revenue            bigint NOT NULL DEFAULT 0,
    entry_path         text,
    entry_origin       text,
    exit_path          text,
    exit_origin        text,
    referrer           text,
    referrer_name      text,
    referrer_type      text,
    utm_source         text,
    utm_medium         text,
    utm_campaign       text,
    utm_term           text,
    utm_content        text,
    country            text,
    region             text,
    city               text,
    latitude           double precision,
    longitude          double precision,
    os                 text,
    os_version         text,
    browser            text,
    browser_version    text,
    device             text,
    brand              text,
    model              text
);
CREATE INDEX sessions_project_started ON sessions (project_id, started_at);
CREATE INDEX sessions_open ON sessions (last_event_at) WHERE ended_at IS NULL;

-- The current session of each device. Ingest locks a device's row while it
-- assigns sessions, which is what keeps two server processes (or two
-- writers) from opening two sessions for one device.
CREATE TABLE session_heads (
    project_id     text NOT NULL,
    device_id      text NOT NULL,
    session_id     uuid,
    started_at     timestamptz,
    last_event_at  timestamptz,
    PRIMARY KEY (project_id, device_id)
);
CREATE INDEX session_heads_last ON session_heads (last_event_at);

CREATE TABLE profiles (
    project_id     text NOT NULL,
    id             text NOT NULL,
    is_external    boolean NOT NULL DEFAULT true,  -- identified by the site, not a device
    first_name     text,
    last_name      text,
    email          text,
    avatar         text,
    properties     jsonb NOT NULL DEFAULT '{}',
    groups         text[] NOT NULL DEFAULT '{}',
    first_seen_at  timestamptz NOT NULL DEFAULT now(),
    last_seen_at   timestamptz NOT NULL DEFAULT now(),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, id)
);

-- alias: another id (an anonymous device or an old user id) that names the
-- same person. The identity-merge issue rewrites history from these.
CREATE TABLE profile_aliases (
    project_id  text NOT NULL,
    alias       text NOT NULL,
    profile_id  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, alias)
);

CREATE TABLE groups (
    project_id  text NOT NULL,
    id          text NOT NULL,
    type        text NOT NULL,
    name        text NOT NULL,
    properties  jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, id)
);

-- Recently acknowledged requests, so an SDK retry of a request whose answer
-- was lost gets the original answer instead of storing the event twice.
CREATE TABLE ingest_dedup (
    key         bytea PRIMARY KEY,
    device_id   text NOT NULL,
    session_id  uuid,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ingest_dedup_created ON ingest_dedup (created_at);
