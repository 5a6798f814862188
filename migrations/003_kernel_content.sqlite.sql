-- Kernels versioned by content (issue 10), SQLite dialect (the PostgreSQL twin is
-- 003_kernel_content.postgres.sql; keep the two in step). Conventions as in 001.
--
-- A trim is made from one kernel file: its row now names that file's sha256, so replacing a
-- kernel (a new sha256 in `kernels`) leaves every trim of the old content unreachable instead
-- of answering for the new one. Trims recorded before this migration do not say which content
-- they were made from (a replacement could race them): they are dropped and made again on
-- demand; their results stay in the store until `btfhub verify --repair` removes the orphans.
DROP TABLE trims;

CREATE TABLE trims (
  objects_hash   TEXT    NOT NULL,
  distro         TEXT    NOT NULL,
  distro_version TEXT    NOT NULL,
  arch           TEXT    NOT NULL,
  kernel         TEXT    NOT NULL,
  -- sha256 of the kernel file the trim was made from (kernels.sha256 at the time).
  kernel_sha256  TEXT    NOT NULL,
  result_key     TEXT    NOT NULL,
  result_sha256  TEXT    NOT NULL,
  size           INTEGER NOT NULL CHECK (size >= 0),
  duration_ms    INTEGER NOT NULL CHECK (duration_ms >= 0),
  hits           INTEGER NOT NULL DEFAULT 0,
  created_at     INTEGER NOT NULL,
  last_hit_at    INTEGER,
  PRIMARY KEY (objects_hash, distro, distro_version, arch, kernel, kernel_sha256)
);

-- A kernel file converted to its other format (`derived/...` keys), recorded with its own
-- sha256 so that every read of the copy can be checked like the kernel file itself.
CREATE TABLE derived_files (
  -- sha256 of the kernel file it was made from.
  source_sha256 TEXT    NOT NULL,
  format        TEXT    NOT NULL CHECK (format IN ('btf', 'btf.tar.xz')),
  storage_key   TEXT    NOT NULL,
  sha256        TEXT    NOT NULL,
  size          INTEGER NOT NULL CHECK (size >= 0),
  created_at    INTEGER NOT NULL,
  PRIMARY KEY (source_sha256, format)
);

-- Job ids the API handed out (and when), so that an id the queue no longer knows can be told
-- apart: handed out within the kind's retention, the queue lost it (a Redis without
-- persistence restarted): `404 job_lost`, and clients send the request again; otherwise it
-- expired (`404 job_not_found`). Rows older than the longest retention are pruned.
CREATE TABLE issued_jobs (
  id        TEXT   NOT NULL PRIMARY KEY,
  kind      TEXT   NOT NULL,
  issued_at INTEGER NOT NULL
);
