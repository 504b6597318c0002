-- Master index on PostgreSQL, schema version 3: the version of ../0003_linear_run_metadata.sql,
-- which replaced SQLite's view of a document's leaves by a linear one. The leaves are
-- filed in linear time by the writer here since version 2, so the schema is unchanged;
-- the version is kept in step with the SQLite index so one number names one schema.
SELECT 1;
