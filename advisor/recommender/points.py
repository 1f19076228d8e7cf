"""The caller's own evidence: points passed to :func:`advisor.recommend` (the same dicts
:func:`advisor.curves.fit` takes) become measured evidence for exactly the configs they
describe, and a 16-bit point anchors the curves for its model ahead of bundled figures.

A point names its model by ``model`` (a catalogue name or id); a fine-tune that shares a
catalogue architecture names it with ``architecture`` and gets its own candidate. Its
format is ``format`` (e.g. "Q4_K_M"), or 16-bit when ``bits`` ≥ 16 / ``method`` is
"float", or the catalogue format with the same ``method`` and ``bits_per_weight``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from advisor.curves.predict import Anchor
from advisor.evidence import Evidence, metric_info
from advisor.profiles import Architecture
from advisor.profiles.formats import Format, all_format_names, get_format, is_sixteen_bit
from advisor.recommender.budget import RecommendError
from advisor.recommender.candidates import resolve_models

SIXTEEN_BIT_CANDIDATES = ("F16", "BF16", "bf16", "fp16")


@dataclass(frozen=True)
class CallerEvidence:
    """What the points say: evidence per (model_id, format), anchors per model_id, and the
    architectures the points added (fine-tunes)."""

    evidence: dict[tuple[str, str], list[Evidence]]
    anchors: dict[str, Anchor]
    extra_archs: tuple[Architecture, ...]
    tasks: frozenset[str]


def _number(point: Mapping[str, Any], key: str, where: str) -> float | None:
    value = point.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{where}: {key!r} must be a finite number, got {value!r}")
    return float(value)


def _format_of(point: Mapping[str, Any], where: str) -> Format | None:
    """The exact format a point describes, or None for a 16-bit point."""
    name = point.get("format")
    if name is not None:
        try:
            fmt = get_format(str(name))
        except KeyError:
            raise ValueError(
                f"{where}: unknown format {name!r}; known: {', '.join(all_format_names())}"
            ) from None
        return None if is_sixteen_bit(fmt.name) or fmt.method == "float" else fmt
    method = str(point.get("method") or "").lower()
    bits = _number(point, "bits", where)
    bpw = _number(point, "bits_per_weight", where)
    if (
        method in {"", "float", "none"}
        and (bits is None or bits >= 16)
        and (bpw is None or bpw >= 16)
    ):
        return None
    matches = [
        get_format(n)
        for n in all_format_names()
        if get_format(n).method == method
        and bpw is not None
        and abs(get_format(n).body_bpw - bpw) < 0.05
    ]
    if len(matches) != 1:
        raise ValueError(
            f"{where}: cannot tell which format this point describes: give 'format' "
            f"(e.g. 'Q4_K_M') or the method and bits_per_weight of a catalogue format"
        )
    return matches[0]


def caller_evidence(points: Sequence[Mapping[str, Any]], task: str) -> CallerEvidence:
    """Index the caller's points for one ranking task (points on other tasks are ignored)."""
    if isinstance(points, (str, bytes)) or not isinstance(points, Sequence):
        raise TypeError("points must be a list of dicts (the same dicts curves.fit takes)")
    evidence: dict[tuple[str, str], list[Evidence]] = {}
    anchors: dict[str, Anchor] = {}
    extra: dict[str, Architecture] = {}
    tasks: set[str] = set()
    for i, point in enumerate(points):
        where = f"points[{i}]"
        if not isinstance(point, Mapping):
            raise TypeError(f"{where} must be a dict, got {type(point).__name__}")
        point_task = str(point.get("task") or "").strip().lower()
        if not point_task:
            raise ValueError(f"{where}: needs a 'task'")
        tasks.add(point_task)
        score = _number(point, "score", where)
        if score is None:
            raise ValueError(f"{where}: needs a 'score' (accuracy in percent, or a perplexity)")
        metric = str(point.get("metric") or ("ppl" if point_task.endswith("ppl") else "acc"))
        if metric_info(metric).unit == "percent" and not 0 <= score <= 100:
            raise ValueError(f"{where}: accuracy {score} is outside 0–100 (give percent)")
        arch = _architecture_of(point, where, extra)
        fmt = _format_of(point, where)
        if point_task != task:
            continue
        stderr = _number(point, "stderr", where)
        n = point.get("n")
        label = str(point.get("source") or "your point")
        names: tuple[str, ...]
        if fmt is None:
            anchors[arch.model_id] = Anchor(score, stderr or 0.0, f"{label} (16-bit)", "measured")
            names = SIXTEEN_BIT_CANDIDATES
        else:
            names = (fmt.name,)
        for name in names:
            evidence.setdefault((arch.model_id, name), []).append(
                Evidence(
                    kind="measured",
                    task=task,
                    metric=metric,
                    value=score,
                    stderr=stderr,
                    n=int(n) if isinstance(n, int) and not isinstance(n, bool) else None,
                    source=f"{label}: {arch.name} {name}",
                    source_key="caller",
                    detail={"point": dict(point)},
                )
            )
    return CallerEvidence(evidence, anchors, tuple(extra.values()), frozenset(tasks))


def _architecture_of(
    point: Mapping[str, Any], where: str, extra: dict[str, Architecture]
) -> Architecture:
    model = point.get("model")
    if not isinstance(model, str) or not model.strip():
        raise ValueError(f"{where}: needs 'model' (a catalogue model name or id)")
    base_name = point.get("architecture")
    if base_name is None:
        try:
            return resolve_models([model])[0]
        except RecommendError as exc:
            raise ValueError(
                f"{where}: {exc}; a fine-tune names its catalogue architecture with 'architecture'"
            ) from None
    base = resolve_models([str(base_name)])[0]
    key = model.strip()
    if key not in extra:
        extra[key] = replace(
            base,
            model_id=key,
            name=key,
            variant=str(point.get("variant") or base.variant or "instruct"),
            base_model_id=base.model_id,
            source=f"your points (architecture of {base.model_id})",
        )
    return extra[key]
