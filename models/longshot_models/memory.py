"""Process memory readings for the benchmarks (Linux /proc): the resident set now and its peak since a reset."""

from __future__ import annotations

from pathlib import Path


def vm_kb(field: str) -> float:
    """A field of /proc/self/status in kB, e.g. "VmRSS" (resident now) or "VmHWM" (peak resident)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return float(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def reset_peak_rss_kb() -> float:
    """Resets the peak resident set (VmHWM, and with it getrusage's ru_maxrss) to the current one through
    /proc/self/clear_refs where the kernel allows it, then returns the resident set read after the reset: every
    later peak reading is at least this (read before the reset, memory freed in between could make it larger)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    return vm_kb("VmRSS")
