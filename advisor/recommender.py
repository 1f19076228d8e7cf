"""Rank deployment configs (model × format) that fit a memory budget, by the best
evidence available for a task.

Pure computation over the bundled profiles, the measurement stores and (when fitted)
the scale–precision curves; rendering lives in :mod:`advisor.commands.recommend`.
Evidence precedence: measured here > published > predicted. A config without evidence
keeps ``best = None``: it is listed as such, never given an invented score.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from advisor import profiles
from advisor.errors import AdvisorError
from advisor.memory import DEFAULT_CONTEXT_TOKENS, KV_CACHE_BYTES, Footprint, footprint
from advisor.profiles import Architecture, PublishedPoint
from advisor.quant import BNB_FORMATS, COMMON_GGUF_TYPES, Format, get_format
from advisor.units import format_bytes, parse_size

BACKENDS: dict[str, tuple[str, ...]] = {
    "gguf": COMMON_GGUF_TYPES,
    "bnb": BNB_FORMATS,
    # 16-bit once (as GGUF F16): bnb's bf16 holds the same weights in the same bytes.
    "any": (
        *COMMON_GGUF_TYPES,
        *(f for f in BNB_FORMATS if f != "bf16"),
        "GPTQ-Int8",
        "GPTQ-Int4",
        "AWQ",
    ),
}

# Task groups resolve to the first member any evidence exists for, so every candidate is
# ranked on the same task.
TASK_GROUPS: dict[str, tuple[str, ...]] = {
    "reasoning": ("arc_challenge", "hellaswag", "winogrande", "arc_easy", "piqa"),
    "knowledge": ("mmlu", "mmlu_pro", "triviaqa", "nq"),
    "math": ("gsm8k", "math", "arithmetic"),
    "code": ("humaneval", "mbpp"),
    "perplexity": ("wikitext2", "lambada_ppl"),
}
# Lower is better for these metrics.
LOWER_IS_BETTER = {"ppl", "perplexity", "bits_per_byte", "word_perplexity"}
SIXTEEN_BIT_FORMATS = {"F16", "BF16", "bf16", "fp16"}
PUBLISHED_16BIT = {"BF16/FP16", "BF16", "FP16", "F16"}
EVIDENCE_RANK = {"measured": 0, "published": 1, "predicted": 2}

DEFAULT_SAFETY_MARGIN = 0.10


class RecommendError(AdvisorError):
    pass


@dataclass(frozen=True)
class Evidence:
    """One score for one config on one task, and where it came from."""

    kind: str  # "measured", "published" or "predicted"
    task: str
    metric: str
    value: float  # accuracy in percent (0-100); perplexity as is
    uncertainty: float | None  # stderr (measured), None (published), ± (predicted)
    source: str  # one line: who/where/when
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def higher_is_better(self) -> bool:
        return self.metric not in LOWER_IS_BETTER

    def describe(self) -> str:
        value = f"{self.value:.1f}" if self.higher_is_better else f"{self.value:.2f}"
        unc = f" ± {self.uncertainty:.1f}" if self.uncertainty is not None else ""
        return f"{self.kind} {value}{unc} ({self.metric}): {self.source}"


@dataclass(frozen=True)
class Candidate:
    arch: Architecture
    format: Format
    footprint: Footprint
    budget_bytes: int
    evidence: tuple[Evidence, ...]

    @property
    def best(self) -> Evidence | None:
        """Measured beats published beats predicted."""
        if not self.evidence:
            return None
        return min(self.evidence, key=lambda e: EVIDENCE_RANK[e.kind])

    @property
    def headroom_bytes(self) -> int:
        return self.budget_bytes - self.footprint.total_bytes

    @property
    def disagreement(self) -> str | None:
        """Where evidence of different kinds disagrees by more than its uncertainty."""
        best = self.best
        if best is None:
            return None
        for other in self.evidence:
            if other.kind == best.kind:
                continue
            tolerance = max(2.0, 2 * (other.uncertainty or 0) + 2 * (best.uncertainty or 0))
            if abs(other.value - best.value) > tolerance:
                return f"{other.kind} says {other.value:.1f}, {best.kind} says {best.value:.1f}"
        return None

    @property
    def label(self) -> str:
        return f"{self.arch.name} {self.format.name}"

    def to_dict(self) -> dict[str, Any]:
        best = self.best
        return {
            "model": self.arch.name,
            "model_id": self.arch.model_id,
            "family": self.arch.family,
            "params": self.arch.params_total,
            "params_active": self.arch.params_active,
            "format": self.format.name,
            "backend": self.footprint.backend,
            "nominal_bits": self.format.nominal_bits,
            "footprint": self.footprint.to_dict(),
            "headroom_bytes": self.headroom_bytes,
            "score": None if best is None else best.value,
            "score_uncertainty": None if best is None else best.uncertainty,
            "evidence_kind": None if best is None else best.kind,
            "evidence": [
                {
                    "kind": e.kind,
                    "task": e.task,
                    "metric": e.metric,
                    "value": e.value,
                    "uncertainty": e.uncertainty,
                    "source": e.source,
                    **e.detail,
                }
                for e in self.evidence
            ],
            "disagreement": self.disagreement,
        }


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


def known_tasks() -> set[str]:
    tasks = {task for _, task in _published_index()}
    return tasks | set(TASK_GROUPS) | {m.task for m in _measurements()}


# Qwen (1.0)'s README calls its GPTQ checkpoints "Int8"/"Int4" (published.csv notes).
PUBLISHED_FORMAT_ALIASES = {"Int8": "GPTQ-Int8", "Int4": "GPTQ-Int4"}


def _format_matches_published(fmt: Format, point: PublishedPoint) -> bool:
    if point.format in PUBLISHED_16BIT:
        return fmt.name in SIXTEEN_BIT_FORMATS
    published = PUBLISHED_FORMAT_ALIASES.get(point.format, point.format)
    if fmt.backend == "gguf":
        return published.upper() == fmt.name.upper()  # llama.cpp tables write q4_K_M too
    return published == fmt.name


def _published_index() -> dict[tuple[str, str], list[tuple[str, dict[str, str]]]]:
    return profiles.published_score_rows()


@cache
def _published_points(arch_id: str, task: str) -> tuple[PublishedPoint, ...]:
    rows = _published_index().get((arch_id, task), [])
    return tuple(profiles.parse_published_row(where, row) for where, row in rows)


def store_paths() -> list[Path]:
    """Measurement stores read by the recommender: the bundled ones, then the user's."""
    paths: list[Path] = []
    bundled = profiles.profiles_dir().parent / "measurements"
    installed = Path(__file__).resolve().parent / "_measurements"
    for folder in (installed, bundled):
        if folder.is_dir():
            paths.extend(sorted(folder.glob("*.jsonl")))
            break
    user = os.environ.get("ADVISOR_STORE")
    if user:
        paths.append(Path(user))
    else:
        from platformdirs import user_data_dir

        default = Path(user_data_dir("advisor")) / "measurements.jsonl"
        if default.exists():
            paths.append(default)
    return paths


