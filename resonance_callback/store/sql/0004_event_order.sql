-- Beamtime database, schema version 4: events are keyed in the order they arrive.
-- Before, `events.uid` was the PRIMARY KEY: an index of random uids, so every event
-- written went to a random page of it. Once that index outgrew the writer's page
-- cache (about 130k events in a beamtime) each commit rewrote ~1,000 pages all over
-- it, and the write rate of a run fell with the size of the beamtime (0.57x at 1M
-- events). Now an event is keyed by (stream_uid, seq_num, uid): within a stream
-- seq_num grows, so a new event goes at the end of its stream's part of the index,
-- and the cost of an event no longer grows with the beamtime.
-- The key still catches a document stored twice (the same event again has the same
-- stream, seq_num and uid). A uid reused by a *different* event (another stream or
-- seq_num: a broken producer) is no longer refused on arrival; both rows are kept
-- and `check` reports the uid (see the README's "Schema contract").
-- `image_refs` loses its foreign key to events(uid) (SQLite requires the parent key
-- of a foreign key to be unique); the writer moves a row's image_refs with its uid.
-- Both tables are rebuilt (SQLite cannot drop a PRIMARY KEY); rowids are kept, so
-- the arrival order (ORDER BY rowid) is unchanged.

CREATE TABLE events_v4 (
    uid         TEXT NOT NULL,
    stream_uid  TEXT NOT NULL REFERENCES streams(uid),
    seq_num     INTEGER NOT NULL,
    time        REAL NOT NULL,
    data        TEXT NOT NULL,                  -- JSON: fields not stored as frames
    timestamps  TEXT NOT NULL,                  -- JSON: timestamps of those fields
    filled      TEXT,                           -- JSON: the event's filled map, if any
    derived     INTEGER NOT NULL DEFAULT 0      -- 1: made by the writer, not an event document
);
INSERT INTO events_v4 (rowid, uid, stream_uid, seq_num, time, data, timestamps, filled,
                       derived)
    SELECT rowid, uid, stream_uid, seq_num, time, data, timestamps, filled, derived
    FROM events ORDER BY rowid;
DROP TABLE events;
ALTER TABLE events_v4 RENAME TO events;
CREATE UNIQUE INDEX events_key ON events(stream_uid, seq_num, uid);

CREATE TABLE image_refs_v4 (
    event_uid           TEXT NOT NULL,
    field_name          TEXT NOT NULL,
    zarr_path           TEXT NOT NULL,
    frame_index         INTEGER NOT NULL,
    compression_codec   TEXT NOT NULL,
    timestamp           REAL,                   -- the field's timestamp in the event
    PRIMARY KEY (event_uid, field_name)
);
INSERT INTO image_refs_v4 (rowid, event_uid, field_name, zarr_path, frame_index,
                           compression_codec, timestamp)
    SELECT rowid, event_uid, field_name, zarr_path, frame_index, compression_codec, timestamp
    FROM image_refs ORDER BY rowid;
DROP TABLE image_refs;
ALTER TABLE image_refs_v4 RENAME TO image_refs;
CREATE INDEX image_refs_path ON image_refs(zarr_path, frame_index);
