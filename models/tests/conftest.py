from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

MODELS = Path(__file__).resolve().parents[1]
PACK = MODELS / "packs" / "shapes-mini"


@pytest.fixture(scope="session")
def pack_dir() -> Path:
    assert (PACK / "pack.json").exists(), f"the bundled pack is missing: {PACK} (run python -m longshot_models.export)"
    return PACK