@cache
def _measurements() -> tuple[Any, ...]:
    try:
        from advisor.store import load_measurements
    except ImportError:  # the store arrives with the measurement issue
        return ()
    return tuple(m for m in load_measurements(store_paths()) if m.status == "ok")


def reload_measurements() -> None:
    """Forget the measurements read so far: the next ranking reads the stores again
    (after `advisor measure` appended to them in this process, e.g. from the TUI)."""
    _measurements.cache_clear()
    _measurement_index.cache_clear()


@cache
def _measurement_index() -> dict[tuple[str, str, str], list[Any]]:
    index: dict[tuple[str, str, str], list[Any]] = {}
    for m in _measurements():
        index.setdefault((m.arch_id, m.task, m.format.upper()), []).append(m)
    return index


def _measured_evidence(arch: Architecture, fmt: Format, task: str) -> list[Evidence]:
    found = []
    for m in _measurement_index().get((arch.model_id, task, fmt.name.upper()), []):
        scale = 100.0 if m.metric not in LOWER_IS_BETTER else 1.0
        hw = m.hardware or {}
        gpus = hw.get("gpus") or []
        where = gpus[0]["name"] if gpus else hw.get("cpu", "unknown CPU")
        found.append(
            Evidence(
                kind="measured",
                task=task,
                metric=m.metric,
                value=m.value * scale,
                uncertainty=None if m.stderr is None else m.stderr * scale,
                source=f"measured {str(m.created)[:10]} on {where}, {m.backend}, n={m.n}",
                detail={"bits_per_weight": m.bits_per_weight, "provenance": list(m.provenance)},
            )
        )
    return found


