"""The committed fit (``measurements/curves.json``) and the 16-bit anchors the curves start
from: measured here, published, or the family's size law."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from advisor.errors import AdvisorError
from advisor.evidence.measured import dequantized_from, measurements
from advisor.evidence.metrics import metric_info
from advisor.locations import measurements_dir
from advisor.profiles.formats import is_sixteen_bit

COEFFICIENTS_FILE = "curves.json"


class CurvesError(AdvisorError):
    """No fitted curves, or a question they cannot answer."""


def coefficients_path() -> Path:
    """Where the committed coefficients live: the installed copy, else the checkout's."""
    return measurements_dir() / COEFFICIENTS_FILE


@cache
def coefficients() -> dict[str, Any] | None:
    """The fitted coefficients (``advisor fit``), or None when none were committed."""
    path = coefficients_path()
    if not path.exists():
        return None
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CurvesError(f"{path}: unreadable ({exc}); rerun `advisor fit`") from None
    deg = data["degradation"]
    deg["_index"] = {name: i for i, name in enumerate(deg["names"])}
    return data


def require() -> dict[str, Any]:
    data = coefficients()
    if data is None:
        raise CurvesError(f"no fitted curves at {coefficients_path()}: run `advisor fit` first")
    return data


def published_anchor_index(data: Mapping[str, Any]) -> dict[tuple[str, str], tuple[float, str]]:
    """(arch_id, task) → (16-bit score, its label) of a coefficient set (kept with it)."""
    index: dict[tuple[str, str], tuple[float, str]] | None = data.get("_anchor_index")
    if index is None:
        index = {(a, t): (v, s) for a, t, v, s in data["anchors"]}
        if isinstance(data, dict):  # kept with the coefficients it indexes
            data["_anchor_index"] = index
    return index


def published_anchors() -> dict[tuple[str, str], tuple[float, str]]:
    """The committed fit's published 16-bit anchors (empty without a committed fit)."""
    data = coefficients()
    return {} if data is None else published_anchor_index(data)


# (the records they were computed from, the anchors): recomputed when the records change.
_MEASURED_ANCHORS: list[tuple[object, dict[tuple[str, str], tuple[float, float, str]]]] = []


def measured_anchor_details() -> dict[tuple[str, str], tuple[float, float, str]]:
    """(arch_id, task) → (16-bit score measured here, its stderr, a label). Recomputed
    when the stores are re-read (:func:`advisor.evidence.reload_measurements`)."""
    records = measurements()
    if _MEASURED_ANCHORS and _MEASURED_ANCHORS[0][0] is records:
        return _MEASURED_ANCHORS[0][1]
    found: dict[tuple[str, str], tuple[float, float, str]] = {}
    _MEASURED_ANCHORS[:] = [(records, found)]
    for m in records:
        if is_sixteen_bit(m.format) and m.value is not None and m.arch_id:
            scale = metric_info(m.metric).stored_scale
            se = 0.0 if m.stderr is None else m.stderr * scale
            label = f"measured {m.format} {m.backend}, n={m.n}"
            source = dequantized_from(m.provenance)
            if source is not None:  # 16-bit storage of quantized information
                label += f", dequantized from {source}: a lower bound on the real 16-bit score"
            found.setdefault((m.arch_id, m.task), (m.value * scale, se, label))
    return found


def measured_anchors() -> dict[tuple[str, str], tuple[float, str]]:
    """(arch_id, task) → (16-bit score measured here, a label)."""
    return {k: (v, label) for k, (v, _, label) in measured_anchor_details().items()}


def size_law_anchor(
    data: Mapping[str, Any], family: str, task: str, params: float
) -> tuple[float, float, str] | None:
    law = data["size_laws"].get(f"{family}|{task}")
    if law is None or law["n"] < 2:  # one model's score is that model's, not a family law
        return None
    lo, hi = law["params_range"]
    if not lo / 4 <= params <= hi * 4:  # no extrapolation beyond 4x the fitted sizes
        return None
    t = law["a"] + law["b"] * (math.log10(params) - 9.0)
    value = law["floor"] + (law["ceiling"] - law["floor"]) / (1.0 + math.exp(-t))
    return value, law["cv_mae"], f"{family} size law ({law['n']} models)"
