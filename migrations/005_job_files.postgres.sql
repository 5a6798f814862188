-- Files compat and bundle jobs store (issue 10), PostgreSQL dialect (the SQLite twin is
-- 005_job_files.sqlite.sql; keep the two in step). Conventions as in 001.
--
-- A compat report (`reports/compat/<id>.json`) or a bundle (`bundles/<id>.tar.gz` and its
-- metadata `bundles/<id>.json`) is served by job id: its row says where it is stored and the
-- sha256 every read is checked against, so a damaged copy is never sent. A job whose stored
-- file was damaged is rebuilt by a job of a fresh id, whose file the row then names. Files
-- written before this migration have no row: they are made again when next asked for.
CREATE TABLE job_files (
  job_id      TEXT   COLLATE "C" NOT NULL,
  -- 'report' (compat), 'bundle' (the .tar.gz), 'bundle_meta' (its metadata).
  role        TEXT   COLLATE "C" NOT NULL CHECK (role IN ('report', 'bundle', 'bundle_meta')),
  storage_key TEXT   COLLATE "C" NOT NULL,
  sha256      TEXT   COLLATE "C" NOT NULL,
  size        BIGINT NOT NULL CHECK (size >= 0),
  created_at  BIGINT NOT NULL,
  PRIMARY KEY (job_id, role)
);
