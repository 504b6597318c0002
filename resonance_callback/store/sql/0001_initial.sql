-- Beamtime database, schema version 1.
-- The tables and columns named in the README's "Schema contract" are public:
-- never rename them. Never edit this file once shipped; add 0002_*.sql.

CREATE TABLE samples (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    metadata    TEXT NOT NULL DEFAULT '{}'      -- JSON: the rest of SampleMetadata
);

CREATE TABLE runs (
    uid             TEXT PRIMARY KEY,
    sample_id       INTEGER REFERENCES samples(id),
    plan_name       TEXT,
    scan_id         INTEGER,
    time_start      REAL NOT NULL,
    time_stop       REAL,
    exit_status     TEXT CHECK (exit_status IN ('success', 'aborted', 'failed')),
    reason          TEXT,
    metadata        TEXT NOT NULL DEFAULT '{}', -- JSON: the start document
    stop_document   TEXT                        -- JSON: the stop document, NULL while open
);
CREATE INDEX runs_time_start ON runs(time_start);
CREATE INDEX runs_sample ON runs(sample_id);

CREATE TABLE streams (
    uid             TEXT PRIMARY KEY,
    run_uid         TEXT NOT NULL REFERENCES runs(uid),
    name            TEXT NOT NULL,
    time            REAL,
    data_keys       TEXT NOT NULL,              -- JSON: the descriptor's data_keys
    configuration   TEXT NOT NULL DEFAULT '{}', -- JSON: the descriptor's configuration
    document        TEXT NOT NULL DEFAULT '{}'  -- JSON: the whole descriptor document
);
CREATE INDEX streams_run ON streams(run_uid, name);

CREATE TABLE events (
    uid         TEXT PRIMARY KEY,
    stream_uid  TEXT NOT NULL REFERENCES streams(uid),
    seq_num     INTEGER NOT NULL,
    time        REAL NOT NULL,
    data        TEXT NOT NULL,                  -- JSON: fields not stored as frames
    timestamps  TEXT NOT NULL,                  -- JSON: timestamps of those fields
    filled      TEXT,                           -- JSON: the event's filled map, if any
    derived     INTEGER NOT NULL DEFAULT 0      -- 1: made by the writer, not an event document
);
CREATE INDEX events_stream_seq ON events(stream_uid, seq_num);

CREATE TABLE image_refs (
    event_uid           TEXT NOT NULL REFERENCES events(uid) ON UPDATE CASCADE,
    field_name          TEXT NOT NULL,
    zarr_path           TEXT NOT NULL,
    frame_index         INTEGER NOT NULL,
    compression_codec   TEXT NOT NULL,
    timestamp           REAL,                   -- the field's timestamp in the event
    PRIMARY KEY (event_uid, field_name)
);
CREATE INDEX image_refs_path ON image_refs(zarr_path, frame_index);

-- Documents kept for provenance: resource, datum, stream_resource, stream_datum.
CREATE TABLE external_documents (
    name        TEXT NOT NULL,
    uid         TEXT NOT NULL,
    run_uid     TEXT,
    ordinal     INTEGER NOT NULL,               -- arrival order within the writer
    document    TEXT NOT NULL,
    PRIMARY KEY (name, uid)
);
CREATE INDEX external_documents_run ON external_documents(run_uid, ordinal);

-- Frames referenced by a run that could not be read into the store.
CREATE TABLE unresolved_frames (
    id          INTEGER PRIMARY KEY,
    run_uid     TEXT,
    stream_uid  TEXT,
    field_name  TEXT,
    seq_num     INTEGER,
    reference   TEXT NOT NULL,                  -- datum_id or stream_resource uid + index
    reason      TEXT NOT NULL,
    time        REAL NOT NULL
);
CREATE INDEX unresolved_frames_run ON unresolved_frames(run_uid);

-- Documents that could not be stored as they came, kept whole with the reason.
CREATE TABLE rejected_documents (
    id          INTEGER PRIMARY KEY,
    run_uid     TEXT,
    name        TEXT NOT NULL,
    uid         TEXT,
    reason      TEXT NOT NULL,
    document    TEXT NOT NULL,
    time        REAL NOT NULL                   -- when it was rejected
);
CREATE INDEX rejected_documents_run ON rejected_documents(run_uid);
