"""Where a recommended config runs and how fast: the machine a budget describes, the
placement of each config on it (one GPU, several GPUs, llama.cpp layer or expert offload
to system RAM, Apple's GPU inside the Metal working set, the CPU), and its speed.

A typed budget ("--vram 24GB") says how much memory, not which GPU: speeds then assume the
typical card of that size among the bundled profiles (the median bandwidth), and the
answer says which; ``--hardware`` names the real one.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from functools import cache
from typing import Any

from advisor import profiles
from advisor.memory import Footprint
from advisor.profiles import Architecture, HardwareProfile
from advisor.profiles.formats import Format
from advisor.speed import Placement, SpeedInputError, System, estimate, place, resolve_system
from advisor.speed.estimate import Estimate
from advisor.units import format_bytes

GiB = 2**30
TYPICAL_RAM_PROFILE = "cpu-64gb-ddr5"  # dual-channel DDR5-5600: today's common desktop


@dataclass(frozen=True)
class Machine:
    """The hardware a question is about: its :class:`System` for placement and speed,
    how many GPUs, whether configs may spill into system RAM, and what was assumed."""

    system: System
    gpu_count: int
    offload: bool  # llama.cpp may put layers or experts in system RAM
    assumed: str | None  # what stands in for hardware the question did not name


def _gpu_profiles() -> list[HardwareProfile]:
    return [h for h in profiles.hardware_profiles().values() if h.kind == "gpu"]


def typical_gpu(memory_bytes: int) -> HardwareProfile | None:
    """The bundled GPU of this memory size with the median bandwidth (ties: the first)."""
    gib = round(memory_bytes / GiB)
    same = [h for h in _gpu_profiles() if round(h.memory_bytes / GiB) == gib]
    if not same:
        decimal = round(memory_bytes / 1e9)
        same = [h for h in _gpu_profiles() if round(h.memory_bytes / GiB) == decimal]
    if not same:
        return None
    bandwidths = sorted(float(h.memory_bandwidth_gbs or 0.0) for h in same)
    median = statistics.median_low(bandwidths)
    return next(h for h in same if float(h.memory_bandwidth_gbs or 0.0) == median)


def _ram(profile_id: str = TYPICAL_RAM_PROFILE) -> HardwareProfile:
    return profiles.hardware_profiles()[profile_id]


def machine_for(
    device: str,
    per_gpu_bytes: int,
    gpu_count: int,
    ram_bytes: int | None,
    hardware_id: str | None,
) -> Machine:
    """The machine of a budget: a named profile, or a typical one of the typed sizes."""
    if hardware_id is not None:
        key = hardware_id if gpu_count == 1 else f"{gpu_count}x {hardware_id}"
        system = resolve_system(key)
        offload = ram_bytes is not None and device == "cuda"
        if offload:
            system = _with_host(system, ram_bytes or 0)
        return Machine(system, gpu_count, offload, None)
    ram_profile = _ram()
    ram_bw = float(ram_profile.memory_bandwidth_gbs or 89.6)
    if device == "cpu":
        figures = {
            "kind": "cpu", "memory_bytes": per_gpu_bytes, "memory_bandwidth_gbs": ram_bw,
            "fp16_tflops": float(ram_profile.fp16_tflops or 1.0), "name": "system RAM",
        }  # fmt: skip
        assumed = f"{ram_profile.name} ({ram_bw:g} GB/s)"
        return Machine(resolve_system(figures), 0, False, assumed)
    gpu = typical_gpu(per_gpu_bytes)
    if gpu is None:
        raise SpeedInputError(
            f"no bundled GPU has {format_bytes(per_gpu_bytes, 'GiB')}: pass --hardware ID"
        )
    figures = {
        "kind": "apple" if device == "apple" else "gpu",
        "memory_bytes": per_gpu_bytes,
        "memory_bandwidth_gbs": float(gpu.memory_bandwidth_gbs or 0.0),
        "fp16_tflops": float(gpu.fp16_tflops or 1.0),
        "count": gpu_count,
        "name": f"{gpu.name}-class GPU",
    }
    if device == "apple":
        figures.pop("count")
    offload = ram_bytes is not None and device == "cuda"
    if offload:
        figures.update(ram_bytes=ram_bytes, ram_bandwidth_gbs=ram_bw,
                       cpu_tflops=float(ram_profile.fp16_tflops or 1.0))  # fmt: skip
    assumed = f"{gpu.name} ({float(gpu.memory_bandwidth_gbs or 0):g} GB/s)"
    if offload:
        assumed += f" with {ram_profile.name} system RAM ({ram_bw:g} GB/s)"
    return Machine(resolve_system(figures), gpu_count, offload, assumed)


def _with_host(system: System, ram_bytes: int) -> System:
    from dataclasses import replace

    ram = _ram()
    host = replace(
        system.host,
        name="system RAM",
        memory_bytes=ram_bytes,
        usable_bytes=ram_bytes,
        bandwidth_gbs=float(ram.memory_bandwidth_gbs or system.host.bandwidth_gbs),
    )
    return replace(system, host=host, host_assumed=False)


@cache
def _place_cached(
    arch: Architecture, fmt_name: str, system: System, context: int, kv: str
) -> Placement | None:
    try:
        return place(arch, fmt_name, system, context, kv)
    except (SpeedInputError, ValueError, KeyError):
        return None


def placement_for(
    arch: Architecture, fmt: Format, fp: Footprint, machine: Machine, usable_bytes: int,
    context: int, kv: str,
) -> tuple[bool, Placement | None]:  # fmt: skip
    """Whether a config fits the machine, and where it runs. One device without offload:
    the footprint's calibrated upper bound against the usable budget. Several GPUs or a
    GPU with system RAM: llama.cpp's split for GGUF files; other runtimes spread over the
    GPUs only (vLLM tensor parallel, transformers' device map), never into system RAM."""
    single = machine.gpu_count <= 1 and not machine.offload
    if single:  # where it runs is the one device; the split is worked out only when shown
        return fp.upper_bytes <= usable_bytes, None
    if fmt.backend != "gguf":
        per_gpu = usable_bytes // max(machine.gpu_count, 1)
        fits = fp.upper_bytes <= per_gpu * max(machine.gpu_count, 1) * 0.95 and (
            machine.gpu_count > 1 or fp.upper_bytes <= per_gpu
        )
        return fits, None
    if machine.gpu_count == 1 and fp.upper_bytes <= usable_bytes:
        return True, None  # all on the GPU
    host = machine.system.host.usable_bytes if machine.offload else 0
    if fp.upper_bytes > usable_bytes + host:
        return False, None  # not even GPU and RAM together hold it
    placed = _place_cached(arch, fmt.name, machine.system, context, kv)
    if placed is None or not placed.fits:
        return False, placed
    if not machine.offload and placed.strategy in {"offload-layers", "offload-experts"}:
        return False, placed  # several GPUs, no system RAM named: the GPUs must hold it
    return True, placed


def speed_of(
    arch: Architecture, fmt: Format, machine: Machine, placed: Placement | None, context: int,
    kv: str,
) -> Estimate | None:  # fmt: skip
    """Decode speed at a full context and the time to first token for a context-long
    prompt, with the evidence behind them; None where the speed model cannot say."""
    if placed is None and fmt.backend == "gguf":
        placed = _place_cached(arch, fmt.name, machine.system, context, kv)
    try:
        return estimate(
            arch, fmt.name, machine.system, context_tokens=context, prompt_tokens=context,
            placement=placed, kv_cache_type=kv,
        )  # fmt: skip
    except (SpeedInputError, ValueError, KeyError, TypeError):
        return None


def placement_label(placed: Placement | None, fmt: Format, machine: Machine) -> str:
    """A few words: where the config runs."""
    if placed is None:
        if fmt.backend != "gguf" and machine.gpu_count > 1:
            return f"{machine.gpu_count} GPUs"
        return "gpu" if machine.system.accelerators else "cpu"
    strategy = placed.strategy
    if strategy == "offload-layers":
        return f"{placed.n_gpu_layers}/{placed.n_layers} layers on GPU"
    if strategy == "offload-experts":
        layers = "layer" if placed.n_cpu_moe == 1 else "layers"
        return f"experts of {placed.n_cpu_moe} {layers} in RAM"
    if strategy == "multi-gpu":
        return f"{len(placed.gpu_shares)} GPUs"
    return {"gpu": "gpu", "cpu": "cpu"}.get(strategy, strategy)


def run_flags(placed: Placement | None) -> tuple[str, ...]:
    """llama.cpp placement flags for the run command (the context comes separately)."""
    if placed is None:
        return ()
    flags = list(placed.llama_cpp_flags)
    if "-c" in flags:  # the run command sets the context itself
        i = flags.index("-c")
        del flags[i : i + 2]
    return tuple(flags)


def placement_dict(placed: Placement | None) -> dict[str, Any] | None:
    if placed is None:
        return None
    return {
        "strategy": placed.strategy,
        "n_gpu_layers": placed.n_gpu_layers,
        "n_layers": placed.n_layers,
        "n_cpu_moe": placed.n_cpu_moe,
        "tensor_split": None if placed.tensor_split is None else list(placed.tensor_split),
        "llama_cpp_flags": list(run_flags(placed)),
        "devices": [
            {
                "name": s.device.name,
                "role": s.role,
                "bytes": s.total_bytes,
                "capacity_bytes": s.capacity_bytes,
                "layers": s.layers,
            }
            for s in placed.shares
        ],
    }
