-- What `btfhub import` records beyond the kernels themselves, PostgreSQL dialect (the SQLite
-- twin is 002_import_state.sqlite.sql; keep the two in step). Conventions as in 001.

-- BTFHub's marker files: `<kernel>.failed` (BTFHub could not make the kernel's BTF) and
-- `<kernel>.hasbtf` (the kernel ships its own BTF). Recorded per kernel, not as kernels.
CREATE TABLE kernel_markers (
  distro         TEXT   COLLATE "C" NOT NULL,
  distro_version TEXT   COLLATE "C" NOT NULL,
  arch           TEXT   COLLATE "C" NOT NULL,
  kernel         TEXT   COLLATE "C" NOT NULL,
  marker         TEXT   COLLATE "C" NOT NULL CHECK (marker IN ('failed', 'hasbtf')),
  -- The marker file's key in the source it was imported from.
  storage_key    TEXT   COLLATE "C" NOT NULL,
  recorded_at    BIGINT NOT NULL,
  PRIMARY KEY (distro, distro_version, arch, kernel, marker)
);

-- What import last found at each key of a source (an ObjectStore description such as
-- 'fs:/srv/btfhub-archive' or 's3://bucket/prefix'): a later run, or an interrupted one run
-- again, skips files whose size and modification time are unchanged without reading them.
CREATE TABLE imported_files (
  source      TEXT   COLLATE "C" NOT NULL,
  key         TEXT   COLLATE "C" NOT NULL,
  size        BIGINT NOT NULL CHECK (size >= 0),
  -- The source's modification time; NULL when it reports none (the file is then always read).
  modified_at BIGINT,
  -- sha256 of the file; NULL for markers.
  sha256      TEXT   COLLATE "C",
  status      TEXT   COLLATE "C" NOT NULL CHECK (status IN ('kernel', 'marker', 'invalid')),
  -- Why an invalid file was not registered.
  reason      TEXT,
  checked_at  BIGINT NOT NULL,
  PRIMARY KEY (source, key)
);
