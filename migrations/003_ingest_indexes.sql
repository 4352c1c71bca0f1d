-- Ingest speed: indexes on columns every event updates make those updates
-- non-HOT (a new entry in every index of the table). The close job scans
-- the few session heads instead, and the dedup prune scans its small table.
DROP INDEX IF EXISTS sessions_open;
DROP INDEX IF EXISTS session_heads_last;
DROP INDEX IF EXISTS ingest_dedup_created;
-- Room on each page for the updated row versions (HOT).
ALTER TABLE sessions SET (fillfactor = 80);
ALTER TABLE session_heads SET (fillfactor = 70);
ALTER TABLE profiles SET (fillfactor = 85);
