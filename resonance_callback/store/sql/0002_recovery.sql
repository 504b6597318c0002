-- Beamtime database, schema version 2: crash recovery.
-- A run left open by a writer that is gone is marked 'interrupted' (by `repair`, or
-- when the next writer opens the beamtime), distinct from a run still being written
-- (exit_status NULL with a live writer) and from 'aborted'/'failed'.
-- SQLite cannot alter a CHECK constraint, so `runs` is rebuilt (the 12-step recipe:
-- foreign keys are off while migrations run, so dropping the old table is allowed).

-- The writers that opened this beamtime: each holds an flock on
-- `{db}.writers/{token}.lock` while it lives; a run open with a writer whose lock is
-- free (or with none) was cut off.
CREATE TABLE writers (
    token       TEXT PRIMARY KEY,
    pid         INTEGER NOT NULL,
    host        TEXT NOT NULL,
    started     REAL NOT NULL
);

CREATE TABLE runs_v2 (
    uid             TEXT PRIMARY KEY,
    sample_id       INTEGER REFERENCES samples(id),
    plan_name       TEXT,
    scan_id         INTEGER,
    time_start      REAL NOT NULL,
    time_stop       REAL,
    exit_status     TEXT CHECK (exit_status IN ('success', 'aborted', 'failed', 'interrupted')),
    reason          TEXT,
    metadata        TEXT NOT NULL DEFAULT '{}', -- JSON: the start document
    stop_document   TEXT,                       -- JSON: the stop document, NULL while open
    writer          TEXT                        -- writers.token of the writer that opened it
);
INSERT INTO runs_v2 (uid, sample_id, plan_name, scan_id, time_start, time_stop, exit_status,
                     reason, metadata, stop_document)
    SELECT uid, sample_id, plan_name, scan_id, time_start, time_stop, exit_status,
           reason, metadata, stop_document FROM runs;
DROP TABLE runs;
ALTER TABLE runs_v2 RENAME TO runs;
CREATE INDEX runs_time_start ON runs(time_start);
CREATE INDEX runs_sample ON runs(sample_id);

-- external_documents.ordinal is numbered in the INSERT (max + 1) under the write lock,
-- so two writer processes never repeat a number; this index keeps max() cheap.
CREATE INDEX external_documents_ordinal ON external_documents(ordinal);
