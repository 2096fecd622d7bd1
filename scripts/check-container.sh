#!/usr/bin/env bash
# Checks the container files without a Docker engine (none runs on the dev machines or in CI):
# replays the Dockerfile's stages on this machine (build, deps, runtime), taking each stage's
# RUN commands and the runtime COPY list from the Dockerfile itself so the two cannot drift, then starts the
# result as an unprivileged user, with production deps only, and checks /health, /metrics
# and a clean SIGTERM exit. docker-compose.yml is checked by packages/server/test/ops/container.test.ts.
#   usage: bash scripts/check-container.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=$(mktemp -d /tmp/mana-sync-container.XXXXXX)
chmod 755 "$WORK"
trap 'rm -rf "$WORK"' EXIT

echo "== build context (git files, minus .dockerignore; tar's unanchored excludes approximate it)"
mkdir -p "$WORK/context"
git ls-files -co --exclude-standard -z \
  | tar --exclude-from=<(sed -e '/^#/d' -e '/^$/d' -e 's|^\*\*/||' .dockerignore) --null -T - -cf - \
  | tar -xf - -C "$WORK/context"
for must_not in node_modules docs .git; do
  if [ -e "$WORK/context/$must_not" ]; then echo "context holds $must_not" >&2; exit 1; fi
done

# The Dockerfile with its continuation lines joined: one instruction per line.
DOCKERFILE=$(sed -e ':a' -e '/\\$/N; s/\\\n *//; ta' Dockerfile)
# A stage's RUN commands, one per line (split at &&), without `npm cache clean` (this
# machine's cache is not the image's).
stage_commands() {
  awk -v s="$1" '/^FROM /{cur=($NF==s)} cur && /^RUN /{sub(/^RUN /,""); print}' <<<"$DOCKERFILE" \
    | sed 's/ *&& */\n/g' | grep -v '^npm cache clean'
}
stage_env() {
  awk -v s="$1" '/^FROM /{cur=($NF==s)} cur && /^ENV /{sub(/^ENV /,""); print}' <<<"$DOCKERFILE"
}

NPM_CI=$(stage_commands deps | grep '^npm ci')
[[ "$NPM_CI" == *"--omit=dev"* ]] || { echo "the Dockerfile's deps stage does not omit dev deps" >&2; exit 1; }
for stage in build deps; do
  echo "== $stage stage"
  cp -a "$WORK/context" "$WORK/$stage"
  ENVS=$(stage_env "$stage")
  while IFS= read -r cmd; do
    echo "   $cmd"
    # shellcheck disable=SC2086 # ENV holds KEY=value words
    (cd "$WORK/$stage" && env $ENVS bash -c "$cmd" >/dev/null)
  done < <(stage_commands "$stage")
done

echo "== runtime stage"
mkdir -p "$WORK/app" "$WORK/data"
mapfile -t COPIES < <(sed -n 's|^COPY --from=\([a-z]*\) [^ ]* /app/\([^ ]*\) .*|\1 \2|p' Dockerfile)
for copy in "${COPIES[@]}"; do
  read -r stage path <<<"$copy"
  mkdir -p "$WORK/app/$(dirname "$path")"
  cp -a "$WORK/$stage/$path" "$WORK/app/$path"
  echo "   copied $path from $stage"
done
for dev in vitest typescript tsx @biomejs fast-check; do
  if [ -e "$WORK/app/node_modules/$dev" ]; then echo "dev dependency $dev is in the image" >&2; exit 1; fi
done
echo "   node_modules: $(du -sh "$WORK/app/node_modules" | cut -f1), no dev dependencies"

# The image's USER node: here `nobody`, which owns only the data directory (code stays root's).
RUNAS=()
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  chown -R nobody "$WORK/data"
  # setpriv execs in place (no wrapper process), so SIGTERM reaches node as it would in the image.
  RUNAS=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
fi
cd "$WORK/app"
PORT=$(node -e "const s=require('net').createServer().listen(0,()=>{console.log(s.address().port);s.close()})")
"${RUNAS[@]}" env NODE_ENV=production node packages/server/bin/mana-sync.js --help >/dev/null
# Production requires JWT_ISSUER and JWT_AUDIENCE (Mana's auth service: its base URL).
"${RUNAS[@]}" env NODE_ENV=production PORT="$PORT" HOST=127.0.0.1 MANA_SYNC_DATA_DIR="$WORK/data" \
  JWT_ISSUER=http://mana-auth:3001 JWT_AUDIENCE=http://mana-auth:3001 \
  LOG_LEVEL=warn node packages/server/bin/mana-sync.js serve 2>"$WORK/serve.err" &
PID=$!
for _ in $(seq 1 120); do
  curl -fsS "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break
  sleep 0.5
done
echo "== running as $(ps -o user= -p "$PID")"
curl -fsS "http://127.0.0.1:$PORT/health"; echo
curl -fsS "http://127.0.0.1:$PORT/metrics" | grep -c '^mana_sync_' | sed 's/^/   mana_sync samples: /'
START=$(date +%s%N)
kill -TERM "$PID"
set +e; wait "$PID"; CODE=$?; set -e
echo "== SIGTERM: exit $CODE after $(( ($(date +%s%N) - START) / 1000000 )) ms"
cat "$WORK/serve.err"
[ "$CODE" = 0 ] || { echo "serve did not exit cleanly" >&2; exit 1; }
echo "OK: production deps only, unprivileged user, healthy, clean shutdown"
