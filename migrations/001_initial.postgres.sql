-- The catalog's first schema, PostgreSQL dialect (the SQLite twin is 001_initial.sqlite.sql;
-- keep the two in step). Conventions shared by both:
--   * timestamps are BIGINT milliseconds since the Unix epoch (UTC), set by the application;
--   * sizes and durations are bytes and milliseconds;
--   * text compares byte by byte: every text column is COLLATE "C", which matches SQLite's
--     BINARY order (so listings sort the same on both backends) and lets the primary-key
--     index serve the `kernel LIKE 'prefix%'` filter whatever the database's locale is.

CREATE TABLE kernels (
  distro         TEXT   COLLATE "C" NOT NULL,
  distro_version TEXT   COLLATE "C" NOT NULL,
  arch           TEXT   COLLATE "C" NOT NULL,
  kernel         TEXT   COLLATE "C" NOT NULL,
  storage_key    TEXT   COLLATE "C" NOT NULL,
  size           BIGINT NOT NULL CHECK (size >= 0),
  sha256         TEXT   COLLATE "C" NOT NULL,
  added_at       BIGINT NOT NULL,
  PRIMARY KEY (distro, distro_version, arch, kernel)
);

CREATE TABLE objects (
  sha256     TEXT   COLLATE "C" NOT NULL PRIMARY KEY,
  size       BIGINT NOT NULL CHECK (size >= 0),
  first_seen BIGINT NOT NULL,
  last_seen  BIGINT NOT NULL
);

CREATE TABLE trims (
  objects_hash   TEXT   COLLATE "C" NOT NULL,
  distro         TEXT   COLLATE "C" NOT NULL,
  distro_version TEXT   COLLATE "C" NOT NULL,
  arch           TEXT   COLLATE "C" NOT NULL,
  kernel         TEXT   COLLATE "C" NOT NULL,
  result_key     TEXT   COLLATE "C" NOT NULL,
  result_sha256  TEXT   COLLATE "C" NOT NULL,
  size           BIGINT NOT NULL CHECK (size >= 0),
  duration_ms    BIGINT NOT NULL CHECK (duration_ms >= 0),
  hits           BIGINT NOT NULL DEFAULT 0,
  created_at     BIGINT NOT NULL,
  -- NULL until the first cache hit.
  last_hit_at    BIGINT,
  PRIMARY KEY (objects_hash, distro, distro_version, arch, kernel)
);
