-- The catalog's first schema, SQLite dialect (the PostgreSQL twin is 001_initial.postgres.sql;
-- keep the two in step). Conventions shared by both:
--   * timestamps are INTEGER milliseconds since the Unix epoch (UTC), set by the application;
--   * sizes and durations are bytes and milliseconds;
--   * text compares byte by byte (SQLite's default BINARY collation), so listings sort the
--     same way on both backends.

CREATE TABLE kernels (
  distro         TEXT    NOT NULL,
  distro_version TEXT    NOT NULL,
  arch           TEXT    NOT NULL,
  kernel         TEXT    NOT NULL,
  storage_key    TEXT    NOT NULL,
  size           INTEGER NOT NULL CHECK (size >= 0),
  sha256         TEXT    NOT NULL,
  added_at       INTEGER NOT NULL,
  PRIMARY KEY (distro, distro_version, arch, kernel)
);

CREATE TABLE objects (
  sha256     TEXT    NOT NULL PRIMARY KEY,
  size       INTEGER NOT NULL CHECK (size >= 0),
  first_seen INTEGER NOT NULL,
  last_seen  INTEGER NOT NULL
);

CREATE TABLE trims (
  objects_hash   TEXT    NOT NULL,
  distro         TEXT    NOT NULL,
  distro_version TEXT    NOT NULL,
  arch           TEXT    NOT NULL,
  kernel         TEXT    NOT NULL,
  result_key     TEXT    NOT NULL,
  result_sha256  TEXT    NOT NULL,
  size           INTEGER NOT NULL CHECK (size >= 0),
  duration_ms    INTEGER NOT NULL CHECK (duration_ms >= 0),
  hits           INTEGER NOT NULL DEFAULT 0,
  created_at     INTEGER NOT NULL,
  -- NULL until the first cache hit.
  last_hit_at    INTEGER,
  PRIMARY KEY (objects_hash, distro, distro_version, arch, kernel)
);
