"""The memory budget: typed (GB or GiB), a bundled hardware profile, or detected; and the
platform it implies (an NVIDIA GPU, system RAM for the CPU, or Apple unified memory)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

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
    gpu_count: int = 1  # "--vram 2x24GB": two GPUs of 24 GB each
    ram_bytes: int | None = None  # system RAM a GPU may offload to ("--vram 12GB --ram 64GB")

    @property
    def memory_kind(self) -> str:
        kind = DEVICE_LABELS[self.device]
        if self.device == "cuda" and self.gpu_count > 1:
            kind = f"GPU memory ({self.gpu_count} GPUs)"
        if self.ram_bytes is not None and self.device == "cuda":
            kind += f" + {format_bytes(self.ram_bytes, 'GB')} system RAM"
        return kind

    @property
    def per_device_bytes(self) -> int:
        return self.total_bytes // max(self.gpu_count, 1)


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


_COUNTED = re.compile(r"^\s*(\d+)\s*[xX×]\s*(\d.*|[a-zA-Z][\w.-]*-\w.*)$")


def _count_of(budget: object) -> tuple[int, object]:
    """ "2x24GB" → (2, "24GB"); anything else → (1, budget)."""
    if isinstance(budget, str):
        match = _COUNTED.match(budget)
        if match:
            count = int(match.group(1))
            if not 1 <= count <= 16:
                raise RecommendError(f"GPU count must be 1-16, got {count} in {budget!r}")
            return count, match.group(2)
    return 1, budget


def make_budget(
    budget: object | None,
    device: str | None,
    hardware: str | None,
    notes: list[str],
    ram: object | None = None,
) -> Budget:
    """The budget of one question: a hardware profile ("rtx-3090-24gb", or "2x ..."), a
    typed size ("24GB", "2x24GB" for two GPUs), or the detected hardware when neither is
    given; ``ram`` adds system RAM a GPU may offload to."""
    if device is not None and device not in DEVICES:
        raise RecommendError(f"unknown device {device!r}: use one of {', '.join(DEVICES)}")
    ram_bytes = None if ram is None else _checked_bytes(ram)
    if hardware is not None:
        if budget is not None:
            raise RecommendError("give a budget or a hardware profile, not both")
        count, name = _count_of(hardware)
        plan = _profile_budget(str(name))
        if count > 1 and plan.device != "cuda":
            raise RecommendError(f"{count}x only applies to GPUs, not {plan.memory_kind}")
        _check_ram_applies(plan, ram_bytes)
        return replace(
            plan,
            total_bytes=plan.total_bytes * count,
            usable_limit_bytes=plan.usable_limit_bytes * count,
            gpu_count=count,
            ram_bytes=ram_bytes,
            label=plan.label if count == 1 else f"{count}x {plan.label}",
        )
    if budget is None:
        if ram_bytes is not None:
            return _checked_bytes_budget(ram, "cpu", notes)
        return _detected_budget(device, notes)
    count, budget = _count_of(budget)
    if count > 1 and device not in (None, "cuda"):
        raise RecommendError("a GPU count (2x24GB) applies to GPU memory (--vram)")
    plan = _checked_bytes_budget(budget, device or "cuda", notes)
    if count > 1:
        plan = replace(
            plan,
            total_bytes=plan.total_bytes * count,
            usable_limit_bytes=plan.usable_limit_bytes * count,
            gpu_count=count,
            label=f"{count}x {plan.label}",
        )
    return _with_ram(plan, ram_bytes)


def _check_ram_applies(plan: Budget, ram_bytes: int | None) -> None:
    """System RAM to offload to only means something beside a GPU's own memory."""
    if ram_bytes is not None and plan.device != "cuda":
        raise RecommendError(
            f"--ram (system RAM a GPU offloads to) goes with a GPU budget; this budget is "
            f"{plan.memory_kind} already: drop --ram, or give --ram alone for CPU inference"
        )


def _with_ram(plan: Budget, ram_bytes: int | None) -> Budget:
    _check_ram_applies(plan, ram_bytes)
    if ram_bytes is None:
        return plan
    return replace(plan, ram_bytes=ram_bytes)


def _checked_bytes_budget(budget: object, device: str, notes: list[str]) -> Budget:
    total = _checked_bytes(budget)
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
