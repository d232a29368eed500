"""Checkpoint folders → longshot packs: `python -m longshot_models.convert CHECKPOINT PACK` (docs/model-pack.md)."""

from .errors import ConvertError
from .pack import Options, Result, check_pack, convert

__all__ = ["ConvertError", "Options", "Result", "check_pack", "convert"]
