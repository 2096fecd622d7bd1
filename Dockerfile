# syntax=docker/dockerfile:1
# Mana Sync server image.
#   build:   all dependencies of the root and the server (TypeScript), then the server's build
#            and the protocol's (tsc -b packages/server): plain JavaScript in dist/
#   deps:    production dependencies of @mana/sync-server only (npm ci --omit=dev), no install scripts
#   runtime: slim Node, the two builds, the server's SQL migrations and bin, run with plain node
#            as the unprivileged `node` user (no TypeScript, no tsx, no sources)
# Checked without a Docker engine by scripts/check-container.sh (see docs/operations.md).

ARG NODE_VERSION=20.20

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
# The lockfile must match every workspace manifest, so the whole context (filtered by
# .dockerignore: no tests, docs, node_modules, dist) comes in.
COPY . .
RUN npm ci --ignore-scripts --no-audit --no-fund --workspace @mana/sync-server --include-workspace-root \
 && npx tsc -b packages/server

FROM node:${NODE_VERSION}-bookworm-slim AS deps
WORKDIR /app
ENV NODE_ENV=production
COPY . .
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --workspace @mana/sync-server \
 && npm cache clean --force

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ENV NODE_ENV=production \
    PORT=3050 \
    HOST=0.0.0.0 \
    MANA_SYNC_DATA_DIR=/data
WORKDIR /app
COPY --from=deps --chown=root:root /app/package.json ./package.json
COPY --from=deps --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/packages/protocol/package.json ./packages/protocol/package.json
COPY --from=build --chown=root:root /app/packages/protocol/dist ./packages/protocol/dist
COPY --from=build --chown=root:root /app/packages/server/package.json ./packages/server/package.json
COPY --from=build --chown=root:root /app/packages/server/bin ./packages/server/bin
COPY --from=build --chown=root:root /app/packages/server/dist ./packages/server/dist
# The migrations are read at run time from src/store/migrations (from dist/ too: see migrate.ts).
COPY --from=build --chown=root:root /app/packages/server/src/store/migrations ./packages/server/src/store/migrations
# Code stays root-owned and read-only to the service; only the embedded data directory is its own.
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 3050
# SIGTERM (docker stop) drains in-flight requests for SHUTDOWN_GRACE_MS, then exits 0.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3050)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "packages/server/bin/mana-sync.js"]
CMD ["serve"]
