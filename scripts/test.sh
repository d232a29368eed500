#!/usr/bin/env bash
# `npm test`: build, then every compiled test of libs/*, services/* and bench with node:test
# (unit tests first, then integration tests one file at a time), then the Python tests of models/.
#
# Usage: scripts/test.sh [--unit | --integration | --python]...   (default: all three)
# Extra node --test options can be passed with LONGSHOT_TEST_ARGS (e.g. "--test-name-pattern=config").
set -uo pipefail

ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$ROOT" || exit 1
# shellcheck source=scripts/lib/node-env.sh
. "$ROOT/scripts/lib/node-env.sh"
longshot_find_node || exit 1

run_unit=0 run_int=0 run_py=0
if [[ $# -eq 0 ]]; then
  run_unit=1 run_int=1 run_py=1
fi
for arg in "$@"; do
  case "$arg" in
    --unit) run_unit=1 ;;
    --integration) run_int=1 ;;
    --python) run_py=1 ;;
    *) echo "scripts/test.sh: unknown argument '$arg' (expected --unit, --integration or --python)" >&2; exit 2 ;;
  esac
done

declare -a summary=()
failed=0
record() { # name, status, seconds, detail
  local line
  line="$(printf '%-12s %-5s %4ss  %s' "$1" "$2" "$3" "$4")"
  summary+=("${line%"${line##*[! ]}"}")
  [[ "$2" == "FAIL" ]] && failed=1
  return 0
}

# ---------------------------------------------------------------------------------------------
t0=$SECONDS
echo "==> build (tsc -b)"
if "$ROOT/scripts/with-node" tsc -b; then
  record build ok $((SECONDS - t0)) ""
else
  record build FAIL $((SECONDS - t0)) "tsc -b failed; tests not run"
  printf '\n%s\n' "${summary[@]}"
  exit 1
fi

# Compiled tests whose source still exists (a deleted src/x.test.ts leaves a stale dist/x.test.js).
# $1: "unit" or "int".
collect_tests() {
  local kind="$1" f src
  local -a dirs=()
  for d in libs/*/dist services/*/dist tests/*/dist bench/dist; do
    [[ -d "$d" ]] && dirs+=("$d")
  done
  [[ ${#dirs[@]} -eq 0 ]] && return 0
  while IFS= read -r f; do
    if [[ "$kind" == "int" ]]; then
      [[ "$f" == *.int.test.js ]] || continue
    else
      [[ "$f" == *.int.test.js ]] && continue
    fi
    # <pkg>/dist/<rel>.js  ->  <pkg>/src/<rel>.ts
    src="${f/\/dist\//\/src\/}"
    src="${src%.js}.ts"
    if [[ -f "$src" ]]; then
      printf '%s\n' "$f"
    else
      echo "    (skipping $f: its source $src no longer exists; run 'npm run clean' to drop stale output)" >&2
    fi
  done < <(find "${dirs[@]}" -type f -name '*.test.js' | LC_ALL=C sort)
  # The scripts' own tests (plain ESM, not compiled) run with the integration tests.
  if [[ "$kind" == "int" ]]; then
    find scripts -maxdepth 1 -type f -name '*.test.mjs' | LC_ALL=C sort
  fi
}

# shellcheck disable=SC2206
extra_args=(${LONGSHOT_TEST_ARGS:-})

run_node_tests() { # name, kind, node --test options...
  local name="$1" kind="$2"
  shift 2
  local -a files=()
  mapfile -t files < <(collect_tests "$kind")
  echo
  echo "==> $name tests (${#files[@]} files)"
  local t=$SECONDS
  if [[ ${#files[@]} -eq 0 ]]; then
    if [[ "$kind" == "int" ]]; then record "$name" none 0 "no *.int.test.js files"; else record "$name" none 0 "no *.test.js files"; fi
    return 0
  fi
  if "$LONGSHOT_NODE" --test --test-reporter=spec "$@" "${extra_args[@]}" "${files[@]}"; then
    record "$name" ok $((SECONDS - t)) "${#files[@]} files"
  else
    record "$name" FAIL $((SECONDS - t)) "${#files[@]} files; see the failures above"
  fi
}

# Default per-test timeouts keep a hung test from hanging CI; a test may set its own `timeout`.
[[ $run_unit -eq 1 ]] && run_node_tests unit unit --test-timeout=300000
[[ $run_int -eq 1 ]] && run_node_tests integration int --test-concurrency=1 --test-timeout=900000

# ---------------------------------------------------------------------------------------------
if [[ $run_py -eq 1 ]]; then
  echo
  echo "==> python tests (models/tests)"
  t=$SECONDS
  if [[ ! -d models/tests ]]; then
    record python none 0 "no models/tests"
  elif [[ ! -x models/.venv/bin/python ]]; then
    record python FAIL 0 "models/.venv is missing; run ./setup.sh"
  else
    # From models/ so that pytest reads models/pyproject.toml and `import longshot_models` resolves. One worker
    # per core (at most 4), each test file on one worker so its module fixtures (tiny checkpoints, exported packs)
    # are built once.
    (cd models && .venv/bin/python -m pytest -q -n auto --maxprocesses=4 --dist loadfile tests)
    rc=$?
    if [[ $rc -eq 0 ]]; then
      record python ok $((SECONDS - t)) ""
    elif [[ $rc -eq 5 ]]; then
      record python none $((SECONDS - t)) "pytest collected no tests"
    else
      record python FAIL $((SECONDS - t)) "pytest exit code $rc"
    fi
  fi
fi

echo
echo "==> summary"
printf '%s\n' "${summary[@]}"
if [[ $failed -ne 0 ]]; then
  echo "TESTS FAILED"
  exit 1
fi
echo "all tests passed"
