"""Hardware: the bundled device profiles (``profiles/hardware.csv``) and what this machine
has (:mod:`advisor.profiles.detect`).

Each row is hand-curated source data: memory size, memory bandwidth (GB/s, 10^9 bytes/s)
and dense FP16 throughput (TFLOPS, no sparsity) from the vendor's specification, with its
source and a confidence. Apple rows carry the Metal working-set fraction: the share of
unified memory the GPU may wire (``recommendedMaxWorkingSetSize``). Every value is checked
on load (finite, positive, in a plausible range); a bad row is a :class:`ProfileError`
naming the file and line.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cache

from advisor.errors import ProfileError
from advisor.profiles._csv import load_rows, parse_float, parse_int, profiles_dir, required

KINDS = ("gpu", "unified", "cpu")
CONFIDENCES = ("high", "medium", "low")
# Plausible ranges: anything outside is a typo (a GB/s figure in MB/s, TFLOPS in GFLOPS).
MEMORY_BYTES_RANGE = (2**30, 4 * 2**40)
BANDWIDTH_GBS_RANGE = (5.0, 20_000.0)
TFLOPS_RANGE = (0.05, 10_000.0)
WORKING_SET_RANGE = (0.5, 1.0)
_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


@dataclass(frozen=True)
class HardwareProfile:
    """One device (or CPU platform) as the speed and memory models see it."""

    id: str
    name: str
    kind: str  # "gpu" (discrete), "unified" (Apple silicon, DGX Spark, Strix Halo), "cpu"
    vendor: str
    memory_bytes: int
    memory_label: str
    memory_bandwidth_gbs: float  # vendor figure, 10^9 bytes/s
    fp16_tflops: float  # dense FP16 tensor/matrix throughput (CPU rows: the FP32 FMA peak)
    fp16_tflops_note: str
    metal_working_set_fraction: float | None  # Apple only
    release_year: int | None
    source: str
    confidence: str  # "high", "medium", "low"

    @property
    def bandwidth_gb_s(self) -> float:
        """The name this column had before it was required (kept for older callers)."""
        return self.memory_bandwidth_gbs

    @property
    def is_apple(self) -> bool:
        return self.vendor == "Apple"

    @property
    def llama_backend(self) -> str:
        """The llama.cpp backend people run on this device: cuda, rocm, vulkan, metal or cpu."""
        if self.kind == "cpu":
            return "cpu"
        if self.is_apple:
            return "metal"
        if self.vendor == "NVIDIA":
            return "cuda"
        if self.vendor == "AMD" and self.kind == "gpu":
            return "rocm"
        return "vulkan"  # Intel Arc, AMD APUs (Strix Halo)

    @property
    def gpu_memory_bytes(self) -> int:
        """Memory the accelerator may use: all of it on a discrete GPU, the Metal working
        set on Apple silicon, all of it on a CPU platform."""
        if self.metal_working_set_fraction is not None:
            return int(self.memory_bytes * self.metal_working_set_fraction)
        return self.memory_bytes


_HARDWARE_COLUMNS = {
    "id",
    "name",
    "kind",
    "vendor",
    "memory_bytes",
    "memory_label",
    "memory_bandwidth_gbs",
    "fp16_tflops",
    "source",
    "confidence",
}


def _in_range(value: float, bounds: tuple[float, float], column: str, where: str) -> float:
    low, high = bounds
    if not math.isfinite(value) or not low <= value <= high:
        raise ProfileError(f"{where}: {column} must be between {low:g} and {high:g}, got {value!r}")
    return value


def _parse_hardware(row: dict[str, str], where: str) -> HardwareProfile:
    hw_id = row["id"].strip()
    if not _ID.match(hw_id):
        raise ProfileError(f"{where}: id must be kebab-case (a-z, 0-9, -), got {hw_id!r}")
    kind = row["kind"].strip()
    if kind not in KINDS:
        raise ProfileError(f"{where}: kind must be gpu, unified or cpu, got {kind!r}")
    confidence = row["confidence"].strip()
    if confidence not in CONFIDENCES:
        raise ProfileError(f"{where}: confidence must be high, medium or low, got {confidence!r}")
    source = row["source"].strip()
    if not source:
        raise ProfileError(f"{where}: every row needs a source")
    memory = required(parse_int(row["memory_bytes"], "memory_bytes", where), "memory_bytes", where)
    _in_range(memory, MEMORY_BYTES_RANGE, "memory_bytes", where)
    bandwidth = required(
        parse_float(row["memory_bandwidth_gbs"], "memory_bandwidth_gbs", where),
        "memory_bandwidth_gbs",
        where,
    )
    tflops = required(parse_float(row["fp16_tflops"], "fp16_tflops", where), "fp16_tflops", where)
    fraction = parse_float(
        row.get("metal_working_set_fraction", ""), "metal_working_set_fraction", where
    )
    if fraction is not None:
        _in_range(fraction, WORKING_SET_RANGE, "metal_working_set_fraction", where)
        if row["vendor"].strip() != "Apple":
            raise ProfileError(f"{where}: only Apple rows have a Metal working-set fraction")
    elif row["vendor"].strip() == "Apple":
        raise ProfileError(f"{where}: an Apple row needs metal_working_set_fraction")
    return HardwareProfile(
        id=hw_id,
        name=row["name"].strip(),
        kind=kind,
        vendor=row["vendor"].strip(),
        memory_bytes=memory,
        memory_label=row["memory_label"].strip(),
        memory_bandwidth_gbs=_in_range(
            bandwidth, BANDWIDTH_GBS_RANGE, "memory_bandwidth_gbs", where
        ),
        fp16_tflops=_in_range(tflops, TFLOPS_RANGE, "fp16_tflops", where),
        fp16_tflops_note=row.get("fp16_tflops_note", "").strip(),
        metal_working_set_fraction=fraction,
        release_year=parse_int(row.get("release_year", ""), "release_year", where),
        source=source,
        confidence=confidence,
    )


@cache
def hardware_profiles() -> dict[str, HardwareProfile]:
    """Every bundled profile by id, in file order."""
    rows = load_rows(profiles_dir() / "hardware.csv", _HARDWARE_COLUMNS, _parse_hardware)
    out: dict[str, HardwareProfile] = {}
    for h in rows:
        if h.id in out:
            raise ProfileError(f"hardware.csv: id {h.id!r} appears twice")
        out[h.id] = h
    return out


def hardware_profile(hardware_id: str) -> HardwareProfile:
    """The bundled profile ``hardware_id``; an unknown id is a :class:`ProfileError` that
    lists the known ones."""
    if not isinstance(hardware_id, str):
        raise TypeError(f"hardware id must be a string, got {type(hardware_id).__name__}")
    profiles = hardware_profiles()
    try:
        return profiles[hardware_id.strip().lower()]
    except KeyError:
        raise ProfileError(
            f"unknown hardware {hardware_id!r}: one of {', '.join(sorted(profiles))} "
            "(`advisor profiles hardware` lists them)"
        ) from None
