-- The pgbench baseline's own schema: the same tables and indexes as Sources/LongrunPostgres/
-- PostgresSchema.swift (version 1), in schema pgb so that it never touches a Longrun store.
DROP SCHEMA IF EXISTS pgb CASCADE;
CREATE SCHEMA pgb;
SET search_path TO pgb;
CREATE TABLE longrun_head (id smallint PRIMARY KEY CHECK (id = 1), sequence bigint NOT NULL, hash bytea NOT NULL);
INSERT INTO longrun_head (id, sequence, hash) VALUES (1, 0, '\x0000000000000000000000000000000000000000000000000000000000000000');
CREATE TABLE longrun_log (sequence bigint PRIMARY KEY, operation text NOT NULL, entry bytea NOT NULL);
CREATE INDEX longrun_log_by_operation ON longrun_log (operation, sequence);
CREATE TABLE longrun_operations (
    name text PRIMARY KEY, collection text NOT NULL, create_sequence bigint NOT NULL,
    listed boolean NOT NULL, running boolean NOT NULL, engine_deadline bigint,
    expiry_class smallint, expiry_end bigint, record bytea NOT NULL);
CREATE INDEX longrun_operations_listed ON longrun_operations (collection, create_sequence) WHERE listed;
CREATE INDEX longrun_operations_running ON longrun_operations (collection, create_sequence) WHERE running;
CREATE INDEX longrun_operations_engine_deadline ON longrun_operations (engine_deadline) WHERE engine_deadline IS NOT NULL;
CREATE INDEX longrun_operations_expiry ON longrun_operations (expiry_class, expiry_end) WHERE expiry_class IS NOT NULL;
-- "No head lock" variant: sequences from a sequence object instead of the head row.
CREATE SEQUENCE log_sequence;
-- 100,000 operations already stored: four transactions in five update one of them.
INSERT INTO longrun_operations (name, collection, create_sequence, listed, running, record)
SELECT 'operations/p' || i, 'operations', i, true, true, decode(repeat('5a', 300), 'hex') FROM generate_series(1, 100000) i;
VACUUM ANALYZE;
