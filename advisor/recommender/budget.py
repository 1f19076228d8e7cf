"""The memory budget: typed (GB or GiB), a bundled hardware profile, or detected."""

from __future__ import annotations

from advisor import profiles
from advisor.errors import AdvisorError
from advisor.units import format_bytes


class RecommendError(AdvisorError):
    """A question the recommender cannot answer as asked (bad budget, context, backend)."""


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


def detected_budget(device: str | None, notes: list[str]) -> tuple[int, str, str]:
    from advisor.profiles.detect import detect

    hw = detect()
    if device in (None, "cuda") and hw.gpus:
        gpu = max(hw.gpus, key=lambda g: g.total_bytes)
        notes.append(f"budget: {gpu.name} (GPU {gpu.index}), total memory detected via NVML")
        return gpu.total_bytes, "cuda", f"{format_bytes(gpu.total_bytes, 'GiB')} on {gpu.name}"
    if device == "cuda":
        raise RecommendError("no NVIDIA GPU detected: pass --vram SIZE (e.g. --vram 24GB)")
    kind = "unified memory" if hw.unified_memory else "system RAM"
    notes.append(f"budget: detected {kind} (no NVIDIA GPU found); pass --vram or --ram to override")
    return hw.ram_total_bytes, "cpu", f"{format_bytes(hw.ram_total_bytes, 'GiB')} {kind}"
