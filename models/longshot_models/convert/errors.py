"""The converter's one error type: a message naming what is wrong and where (the CLI prints it and exits 2), and
reading a JSON file with such errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class ConvertError(Exception):
    """A checkpoint folder or option the converter cannot turn into a pack; the message says what is wrong."""


def read_json_object(path: Path, what: str) -> dict[str, Any]:
    """A JSON object from `path`; a missing file, bad JSON or anything but an object is a ConvertError naming `what`."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as err:
        raise ConvertError(f"{what} is missing ({path})") from err
    except json.JSONDecodeError as err:
        raise ConvertError(f"{what} is not valid JSON: {err}") from err
    if not isinstance(data, dict):
        raise ConvertError(f"{what} must hold a JSON object")
    return data
