-- The same transaction WITHOUT the head row: sequences from a sequence object, so transactions
-- commit concurrently (PostgreSQL group-commits their WAL flushes); what the global order costs.
-- (Otherwise as pgbench-same-shape.sql.)
-- One transaction in five creates an operation, four update a stored one (W1: create, 3 updates, complete).
-- -D entry_bytes=N, -D record_bytes=N: the sizes of the log entry and the operation record.
\set r random(0, 4)
\set old random(1, 100000)
BEGIN;
SELECT nextval('pgb.log_sequence') - 1 AS seq, CASE WHEN :r = 0 THEN 'operations/s' || currval('pgb.log_sequence') ELSE 'operations/p' || :old END AS name \gset
SELECT name, record FROM pgb.longrun_operations WHERE name = ANY(ARRAY[:name::text]);
INSERT INTO pgb.longrun_log (sequence, operation, entry) SELECT * FROM unnest(ARRAY[:seq::bigint + 1], ARRAY[:name::text], ARRAY[decode(repeat('5a', :entry_bytes), 'hex')]);
INSERT INTO pgb.longrun_operations (name, collection, create_sequence, listed, running, engine_deadline, expiry_class, expiry_end, record) SELECT name, collection, create_sequence, listed, running, NULLIF(engine_deadline, -1), NULLIF(expiry_class, -1), NULLIF(expiry_end, -1), record FROM unnest(ARRAY[:name::text], ARRAY['operations'], ARRAY[:seq::bigint + 1], ARRAY[true], ARRAY[:r <> 4], ARRAY[-1::bigint], ARRAY[-1::smallint], ARRAY[-1::bigint], ARRAY[decode(repeat('5a', :record_bytes), 'hex')]) AS r(name, collection, create_sequence, listed, running, engine_deadline, expiry_class, expiry_end, record) ON CONFLICT (name) DO UPDATE SET listed = excluded.listed, running = excluded.running, engine_deadline = excluded.engine_deadline, expiry_class = excluded.expiry_class, expiry_end = excluded.expiry_end, record = excluded.record;
SELECT pg_notify('pgb_commits', (:seq::bigint + 1)::text);
COMMIT;
