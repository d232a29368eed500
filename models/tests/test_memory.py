"""The benchmarks' memory readings (memory.py): a peak is never below the resident set read before it."""

from longshot_models import memory


def test_a_peak_is_at_least_the_reading_before_it() -> None:
    before = memory.reset_peak_rss_kb()
    assert before > 0
    # A floor above anything resident is what comes back: the kernel's lazily recorded peak never undercuts it.
    assert memory.peak_rss_since_reset_kb(before + 1e9) == before + 1e9
    assert memory.process_peak_rss_kb(before + 1e9) == before + 1e9
    block = bytearray(64 * 2**20)  # touch 64 MB
    for i in range(0, len(block), 4096):
        block[i] = 1
    assert memory.peak_rss_since_reset_kb(before) >= before + 60 * 1024
    assert memory.process_peak_rss_kb(before) >= memory.peak_rss_since_reset_kb(before) - 1024
