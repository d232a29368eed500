#!/usr/bin/env bash
# `npm run check:generated`: regenerates the protobuf code and fails if that changed anything
# under libs/proto/src/gen (generated code is committed and must match the .proto files).
set -euo pipefail

ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$ROOT"
GEN=libs/proto/src/gen

if [[ ! -f buf.gen.yaml ]]; then
  echo "check:generated: no buf.gen.yaml at the repository root; nothing to check" >&2
  exit 1
fi

before="$(mktemp -d)"
trap 'rm -rf "$before"' EXIT
[[ -d "$GEN" ]] && cp -a "$GEN/." "$before/"

npm run --silent generate

status=0
# 1. Did generation change the files as they are in this working tree (new, removed or edited files)?
if ! diff -r -q "$before" "$GEN" >/dev/null 2>&1; then
  echo "check:generated: 'npm run generate' changed $GEN:" >&2
  diff -r -q "$before" "$GEN" | sed -e "s|$before|<before>|g" >&2 || true
  status=1
fi
# 2. Does the result match what git has committed?
if git rev-parse --verify -q HEAD >/dev/null 2>&1; then
  if ! git diff --exit-code --stat -- "$GEN"; then
    echo "check:generated: $GEN differs from the committed version (see above)" >&2
    status=1
  fi
  untracked="$(git ls-files --others --exclude-standard -- "$GEN")"
  if [[ -n "$untracked" ]]; then
    echo "check:generated: generated files not committed:" >&2
    while IFS= read -r f; do echo "  $f"; done <<<"$untracked" >&2
    status=1
  fi
fi

if [[ $status -ne 0 ]]; then
  echo "check:generated: FAILED. Run 'npm run generate' and commit $GEN." >&2
  exit 1
fi
echo "check:generated: $GEN is up to date"
