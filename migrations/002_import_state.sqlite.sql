-- What `btfhub import` records beyond the kernels themselves, SQLite dialect (the PostgreSQL
-- twin is 002_import_state.postgres.sql; keep the two in step). Conventions as in 001.

-- BTFHub's marker files: `<kernel>.failed` (BTFHub could not make the kernel's BTF) and
-- `<kernel>.hasbtf` (the kernel ships its own BTF). Recorded per kernel, not as kernels.
CREATE TABLE kernel_markers (
  distro         TEXT    NOT NULL,
  distro_version TEXT    NOT NULL,
  arch           TEXT    NOT NULL,
  kernel         TEXT    NOT NULL,
  marker         TEXT    NOT NULL CHECK (marker IN ('failed', 'hasbtf')),
  -- The marker file's key in the source it was imported from.
  storage_key    TEXT    NOT NULL,
  recorded_at    INTEGER NOT NULL,
  PRIMARY KEY (distro, distro_version, arch, kernel, marker)
);

-- What import last found at each key of a source (an ObjectStore description such as
-- 'fs:/srv/btfhub-archive' or 's3://bucket/prefix'): a later run, or an interrupted one run
-- again, skips files whose size and modification time are unchanged without reading them.
CREATE TABLE imported_files (
  source      TEXT    NOT NULL,
  key         TEXT    NOT NULL,
  size        INTEGER NOT NULL CHECK (size >= 0),
  -- The source's modification time; NULL when it reports none (the file is then always read).
  modified_at INTEGER,
  -- sha256 of the file; NULL for markers.
  sha256      TEXT,
  status      TEXT    NOT NULL CHECK (status IN ('kernel', 'marker', 'invalid')),
  -- Why an invalid file was not registered.
  reason      TEXT,
  checked_at  INTEGER NOT NULL,
  PRIMARY KEY (source, key)
);
