"""Hardware profiles for speed (bandwidth, TFLOPS, Metal working set, sources), their
validation, and what detection fills in for this machine."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest

from advisor.errors import ProfileError
from advisor.profiles import detect
from advisor.profiles import hardware as hardware_module
from advisor.profiles.hardware import hardware_profile, hardware_profiles
from advisor.speed.devices import local_system

REPO = Path(__file__).resolve().parents[1]


def test_at_least_forty_sourced_profiles_of_every_kind() -> None:
    hw = hardware_profiles()
    assert len(hw) >= 40
    kinds = {h.kind for h in hw.values()}
    assert kinds == {"gpu", "unified", "cpu"}
    for h in hw.values():
        assert h.source and h.confidence in {"high", "medium", "low"}
        assert math.isfinite(h.memory_bandwidth_gbs) and h.memory_bandwidth_gbs > 0
        assert math.isfinite(h.fp16_tflops) and h.fp16_tflops > 0
        assert (h.metal_working_set_fraction is not None) == h.is_apple
    # ids `advisor recommend --hardware` already knew keep working
    for old in (
        "rtx-4090-24gb",
        "apple-m4-pro-48gb",
        "cpu-32gb-ddr5",
        "cpu-16gb-ddr4",
        "cpu-64gb-ddr5",
        "a100-80gb",
        "h100-80gb",
        "apple-m2-16gb",
        "t4-16gb",
    ):
        assert old in hw
    assert hw["rtx-4090-24gb"].memory_bandwidth_gbs == 1008
    assert hw["rtx-4090-24gb"].bandwidth_gb_s == 1008  # the older attribute name


def test_apple_gpu_memory_is_the_working_set() -> None:
    m4 = hardware_profile("apple-m4-pro-48gb")
    assert m4.gpu_memory_bytes == int(48 * 2**30 * 0.75)
    assert m4.llama_backend == "metal"
    assert hardware_profile("rtx-4090-24gb").llama_backend == "cuda"
    assert hardware_profile("cpu-32gb-ddr5").llama_backend == "cpu"


def _profiles_copy(tmp_path: Path, edit: str, replacement: str) -> Path:
    folder = tmp_path / "profiles"
    shutil.copytree(REPO / "profiles", folder)
    csv = folder / "hardware.csv"
    text = csv.read_text(encoding="utf-8")
    assert edit in text
    csv.write_text(text.replace(edit, replacement, 1), encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("edit", "replacement", "match"),
    [
        (",1008,330.3,", ",1008000,330.3,", "memory_bandwidth_gbs must be between"),
        (",1008,330.3,", ",1008,nan,", "fp16_tflops"),
        (",1008,330.3,", ",1008,,", "fp16_tflops"),
        ("rtx-4090-24gb,", "RTX 4090,", "kebab-case"),
        (",,,2022,NVIDIA product spec", ",,0.75,2022,NVIDIA product spec", "only Apple rows"),
    ],
)
def test_bad_rows_are_rejected_with_the_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, edit: str, replacement: str, match: str
) -> None:
    folder = _profiles_copy(tmp_path, edit, replacement)
    monkeypatch.setenv("ADVISOR_PROFILES", str(folder))
    hardware_module.hardware_profiles.cache_clear()
    try:
        with pytest.raises(ProfileError, match=match) as info:
            hardware_profiles()
        assert "hardware.csv:" in str(info.value)
    finally:
        hardware_module.hardware_profiles.cache_clear()


def test_unknown_profile_lists_the_ids() -> None:
    with pytest.raises(ProfileError, match="rtx-4090-24gb"):
        hardware_profile("rtx-9999")


@pytest.mark.parametrize(
    ("nvml_name", "gib", "expected"),
    [
        ("NVIDIA GeForce RTX 4090", 24, "rtx-4090-24gb"),
        ("NVIDIA GeForce RTX 4060 Ti", 16, "rtx-4060-ti-16gb"),
        ("NVIDIA GeForce RTX 4060 Ti", 8, "rtx-4060-ti-8gb"),
        ("NVIDIA GeForce RTX 4070", 12, "rtx-4070-12gb"),
        ("NVIDIA GeForce RTX 4070 Ti SUPER", 16, "rtx-4070-ti-super-16gb"),
        ("NVIDIA A100-SXM4-80GB", 80, "a100-80gb"),
        ("NVIDIA A100 80GB PCIe", 80, "a100-80gb-pcie"),
        ("NVIDIA H100 80GB HBM3", 80, "h100-80gb"),
        ("NVIDIA H100 PCIe", 80, "h100-80gb-pcie"),
        ("Tesla T4", 16, "t4-16gb"),
        ("NVIDIA RTX 6000 Ada Generation", 48, "rtx-6000-ada-48gb"),
        ("NVIDIA GeForce GTX 1080", 8, None),
    ],
)
def test_nvml_names_map_to_profiles(nvml_name: str, gib: int, expected: str | None) -> None:
    found = detect.gpu_profile_for(nvml_name, gib * 2**30 - 400 * 2**20)
    assert (found.id if found else None) == expected


def test_apple_chip_maps_to_the_nearest_memory_size() -> None:
    found = detect.apple_profile_for("Apple M2 Pro", 32 * 2**30)
    assert found is not None and found.id == "apple-m2-pro-32gb"
    assert detect.apple_profile_for("Intel(R) Core(TM) i7", 16 * 2**30) is None


def test_bandwidth_probe_measures_this_machine() -> None:
    probe = detect.memory_bandwidth_probe(32 * 2**20, 2)
    assert 0.5 < probe.gbs < 2000  # any real memory system
    assert probe.bytes_moved == 2 * 32 * 2**20 and probe.threads >= 1
    assert detect.memory_bandwidth_probe(32 * 2**20, 2) is probe  # cached per process
    with pytest.raises(ValueError):
        detect.memory_bandwidth_probe(1024, 1)


def test_local_system_is_labelled_measured_here(monkeypatch: pytest.MonkeyPatch) -> None:
    probe = detect.BandwidthProbe(gbs=42.0, bytes_moved=2 * 2**27, seconds=0.01, threads=2)
    monkeypatch.setattr(detect, "memory_bandwidth_probe", lambda: probe)
    system = local_system()
    assert system.local and system.host.bandwidth_gbs == 42.0
    assert system.host.source.startswith("measured here")
