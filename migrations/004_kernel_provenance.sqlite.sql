-- Where a kernel's BTF came from when the service generated it (POST /api/v1/kernels/generate,
-- on-demand generation), SQLite dialect (the PostgreSQL twin is 004_kernel_provenance.postgres.sql;
-- keep the two in step). Conventions as in 001. Kernels registered from an archive have no row.
CREATE TABLE kernel_provenance (
  distro          TEXT    NOT NULL,
  distro_version  TEXT    NOT NULL,
  arch            TEXT    NOT NULL,
  kernel          TEXT    NOT NULL,
  -- sha256 of the stored kernel file this row describes: a kernel registered again from
  -- elsewhere (an import, an upload) no longer matches, and the row no longer applies.
  kernel_sha256   TEXT    NOT NULL,
  -- The debug package (or vmlinux) the BTF was made from.
  package_file    TEXT    NOT NULL,
  package_name    TEXT,
  package_version TEXT,
  package_sha256  TEXT    NOT NULL,
  package_url     TEXT,
  pahole_version  TEXT    NOT NULL,
  -- pahole's encoding flags, space-separated.
  pahole_flags    TEXT    NOT NULL,
  generated_at    INTEGER NOT NULL,
  PRIMARY KEY (distro, distro_version, arch, kernel)
);
