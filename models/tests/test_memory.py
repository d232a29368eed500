"""The benchmarks' memory readings (memory.py): a peak is never below the resident set read before it."""

import mmap

from longshot_models import memory


def test_a_peak_is_at_least_the_reading_before_it() -> None:
    before = memory.reset_peak_rss_kb()
    assert before > 0
    # A floor above anything resident is what comes back: the kernel's lazily recorded peak never undercuts it.
    assert memory.peak_rss_since_reset_kb(before + 1e9) == before + 1e9
    assert memory.process_peak_rss_kb(before + 1e9) == before + 1e9
    # Fresh anonymous pages, so the resident set must grow by what is touched: a bytearray can come from heap the
    # allocator already holds resident, which once left the peak at the reading before (CI, 1.2 GB process).
    block = mmap.mmap(-1, 64 * 2**20)
    for i in range(0, len(block), 4096):
        block[i] = 1
    assert memory.peak_rss_since_reset_kb(before) >= before + 60 * 1024
    assert memory.process_peak_rss_kb(before) >= memory.peak_rss_since_reset_kb(before) - 1024
    block.close()
