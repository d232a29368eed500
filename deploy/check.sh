#!/usr/bin/env bash
# Offline checks of the deployment files (no Docker engine, no cluster needed). Exit 1 when one fails.
#
#   1. deploy/check.py: YAML/JSON parse, environment variables vs. the services' config, cross-file
#      consistency, compose structure, `docker compose config` when a Compose CLI is installed, Helm
#      templates rendered and checked when Go + Debian's Sprig are installed (see deploy/check.py);
#   2. shell syntax of the scripts (and shellcheck when installed);
#   3. node tests: deploy/docker/entrypoints.test.mjs (healthcheck.mjs, start.mjs),
#      deploy/nats/nats-config.test.mjs (the NATS configuration against a real nats-server) and
#      deploy/stack.test.mjs (the four services with that configuration, started as the images start
#      them, running one job; skipped without a model pack).
#      They import the workspace's compiled packages: `tsc -b` runs first (incremental) unless
#      LONGSHOT_CHECK_NO_BUILD=1.
#
# Usage: deploy/check.sh
set -uo pipefail

ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$ROOT" || exit 1
failed=0
step() { printf '\n==> %s\n' "$*"; }

step "deploy/check.py"
py=""
for candidate in models/.venv/bin/python python3; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import yaml' 2>/dev/null; then
    py="$candidate"
    break
  fi
done
if [[ -z "$py" ]]; then
  echo "deploy/check.sh: no Python with PyYAML (models/.venv from ./setup.sh has it; or apt-get install python3-yaml)" >&2
  failed=1
elif ! "$py" deploy/check.py; then
  failed=1
fi

step "shell scripts"
for f in deploy/gen-env.sh deploy/check.sh deploy/tls/gen-dev-certs.sh; do
  bash -n "$f" || { echo "FAIL: bash -n $f" >&2; failed=1; }
done
sh -n deploy/minio/init.sh || { echo "FAIL: sh -n deploy/minio/init.sh" >&2; failed=1; }
if command -v shellcheck >/dev/null 2>&1; then
  shellcheck -x deploy/gen-env.sh deploy/check.sh deploy/tls/gen-dev-certs.sh deploy/minio/init.sh || failed=1
else
  echo "    shellcheck not installed: syntax only"
fi
echo "    ok"

step "node tests (deploy/docker, deploy/nats, deploy/stack)"
# shellcheck source=scripts/lib/node-env.sh
. "$ROOT/scripts/lib/node-env.sh"
if ! longshot_find_node; then
  failed=1
else
  if [[ -z "${LONGSHOT_CHECK_NO_BUILD:-}" ]] && ! "$ROOT/scripts/with-node" "$ROOT/node_modules/.bin/tsc" -b; then
    echo "FAIL: tsc -b (the node tests import the compiled packages)" >&2
    failed=1
  fi
  "$LONGSHOT_NODE" --test --test-concurrency=1 \
    deploy/docker/entrypoints.test.mjs deploy/nats/nats-config.test.mjs deploy/stack.test.mjs || failed=1
fi

if [[ "$failed" -ne 0 ]]; then
  echo $'\ndeploy/check.sh: FAILED' >&2
  exit 1
fi
echo $'\ndeploy/check.sh: all deployment checks passed'
