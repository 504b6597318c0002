-- The run_metadata side table, defined once for both kinds of database: a beamtime
-- (store/sql) and the master index (index/sql). Their migrations name a fragment with
-- a line `-- @include run_metadata.sql NAME`, which the migration runner
-- (resonance_callback/_sqlite.py) replaces by the fragment's text before running it.
-- A fragment runs the statements below its `-- @fragment NAME` line, up to the next one.
-- Migrations already shipped render byte for byte as they were shipped (pinned by
-- tests/store/test_schema_fragments.py). To change a fragment, first put its old text
-- back in place of the includes of the migrations already shipped (their pins hold),
-- then change it here with a new migration that brings existing files to it (as
-- 0005 / 0003 replaced the view).
--
-- table: every scalar of every start document, filed under the name of the key that
--   holds it (see store/sql/0003_run_queries.sql), with its two indexes.
-- leaves: the view of those rows, one pass of json_tree (linear in the document).
-- triggers: keep the table as `runs` changes, and fill it for the runs already there.

-- @fragment table
CREATE TABLE run_metadata (
    run_uid     TEXT NOT NULL,
    key         TEXT NOT NULL,
    value
);
CREATE INDEX run_metadata_key_value ON run_metadata(key, value);
CREATE INDEX run_metadata_run ON run_metadata(run_uid);

-- @fragment leaves
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

-- @fragment triggers
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
