-- People who log into the dashboard, what they may see, and their login
-- sessions. Organizations, projects and clients are in 001.

CREATE TABLE users (
    id             uuid PRIMARY KEY,
    email          text NOT NULL CHECK (length(email) BETWEEN 3 AND 254 AND email = lower(email)),
    name           text NOT NULL DEFAULT '' CHECK (length(name) <= 200),
    password_hash  text NOT NULL,  -- argon2id
    created_at     timestamptz NOT NULL DEFAULT now(),
    -- Bumped by a password change or reset: login sessions issued before
    -- it are no longer valid.
    sessions_valid_after timestamptz NOT NULL DEFAULT 'epoch'
);
CREATE UNIQUE INDEX users_email ON users (email);

-- owner: everything, including owners and deleting the organization.
-- admin: projects, clients, settings and members (not owners).
-- member: the projects granted to them; may build reports.
-- viewer: read-only access to the projects granted to them.
CREATE TABLE memberships (
    organization_id  text NOT NULL REFERENCES organizations ON DELETE CASCADE,
    user_id          uuid NOT NULL REFERENCES users ON DELETE CASCADE,
    role             text NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

-- Which projects a member or viewer may see (owners and admins see all).
CREATE TABLE project_access (
    organization_id  text NOT NULL,
    user_id          uuid NOT NULL,
    project_id       text NOT NULL REFERENCES projects ON DELETE CASCADE,
    PRIMARY KEY (user_id, project_id),
    FOREIGN KEY (organization_id, user_id) REFERENCES memberships ON DELETE CASCADE
);
CREATE INDEX project_access_project ON project_access (project_id);

-- Invitations and password resets are one-time links: only a SHA-256 of
-- the token is stored, so a database dump cannot be replayed as a link.
CREATE TABLE invitations (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash       bytea NOT NULL UNIQUE,
    organization_id  text NOT NULL REFERENCES organizations ON DELETE CASCADE,
    email            text NOT NULL CHECK (email = lower(email)),
    role             text NOT NULL CHECK (role IN ('admin', 'member', 'viewer')),
    project_ids      text[] NOT NULL DEFAULT '{}',
    invited_by       uuid REFERENCES users ON DELETE SET NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL,
    accepted_at      timestamptz
);
CREATE INDEX invitations_organization ON invitations (organization_id);

CREATE TABLE password_resets (
    token_hash  bytea PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX password_resets_user ON password_resets (user_id);

-- Login sessions (scs). scs/pgxstore names its table "sessions", which is
-- the analytics table in public, so it lives in its own schema and the
-- store's pool uses search_path=auth.
CREATE SCHEMA auth;
CREATE TABLE auth.sessions (
    token   text PRIMARY KEY,
    data    bytea NOT NULL,
    expiry  timestamptz NOT NULL
);
CREATE INDEX sessions_expiry ON auth.sessions (expiry);
