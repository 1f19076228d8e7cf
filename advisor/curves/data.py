"""The points the scale–precision curves are fitted on, as plain dicts (pure Python).

Two kinds of rows come out of the bundled published tables and the local measurement
stores:

* **16-bit points** (``method == "float"``): one score of one model on one task, used for
  the 16-bit anchors and the within-family size law;
* **quantized points**: a score of a quantized model, paired with the 16-bit score of the
  *same model from the same table* (``anchor``), so that a source's own evaluation
  settings cancel out of the degradation.

Every row carries the keys :func:`advisor.curves.fit` accepts (``family``, ``model``,
``params``, ``bits``, ``bits_per_weight``, ``method``, ``group_size``,
``training_tokens``, ``task``, ``score``) plus provenance (``source``, ``group``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from advisor import profiles
from advisor.curves.law import KINDS, METHODS
from advisor.evidence.measured import store_paths
from advisor.evidence.metrics import metric_info
from advisor.evidence.tasks import curve_kind, task_info
from advisor.measure.store import load_measurements
from advisor.profiles.formats import get_format, is_sixteen_bit

__all__ = ["KINDS", "METHODS", "measured_points", "published_points", "with_anchors"]


def ranks_as_task(task: str, metric: str) -> bool:
    """Whether a figure measures the quantity its task is ranked on (a leaderboard's
    normalised BBH score and a maker's raw BBH accuracy are different numbers)."""
    info = task_info(task)
    quantity = metric_info(metric).quantity
    return info is None or quantity == info.quantity or quantity == "perplexity"


def task_kind(task: str, metric: str | None = None) -> tuple[str, float] | None:
    """(kind, floor) of a task, or None for tasks the curves do not model."""
    return curve_kind(task, metric)


def effective_bits(fmt_name: str, method: str, bits: float | None, group_size: int | None) -> float:
    """Bits per weight of the repeating layers, scale/zero storage included."""
    try:
        return get_format(fmt_name).body_bpw
    except KeyError:
        pass
    if bits is None:
        raise ValueError(f"no bits for format {fmt_name!r}")
    if bits >= 16:
        return 16.0
    if method == "rtn":  # qllm-eval: asymmetric, fp16 scale + fp16 zero per group
        return bits + 32 / (group_size or 128)
    if method == "rtn-simple":  # Q{k}_0 layout: one fp16 scale per block
        return bits + 16 / (group_size or 32)
    if method in {"gptq", "awq"}:  # fp16 scale + packed zero per group
        return bits + (16 + bits) / (group_size or 128)
    return float(bits)


def _method_of(point: profiles.PublishedPoint) -> str | None:
    if is_sixteen_bit(point.format) or point.method == "none":
        return "float"
    if point.method == "gguf":
        try:
            return get_format(point.format).method
        except KeyError:
            return None
    if point.method == "rtn":
        return "rtn-simple" if point.file.startswith("transformerx") else "rtn"
    if point.method in {"gptq", "awq", "mxfp4"}:
        return point.method
    return None  # fp8 / smoothquant / mixed schemes / other: not modelled


def _tool_of(point: profiles.PublishedPoint, method: str) -> str | None:
    """How a GGUF file was made, from the row's ``calibration``: "plain" llama.cpp
    rounding, "imatrix" (an importance matrix, or auto-round's optimized-scale RTN), or
    "autoround". None for other methods."""
    if not method.startswith("gguf"):
        return None
    calibration = str(getattr(point, "calibration", "") or "").lower()
    if calibration in {"autoround", "autoscheme"}:
        return "autoround"
    if calibration in {"imatrix", "optimized-scales"}:
        return "imatrix"
    return "plain"


def _model_key(point: profiles.PublishedPoint) -> str:
    variant = point.variant.split()[0] if point.variant else "base"
    return f"{point.arch_id or point.model.lower()}|{variant}"


def _family_key(point: profiles.PublishedPoint) -> str:
    archs = profiles.architectures()
    if point.arch_id and point.arch_id in archs:
        return archs[point.arch_id].family_key
    return point.family.lower().replace(" ", "").replace("-", "")


def _params(point: profiles.PublishedPoint) -> tuple[float | None, float | None]:
    archs = profiles.architectures()
    arch = archs.get(point.arch_id or "")
    if arch is not None:
        return float(arch.params_total), (
            float(arch.training_tokens) if arch.training_tokens else None
        )
    return (point.params_b * 1e9 if point.params_b else None), None


def published_points() -> list[dict[str, Any]]:
    """Every published accuracy/perplexity row the curves can use, as dicts."""
    rows: list[dict[str, Any]] = []
    for p in profiles.published():
        kind = task_kind(p.task, p.metric)
        if kind is None or p.unit not in {"percent", "ppl"} or p.metric.startswith("delta"):
            continue
        if kind[0] == "ppl" and p.metric != "ppl":
            continue
        if kind[0] != "ppl" and p.unit != "percent":
            continue
        if not ranks_as_task(p.task, p.metric):
            continue
        method = _method_of(p)
        if method is None:
            continue
        params, tokens = _params(p)
        if params is None:
            continue
        try:
            bpw = (
                16.0
                if method == "float"
                else effective_bits(p.format, method, p.bits, p.group_size)
            )
        except ValueError:
            continue
        rows.append(
            {
                "origin": "published",
                "source": p.file,
                "id": p.id,
                "group": f"{p.file}|{p.table}|{p.model}|{p.variant}|{p.task}|{p.metric}|{p.shots}",
                # Rows of one evaluation across tables (one table per GGUF type): paired
                # with the setting's highest-bit file when no 16-bit row is there.
                "setting": (
                    f"{p.file}|{getattr(p, 'harness', '')}|{p.model}|{p.variant}|{p.task}|"
                    f"{p.metric}|{p.shots}|{_tool_of(p, method) if method != 'float' else ''}"
                ),
                "model": _model_key(p),
                "name": p.model,
                "arch_id": p.arch_id,
                "family": _family_key(p),
                "params": params,
                "training_tokens": tokens,
                "task": p.task,
                "kind": kind[0],
                "floor": kind[1],
                "metric": p.metric,
                "format": p.format,
                "method": method,
                "tool": None if method == "float" else _tool_of(p, method),
                "bits": p.bits,
                "bits_per_weight": bpw,
                "group_size": p.group_size,
                "score": p.value,
                "maker": p.file == "base_scores.csv" and "[evaluated by" not in p.source,
            }
        )
    return rows


def _dequantized_from(provenance: Iterable[str]) -> str | None:
    """The 4-bit format a ladder's base was dequantized from (from its provenance)."""
    for note in provenance:
        if "dequantized" in note:
            match = re.search(r"dequantized from (\S+?)[\s,;)]", note + " ")
            return match.group(1) if match else "?"
    return None


def measured_points(
    paths: Iterable[Path] | None = None, dequantized_bases: bool = True
) -> list[dict[str, Any]]:
    """Local measurements (``advisor measure``) as dicts; empty when there are none.

    A ladder made from a 4-bit file (a "dequantized base") is kept as its own family,
    ``<family>~requant``: its "16-bit" anchor holds 4-bit information and each rung adds
    re-quantization error, so its level says nothing about real 16-bit weights, but the
    ranking of methods on one base does (fp4 against nf4 against Q4_0 at equal bits). The
    rung in the source's own format re-creates the source and is left out.
    ``dequantized_bases=False`` leaves such ladders out altogether.
    """
    if paths is None:
        paths = store_paths()
    archs = profiles.architectures()
    rows: list[dict[str, Any]] = []
    measurements = load_measurements(list(paths), warn=False)
    # The files ladders were dequantized from: measured as themselves, they carry no note,
    # but paired with their own dequantized "F16" they would read as lossless 4-bit files.
    sources = {
        (m.arch_id, str(source).upper())
        for m in measurements
        if (source := _dequantized_from(m.provenance)) is not None
    }
    for m in measurements:
        if getattr(m, "status", "ok") != "ok" or m.value is None:
            continue
        source_format = _dequantized_from(m.provenance)
        if source_format is not None and (
            not dequantized_bases or m.format.upper() == source_format.upper()
        ):
            continue
        if (m.arch_id, m.format.upper()) in sources:
            continue
        kind = task_kind(m.task, m.metric)
        if kind is None:
            continue
        try:
            fmt = get_format(m.format)
        except KeyError:
            continue
        arch = archs.get(m.arch_id or "")
        params = float(arch.params_total) if arch else (float(m.params) if m.params else None)
        if params is None:
            continue
        tokens = float(arch.training_tokens) if arch and arch.training_tokens else None
        is_ppl = kind[0] == "ppl"
        backend = getattr(m, "backend", "")
        variant = "instruct" if "instruct" in str(m.arch_id).lower() else "base"
        family = arch.family_key if arch else str(m.family).lower()
        if source_format is not None:
            family += "~requant"
        # The repeating layers' bits: the format's own, except for k-quants, which fall back
        # to wider types per tensor on widths that are not multiples of 256 (read from the
        # file: the whole-file figure is the closest we have).
        body_bits = 16.0 if fmt.method == "float" else fmt.body_bpw
        if fmt.method == "gguf-k" and m.bits_per_weight:
            body_bits = max(body_bits, float(m.bits_per_weight))
        rows.append(
            {
                "origin": "measured",
                "source": f"measured:{backend}",
                "id": getattr(m, "key", None),
                "group": f"measured|{backend}|{m.arch_id}|{m.task}|{m.metric}",
                "model": f"{m.arch_id}|{variant}",
                "name": arch.name if arch else str(m.arch_id),
                "arch_id": m.arch_id,
                "family": family,
                "params": params,
                "training_tokens": tokens,
                "task": m.task,
                "kind": kind[0],
                "floor": kind[1],
                "metric": m.metric,
                "format": fmt.name,
                "method": fmt.method,
                "tool": "plain" if fmt.method.startswith("gguf") else None,
                "bits": fmt.nominal_bits,
                "bits_per_weight": body_bits,
                "group_size": None,
                "score": m.value if is_ppl else m.value * 100.0,
                "stderr": None if m.stderr is None else (m.stderr if is_ppl else m.stderr * 100),
                "maker": False,
            }
        )
    return rows


def with_anchors(points: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Split into 16-bit points and quantized points paired with their anchor.

    A quantized row is paired with the 16-bit row of its own table (the source's settings
    cancel). Without one, it is paired with the highest-bit row of the same method and
    tool in the same evaluation setting (``ref_*`` keys: the law then fits the damage
    *between* the two files); with neither, it is dropped. Repeated 16-bit rows in one
    group are averaged.
    """
    anchors: dict[str, list[float]] = defaultdict(list)
    for p in points:
        if p["method"] == "float":
            anchors[p["group"]].append(p["score"])
    sixteen = [p for p in points if p["method"] == "float"]
    by_setting: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    quantized = []
    for p in points:
        if p["method"] == "float":
            continue
        if p["group"] in anchors:
            values = anchors[p["group"]]
            quantized.append({**p, "anchor": sum(values) / len(values)})
        elif p.get("setting"):
            by_setting[(p["setting"], p["method"])].append(p)
    for rows in by_setting.values():
        if len({r["bits_per_weight"] for r in rows}) < 2:
            continue
        ref = max(rows, key=lambda r: r["bits_per_weight"])
        for r in rows:
            if r is not ref and r["bits_per_weight"] < ref["bits_per_weight"]:
                quantized.append(
                    {**r, "anchor": ref["score"], "ref_bits_per_weight": ref["bits_per_weight"],
                     "ref_format": ref["format"]}
                )  # fmt: skip
    return sixteen, quantized


def bit_band(bits_per_weight: float) -> str:
    """The reporting band of an effective bit-width: '>=4', '3' or '2'."""
    if bits_per_weight >= 4.0:
        return ">=4"
    if bits_per_weight >= 3.0:
        return "3"
    return "2"
