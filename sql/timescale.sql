-- op.compress_chunks_v1 compresses the events chunks older than
-- `older_than` (TimescaleDB mode; driven by River, because TimescaleDB's own
-- background policies are not relied on). Without TimescaleDB it does
-- nothing. Returns how many chunks it compressed.
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
