-- Master index, schema version 2: searches by a start-document value read an index.
-- The same side table as a beamtime's (store/sql/0003_run_queries.sql): every scalar
-- of every run's start document, filed under the name of the key that holds it (a
-- value in a dict under its own key, an element of a list under the list's key; lists
-- of lists are not filed). `search(where=...)` narrows the runs through it with
-- `key = ? AND value = ?`, then tests the candidates' start documents, so a leaf name
-- shared by two paths never matches wrongly. Kept by triggers (run upserts, deletes,
-- the cascade of a removed beamtime); filled here for the runs already indexed.

-- @include run_metadata.sql table

-- The leaves, in one pass of json_tree (linear in the document; see
-- 0003_linear_run_metadata.sql, which gave indexes made by earlier releases this
-- definition in place of a quadratic self-join of json_tree with the same rows).
-- @include run_metadata.sql leaves

-- @include run_metadata.sql triggers

-- search(scan_id=...); the newest-first order read from an index (see the beamtime's).
CREATE INDEX runs_scan_id ON runs(scan_id);
CREATE INDEX runs_newest ON runs(time_start IS NULL DESC, time_start);
