-- op.chunks_to_compress_v1 lists the events chunks that ended more than
-- `older_than` ago and are not (or only partly: late events) compressed,
-- oldest first (TimescaleDB mode; without TimescaleDB, none). The
-- compress_chunks River job (jobs.CompressWorker) compresses them one
-- statement each, so a long backlog makes progress even when the job is
-- stopped half way; TimescaleDB's own background policies are not relied on.
{{if .timescale}}
CREATE OR REPLACE FUNCTION op.chunks_to_compress_v1(older_than interval DEFAULT '1 hour')
RETURNS SETOF regclass
LANGUAGE sql STABLE AS $fn$
    SELECT format('%I.%I', ch.chunk_schema, ch.chunk_name)::regclass
    FROM timescaledb_information.chunks ch
    JOIN _timescaledb_catalog.chunk c ON c.schema_name = ch.chunk_schema AND c.table_name = ch.chunk_name
    WHERE ch.hypertable_schema = 'public' AND ch.hypertable_name = 'events'
      AND ch.range_end < now() - older_than
      AND (NOT ch.is_compressed OR c.status & 8 = 8)  -- 8: partially compressed
    ORDER BY ch.range_start
$fn$;
{{else}}
CREATE OR REPLACE FUNCTION op.chunks_to_compress_v1(older_than interval DEFAULT '1 hour')
RETURNS SETOF regclass
LANGUAGE sql STABLE AS $fn$ SELECT NULL::regclass WHERE false $fn$;
{{end}}

-- op.compress_chunks_v1 (superseded by op.chunks_to_compress_v1, kept for
-- binaries of the previous release during a rolling deploy) compresses all
-- chunks older than `older_than` in one transaction, which at scale outlasts
-- any job timeout and so rolls back every time.
{{if .timescale}}
CREATE OR REPLACE FUNCTION op.compress_chunks_v1(older_than interval DEFAULT '7 days')
RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
    c regclass;
    n integer := 0;
BEGIN
    FOR c IN
        SELECT format('%I.%I', ch.chunk_schema, ch.chunk_name)::regclass
        FROM timescaledb_information.chunks ch
        WHERE ch.hypertable_name = 'events' AND NOT ch.is_compressed
          AND ch.range_end < now() - older_than
    LOOP
        PERFORM compress_chunk(c, if_not_compressed => true);
        n := n + 1;
    END LOOP;
    RETURN n;
END
$fn$;
{{else}}
CREATE OR REPLACE FUNCTION op.compress_chunks_v1(older_than interval DEFAULT '7 days')
RETURNS integer
LANGUAGE sql AS $fn$ SELECT 0 $fn$;
{{end}}
