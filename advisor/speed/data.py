"""The speed benchmark rows (``profiles/speed_benchmarks.csv``) as the speed model sees
them: each row resolved to an architecture, a format, a machine and a placement, and its
per-device work computed by the same code an estimate uses.

Columns: ``role`` is ``fit`` (single-device rows the coefficients are fitted and
cross-validated on) or ``check`` (offload, multi-GPU, other harnesses, self-reported: only
compared against); ``test`` is ``tg`` (decode: ``gen_tokens`` generated after
``depth_tokens`` already in the cache) or ``pp`` (a prompt of ``prompt_tokens`` after
``depth_tokens``); ``hardware`` is a bundled profile id, or empty with ``bandwidth_gbs`` /
``fp16_tflops`` given on the row (or neither: one unstated machine, fitted with its own
coefficients); ``host`` is the profile of the system RAM an offloading row spills to.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from advisor.errors import ProfileError
from advisor.locations import profiles_dir
from advisor.profiles import Architecture, find_architecture
from advisor.profiles.hardware import hardware_profile
from advisor.speed.devices import Device, System, device_from_profile, system_from_profile
from advisor.speed.placement import Placement, TokenWork, place, token_work
from advisor.speed.shape import format_facts

BENCHMARK_FILE = "speed_benchmarks.csv"
ROLES = ("fit", "check")
TESTS = ("tg", "pp")
UNSTATED_BACKEND = "unstated"  # the one machine whose hardware a table does not name
REQUIRED = {
    "dataset",
    "role",
    "hardware",
    "hardware_as_printed",
    "gpu_count",
    "host",
    "bandwidth_gbs",
    "fp16_tflops",
    "runtime",
    "backend",
    "model",
    "format",
    "test",
    "prompt_tokens",
    "gen_tokens",
    "depth_tokens",
    "tokens_per_s",
    "n_gpu_layers",
    "n_cpu_moe",
    "placement",
    "source",
    "source_kind",
    "confidence",
}


@dataclass(frozen=True)
class BenchRow:
    """One benchmark figure with what the model needs to predict it."""

    index: int  # line number in the CSV
    dataset: str
    role: str
    group: str  # the hardware a leave-one-hardware-out fold holds out
    test: str
    tokens_per_s: float
    arch: Architecture
    format: str
    placement: Placement
    work: TokenWork
    prompt_tokens: int
    source: str
    source_kind: str
    placement_kind: str  # the CSV's placement column
    bandwidth_known: bool = True  # False: an unstated machine (fitted apart)
    tflops_known: bool = True

    @property
    def unstated(self) -> bool:
        return self.group.startswith("unstated")

    @property
    def is_moe(self) -> bool:
        return bool(self.arch.is_moe and self.arch.n_experts)

    @property
    def regime(self) -> str:
        """Which error band the row informs (as :func:`advisor.speed.estimate._regime`)."""
        if self.placement.runtime == "transformers":
            return "transformers"
        host = self.placement.host_share
        if not self.placement.system.accelerators:
            return "cpu"
        if host.layers or host.expert_layers or self.placement.kv_on_host:
            return "offload"
        if self.placement_kind == "unknown-split":
            return "offload"
        if self.is_moe:
            return "moe"
        if self.placement.strategy == "multi-gpu" or len(self.placement.gpu_shares) > 1:
            return "multi-gpu"
        return "single"


def _int(value: str, default: int = 0) -> int:
    return int(float(value)) if value.strip() else default


def _system(row: dict[str, str], where: str) -> System:
    count = _int(row["gpu_count"], 1)
    backend = row["backend"]
    if row["hardware"]:
        p = hardware_profile(row["hardware"])
        if backend == "cpu":  # a CPU-only run on a GPU machine: the host alone
            base = system_from_profile(p)
            host = base.host if p.kind != "cpu" else device_from_profile(p)
            return System(label=f"{p.name} (CPU only)", accelerators=(), host=host, profile_id=p.id)
        system = system_from_profile(p, max(1, count))
        if row["host"]:
            h = device_from_profile(hardware_profile(row["host"]))
            system = System(
                label=system.label, accelerators=system.accelerators, host=h, profile_id=p.id
            )
        if backend not in {"", system.accelerators[0].backend if system.accelerators else "cpu"}:
            accel = tuple(
                Device(
                    d.name,
                    d.kind,
                    backend,
                    d.memory_bytes,
                    d.usable_bytes,
                    d.bandwidth_gbs,
                    d.tflops,
                    d.source,
                )
                for d in system.accelerators
            )
            system = System(
                label=system.label,
                accelerators=accel,
                host=system.host,
                host_assumed=system.host_assumed,
                unified=system.unified,
                profile_id=p.id,
            )
        return system
    # Hardware given on the row (no profile), or unstated: placeholders the fit scales.
    bw = float(row["bandwidth_gbs"]) if row["bandwidth_gbs"] else 1.0
    tf = float(row["fp16_tflops"]) if row["fp16_tflops"] else 1.0
    big = 4 * 2**40
    name = row["hardware_as_printed"] or where
    if backend == "cpu":
        host = Device(name, "cpu", "cpu", big, big, bw, tf, "benchmark row")
        return System(label=name, accelerators=(), host=host)
    kind = UNSTATED_BACKEND if backend == "unknown" else backend
    gpu = Device(name, "gpu", kind, big, big, bw, tf, "benchmark row")
    host = Device("host", "cpu", "cpu", big, big, 50.0, 1.0, "benchmark row")
    return System(label=name, accelerators=(gpu,) * max(1, count), host=host)


def _row(index: int, row: dict[str, str]) -> BenchRow:
    where = f"{BENCHMARK_FILE}:{index}"
    if row["role"] not in ROLES or row["test"] not in TESTS:
        raise ProfileError(f"{where}: role must be fit/check and test tg/pp")
    value = float(row["tokens_per_s"])
    if not math.isfinite(value) or value <= 0:
        raise ProfileError(f"{where}: tokens_per_s must be a positive number")
    arch = find_architecture(row["model"])
    fmt = format_facts(row["format"]).name
    system = _system(row, where)
    gen, prompt, depth = (
        _int(row["gen_tokens"]),
        _int(row["prompt_tokens"]),
        _int(row["depth_tokens"]),
    )
    context = max(1, depth + gen + prompt)
    ngl_text = row["n_gpu_layers"].strip()
    if row["placement"] in {"gpu", "multi-gpu", "kv-cpu"} or ngl_text in {
        "",
        "auto",
        "99",
        "999",
        "10000",
    }:
        ngl = arch.n_layers + 1
    else:
        ngl = int(ngl_text)
    if row["placement"] == "unknown-split":
        placement = place(arch, fmt, system, context)  # our own split stands in
    else:
        placement = place(
            arch,
            fmt,
            system,
            context,
            n_gpu_layers=ngl if system.accelerators else None,
            n_cpu_moe=_int(row["n_cpu_moe"]) or None,
            kv_on_host=row["placement"] == "kv-cpu",
        )
    if row["test"] == "tg":
        work = token_work(placement, arch, depth + gen / 2, 1)
    else:
        work = token_work(placement, arch, 0, prompt, depth)
    group = row["hardware"] or row["hardware_as_printed"]
    if not row["hardware"] and not row["bandwidth_gbs"]:
        group = "unstated: " + (row["hardware_as_printed"] or row["dataset"])
    return BenchRow(
        index=index,
        dataset=row["dataset"],
        role=row["role"],
        group=group,
        test=row["test"],
        tokens_per_s=value,
        arch=arch,
        format=fmt,
        placement=placement,
        work=work,
        prompt_tokens=prompt,
        source=row["source"],
        source_kind=row["source_kind"],
        placement_kind=row["placement"],
        bandwidth_known=bool(row["hardware"] or row["bandwidth_gbs"]),
        tflops_known=bool(row["hardware"] or row["fp16_tflops"]),
    )


def benchmark_path() -> Path:
    return profiles_dir() / BENCHMARK_FILE


@cache
def benchmark_rows(path: str | None = None) -> tuple[BenchRow, ...]:
    """Every row of the benchmark file, resolved (cached per process)."""
    file = Path(path) if path else benchmark_path()
    if not file.exists():
        raise ProfileError(f"speed benchmarks missing: {file}")
    with file.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = REQUIRED - set(reader.fieldnames or [])
        if missing:
            raise ProfileError(f"{file.name}: missing columns {', '.join(sorted(missing))}")
        return tuple(_row(i, r) for i, r in enumerate(reader, start=2))
