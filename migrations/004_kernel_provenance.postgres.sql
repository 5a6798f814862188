-- Where a kernel's BTF came from when the service generated it (POST /api/v1/kernels/generate,
-- on-demand generation), PostgreSQL dialect (the SQLite twin is 004_kernel_provenance.sqlite.sql;
-- keep the two in step). Conventions as in 001. Kernels registered from an archive have no row.
CREATE TABLE kernel_provenance (
  distro          TEXT   COLLATE "C" NOT NULL,
  distro_version  TEXT   COLLATE "C" NOT NULL,
  arch            TEXT   COLLATE "C" NOT NULL,
  kernel          TEXT   COLLATE "C" NOT NULL,
  -- sha256 of the stored kernel file this row describes: a kernel registered again from
  -- elsewhere (an import, an upload) no longer matches, and the row no longer applies.
  kernel_sha256   TEXT   COLLATE "C" NOT NULL,
  -- The debug package (or vmlinux) the BTF was made from.
  package_file    TEXT   COLLATE "C" NOT NULL,
  package_name    TEXT   COLLATE "C",
  package_version TEXT   COLLATE "C",
  package_sha256  TEXT   COLLATE "C" NOT NULL,
  package_url     TEXT   COLLATE "C",
  pahole_version  TEXT   COLLATE "C" NOT NULL,
  -- pahole's encoding flags, space-separated.
  pahole_flags    TEXT   COLLATE "C" NOT NULL,
  generated_at    BIGINT NOT NULL,
  PRIMARY KEY (distro, distro_version, arch, kernel)
);
