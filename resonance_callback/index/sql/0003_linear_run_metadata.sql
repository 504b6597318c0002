-- Master index, schema version 3: start metadata is filed in time linear in its size.
-- Schema 2 filed the leaves of a start document (run_metadata, see
-- 0002_run_queries.sql) through a view joining two json_trees of the document on
-- `p.id = t.parent`: SQLite cannot index a table-valued function, so the join was a
-- nested loop over every pair of nodes. A start holding a list of 20,000 numbers (a
-- list_scan's positions) took ~25 s to index, 50 MB of metadata never finished, and a
-- live indexer held the index's write lock all that time.
-- Now one pass of json_tree files the same rows: a value whose key is text (inside a
-- dict) is filed under its own key; an element of a list (integer key) under the key
-- of the list, read by a window over the list and its elements (partitioned by the
-- list's id, which is each element's parent: a sort, not a join); a list whose key is
-- not text (a list of lists, or the top of the document) files nothing; of equal values
-- under one key (1 and 1.0, true and 1) the first in document order is kept, as the
-- DISTINCT of the join kept it.
-- The triggers of 0002 read the view by name, so replacing the view is all it takes;
-- the rows already filed are the same and are kept.

DROP VIEW IF EXISTS run_metadata_leaves;
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
