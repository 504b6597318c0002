-- Beamtime database, schema version 8: a frame is found without reading the run's references.
-- Before, reading frame k of a field read every `image_refs` row of the stream (each found
-- through its event's uid), to learn the frames' order and count: 9.7 ms at 1,000 frames,
-- 630 ms at 100,000. Now each reference carries its event's stream and seq_num, and
-- `frame_spans` keeps, per stream (descriptor) and field, how many frames it holds and
-- whether they lie in one array in the order of their events. When they do (a field's
-- frames as the writer appends them: every event after the one before it, every frame
-- after the one before it, no seq_num missing), frame k is frame `first_index + k` of
-- `zarr_path`: read from two rows, however long the run.
-- `frame_spans` is kept by triggers, so every path that writes `image_refs` (the writer,
-- repair, a future tool) keeps it. A reference without a stream or seq_num (none is
-- written so; only a reference whose event row is missing, filled here) is left out of
-- it, as the reader's join with `events` leaves it out.

ALTER TABLE image_refs ADD COLUMN stream_uid TEXT;   -- the event's stream (descriptor) uid
ALTER TABLE image_refs ADD COLUMN seq_num INTEGER;   -- the event's seq_num
UPDATE image_refs SET stream_uid = e.stream_uid, seq_num = e.seq_num
    FROM events e WHERE e.uid = image_refs.event_uid;
-- A frame by its event's stream and seq_num (the reader's lookup of one frame).
CREATE INDEX image_refs_event_seq ON image_refs(stream_uid, field_name, seq_num);

CREATE TABLE frame_spans (
    stream_uid  TEXT NOT NULL,
    field_name  TEXT NOT NULL,
    frames      INTEGER NOT NULL,   -- image_refs rows of this stream and field
    first_seq   INTEGER,            -- seq_num of the first frame written
    last_seq    INTEGER,            -- seq_num of the last frame written
    zarr_path   TEXT NOT NULL,      -- the array of the first frame written
    first_index INTEGER NOT NULL,   -- frame_index of the first frame written
    last_index  INTEGER NOT NULL,   -- frame_index of the last frame written
    in_order    INTEGER NOT NULL,   -- 1: every frame in zarr_path, each after the one before
                                    -- it in seq_num and in frame_index
    PRIMARY KEY (stream_uid, field_name)
) WITHOUT ROWID;

-- The spans of the references already stored: in order when, sorted by seq_num, both
-- seq_num and frame_index grow at every step within one array.
INSERT INTO frame_spans (stream_uid, field_name, frames, first_seq, last_seq, zarr_path,
                         first_index, last_index, in_order)
    SELECT stream_uid, field_name, count(*), min(seq_num), max(seq_num), min(zarr_path),
           min(frame_index), max(frame_index),
           coalesce(min(zarr_path) = max(zarr_path) AND count(seq_num) = count(*)
                    AND coalesce(sum(step_ok), 0) = count(*) - 1, 0)
    FROM (SELECT stream_uid, field_name, seq_num, zarr_path, frame_index,
                 seq_num > lag(seq_num) OVER w AND frame_index > lag(frame_index) OVER w
                     AS step_ok
          FROM image_refs WHERE stream_uid IS NOT NULL
          WINDOW w AS (PARTITION BY stream_uid, field_name ORDER BY seq_num, frame_index))
    GROUP BY stream_uid, field_name;

CREATE TRIGGER frame_spans_insert AFTER INSERT ON image_refs
WHEN NEW.stream_uid IS NOT NULL
BEGIN
    INSERT INTO frame_spans (stream_uid, field_name, frames, first_seq, last_seq, zarr_path,
                             first_index, last_index, in_order)
    VALUES (NEW.stream_uid, NEW.field_name, 1, NEW.seq_num, NEW.seq_num, NEW.zarr_path,
            NEW.frame_index, NEW.frame_index, NEW.seq_num IS NOT NULL)
    ON CONFLICT (stream_uid, field_name) DO UPDATE SET
        frames = frames + 1,
        in_order = coalesce(in_order AND excluded.last_seq > last_seq
                            AND excluded.last_index > last_index
                            AND excluded.zarr_path = zarr_path, 0),
        last_seq = excluded.last_seq,
        last_index = excluded.last_index;
END;

-- Removing the last frame written (a trimmed crash) keeps the order; any other removal
-- or change loses it (the reader then reads every reference, as before).
CREATE TRIGGER frame_spans_delete AFTER DELETE ON image_refs
WHEN OLD.stream_uid IS NOT NULL
BEGIN
    UPDATE frame_spans SET
        frames = frames - 1,
        in_order = in_order AND OLD.seq_num IS last_seq AND OLD.frame_index = last_index,
        last_seq = (SELECT max(seq_num) FROM image_refs WHERE stream_uid = OLD.stream_uid
                    AND field_name = OLD.field_name),
        last_index = coalesce((SELECT frame_index FROM image_refs
                               WHERE stream_uid = OLD.stream_uid
                               AND field_name = OLD.field_name ORDER BY seq_num DESC LIMIT 1),
                              last_index)
    WHERE stream_uid = OLD.stream_uid AND field_name = OLD.field_name;
    DELETE FROM frame_spans WHERE stream_uid = OLD.stream_uid
        AND field_name = OLD.field_name AND frames <= 0;
END;

CREATE TRIGGER frame_spans_update AFTER UPDATE OF stream_uid, field_name, seq_num, zarr_path,
    frame_index ON image_refs
BEGIN
    UPDATE frame_spans SET frames = frames - 1, in_order = 0
        WHERE stream_uid = OLD.stream_uid AND field_name = OLD.field_name;
    DELETE FROM frame_spans WHERE stream_uid = OLD.stream_uid
        AND field_name = OLD.field_name AND frames <= 0;
    INSERT INTO frame_spans (stream_uid, field_name, frames, first_seq, last_seq, zarr_path,
                             first_index, last_index, in_order)
    SELECT NEW.stream_uid, NEW.field_name, 1, NEW.seq_num, NEW.seq_num, NEW.zarr_path,
           NEW.frame_index, NEW.frame_index, 0
    WHERE NEW.stream_uid IS NOT NULL
    ON CONFLICT (stream_uid, field_name) DO UPDATE SET frames = frames + 1, in_order = 0;
END;
