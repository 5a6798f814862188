-- Files compat and bundle jobs store (issue 10), SQLite dialect (the PostgreSQL twin is
-- 005_job_files.postgres.sql; keep the two in step). Conventions as in 001.
--
-- A compat report (`reports/compat/<id>.json`) or a bundle (`bundles/<id>.tar.gz` and its
-- metadata `bundles/<id>.json`) is served by job id: its row says where it is stored and the
-- sha256 every read is checked against, so a damaged copy is never sent. A job whose stored
-- file was damaged is rebuilt by a job of a fresh id, whose file the row then names. Files
-- written before this migration have no row: they are made again when next asked for.
CREATE TABLE job_files (
  job_id      TEXT    NOT NULL,
  -- 'report' (compat), 'bundle' (the .tar.gz), 'bundle_meta' (its metadata).
  role        TEXT    NOT NULL CHECK (role IN ('report', 'bundle', 'bundle_meta')),
  storage_key TEXT    NOT NULL,
  sha256      TEXT    NOT NULL,
  size        INTEGER NOT NULL CHECK (size >= 0),
  created_at  INTEGER NOT NULL,
  PRIMARY KEY (job_id, role)
);
