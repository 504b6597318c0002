-- Master index database, schema version 1.
-- One index spans many beamtimes. It is a cache: every run row can be rebuilt
-- from the beamtime databases (`resonance-callback reindex`). The tables and
-- columns below are public: never rename them. Never edit this file once
-- shipped; add 0002_*.sql.

-- A researcher owns a tree of beamtime databases under root_path.
-- Identity: (name, root_path). Moving the tree rewrites root_path only.
CREATE TABLE researchers (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    root_path   TEXT NOT NULL,              -- absolute path of the researcher's tree
    email       TEXT,
    orcid       TEXT,
    affiliation TEXT,
    UNIQUE (name, root_path)
);

-- One beamtime database. db_path is RELATIVE to the researcher's root_path
-- (POSIX separators), so the tree can be moved or mounted elsewhere.
-- Identity: the database path, i.e. (researcher_id, db_path).
CREATE TABLE beamtimes (
    id              INTEGER PRIMARY KEY,
    researcher_id   INTEGER NOT NULL REFERENCES researchers(id) ON DELETE CASCADE,
    label           TEXT NOT NULL,
    db_path         TEXT NOT NULL,
    time_start      REAL,                   -- unix time the beamtime started, if known
    UNIQUE (researcher_id, db_path)
);

-- One summary row per run; uid is the run's start-document uid, unique
-- across beamtimes. The researcher is the beamtime's researcher.
CREATE TABLE runs (
    uid             TEXT PRIMARY KEY,
    beamtime_id     INTEGER NOT NULL REFERENCES beamtimes(id) ON DELETE CASCADE,
    plan_name       TEXT,
    sample_name     TEXT,
    scan_id         INTEGER,
    time_start      REAL,
    time_stop       REAL,                   -- NULL while the run is open (or never stopped)
    exit_status     TEXT CHECK (exit_status IN ('success', 'aborted', 'failed')),
    num_events      TEXT NOT NULL DEFAULT '{}', -- JSON: {stream name: event count}
    metadata        TEXT NOT NULL DEFAULT '{}'  -- JSON: the whole start document
);
CREATE INDEX runs_time_start ON runs(time_start);
CREATE INDEX runs_beamtime ON runs(beamtime_id);
CREATE INDEX runs_sample ON runs(sample_name);
CREATE INDEX runs_plan ON runs(plan_name);

CREATE TABLE run_tags (
    run_uid     TEXT NOT NULL REFERENCES runs(uid) ON DELETE CASCADE,
    tag         TEXT NOT NULL,
    PRIMARY KEY (run_uid, tag)
) WITHOUT ROWID;
CREATE INDEX run_tags_tag ON run_tags(tag);
