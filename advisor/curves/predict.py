"""Predicted scores for the recommender: a config's 16-bit anchor and the degradation law,
as :class:`advisor.evidence.Evidence` with its 90 % interval and the CV error behind it."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from advisor.curves.committed import (
    coefficients,
    measured_anchor_details,
    published_anchor_index,
    size_law_anchor,
)
from advisor.curves.law import band, evaluate, score_from_logit, score_logit
from advisor.evidence.model import Evidence
from advisor.evidence.tasks import curve_kind
from advisor.profiles import Architecture
from advisor.profiles.formats import Format


@dataclass(frozen=True)
class Anchor:
    """A model's 16-bit score on a task, the point its curve starts from."""

    value: float
    sd: float  # its own uncertainty (a measurement's stderr, a size law's CV error)
    source: str
    kind: str  # "measured", "published" or "size law"


def anchor_for(arch: Architecture, task: str, data: Mapping[str, Any]) -> Anchor | None:
    """The anchor of ``arch`` on ``task``: measured here, else published (the figure the
    recommender shows first), else the family's size law within its fitted range."""
    key = (arch.model_id, task)
    measured = measured_anchor_details().get(key)
    if measured is not None:
        value, sd, source = measured
        return Anchor(value, sd, source, "measured")
    published = published_anchor_index(data).get(key)
    if published is not None:
        return Anchor(published[0], 0.0, published[1], "published")
    family = f"{arch.family_key}@{arch.variant or arch.deploy_variant}"
    law = size_law_anchor(data, family, task, float(arch.params_total))
    if law is not None:
        return Anchor(law[0], law[1], law[2], "size law")
    return _from_base_model(arch, task, data)


def _from_base_model(arch: Architecture, task: str, data: Mapping[str, Any]) -> Anchor | None:
    """A post-trained model without a 16-bit score of its own: its base model's score
    plus the shift post-training makes on this task (or task kind) across the catalogue's
    base/instruct pairs — never the base's figure as if it were the instruct model's."""
    if arch.deploy_variant == "base":
        return None
    base = (
        published_anchor_index(data).get((arch.base_model_id, task)) if arch.base_model_id else None
    )
    base_sd = 0.0
    if base is None:
        # No base model scored (or released, as for Qwen3-32B): the family's base-model
        # size law at this size stands in for it, its own error joining the interval.
        family = f"{arch.family_key}@base"
        law = size_law_anchor(data, family, task, float(arch.params_total))
        if law is not None:
            size = f"{arch.params_total / 1e9:.3g}B"
            base, base_sd = (law[0], f"{law[2]} at {size}"), law[1]
    info = curve_kind(task)
    shifts = data.get("variant_shifts", {})
    shift = shifts.get(task) or (shifts.get(f"kind:{info[0]}") if info else None)
    if base is None or shift is None:
        return None
    mean, sd = float(shift["mean"]), float(shift["sd"])
    if shift.get("scale") == "logit" and info is not None:
        # The shift is on the logit of the share above chance: it saturates near 100.
        floor = info[1]
        centre = score_logit(base[0], floor) + mean
        value = score_from_logit(centre, floor)
        low, high = score_from_logit(centre - sd, floor), score_from_logit(centre + sd, floor)
        points_sd = (high - low) / 2
        told = f"{value - base[0]:+.1f} points"
        spread = f"sd {sd:.2f} in logit of the share above chance"
    else:  # coefficients written before shifts were taken on the logit scale
        value = base[0] + mean
        if info is not None:
            value = min(100.0, max(info[1], value))
        points_sd, told, spread = sd, f"{mean:+.1f}", f"sd {sd:.1f}"
    points_sd = math.hypot(points_sd, base_sd)
    source = (
        f"{base[1]} (the base model) {told} post-training shift "
        f"(median of {int(shift['n'])} base/instruct pairs, {spread})"
    )
    return Anchor(value, points_sd, source, "base model + shift")


