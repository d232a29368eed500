"""Shared by the converter tests: a tiny random checkpoint converted once per session, and the engine runner."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NODE_SCRIPT = Path(__file__).with_name("convert_engine.mjs")


def node() -> str:
    tools = ROOT / ".tools" / "bin" / "node"
    found = str(tools) if tools.exists() else shutil.which("node")
    if not found:
        raise RuntimeError("node is not installed (setup.sh installs it into .tools/bin)")
    return found


def engine_built() -> bool:
    return (ROOT / "libs" / "engine" / "dist" / "index.js").is_file()


def run_node(args: list[str], timeout: float = 600) -> str:
    env = {**os.environ, "PATH": f"{ROOT / '.tools' / 'bin'}:{os.environ.get('PATH', '')}"}
    proc = subprocess.run([node(), *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode != 0:
        raise AssertionError(f"node {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def validate_with_ts_schema(pack: Path) -> list[str]:
    """Problems the TypeScript zod schema (@longshot/pack validateManifest) reports for pack.json."""
    script = (
        'import { validateManifest } from "@longshot/pack"; import { readFileSync } from "node:fs";'
        f'const r = validateManifest(JSON.parse(readFileSync({json.dumps(str(pack / "pack.json"))}, "utf8")));'
        "console.log(JSON.stringify(r.problems));"
    )
    return json.loads(run_node(["--input-type=module", "-e", script]).strip().splitlines()[-1])
