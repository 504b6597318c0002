-- Master index, schema version 2: searches by a start-document value read an index.
-- The same side table as a beamtime's (store/sql/0003_run_queries.sql): every scalar
-- of every run's start document, filed under the name of the key that holds it (a
-- value in a dict under its own key, an element of a list under the list's key; lists
-- of lists are not filed). `search(where=...)` narrows the runs through it with
-- `key = ? AND value = ?`, then tests the candidates' start documents, so a leaf name
-- shared by two paths never matches wrongly. Kept by triggers (run upserts, deletes,
-- the cascade of a removed beamtime); filled here for the runs already indexed.

CREATE TABLE run_metadata (
    run_uid     TEXT NOT NULL,
    key         TEXT NOT NULL,
    value
);
CREATE INDEX run_metadata_key_value ON run_metadata(key, value);
CREATE INDEX run_metadata_run ON run_metadata(run_uid);

-- The leaves, in one pass of json_tree (linear in the document; see
-- 0003_linear_run_metadata.sql, which gave indexes made by earlier releases this
-- definition in place of a quadratic self-join of json_tree with the same rows).
CREATE VIEW run_metadata_leaves AS
SELECT run_uid, key, value FROM (
    SELECT run_uid, key, value,
           row_number() OVER (PARTITION BY run_uid, key, value ORDER BY id) AS nth
    FROM (
        SELECT r.uid AS run_uid, t.id AS id, t.type AS type, t.atom AS value,
               CASE WHEN typeof(t.key) = 'integer'
                    THEN max(CASE WHEN t.type = 'array' THEN t.key END) OVER (
                         PARTITION BY r.uid,
                                      CASE WHEN t.type = 'array' THEN t.id ELSE t.parent END)
                    ELSE t.key END AS key
        FROM runs AS r,
             json_tree(CASE WHEN json_valid(r.metadata) THEN r.metadata ELSE '{}' END) AS t
    )
    WHERE type NOT IN ('object', 'array') AND typeof(key) = 'text'
)
WHERE nth = 1;

CREATE TRIGGER run_metadata_insert AFTER INSERT ON runs BEGIN
    INSERT INTO run_metadata (run_uid, key, value)
    SELECT run_uid, key, value FROM run_metadata_leaves WHERE run_uid = NEW.uid;
END;

CREATE TRIGGER run_metadata_update AFTER UPDATE OF uid, metadata ON runs BEGIN
    DELETE FROM run_metadata WHERE run_uid = OLD.uid;
    INSERT INTO run_metadata (run_uid, key, value)
    SELECT run_uid, key, value FROM run_metadata_leaves WHERE run_uid = NEW.uid;
END;

CREATE TRIGGER run_metadata_delete AFTER DELETE ON runs BEGIN
    DELETE FROM run_metadata WHERE run_uid = OLD.uid;
END;

INSERT INTO run_metadata (run_uid, key, value)
SELECT run_uid, key, value FROM run_metadata_leaves;

-- search(scan_id=...); the newest-first order read from an index (see the beamtime's).
CREATE INDEX runs_scan_id ON runs(scan_id);
CREATE INDEX runs_newest ON runs(time_start IS NULL DESC, time_start);