def predict_for_config(
    arch: Architecture,
    fmt: Format,
    task: str,
    *,
    anchor: Anchor | None = None,
    data: Mapping[str, Any] | None = None,
    tool: str | None = None,
) -> Evidence | None:
    """Predicted score of ``arch`` at ``fmt`` on ``task``, or None where no curve applies.

    ``anchor`` overrides the model's 16-bit anchor (e.g. the caller's own measurement);
    ``data`` overrides the committed coefficients (e.g. a refit without one family);
    ``tool`` says how a GGUF file was made ("plain", "imatrix", "autoround"; None:
    unknown, the calibrated tools' average with their spread in the interval).
    None when there are no coefficients, the task has no curve, or there is no anchor;
    also for a 16-bit format whose anchor is itself evidence (it is shown instead).
    """
    data = coefficients() if data is None else data
    info = curve_kind(task)
    if data is None or info is None:
        return None
    kind, floor = info
    deg = data["degradation"]
    if fmt.method != "float" and f"kind:{kind}" not in deg["_index"]:
        return None
    if anchor is None:
        anchor = anchor_for(arch, task, data)
    if anchor is None:
        return None
    if fmt.method == "float" and anchor.kind in {"measured", "published"}:
        return None
    point = {
        "kind": kind, "task": task, "floor": floor, "anchor": anchor.value,
        "anchor_sd": anchor.sd, "method": fmt.method, "bits": fmt.nominal_bits,
        "bits_per_weight": 16.0 if fmt.method == "float" else fmt.body_bpw,
        "params": float(arch.params_total), "family": arch.family_key,
        "training_tokens": arch.training_tokens, "tool": tool, "format": fmt.name,
    }  # fmt: skip
    out = evaluate(deg, point)
    return _evidence(data, task, kind, out, anchor, fmt)


@cache
def _cv_text(
    curve: str, n_points: int, task: str, kind: str, cell: str
) -> tuple[str, float | None]:
    """The CV part of a prediction's source line, and the MAE, per (task, bit band)."""
    data = coefficients()
    summary = (data or {}).get("cv_summary", {})
    on = task if cell in summary.get(task, {}) else kind
    cell_cv = summary.get(on, {}).get(cell, {})
    mae = cell_cv.get("lofo_mae", cell_cv.get("loco_mae"))
    unit = "%" if kind == "ppl" else ""
    where = task if on == task else f"{kind}-type tasks"
    bits = "≥4" if cell == ">=4" else cell
    cv = f"; CV MAE {mae:.1f}{unit} on {where} at {bits} bits" if mae is not None else ""
    return f"curve {curve} fitted on {n_points} points{cv}", mae


def _evidence(
    data: Mapping[str, Any],
    task: str,
    kind: str,
    out: Mapping[str, Any],
    anchor: Anchor,
    fmt: Format,
) -> Evidence:
    deg = data["degradation"]
    cell = band(fmt.nominal_bits)
    head, mae = _cv_text(str(data["curve"]), int(deg["n_points"]), task, kind, cell)
    level = round(deg["interval"] * 100)
    anchor_text = f"{anchor.value:.1f}" if kind != "ppl" else f"{anchor.value:.2f}"
    return Evidence(
        kind="predicted",
        task=task,
        metric="ppl" if kind == "ppl" else "acc",
        value=out["mean"],
        low=out["low"],
        high=out["high"],
        source=(
            f"{head}; 16-bit anchor {anchor_text} ({anchor.source}); [low–high] = {level}% interval"
            + "".join(f"; {flag}" for flag in out.get("flags", []))
        ),
        source_key=f"curve:{data['curve']}",
        detail={
            "curve": data["curve"],
            "cv_mae": mae,
            "anchor": anchor.value,
            "anchor_source": anchor.source,
            "anchor_kind": anchor.kind,
            "format_method": fmt.method,
            "notes": list(out["notes"]),
            "flags": list(out.get("flags", [])),
        },
    )
