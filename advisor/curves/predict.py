"""Predicted scores for the recommender: a config's 16-bit anchor and the degradation law,
as :class:`advisor.evidence.Evidence` with its interval and the CV error behind it."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from advisor.curves.committed import (
    coefficients,
    measured_anchors,
    published_anchors,
    require,
    size_law_anchor,
)
from advisor.curves.law import band, evaluate
from advisor.evidence.model import Evidence
from advisor.evidence.tasks import curve_kind
from advisor.profiles import Architecture
from advisor.profiles.formats import Format


def predict_for_config(arch: Architecture, fmt: Format, task: str) -> Evidence | None:
    """Predicted score of ``arch`` at ``fmt`` on ``task``, or None where no curve applies.

    None when there are no fitted coefficients, the task has no curve, or there is no
    16-bit anchor (measured, published or the family's size law); for a 16-bit format
    with a measured or published score (that evidence is shown instead).
    """
    data = coefficients()
    info = curve_kind(task)
    if data is None or info is None:
        return None
    kind, floor = info
    deg = data["degradation"]
    if fmt.method != "float" and f"kind:{kind}" not in deg["_index"]:
        return None
    key = (arch.model_id, task)
    found = measured_anchors().get(key) or published_anchors().get(key)
    anchor_sd = 0.0
    if found is not None:
        if fmt.method == "float":
            return None
        anchor, anchor_source = found
    else:
        law = size_law_anchor(data, arch.family_key, task, float(arch.params_total))
        if law is None:
            return None
        anchor, anchor_sd, anchor_source = law
    point = {
        "kind": kind, "task": task, "floor": floor, "anchor": anchor, "anchor_sd": anchor_sd,
        "method": fmt.method, "bits": fmt.nominal_bits,
        "bits_per_weight": 16.0 if fmt.method == "float" else fmt.body_bpw,
        "params": float(arch.params_total), "family": arch.family_key,
        "training_tokens": arch.training_tokens,
    }  # fmt: skip
    out = evaluate(deg, point)
    return _evidence(data, task, kind, out, anchor, anchor_source, fmt)


@cache
def _cv_text(task: str, kind: str, cell: str) -> tuple[str, float | None]:
    """The CV part of a prediction's source line, and the MAE, per (task, bit band)."""
    data = require()
    summary = data["cv_summary"]
    on = task if cell in summary.get(task, {}) else kind
    mae = summary.get(on, {}).get(cell, {}).get("loco_mae")
    deg = data["degradation"]
    unit = "%" if kind == "ppl" else ""
    where = task if on == task else f"{kind}-type tasks"
    bits = "≥4" if cell == ">=4" else cell
    cv = f"; LOCO CV MAE {mae:.1f}{unit} on {where} at {bits} bits" if mae is not None else ""
    return f"curve {data['curve']} fitted on {deg['n_points']} points{cv}", mae


def _evidence(
    data: Mapping[str, Any],
    task: str,
    kind: str,
    out: Mapping[str, Any],
    anchor: float,
    anchor_source: str,
    fmt: Format,
) -> Evidence:
    head, mae = _cv_text(task, kind, band(fmt.nominal_bits))
    level = round(data["degradation"]["interval"] * 100)
    return Evidence(
        kind="predicted",
        task=task,
        metric="ppl" if kind == "ppl" else "acc",
        value=out["mean"],
        uncertainty=(out["high"] - out["low"]) / 2,
        source=f"{head}; 16-bit anchor {anchor:.1f} ({anchor_source}); ± = {level}% interval",
        detail={
            "low": out["low"],
            "high": out["high"],
            "curve": data["curve"],
            "cv_mae": mae,
            "anchor": anchor,
            "anchor_source": anchor_source,
            "format_method": fmt.method,
            "notes": out["notes"],
        },
    )
