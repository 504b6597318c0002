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
-- @include run_metadata.sql leaves
