"""Hardware detection: real RAM here; the NVML reading logic against a stand-in module
(no GPU on the CI machine)."""

from __future__ import annotations

import sys
import types
from types import SimpleNamespace

import pytest

from advisor.profiles import detect as hardware


def test_detects_this_machines_ram() -> None:
    hw = hardware.detect()
    assert hw.ram_total_bytes > 2**30
    assert 0 < hw.ram_available_bytes <= hw.ram_total_bytes
    assert hw.cores >= 1
    fp = hardware.fingerprint()
    assert fp["ram_bytes"] == hw.ram_total_bytes and fp["cpu"]


def test_reads_each_gpu_through_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    cards = [
        ("NVIDIA GeForce RTX 4090", 24 * 2**30, 20 * 2**30),
        ("NVIDIA A100", 80 * 2**30, 79 * 2**30),
    ]
    fake = types.ModuleType("pynvml")
    fake.nvmlInit = lambda: None  # type: ignore[attr-defined]
    fake.nvmlShutdown = lambda: None  # type: ignore[attr-defined]
    fake.nvmlDeviceGetCount = lambda: len(cards)  # type: ignore[attr-defined]
    fake.nvmlDeviceGetHandleByIndex = lambda i: i  # type: ignore[attr-defined]
    fake.nvmlDeviceGetName = lambda i: cards[i][0].encode()  # type: ignore[attr-defined]
    fake.nvmlDeviceGetMemoryInfo = lambda i: SimpleNamespace(total=cards[i][1], free=cards[i][2])  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    gpus, error = hardware._nvidia_gpus()
    assert error is None
    assert [(g.name, g.total_bytes, g.free_bytes) for g in gpus] == cards


def test_no_driver_is_an_empty_list_with_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("pynvml")

    def fail() -> None:
        raise RuntimeError("NVML Shared Library Not Found")

    fake.nvmlInit = fail  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    gpus, error = hardware._nvidia_gpus()
    assert gpus == () and error is not None and "NVML" in error
