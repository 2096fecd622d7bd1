# syntax=docker/dockerfile:1
# Mana Sync server image.
#   deps:    production dependencies of @mana/sync-server only (npm ci --omit=dev), no install scripts
#   runtime: slim Node, the sources of protocol + server, runs as the unprivileged `node` user
# The server runs its TypeScript through tsx, a runtime dependency of the server package: no build step.
# Its bin resolves @mana/sync-protocol to the protocol's sources (the "source" export condition),
# so the protocol's build (dist/, for publishing) is neither needed nor copied.
# Checked without a Docker engine by scripts/check-container.sh (see docs/operations.md).

ARG NODE_VERSION=20.20

FROM node:${NODE_VERSION}-bookworm-slim AS deps
WORKDIR /app
ENV NODE_ENV=production
# The lockfile must match every workspace manifest, so the whole context (filtered by
# .dockerignore: no tests, docs, node_modules) comes in; only the server's deps are installed.
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
COPY --from=deps --chown=root:root /app/packages/protocol ./packages/protocol
COPY --from=deps --chown=root:root /app/packages/server ./packages/server
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
