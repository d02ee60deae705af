-- The same statements as pgbench-same-shape.sql, but each transaction carries a batch of
-- -D batch=N transitions on N distinct operations, as a longrund group commit does (one in five
-- rows creates an operation, the others update stored ones). Run with -c 2: one writer per host.
-- Rows are generated on the server (longrund sends them as unnest() arrays).
BEGIN;
SELECT sequence AS seq, abs(hashint8(sequence)) % 100000 AS base FROM pgb.longrun_head WHERE id = 1 FOR UPDATE \gset
SELECT name, record FROM pgb.longrun_operations WHERE name = ANY(ARRAY(SELECT CASE WHEN i % 5 = 0 THEN 'operations/s' || (:seq::bigint + i) ELSE 'operations/p' || ((:base::bigint + i) % 100000 + 1) END FROM generate_series(1, :batch) i));
INSERT INTO pgb.longrun_log (sequence, operation, entry) SELECT :seq::bigint + i, CASE WHEN i % 5 = 0 THEN 'operations/s' || (:seq::bigint + i) ELSE 'operations/p' || ((:base::bigint + i) % 100000 + 1) END, decode(repeat('5a', :entry_bytes), 'hex') FROM generate_series(1, :batch) i;
INSERT INTO pgb.longrun_operations (name, collection, create_sequence, listed, running, engine_deadline, expiry_class, expiry_end, record) SELECT CASE WHEN i % 5 = 0 THEN 'operations/s' || (:seq::bigint + i) ELSE 'operations/p' || ((:base::bigint + i) % 100000 + 1) END, 'operations', :seq::bigint + i, true, i % 5 <> 4, NULL, NULL, NULL, decode(repeat('5a', :record_bytes), 'hex') FROM generate_series(1, :batch) i ON CONFLICT (name) DO UPDATE SET listed = excluded.listed, running = excluded.running, engine_deadline = excluded.engine_deadline, expiry_class = excluded.expiry_class, expiry_end = excluded.expiry_end, record = excluded.record;
UPDATE pgb.longrun_head SET sequence = :seq::bigint + :batch, hash = decode(repeat('ab', 32), 'hex') WHERE id = 1;
SELECT pg_notify('pgb_commits', (:seq::bigint + :batch)::text);
COMMIT;
