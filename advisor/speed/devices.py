"""The machine an estimate is for: its accelerators (GPUs, or Apple's GPU inside the Metal
working set) and its host (CPU and system RAM), from a bundled profile id, a dict of
figures, or this machine ("local")."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from advisor.profiles.hardware import (
    BANDWIDTH_GBS_RANGE,
    MEMORY_BYTES_RANGE,
    TFLOPS_RANGE,
    HardwareProfile,
    hardware_profile,
)
from advisor.speed.shape import SpeedInputError

GB = 10**9
GiB = 2**30
# Host assumed when a GPU-only description has to offload and says nothing of its RAM: the
# bundled dual-channel DDR5-5600 platform. Every estimate that uses it says so.
ASSUMED_HOST_ID = "cpu-64gb-ddr5"
# PCIe 4.0 x16 (31.5 GB/s per direction): prompt processing streams CPU-resident weights to
# the GPU once per micro-batch. A specification, not fitted (no offload prefill data).
DEFAULT_PCIE_GBS = 31.5
LOCAL_NAMES = {"local", "this-machine", "detected"}

_KINDS = {"gpu": "gpu", "cpu": "cpu", "apple": "unified", "unified": "unified"}
_LLAMA_BACKENDS = {"cuda", "rocm", "vulkan", "metal", "cpu"}
_DICT_KEYS = {
    "kind",
    "name",
    "id",
    "memory_gb",
    "memory_gib",
    "memory_bytes",
    "memory_bandwidth_gbs",
    "fp16_tflops",
    "count",
    "backend",
    "working_set_fraction",
    "ram_gb",
    "ram_gib",
    "ram_bytes",
    "ram_bandwidth_gbs",
    "cpu_tflops",
    "pcie_gbs",
}


@dataclass(frozen=True)
class Device:
    """One memory pool with the processor that reads it."""

    name: str
    kind: str  # "gpu", "unified" (Apple/APU GPU), "cpu" (host CPU and RAM)
    backend: str  # llama.cpp backend: cuda, rocm, vulkan, metal, cpu
    memory_bytes: int
    usable_bytes: int  # what a model may occupy (the Metal working set on Apple)
    bandwidth_gbs: float
    tflops: float
    source: str  # where the figures come from

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class System:
    """Accelerators (possibly none) plus the host. ``host_assumed`` marks a host that was
    not described and stands in for a typical desktop (see :data:`ASSUMED_HOST_ID`)."""

    label: str
    accelerators: tuple[Device, ...]
    host: Device
    host_assumed: bool = False
    unified: bool = False  # accelerator and host share one memory pool (Apple, APUs)
    pcie_gbs: float = DEFAULT_PCIE_GBS
    profile_id: str | None = None
    local: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "profile_id": self.profile_id,
            "accelerators": [d.to_dict() for d in self.accelerators],
            "host": self.host.to_dict(),
            "host_assumed": self.host_assumed,
            "unified": self.unified,
            "local": self.local,
            "notes": list(self.notes),
        }


def default_working_set_fraction(memory_bytes: int) -> float:
    """macOS's default Metal working set before 2025 releases: 2/3 of unified memory up to
    32 GiB, 3/4 above (ggml-metal logs of recommendedMaxWorkingSetSize, profiles/hardware.csv).
    Newer macOS allows more; ``sysctl iogpu.wired_limit_mb`` overrides it."""
    return 2 / 3 if memory_bytes <= 32 * GiB else 3 / 4


def device_from_profile(p: HardwareProfile) -> Device:
    kind = "cpu" if p.kind == "cpu" else ("unified" if p.kind == "unified" else "gpu")
    usable = p.gpu_memory_bytes if kind != "cpu" else p.memory_bytes
    return Device(
        name=p.name,
        kind=kind,
        backend=p.llama_backend,
        memory_bytes=p.memory_bytes,
        usable_bytes=usable,
        bandwidth_gbs=p.memory_bandwidth_gbs,
        tflops=p.fp16_tflops,
        source=f"profile {p.id} ({p.confidence} confidence)",
    )


def _assumed_host() -> Device:
    p = hardware_profile(ASSUMED_HOST_ID)
    d = device_from_profile(p)
    return Device(
        name=f"assumed host: {p.name}",
        kind="cpu",
        backend="cpu",
        memory_bytes=d.memory_bytes,
        usable_bytes=d.usable_bytes,
        bandwidth_gbs=d.bandwidth_gbs,
        tflops=d.tflops,
        source=f"assumed (profile {p.id}): the hardware given describes no system RAM",
    )


def _shared_host(p: HardwareProfile | None, accel: Device) -> Device:
    """The CPU side of a unified-memory machine: the same pool and bandwidth."""
    return Device(
        name=f"{accel.name} (CPU side)",
        kind="cpu",
        backend="cpu",
        memory_bytes=accel.memory_bytes,
        usable_bytes=accel.memory_bytes,
        bandwidth_gbs=accel.bandwidth_gbs,
        tflops=accel.tflops if p is None else _cpu_tflops_of_unified(p),
        source=accel.source + "; CPU shares the unified memory",
    )


def _cpu_tflops_of_unified(p: HardwareProfile) -> float:
    # Apple/APU rows carry the GPU figure; their CPU clusters reach about a tenth of it
    # for FP32 FMA (M-series: 8-16 cores x ~3.5 GHz x 16 FLOP/cycle ~ 0.5-1 TFLOPS).
    return max(0.2, p.fp16_tflops / 10)


def system_from_profile(p: HardwareProfile, count: int = 1) -> System:
    accel = device_from_profile(p)
    if p.kind == "cpu":
        return System(label=p.name, accelerators=(), host=accel, profile_id=p.id)
    if p.kind == "unified":
        return System(
            label=p.name,
            accelerators=(accel,),
            host=_shared_host(p, accel),
            unified=True,
            profile_id=p.id,
        )
    label = p.name if count == 1 else f"{count}x {p.name}"
    return System(
        label=label,
        accelerators=(accel,) * count,
        host=_assumed_host(),
        host_assumed=True,
        profile_id=p.id,
    )


def resolve_system(hardware: object) -> System:
    """A :class:`System` from a profile id, ``"local"``, a :class:`HardwareProfile`, a dict of
    figures or a :class:`System`; anything else is a TypeError that says what to pass."""
    if isinstance(hardware, System):
        return hardware
    if isinstance(hardware, HardwareProfile):
        return system_from_profile(hardware)
    if isinstance(hardware, str):
        key = hardware.strip().lower()
        if key in LOCAL_NAMES:
            return local_system()
        count = 1
        if "x" in key and key.split("x", 1)[0].isdigit():  # "2x rtx-3090-24gb"
            n, rest = key.split("x", 1)
            count, key = int(n), rest.strip()
        if not 1 <= count <= 16:
            raise SpeedInputError(f"GPU count must be 1-16, got {count}")
        try:
            return system_from_profile(hardware_profile(key), count)
        except SpeedInputError:
            raise
        except Exception as exc:  # ProfileError: unknown id
            raise SpeedInputError(str(exc)) from None
    if isinstance(hardware, Mapping):
        return system_from_dict(hardware)
    raise TypeError(
        "hardware must be a profile id (e.g. 'rtx-4090-24gb'), 'local', or a dict such as "
        "{'kind': 'gpu', 'memory_gb': 24, 'memory_bandwidth_gbs': 1008, 'fp16_tflops': 165, "
        f"'count': 1}}, got {type(hardware).__name__}"
    )


def _number(data: Mapping[str, Any], key: str, bounds: tuple[float, float]) -> float:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"hardware[{key!r}] must be a number, got {value!r}")
    value = float(value)
    low, high = bounds
    if not math.isfinite(value) or not low <= value <= high:
        raise ValueError(f"hardware[{key!r}] must be between {low:g} and {high:g}, got {value!r}")
    return value


def _bytes(data: Mapping[str, Any], prefix: str, required: bool) -> int | None:
    given = [k for k in (f"{prefix}_gb", f"{prefix}_gib", f"{prefix}_bytes") if k in data]
    if len(given) > 1:
        raise ValueError(f"give one of {', '.join(given)}, not several")
    if not given:
        if required:
            raise ValueError(
                f"hardware needs {prefix}_gb (10^9 bytes) or {prefix}_gib (2^30 bytes)"
            )
        return None
    key = given[0]
    unit = {"gb": GB, "gib": GiB, "bytes": 1}[key.rsplit("_", 1)[1]]
    low, high = MEMORY_BYTES_RANGE
    value = _number(data, key, (low / unit, high / unit))
    return int(value * unit)


def system_from_dict(data: Mapping[str, Any]) -> System:
    """Validate a dict of figures (see :func:`advisor.speed.estimate`)."""
    unknown = sorted(str(k) for k in data if k not in _DICT_KEYS)
    if unknown:
        raise ValueError(
            f"unknown hardware keys {', '.join(unknown)}: use {', '.join(sorted(_DICT_KEYS))}"
        )
    kind_given = data.get("kind")
    if not isinstance(kind_given, str) or kind_given.strip().lower() not in _KINDS:
        raise ValueError(f"hardware['kind'] must be 'gpu', 'cpu' or 'apple', got {kind_given!r}")
    kind = _KINDS[kind_given.strip().lower()]
    apple = kind_given.strip().lower() == "apple"
    for key in ("memory_bandwidth_gbs", "fp16_tflops"):
        if key not in data:
            raise ValueError(f"hardware needs {key!r} ({_WHAT[key]})")
    memory = _bytes(data, "memory", required=True)
    assert memory is not None
    bandwidth = _number(data, "memory_bandwidth_gbs", BANDWIDTH_GBS_RANGE)
    tflops = _number(data, "fp16_tflops", TFLOPS_RANGE)
    count_value = data.get("count", 1)
    if (
        isinstance(count_value, bool)
        or not isinstance(count_value, int)
        or not 1 <= count_value <= 16
    ):
        raise ValueError(f"hardware['count'] must be a whole number 1-16, got {count_value!r}")
    name = str(data.get("name") or data.get("id") or f"{kind_given} ({memory / GB:.0f} GB)")
    backend_value = data.get("backend")
    inferred = None
    if kind == "cpu":
        backend = "cpu"
    elif backend_value is None:
        backend, inferred = _backend_from_name(name, apple)
    else:
        backend = str(backend_value).strip().lower()
        if backend not in _LLAMA_BACKENDS:
            raise ValueError(
                f"hardware['backend'] must be one of {', '.join(sorted(_LLAMA_BACKENDS))}, "
                f"got {backend_value!r}"
            )
    pcie = _number(data, "pcie_gbs", (1.0, 1000.0)) if "pcie_gbs" in data else DEFAULT_PCIE_GBS
    notes: list[str] = [inferred] if inferred else []
    if kind == "unified" and count_value != 1:
        raise ValueError("hardware['count'] applies to discrete GPUs, not unified memory")
    if kind == "cpu":
        for key in ("ram_gb", "ram_gib", "ram_bytes", "ram_bandwidth_gbs", "count"):
            if key in data and not (key == "count" and data[key] == 1):
                raise ValueError(f"hardware['{key}'] applies to GPUs; a CPU's RAM is its memory")
        host = Device(name, "cpu", "cpu", memory, memory, bandwidth, tflops, "given")
        return System(label=name, accelerators=(), host=host, pcie_gbs=pcie)
    if kind == "unified":
        if "working_set_fraction" in data:
            fraction = _number(data, "working_set_fraction", (0.3, 1.0))
        elif apple:
            fraction = default_working_set_fraction(memory)
            notes.append(
                f"Metal working set taken as {fraction:.0%} of {memory / GiB:.0f} GiB (macOS "
                "default before 2025); pass working_set_fraction to change it"
            )
        else:
            fraction = 1.0
        accel = Device(
            name, "unified", backend, memory, int(memory * fraction), bandwidth, tflops, "given"
        )
        host = _shared_host(None, accel)
        if "cpu_tflops" in data:
            host = Device(
                host.name,
                "cpu",
                "cpu",
                memory,
                memory,
                bandwidth,
                _number(data, "cpu_tflops", TFLOPS_RANGE),
                host.source,
            )
        return System(
            label=name,
            accelerators=(accel,),
            host=host,
            unified=True,
            pcie_gbs=pcie,
            notes=tuple(notes),
        )
    if "working_set_fraction" in data:
        raise ValueError("working_set_fraction applies to kind 'apple'")
    gpu = Device(name, "gpu", backend, memory, memory, bandwidth, tflops, "given")
    ram = _bytes(data, "ram", required=False)
    if ram is None and "ram_bandwidth_gbs" not in data:
        host, assumed = _assumed_host(), True
    else:
        if ram is None or "ram_bandwidth_gbs" not in data:
            raise ValueError(
                "describe system RAM with both ram_gb (or ram_gib) and ram_bandwidth_gbs"
            )
        ram_bw = _number(data, "ram_bandwidth_gbs", BANDWIDTH_GBS_RANGE)
        cpu_tflops = _number(data, "cpu_tflops", TFLOPS_RANGE) if "cpu_tflops" in data else 1.0
        if "cpu_tflops" not in data:
            notes.append("host CPU compute taken as 1 TFLOPS (pass cpu_tflops to change it)")
        host = Device("system RAM", "cpu", "cpu", ram, ram, ram_bw, cpu_tflops, "given")
        assumed = False
    label = name if count_value == 1 else f"{count_value}x {name}"
    return System(
        label=label,
        accelerators=(gpu,) * count_value,
        host=host,
        host_assumed=assumed,
        pcie_gbs=pcie,
        notes=tuple(notes),
    )


def _backend_from_name(name: str, apple: bool) -> tuple[str, str | None]:
    """The llama.cpp backend a described GPU most likely runs: Metal on Apple, ROCm on AMD,
    Vulkan on Intel, else CUDA. Says so when it had to read the name."""
    if apple:
        return "metal", None
    lowered = name.lower()
    if any(word in lowered for word in ("amd", "radeon", "instinct")):
        return "rocm", f"backend taken as rocm from the name {name!r} (pass backend to change it)"
    if any(word in lowered for word in ("intel", " arc ", "arc a", "arc b")):
        return (
            "vulkan",
            f"backend taken as vulkan from the name {name!r} (pass backend to change it)",
        )
    return "cuda", None


_WHAT = {
    "memory_bandwidth_gbs": "memory bandwidth in GB/s, e.g. 1008 for an RTX 4090",
    "fp16_tflops": "dense FP16 tensor TFLOPS without sparsity, e.g. 165 for an RTX 4090",
}


def local_system() -> System:
    """This machine: NVIDIA GPUs by NVML name matched to a bundled profile, Apple silicon
    by chip name, and the host's RAM bandwidth measured by a short copy probe."""
    from advisor.profiles.detect import detect, local_profiles, memory_bandwidth_probe

    hw = detect()
    probe = memory_bandwidth_probe()
    gpus, host_profile = local_profiles(hw)
    host_source = (
        f"measured here: {probe.gbs:.1f} GB/s copy probe ({probe.threads} threads, "
        f"{probe.bytes_moved / 1e6:.0f} MB)"
    )
    host_tflops = host_profile.fp16_tflops if host_profile else max(0.05, hw.cores * 0.05)
    host = Device(
        name=f"{hw.cpu} ({hw.ram_total_bytes / GiB:.0f} GiB RAM)",
        kind="cpu",
        backend="cpu",
        memory_bytes=hw.ram_total_bytes,
        usable_bytes=hw.ram_total_bytes,
        bandwidth_gbs=probe.gbs,
        tflops=host_tflops,
        source=host_source,
    )
    if hw.unified_memory and host_profile and host_profile.kind == "unified":
        accel = device_from_profile(host_profile)
        return System(
            label=f"this machine ({host_profile.name})",
            accelerators=(accel,),
            host=_shared_host(host_profile, accel),
            unified=True,
            profile_id=host_profile.id,
            local=True,
        )
    accels = tuple(device_from_profile(p) for p in gpus)
    notes: tuple[str, ...] = ()
    if hw.gpus and len(gpus) < len(hw.gpus):
        unmatched = [g.name for g in hw.gpus][len(gpus) :]
        notes = (f"no bundled profile for {', '.join(unmatched)}: left out of the estimate",)
    label = "this machine" + (f" ({', '.join(d.name for d in accels)})" if accels else " (CPU)")
    return System(label=label, accelerators=accels, host=host, local=True, notes=notes)
