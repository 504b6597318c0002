-- Beamtime database, schema version 6: resources and stream resources are scoped per run.
-- Before, `external_documents` was keyed by (name, uid): a resource, datum,
-- stream_resource or stream_datum uid stored by one run was refused in every later
-- run. Producers reuse them (bluesky-tiled-plugins' own example documents do, and
-- a datum id is usually "{resource uid}/{n}"), and TiledWriter scopes them per run
-- (one writer per run, behind event-model's RunRouter). Now a document is keyed by
-- (run_uid, name, uid): the same uid in two runs is two documents; within one run the
-- same document again is still one row (skipped), and different content under the
-- same uid is still refused naming it (see the README's "Schema contract").
-- A document kept without a run (a resource naming no run_start that no run used)
-- has run_uid NULL, which a unique index counts as distinct from every other, so those
-- are keyed by (name, uid) in a partial index of their own.
-- The table is rebuilt (SQLite cannot drop a PRIMARY KEY); rowids and ordinals are kept.

CREATE TABLE external_documents_v6 (
    name        TEXT NOT NULL,
    uid         TEXT NOT NULL,
    run_uid     TEXT,
    ordinal     INTEGER NOT NULL,               -- arrival order within the writer
    document    TEXT NOT NULL
);
INSERT INTO external_documents_v6 (rowid, name, uid, run_uid, ordinal, document)
    SELECT rowid, name, uid, run_uid, ordinal, document FROM external_documents ORDER BY rowid;
DROP TABLE external_documents;
ALTER TABLE external_documents_v6 RENAME TO external_documents;
CREATE UNIQUE INDEX external_documents_key ON external_documents(run_uid, name, uid);
CREATE UNIQUE INDEX external_documents_unplaced ON external_documents(name, uid)
    WHERE run_uid IS NULL;
CREATE INDEX external_documents_run ON external_documents(run_uid, ordinal);
CREATE INDEX external_documents_ordinal ON external_documents(ordinal);