def _published_evidence(arch: Architecture, fmt: Format, task: str) -> list[Evidence]:
    found = []
    for point in _published_points(arch.model_id, task):
        if not _format_matches_published(fmt, point):
            continue
        variant = f", {point.variant}" if point.variant else ""
        table = (
            f", table {point.table!r}" if point.table and point.table not in point.source else ""
        )
        weights = f" ({point.format} weights)" if point.format != fmt.name else ""
        found.append(
            Evidence(
                kind="published",
                task=task,
                metric=point.metric,
                value=point.value,
                uncertainty=None,
                source=f"{point.model}{variant}{weights}: {point.source}{table}",
                detail={"id": point.id, "shots": point.shots, "file": point.file},
            )
        )
    # One figure per source is enough; several evaluators may have scored the same model.
    found.sort(key=lambda e: (str(e.detail.get("file")) != "base_scores.csv", e.source))
    return found


@cache
def _predictor() -> Callable[[Architecture, Format, str], Evidence | None] | None:
    try:
        from advisor.curves import predict_for_config
    except ImportError:  # curves arrive with the fitting issue
        return None
    return predict_for_config


def _predicted_evidence(arch: Architecture, fmt: Format, task: str) -> list[Evidence]:
    predict = _predictor()
    prediction = None if predict is None else predict(arch, fmt, task)
    return [] if prediction is None else [prediction]


def resolve_task(task: str) -> str:
    """A task key or group name → the task to rank on."""
    key = task.strip().lower()
    if key in TASK_GROUPS:
        index = _published_index()
        measured = {m.task for m in _measurements()}
        for member in TASK_GROUPS[key]:
            if member in measured or any(t == member for _, t in index):
                return member
        return TASK_GROUPS[key][0]
    if key not in known_tasks():
        groups = ", ".join(TASK_GROUPS)
        examples = "mmlu, arc_challenge, hellaswag, gsm8k, lambada, wikitext2"
        raise RecommendError(f"unknown task {task!r}: try one of {examples}, or a group: {groups}")
    return key


def candidates(
    archs: Iterable[Architecture],
    formats: Sequence[str],
    context_tokens: int,
    kv_cache_type: str,
    device: str,
    budget_bytes: int,
    task: str,
) -> list[Candidate]:
    out = []
    for arch in archs:
        for name in formats:
            fmt = get_format(name)
            fp = footprint(arch, fmt, context_tokens, kv_cache_type, device=device)
            evidence = (
                _measured_evidence(arch, fmt, task)
                + _published_evidence(arch, fmt, task)
                + _predicted_evidence(arch, fmt, task)
            )
            out.append(Candidate(arch, fmt, fp, budget_bytes, tuple(evidence)))
    return out


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
    if backend not in BACKENDS:
        raise RecommendError(f"unknown backend {backend!r}: use one of {', '.join(BACKENDS)}")
    if not 0 <= safety_margin < 1:
        raise RecommendError(f"safety margin must be in [0, 1), got {safety_margin}")
    notes: list[str] = []
    if budget is None:
        budget_bytes, device, label = _detected_budget(device, notes)
    elif isinstance(budget, int):
        if budget <= 0:
            raise RecommendError(f"memory budget must be positive, got {budget} bytes")
        budget_bytes, device = budget, device or "cuda"
        label = _budget_label(f"{budget / 2**30}GiB", budget_bytes)
    else:
        budget_bytes = parse_size(budget)
        device = device or "cuda"
        label = _budget_label(budget, budget_bytes)
        hint = _gib_hint(budget, budget_bytes) if device == "cuda" else None
        if hint:
            notes.append(hint)
    resolved = resolve_task(task)
    if resolved != task.strip().lower():
        notes.append(f"task group {task!r} ranked on {resolved}")
    archs = list(profiles.architectures().values())
    if families:
        wanted = {f.lower() for f in families}
        archs = [a for a in archs if a.family_key in wanted or a.family.lower() in wanted]
    formats = BACKENDS[backend]
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


def _budget_label(budget: str | int, budget_bytes: int) -> str:
    text = str(budget)
    unit = "GiB" if "i" in text.lower() else "GB"
    other = "GiB" if unit == "GB" else "GB"
    return f"{format_bytes(budget_bytes, unit)} ({format_bytes(budget_bytes, other)})"


def _gib_hint(budget: str | int, budget_bytes: int) -> str | None:
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


def _detected_budget(device: str | None, notes: list[str]) -> tuple[int, str, str]:
    from advisor.hardware import detect

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
