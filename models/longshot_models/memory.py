"""Process memory readings for the benchmarks (Linux /proc): the resident set now and its peak since a reset."""

from __future__ import annotations

import resource
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


def peak_rss_since_reset_kb(floor_kb: float) -> float:
    """The peak resident set since reset_peak_rss_kb (VmHWM), at least `floor_kb` (what that call returned). The
    kernel raises its recorded peak lazily, when memory is unmapped: pages faulted in after the reset and released
    again without an unmap can be missing from it, which once made a peak read 0.04 MB below the reading before."""
    return max(vm_kb("VmHWM"), floor_kb)


def process_peak_rss_kb(floor_kb: float) -> float:
    """The process's peak resident set over its whole life (getrusage's ru_maxrss: loading included), at least
    `floor_kb`, for the same reason as peak_rss_since_reset_kb."""
    return max(float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss), floor_kb)
