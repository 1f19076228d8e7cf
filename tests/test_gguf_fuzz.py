"""Fuzz the GGUF reader: 10,000 mutated headers (benchmarks/gguf_fuzz.py) in a worker
with a capped address space and a time limit per file: no crash, no hang.

The harness itself is checked against readers that do crash, allocate or hang, so a
zero here means the reader held, not that the harness saw nothing."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from advisor.profiles.gguf_file import GGUFDamagedError, read_gguf
from tests.conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import gguf_fuzz

CI_CASES = 10_000  # ~15 s on two shared cores


def test_ten_thousand_mutated_headers_no_crash_no_hang() -> None:
    result = gguf_fuzz.run(CI_CASES, base_seed=2024, time_limit=5.0, memory_mib=768)
    print(result.summary())
    assert result.cases == CI_CASES
    assert result.crashes == [] and result.hangs == []
    assert result.refused + result.accepted == CI_CASES
    # The mutations reach both sides: most files are refused, some stay valid.
    assert result.accepted > CI_CASES // 50 and result.refused > CI_CASES // 2
    assert result.max_rss_kib < 256 * 1024


def test_mutations_are_reproducible() -> None:
    all_seeds = gguf_fuzz.seeds()
    names = sorted(all_seeds)
    first = [gguf_fuzz.case_bytes(names, all_seeds, 5, i) for i in range(50)]
    again = [gguf_fuzz.case_bytes(names, all_seeds, 5, i) for i in range(50)]
    assert first == again
    assert len({c[1] for c in first}) > 40  # and different from one another


# Readers with the bugs the harness must see; the worker imports them by name.


def crashing_reader(path: Path) -> Any:
    info = read_gguf(path)
    return info.n_params // 0  # ZeroDivisionError on every valid file


def hungry_reader(path: Path) -> Any:
    if path.stat().st_size > 10_000:
        return bytearray(2**31)  # MemoryError under the address-space cap
    raise GGUFDamagedError("small")


def hanging_reader(path: Path) -> Any:
    time.sleep(60)


def test_harness_sees_crashes_memory_blowups_and_hangs() -> None:
    crashed = gguf_fuzz.run(40, target="tests.test_gguf_fuzz:crashing_reader")
    assert crashed.accepted == 0 and len(crashed.crashes) > 0
    assert any("ZeroDivisionError" in message for _, message in crashed.crashes)
    hungry = gguf_fuzz.run(10, target="tests.test_gguf_fuzz:hungry_reader", memory_mib=512)
    assert any("MemoryError" in message for _, message in hungry.crashes)
    hung = gguf_fuzz.run(2, target="tests.test_gguf_fuzz:hanging_reader", time_limit=1.0)
    assert hung.hangs == [0, 1] and hung.cases == 2
