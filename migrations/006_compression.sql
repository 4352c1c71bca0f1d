-- Filtered overviews scan every event of their range, and TimescaleDB's
-- compressed chunks scan five to six times faster than row storage (only
-- the columns asked for, filters vectorized). So chunks are a day long and
-- compressed an hour after they close (the compress_chunks River job): at
-- most about 25 hours of events stay in row storage. Late events land in
-- the compressed chunk's row part and the job compresses them again.
-- The default index on created_at alone is dropped: every query names a
-- project, so (project_id, created_at) serves them, and ingest maintains
-- one index less.
{{if .timescale}}
SELECT set_chunk_time_interval('events', interval '1 day');
DROP INDEX IF EXISTS events_created_at_idx;
{{else}}
SELECT 1; -- native partitions: nothing changes (tern wants a statement)
{{end}}
