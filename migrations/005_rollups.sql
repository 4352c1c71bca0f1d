-- Rollups: what the overview reads for unfiltered ranges of whole local
-- days. One set of plain tables in both storage modes: TimescaleDB's
-- continuous aggregates cannot count distinct visitors (no count(DISTINCT)),
-- so with TimescaleDB the same tables are refreshed the same way, by the
-- refresh_rollups River job (op.refresh_rollups_v1, sql/overview.sql),
-- from the raw events and sessions with the raw queries' definitions.

-- No foreign keys: a refresh writes thousands of rows, and a key check
-- per row cost as much as computing them. A project's rollups go with it
-- by the trigger below.

-- One row per project and local day (in the project's timezone) that has
-- data.
CREATE TABLE rollup_days (
    project_id  text NOT NULL,
    day         date NOT NULL,
    visitors    bigint NOT NULL,  -- distinct devices of the day's events (session_end excluded)
    sessions    bigint NOT NULL,  -- sessions started that day
    bounces     bigint NOT NULL,  -- of those, bounced
    duration    bigint NOT NULL,  -- sum of their durations, ms
    pageviews   bigint NOT NULL,  -- screen_view events
    revenue     bigint NOT NULL,  -- sum of their revenue, minor units
    PRIMARY KEY (project_id, day)
);

-- One row per project, dimension, local day and value (NULL stored as ''):
-- visitors are the day's distinct devices with that value, count is
-- sessions (session dimensions), pageviews (path) or events (event,
-- link_out). No primary key: values can be longer than a btree entry may
-- be (a 16 kB link target), and the refresh writes each day's rows once,
-- grouped, after deleting the old ones. Breakdowns read one dimension over
-- a range of days: one index range.
CREATE TABLE rollup_dims (
    project_id  text NOT NULL,
    dim         text NOT NULL,
    day         date NOT NULL,
    value       text NOT NULL,
    visitors    bigint NOT NULL,
    count       bigint NOT NULL
);
CREATE INDEX rollup_dims_project_dim_day ON rollup_dims (project_id, dim, day);

-- Days whose rollups must be recomputed, appended by ingest (one row per
-- project and day per batch), by session ends and by timezone changes.
-- Append-only, without a key: concurrent batches never wait for each
-- other on it. The refresh deletes the rows it saw and then recomputes
-- the day; a batch still in flight leaves its row for the next refresh.
-- No project foreign key: ingest must not fail for a project being
-- deleted (the refresh drops rows of projects that are gone).
CREATE TABLE rollup_dirty (
    project_id  text NOT NULL,
    day         date NOT NULL
);

-- A project's days are local days: when its timezone changes, every day
-- is recomputed (until the refresh job has caught up, the overview of
-- unfiltered whole days is short of the days not yet redone).
CREATE OR REPLACE FUNCTION op.rollups_timezone_changed_v1()
RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    DELETE FROM rollup_days WHERE project_id = NEW.id;
    DELETE FROM rollup_dims WHERE project_id = NEW.id;
    INSERT INTO rollup_dirty (project_id, day)
    SELECT NEW.id, d::date
    FROM (SELECT min(e.created_at) AS lo, max(e.created_at) AS hi FROM events e WHERE e.project_id = NEW.id) x,
         generate_series((x.lo AT TIME ZONE NEW.timezone)::date::timestamp,
                         (x.hi AT TIME ZONE NEW.timezone)::date::timestamp, interval '1 day') d
    WHERE x.lo IS NOT NULL;
    RETURN NEW;
END
$fn$;

CREATE TRIGGER projects_timezone_rollups
    AFTER UPDATE OF timezone ON projects
    FOR EACH ROW WHEN (OLD.timezone IS DISTINCT FROM NEW.timezone)
    EXECUTE FUNCTION op.rollups_timezone_changed_v1();

-- A deleted project's rollups go with it.
CREATE OR REPLACE FUNCTION op.rollups_project_deleted_v1()
RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    DELETE FROM rollup_days WHERE project_id = OLD.id;
    DELETE FROM rollup_dims WHERE project_id = OLD.id;
    DELETE FROM rollup_dirty WHERE project_id = OLD.id;
    RETURN OLD;
END
$fn$;

CREATE TRIGGER projects_delete_rollups
    AFTER DELETE ON projects
    FOR EACH ROW EXECUTE FUNCTION op.rollups_project_deleted_v1();

-- Filters: no index on events for them. The filters people use (a
-- country, a path prefix) match a few per cent of a range's events or
-- more, spread over nearly every page of it, so an index would not save
-- reading the pages, and every index costs ingest. A filtered overview
-- reads its range once for all its widgets instead
-- (op.overview_filtered_v1).

-- Data stored before this migration: every day of every project.
INSERT INTO rollup_dirty (project_id, day)
SELECT p.id, d::date
FROM projects p
CROSS JOIN LATERAL (SELECT min(e.created_at) AS lo, max(e.created_at) AS hi FROM events e WHERE e.project_id = p.id) x
CROSS JOIN LATERAL generate_series((x.lo AT TIME ZONE p.timezone)::date::timestamp,
                                   (x.hi AT TIME ZONE p.timezone)::date::timestamp, interval '1 day') d
WHERE x.lo IS NOT NULL;
