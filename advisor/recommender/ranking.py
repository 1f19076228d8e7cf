"""Ranking: the candidates that fit the usable budget, best evidence first, and the
one-line pick set against the best config on the other side of the trade-off."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from advisor import profiles
from advisor.evidence import Evidence, UnknownTaskError, resolve_task
from advisor.memory import DEFAULT_CONTEXT_TOKENS, KV_CACHE_BYTES
from advisor.profiles.formats import get_format
from advisor.recommender.budget import (
    RecommendError,
    budget_label,
    detected_budget,
    gib_hint,
)
from advisor.recommender.candidates import FORMAT_SETS, Candidate, candidates
from advisor.units import parse_size

DEFAULT_SAFETY_MARGIN = 0.10


@dataclass(frozen=True)
class Recommendation:
    """The ranked configs that fit, with the question that produced them."""

    budget_bytes: int
    budget_label: str
    device: str
    task: str
    requested_task: str
    context_tokens: int
    kv_cache_type: str
    backend: str
    safety_margin: float
    ranked: tuple[Candidate, ...]  # fits, best first
    excluded: tuple[Candidate, ...]  # does not fit, smallest first
    considered: int
    smallest: Candidate | None  # the smallest candidate, for "nothing fits" messages
    notes: tuple[str, ...] = ()

    @property
    def usable_bytes(self) -> int:
        return int(self.budget_bytes * (1 - self.safety_margin))

    def best_per_model(self) -> tuple[Candidate, ...]:
        """Each model once, in its best-ranked format (the ranking's order is kept)."""
        seen: set[str] = set()
        out = []
        for c in self.ranked:
            if c.arch.model_id not in seen:
                seen.add(c.arch.model_id)
                out.append(c)
        return tuple(out)

    def explanation(self) -> str | None:
        """The top pick in one line, set against the best smaller-model, higher-bit config
        of about the same memory: the trade-off this tool exists to settle."""
        scored = [c for c in self.ranked if c.best is not None]
        if not scored:
            return None
        pick = scored[0]
        best = pick.best
        assert best is not None
        line = (
            f"{pick.label}: {pick.footprint.total_bytes / 1e9:.1f} GB, {best.kind} "
            f"{_score_text(best)} on {self.task}"
        )
        rivals = [
            c
            for c in scored[1:]
            if c.arch.model_id != pick.arch.model_id
            and c.format.nominal_bits != pick.format.nominal_bits
            and abs(c.footprint.total_bytes - pick.footprint.total_bytes)
            <= 0.25 * pick.footprint.total_bytes
        ]
        if not rivals:
            return line
        rival = rivals[0]
        assert rival.best is not None
        gap = abs(best.value - rival.best.value)
        noise = math.hypot(best.uncertainty or 0.0, rival.best.uncertainty or 0.0)
        verb = "beats" if gap > noise else "is within uncertainty of"
        return (
            f"{line}; {verb} {rival.label} ({rival.best.kind} {_score_text(rival.best)}, "
            f"{rival.footprint.total_bytes / 1e9:.1f} GB) at about equal memory"
        )

    def to_dict(self, top: int | None = None, per_model: bool = False) -> dict[str, Any]:
        shown = self.best_per_model() if per_model else self.ranked
        return {
            "budget_bytes": self.budget_bytes,
            "budget": self.budget_label,
            "usable_bytes": self.usable_bytes,
            "safety_margin": self.safety_margin,
            "device": self.device,
            "task": self.task,
            "requested_task": self.requested_task,
            "context_tokens": self.context_tokens,
            "kv_cache_type": self.kv_cache_type,
            "backend": self.backend,
            "considered": self.considered,
            "fits": len(self.ranked),
            "notes": list(self.notes),
            "explanation": self.explanation(),
            "per_model": per_model,
            "candidates": [c.to_dict() for c in shown[:top]],
            "smallest": None if self.smallest is None else self.smallest.to_dict(),
        }


def _score_text(e: Evidence) -> str:
    text = f"{e.value:.1f}" if e.higher_is_better else f"{e.value:.2f}"
    return text + (f" ± {e.uncertainty:.1f}" if e.uncertainty is not None else "")


def _rank_key(candidate: Candidate) -> tuple[int, float, int]:
    best = candidate.best
    if best is None:
        return (1, 0.0, -candidate.arch.params_total)
    score = best.value if best.higher_is_better else -best.value
    return (0, -score, -candidate.arch.params_total)


def recommend(
    budget: str | int | None = None,
    task: str = "mmlu",
    context: int = DEFAULT_CONTEXT_TOKENS,
    kv_cache: str = "f16",
    backend: str = "any",
    device: str | None = None,
    safety_margin: float = DEFAULT_SAFETY_MARGIN,
    families: Sequence[str] | None = None,
) -> Recommendation:
    """Rank the configs that fit ``budget`` ("24GB", "16GiB", or an int of bytes).

    ``device`` is "cuda" (GPU memory) or "cpu" (system RAM); with no budget the detected
    hardware decides both.
    """
    if context <= 0:
        raise RecommendError(f"context must be a positive number of tokens, got {context}")
    if kv_cache.lower() not in KV_CACHE_BYTES:
        raise RecommendError(f"unknown KV cache type {kv_cache!r}: use f16, q8_0 or q4_0")
    if backend not in FORMAT_SETS:
        raise RecommendError(f"unknown backend {backend!r}: use one of {', '.join(FORMAT_SETS)}")
    if not 0 <= safety_margin < 1:
        raise RecommendError(f"safety margin must be in [0, 1), got {safety_margin}")
    notes: list[str] = []
    if budget is None:
        budget_bytes, device, label = detected_budget(device, notes)
    elif isinstance(budget, int):
        if budget <= 0:
            raise RecommendError(f"memory budget must be positive, got {budget} bytes")
        budget_bytes, device = budget, device or "cuda"
        label = budget_label(f"{budget / 2**30}GiB", budget_bytes)
    else:
        budget_bytes = parse_size(budget)
        device = device or "cuda"
        label = budget_label(budget, budget_bytes)
        hint = gib_hint(budget, budget_bytes) if device == "cuda" else None
        if hint:
            notes.append(hint)
    try:
        resolved = resolve_task(task)
    except UnknownTaskError as exc:
        raise RecommendError(str(exc)) from None
    if resolved != task.strip().lower():
        notes.append(f"task group {task!r} ranked on {resolved}")
    archs = list(profiles.architectures().values())
    if families:
        wanted = {f.lower() for f in families}
        archs = [a for a in archs if a.family_key in wanted or a.family.lower() in wanted]
    formats = FORMAT_SETS[backend]
    if device == "cpu":  # GPTQ/AWQ kernels are CUDA-only; llama.cpp and bitsandbytes run on CPU
        formats = tuple(f for f in formats if get_format(f).backend not in {"gptq", "awq"})
    all_candidates = candidates(archs, formats, context, kv_cache, device, budget_bytes, resolved)
    usable = int(budget_bytes * (1 - safety_margin))
    fitting = [c for c in all_candidates if c.footprint.total_bytes <= usable]
    fitting.sort(key=_rank_key)
    excluded = sorted(
        (c for c in all_candidates if c.footprint.total_bytes > usable),
        key=lambda c: c.footprint.total_bytes,
    )
    smallest = min(all_candidates, key=lambda c: c.footprint.total_bytes, default=None)
    return Recommendation(
        budget_bytes=budget_bytes,
        budget_label=label,
        device=device,
        task=resolved,
        requested_task=task,
        context_tokens=context,
        kv_cache_type=kv_cache.lower(),
        backend=backend,
        safety_margin=safety_margin,
        ranked=tuple(fitting),
        excluded=tuple(excluded),
        considered=len(all_candidates),
        smallest=smallest,
        notes=tuple(notes),
    )
