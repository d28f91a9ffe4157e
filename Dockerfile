# syntax=docker/dockerfile:1
# compute_ctl in a container: the agent (Node 20) next to PostgreSQL 15 from Debian bookworm's own
# packages, running as the `postgres` user. Multi-stage: `build` bundles the TypeScript and every
# dependency with esbuild into dist/ (bin/build-bundle.mjs); the runtime gets that bundle and no
# node_modules at all. No native Node modules are used, so the same file builds for linux/amd64
# and linux/arm64 (docker buildx build --platform linux/amd64,linux/arm64 .).

ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would build before the sources are here.
RUN npm ci --ignore-scripts
COPY bin/build-bundle.mjs ./bin/build-bundle.mjs
COPY src ./src
COPY gen ./gen
RUN npm run build

FROM ${NODE_IMAGE} AS runtime
# postgres gets a fixed uid/gid (999, as in the official postgres image) before the package would
# pick one, so volumes have a predictable owner. No "main" cluster: the agent makes its own
# data directory. postgresql-contrib brings pg_stat_statements and the other contrib modules;
# pgbackrest is the storage engine of the archive source (a compute whose data lives in a
# pgBackRest repository); pgaudit and pgauditlogtofile serve the spec's audit_log_level
# (pgbouncer runs beside the container, not in it: the agent reaches its admin console, see
# --pgbouncer-admin).
RUN set -eux; \
    groupadd --system --gid 999 postgres; \
    useradd --system --uid 999 --gid postgres --home-dir /var/lib/postgresql --shell /bin/bash postgres; \
    install -d -o postgres -g postgres -m 0700 /var/lib/postgresql /var/lib/postgresql/compute; \
    apt-get update; \
    apt-get install -y --no-install-recommends postgresql-common; \
    sed -ri 's/^#?\s*create_main_cluster\s*=.*/create_main_cluster = false/' /etc/postgresql-common/createcluster.conf; \
    apt-get install -y --no-install-recommends postgresql-15 postgresql-contrib pgbackrest ca-certificates \
        postgresql-15-pgaudit postgresql-15-pgauditlogtofile; \
    rm -rf /var/lib/apt/lists/*

WORKDIR /app
# package.json: the version (`--version`, /info) and the install root the agent finds docs by.
COPY package.json ./
COPY --from=build /src/dist ./dist
COPY bin ./bin
# Served at GET /openapi.json (found next to package.json).
COPY docs/openapi.yaml ./docs/openapi.yaml

ENV NODE_ENV=production \
    POSTGRES_PATH=/usr/lib/postgresql/15/bin/postgres

USER postgres
WORKDIR /var/lib/postgresql
# 3080 external REST (control plane, probes, metrics), 3081 internal REST, 3082 gRPC/Connect,
# 10301 vm-monitor (only with AUTOSCALING set).
EXPOSE 3080 3081 3082 10301
# Liveness of the agent itself (never SQL). Assumes the default --external-http-port.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:3080/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/app/bin/compute_ctl"]
CMD ["--help"]
