-- Beamtime database, schema version 3: indexes that keep run queries flat at scale.
-- A query whose answer has a constant size (one run by scan_id, the runs of one plan,
-- the runs whose start document holds a value) reads index pages only, however many
-- runs the beamtime holds; before, each was a scan of every run's start document.

-- bt[42], RunFilter(scan_id=...)
CREATE INDEX runs_scan_id ON runs(scan_id);
-- RunFilter(plan=...)
CREATE INDEX runs_plan ON runs(plan_name);
-- The one order, newest first (store._filter.newest_first: time_start IS NULL,
-- time_start DESC, rowid DESC) is this index read backwards: bt[-N] and a listing
-- with a LIMIT stop after N rows instead of sorting every run.
CREATE INDEX runs_newest ON runs(time_start IS NULL DESC, time_start);

-- Every scalar of every start document, under the name of the key that holds it: a
-- value inside a dict is filed under its own key ("formula" for {"sample":
-- {"formula": "SiO2"}}), an element of a list under the list's key ("tags" for
-- {"tags": ["a"]}); lists of lists are not filed. It is a search index, not a
-- statement of the metadata: a `where` filter (store._filter) narrows the runs
-- through it with `key = ? AND value = ?`, then checks the candidates against the
-- start document itself, so a leaf name shared by two paths costs a little more but
-- never matches wrongly. `value` has no type affinity: text, integers, reals,
-- true/false as 1/0 and null as NULL keep the type they have in the JSON.
-- Kept by triggers, so every path that writes `runs` (the writer, repair, a future
-- tool) keeps it; filled here for the runs already stored.
-- @include run_metadata.sql table

-- The leaves of every run's start document, as filed above (one definition, used by
-- the triggers and the backfill; a start document that is not JSON files nothing).
-- One pass of json_tree, in time linear in the document (see 0005_linear_run_metadata.sql,
-- which gave files made by earlier releases this definition): releases before schema 5
-- shipped a self-join of two json_trees here, quadratic in the document's size, for the
-- same rows; a file upgraded from schema 2 is filled by this one.
-- @include run_metadata.sql leaves

-- @include run_metadata.sql triggers
