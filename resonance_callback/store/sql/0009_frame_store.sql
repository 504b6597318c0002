-- Beamtime database, schema version 9: where the beamtime's frames are.
-- Frames go to `{db stem}.zarr` beside the database unless the writer is given another
-- place; an object store (`s3://bucket/prefix`) is recorded here when a writer first
-- opens the beamtime with it, so every reader (and a later writer given no place) finds
-- the frames there. One row at most: a beamtime keeps its frames in one place.
CREATE TABLE frame_store (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    location    TEXT NOT NULL
);
