-- op.ensure_partitions_v1 creates the monthly partitions of events covering
-- [from_ts, to_ts]. Idempotent; a no-op when events is a hypertable
-- (TimescaleDB makes its chunks itself). Returns how many it created.
CREATE OR REPLACE FUNCTION op.ensure_partitions_v1(from_ts timestamptz, to_ts timestamptz)
RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
    m date := date_trunc('month', from_ts AT TIME ZONE 'UTC')::date;
    part text;
    created integer := 0;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = 'public.events'::regclass) THEN
        RETURN 0;
    END IF;
    WHILE m <= (to_ts AT TIME ZONE 'UTC')::date LOOP
        part := format('events_p%s', to_char(m, 'YYYYMM'));
        IF to_regclass(format('public.%I', part)) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE IF NOT EXISTS public.%I PARTITION OF public.events FOR VALUES FROM (%L) TO (%L)',
                part, (m::timestamp AT TIME ZONE 'UTC'), ((m + interval '1 month')::timestamp AT TIME ZONE 'UTC'));
            created := created + 1;
        END IF;
        m := (m + interval '1 month')::date;
    END LOOP;
    RETURN created;
END
$fn$;
