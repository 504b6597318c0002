-- Beamtime database, schema version 7: problems `check` found that a person has seen.
-- `check --ack` records each problem it lists (an interrupted run, a rejected document,
-- frames that could not be read, ...) here, so a nightly `check` tells new problems from
-- known ones: it exits 0 while only acknowledged problems remain, and lists them as such.
-- A problem is named by its kind and a key that stays the same while the problem does
-- (a run's uid, a frame's run/stream/field/seq_num, an array's path with what is wrong,
-- a rejected document's row id); another problem of the same kind has another key and
-- is not covered. Damage to the database itself (integrity) is never acknowledged.

CREATE TABLE acknowledged_problems (
    kind        TEXT NOT NULL,                  -- interrupted_run, rejected_document, ...
    key         TEXT NOT NULL,                  -- which one (see above)
    time        REAL NOT NULL,                  -- when it was acknowledged
    note        TEXT,                           -- why, as given (`check --ack --note`)
    PRIMARY KEY (kind, key)
) WITHOUT ROWID;
