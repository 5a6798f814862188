# btfhub-online: `btfhub serve` (API) and `btfhub worker` (trim jobs) from one image.
#
#   docker build -t btfhub-online .
#   docker run -p 8080:8080 -v btfhub-data:/data btfhub-online            # embedded: SQLite, fs store, in-process worker
#   docker run ... btfhub-online worker                                   # a worker (needs REDIS_URL, S3_*, DATABASE_URL)
#
# docker-compose.yml wires the scale-out layout (api, 2 workers, redis, postgres, minio, import).
#
# Node 24, the current LTS (Node 20's support ended in April 2026); both stages use the same
# image, so native modules (better-sqlite3) are built for the Node that runs them.

# ---- build: compile TypeScript, keep production dependencies only ----------------------
FROM node:24-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 ships prebuilt binaries for Node 24; the toolchain is the fallback.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts/bundle-cli.mjs ./scripts/
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund \
 && chmod +x dist/src/cli/main.js dist/src/cli/btfhub.cjs

# ---- runtime -----------------------------------------------------------------------------
FROM node:24-bookworm-slim AS runtime
# xz-utils: BTFHub archives are .btf.tar.xz, read and written through the xz binary.
# dwarves (pahole 1.24), zstd: generate jobs make kernel BTF from debug packages (docs/GENERATE.md).
RUN apt-get update \
 && apt-get install -y --no-install-recommends xz-utils zstd dwarves \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json openapi.yaml ./
COPY migrations ./migrations
RUN ln -s /app/dist/src/cli/btfhub.cjs /usr/local/bin/btfhub \
 && mkdir -p /data \
 && chown node:node /data
# Listen on every interface inside the container; data (SQLite, fs store) under the volume.
ENV BTFHUB_HOST=0.0.0.0 \
    BTFHUB_PORT=8080 \
    BTFHUB_DATA_DIR=/data
# Process memory (docs/CONFIGURATION.md): buffers of 128 KiB and up (uploads, kernels, results)
# get mappings of their own, given back to the system when freed, instead of fragmenting
# malloc's heap; the main thread's young generation stays at 4 MiB per semi-space. Under the
# embedded soak this took the API from 356 to ~230 MB. Those mappings are asked for as
# transparent huge pages where the kernel grants them on request (THP "madvise"): a 5.5 MB
# buffer took 373-884 page faults instead of 1,395 (its whole 2 MiB windows become huge
# pages); cold trims' decode went from 35-38 to 22-34 ms and import from 165-176 to 128-152
# ms a kernel (bench cold). `npm start` sets the same.
ENV MALLOC_MMAP_THRESHOLD_=131072 \
    MALLOC_TRIM_THRESHOLD_=131072 \
    GLIBC_TUNABLES=glibc.malloc.hugetlb=1 \
    NODE_OPTIONS=--max-semi-space-size=4
USER node
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.BTFHUB_PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Node's own flags go on its command line (it refuses V8's GC flags in NODE_OPTIONS): the
# service collects garbage on the thread that made it, without V8's parallel and concurrent
# helper threads. On the 2-core VM we measure on, those helpers fought the event loop and the
# codec thread for the cores: new trims of the 1.69 MB object went from 31-36 to 38-40 a
# second, at 32-33 instead of 38-44 ms of CPU each (docs/CONFIGURATION.md, Process memory).
# `npm start` passes the same; on a host with cores to spare, `--entrypoint btfhub` runs
# without it.
ENTRYPOINT ["node", "--single-threaded-gc", "/app/dist/src/cli/btfhub.cjs"]
CMD ["serve"]
