-- Master index on PostgreSQL, schema version 2: the run_metadata side table of
-- ../0002_run_queries.sql. The SQLite index fills it with triggers over json_tree; here
-- the writer files the same leaves in the transaction that writes the run
-- (resonance_callback/index/_dialect.py, leaf_rows), each value as a token (a number as
-- its float, a string as its JSON text, long ones by their SHA-256) so that every
-- (key, value) fits a B-tree entry. search(where=...) narrows the runs through it; the
-- one query engine decides on the candidates (index/_pg_search.py).

CREATE TABLE run_metadata (
    run_uid     text NOT NULL REFERENCES runs(uid) ON DELETE CASCADE,
    key         text NOT NULL,
    value       text
);
CREATE INDEX run_metadata_key_value ON run_metadata(key, value);
CREATE INDEX run_metadata_run ON run_metadata(run_uid);

CREATE INDEX runs_scan_id ON runs(scan_id);
CREATE INDEX runs_newest ON runs((time_start IS NULL), time_start DESC, seq DESC);
CREATE INDEX researchers_name ON researchers(name);
