"""The memory budget: typed (GB or GiB), a bundled hardware profile, or detected; and the
platform it implies (an NVIDIA GPU, system RAM for the CPU, or Apple unified memory)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from advisor import profiles
from advisor.errors import AdvisorError
from advisor.units import format_bytes, parse_size

DEVICES = ("cuda", "cpu", "apple")
DEVICE_LABELS = {"cuda": "GPU memory", "cpu": "system RAM", "apple": "unified memory"}


class RecommendError(AdvisorError):
    """A question the recommender cannot answer as asked (bad budget, context, backend)."""


@dataclass(frozen=True)
class Budget:
    """How much memory, of which kind, and how much of it a model may use.

    ``usable_limit_bytes`` is what the platform lets one process allocate: all of it for
    a GPU or system RAM, the Metal working-set limit for Apple unified memory (macOS
    lets the GPU wire only part of unified memory; llama.cpp's Metal backend warns past
    ``recommendedMaxWorkingSetSize``).
    """

    total_bytes: int
    device: str  # "cuda", "cpu" or "apple"
    label: str
    usable_limit_bytes: int
    hardware_id: str | None = None

    @property
    def memory_kind(self) -> str:
        return DEVICE_LABELS[self.device]


def metal_working_set_bytes(total_bytes: int, fraction: float | None = None) -> int:
    """The share of unified memory Metal lets the GPU use. Without a measured fraction for
    the machine: 2/3 up to 36 GB and 3/4 above, the limits older macOS reports (newer
    releases allow a little more; ``sysctl iogpu.wired_limit_mb`` raises it by hand)."""
    if fraction is None:
        fraction = 2 / 3 if total_bytes <= 36 * 2**30 else 3 / 4
    return int(total_bytes * fraction)


def budget_label(budget: str | int, budget_bytes: int) -> str:
    text = str(budget)
    unit = "GiB" if "i" in text.lower() else "GB"
    other = "GiB" if unit == "GB" else "GB"
    return f"{format_bytes(budget_bytes, unit)} ({format_bytes(budget_bytes, other)})"


def gib_hint(budget: str | int, budget_bytes: int) -> str | None:
    """GPU makers' "24 GB" is 24 GiB: say so when the user typed decimal GB."""
    text = str(budget).strip().upper()
    if not text.endswith(("GB", "G")):
        return None
    gib = budget_bytes / 10**9
    cards = [
        hw.name.removeprefix("NVIDIA ").removeprefix("GeForce ")
        for hw in profiles.hardware_profiles().values()
        if hw.kind == "gpu" and hw.memory_bytes == round(gib) * 2**30
    ]
    if not cards:
        return None
    size = format_bytes(round(gib) * 2**30, "GB")
    return (
        f'"{round(gib)} GB" cards ({", ".join(cards)}) have {round(gib)} GiB = {size}: '
        f"pass --vram {round(gib)}GiB to budget all of it"
    )


def _checked_bytes(budget: object) -> int:
    """Bytes of a budget given as an int or float of bytes, or as text ("24GB")."""
    if isinstance(budget, bool):
        raise TypeError("budget must be a size such as '24GB' or a number of bytes, not a bool")
    if isinstance(budget, (int, float)):
        if not math.isfinite(budget) or budget <= 0:
            raise RecommendError(f"memory budget must be a positive, finite size, got {budget!r}")
        return int(budget)
    if isinstance(budget, str):
        if not budget.strip():
            raise RecommendError("memory budget is empty: give a size such as 24GB or 16GiB")
        return parse_size(budget)
    raise TypeError(f"budget must be a size such as '24GB' or an int of bytes, not {budget!r}")


def make_budget(
    budget: object | None,
    device: str | None,
    hardware: str | None,
    notes: list[str],
) -> Budget:
    """The budget of one question: a hardware profile, a typed size, or the detected
    hardware when neither is given."""
    if device is not None and device not in DEVICES:
        raise RecommendError(f"unknown device {device!r}: use one of {', '.join(DEVICES)}")
    if hardware is not None:
        if budget is not None:
            raise RecommendError("give a budget or a hardware profile, not both")
        return _profile_budget(hardware)
    if budget is None:
        return _detected_budget(device, notes)
    total = _checked_bytes(budget)
    device = device or "cuda"
    label = budget_label(budget if isinstance(budget, str) else f"{total / 2**30}GiB", total)
    if device == "cuda" and isinstance(budget, str):
        hint = gib_hint(budget, total)
        if hint:
            notes.append(hint)
    usable = metal_working_set_bytes(total) if device == "apple" else total
    if device == "apple":
        notes.append(
            f"Apple unified memory: Metal lets the GPU use about {usable / total:.0%} "
            f"({format_bytes(usable, 'GiB')}) of {format_bytes(total, 'GiB')}"
        )
    return Budget(total, device, label, usable)


def _profile_budget(hardware_id: str) -> Budget:
    known = profiles.hardware_profiles()
    if not isinstance(hardware_id, str) or hardware_id not in known:
        import difflib

        close = difflib.get_close_matches(str(hardware_id), list(known), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise RecommendError(
            f"unknown hardware profile {hardware_id!r}{hint} (see `advisor profiles hardware`)"
        )
    hw = known[hardware_id]
    device = {"gpu": "cuda", "unified": "apple"}.get(hw.kind, "cpu")
    fraction = getattr(hw, "metal_working_set_fraction", None)
    usable = (
        metal_working_set_bytes(hw.memory_bytes, fraction) if device == "apple" else hw.memory_bytes
    )
    label = f"{format_bytes(hw.memory_bytes, 'GiB')} {DEVICE_LABELS[device]} ({hw.name})"
    return Budget(hw.memory_bytes, device, label, usable, hardware_id)


def _detected_budget(device: str | None, notes: list[str]) -> Budget:
    from advisor.profiles.detect import detect

    hw = detect()
    if device in (None, "cuda") and hw.gpus:
        gpu = max(hw.gpus, key=lambda g: g.total_bytes)
        notes.append(f"budget: {gpu.name} (GPU {gpu.index}), total memory detected via NVML")
        label = f"{format_bytes(gpu.total_bytes, 'GiB')} on {gpu.name} (detected)"
        return Budget(gpu.total_bytes, "cuda", label, gpu.total_bytes)
    if device == "cuda":
        raise RecommendError("no NVIDIA GPU detected: pass --vram SIZE (e.g. --vram 24GB)")
    if hw.unified_memory:
        usable = metal_working_set_bytes(hw.ram_total_bytes)
        notes.append("budget: detected Apple unified memory; pass --vram or --ram to override")
        label = f"{format_bytes(hw.ram_total_bytes, 'GiB')} unified memory (detected)"
        return Budget(hw.ram_total_bytes, "apple", label, usable)
    notes.append("budget: detected system RAM (no NVIDIA GPU found); pass --vram or --ram")
    label = f"{format_bytes(hw.ram_total_bytes, 'GiB')} system RAM (detected)"
    return Budget(hw.ram_total_bytes, "cpu", label, hw.ram_total_bytes)
