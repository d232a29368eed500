"""Independent Python implementation of @longshot/engine's noise recipe (libs/engine/src/noise.ts), and the
golden values its TS tests compare against. It lets Python code (training, evaluation) draw exactly the
noise the services draw.

Regenerate (CI does not run this; the JSON next to it is committed). Needs only the standard library
and numpy:

    models/.venv/bin/python libs/engine/reference/noise-goldens.py
    # writes libs/engine/reference/noise-goldens.json; format it the repo's way:
    npx biome format --write libs/engine/reference/noise-goldens.json

Recipe, version 1:
- Philox4x32-10 (Salmon et al., SC'11; Random123 `philox4x32_R`, R = 10);
- key = 64-bit seed as [low word, high word];
- counter = [block low, block high, stream low, stream high], block = n // 4, lane = n % 4, where
  (stream low, stream high) are the first 8 bytes of SHA-256(UTF-8 stream name), little-endian;
- u = (word + 0.5) / 2**32; Box-Muller on (u0, u1) and (u2, u3):
  r = sqrt(-2 ln u0); z0 = r cos(2 pi u1); z1 = r sin(2 pi u1); element n = float32(z[n % 4]).
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
import sys
from pathlib import Path

import numpy as np

MASK = 0xFFFFFFFF


def philox4x32(ctr: list[int], key: list[int], rounds: int = 10) -> list[int]:
    c0, c1, c2, c3 = ctr
    k0, k1 = key
    for r in range(rounds):
        if r > 0:  # Random123 bumps the key before every round after the first
            k0 = (k0 + 0x9E3779B9) & MASK
            k1 = (k1 + 0xBB67AE85) & MASK
        p0 = 0xD2511F53 * c0
        p1 = 0xCD9E8D57 * c2
        c0, c1, c2, c3 = ((p1 >> 32) ^ c1 ^ k0) & MASK, p1 & MASK, ((p0 >> 32) ^ c3 ^ k1) & MASK, p0 & MASK
    return [c0, c1, c2, c3]


# Random123 tests/kat_vectors, the three "philox4x32 10" lines: counter, key, expected.
KAT = [
    ([0, 0, 0, 0], [0, 0], [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]),
    ([MASK] * 4, [MASK] * 2, [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]),
    (
        [0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344],
        [0xA4093822, 0x299F31D0],
        [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1],
    ),
]


def stream_words(stream: str) -> list[int]:
    d = hashlib.sha256(stream.encode("utf-8")).digest()
    return list(struct.unpack("<II", d[:8]))


def block_words(seed: int, stream: str, block: int) -> list[int]:
    s = stream_words(stream)
    return philox4x32([block & MASK, block >> 32, s[0], s[1]], [seed & MASK, seed >> 32])


def randn_at(seed: int, stream: str, offset: int, count: int) -> list[float]:
    out = []
    for n in range(offset, offset + count):
        w = block_words(seed, stream, n // 4)
        lane = n % 4
        p = lane - lane % 2
        u0 = (w[p] + 0.5) / 2**32
        u1 = (w[p + 1] + 0.5) / 2**32
        r = math.sqrt(-2 * math.log(u0))
        theta = 2 * math.pi * u1
        z = r * math.cos(theta) if lane % 2 == 0 else r * math.sin(theta)
        out.append(float(np.float32(z)))
    return out


CASES = [
    {"seed": "42", "stream": "", "offset": 0, "count": 16},
    {"seed": "1234567890123", "stream": "keyframes", "offset": 5, "count": 11},
    {"seed": str(2**64 - 1), "stream": "interp-1/window-3", "offset": 1_000_000_000_003, "count": 9},
    {"seed": "0", "stream": "ünïcode/流", "offset": 4 * 2**32 - 6, "count": 12},  # block crosses 2^32
]


def main() -> None:
    for ctr, key, expected in KAT:
        assert philox4x32(ctr, key) == expected, (ctr, key)
    cases = []
    for c in CASES:
        seed = int(c["seed"])
        cases.append(
            {
                **c,
                "streamWords": stream_words(c["stream"]),
                "firstBlockWords": block_words(seed, c["stream"], c["offset"] // 4),
                "values": randn_at(seed, c["stream"], c["offset"], c["count"]),
            }
        )
    # Moments of the first 200k normals of seed 7, stream "moments", as a cross-check of the sampler.
    big = np.array(randn_at(7, "moments", 0, 200_000), dtype=np.float64)
    doc = {
        "generator": "libs/engine/reference/noise-goldens.py",
        "recipe": "philox4x32-10 + sha256 stream + box-muller, v1",
        "cases": cases,
        "moments": {"seed": "7", "stream": "moments", "count": 200_000, "mean": float(big.mean()),
                    "std": float(big.std())},
    }
    path = Path(__file__).with_name("noise-goldens.json")
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
