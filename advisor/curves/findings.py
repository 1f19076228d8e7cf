"""The seed findings, checked on the data: compute only (``advisor findings`` renders).

1. At equal weight memory, does a larger model at 4 bits beat a smaller one at 8/16 bits?
   Checked on every published/measured grid that holds several sizes of one family, and on
   the fitted curves over the bundled catalogue.
2. Where it fails: by bit-width (4 vs 3 vs 2) and by task kind (knowledge/commonsense
   multiple choice vs cloze vs generated math/code).
3. How well perplexity ranks quantized variants by task accuracy (Spearman rank
   correlation, per model, across formats).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from advisor import profiles
from advisor.curves.committed import coefficients, measured_anchors, published_anchors
from advisor.curves.data import measured_points, published_points
from advisor.curves.law import band
from advisor.curves.predict import predict_for_config

MEMORY_SLACK = 1.10  # "equal memory": the larger config may use up to 10% more weight bytes


def _weight_gb(point: dict[str, Any]) -> float:
    return point["params"] * point["bits_per_weight"] / 8 / 1e9


def _grids(points: Sequence[dict[str, Any]]) -> dict[tuple[str, str, str], list[dict[str, Any]]]:
    """Points by (source, family, task) — one evaluation setting per grid."""
    grids: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for p in points:
        if p["kind"] == "ppl":
            continue
        variant = p["model"].split("|")[-1]
        grids[(p["source"], f"{p['family']}|{variant}", p["task"])].append(p)
    return grids


def equal_memory_pairs(points: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every (larger model at <8 bits, smaller model at 8/16 bits) pair of one grid whose
    larger config needs at most ``MEMORY_SLACK`` × the smaller one's weight memory."""
    pairs = []
    for (source, family, task), grid in sorted(_grids(points).items()):
        sizes = {p["params"] for p in grid}
        if len(sizes) < 2:
            continue
        low = [p for p in grid if p["method"] != "float" and p["bits_per_weight"] < 7.5]
        high = [p for p in grid if p["method"] == "float" or p["bits_per_weight"] >= 7.5]
        for big in low:
            for small in high:
                if big["params"] <= small["params"] * 1.2:
                    continue
                if _weight_gb(big) > _weight_gb(small) * MEMORY_SLACK:
                    continue
                pairs.append(
                    {
                        "source": source, "family": family.split("|")[0], "task": task,
                        "kind": big["kind"], "band": band(big["bits"] or big["bits_per_weight"]),
                        "larger": f"{big['name']} {big['format']}", "larger_score": big["score"],
                        "larger_gb": round(_weight_gb(big), 2),
                        "smaller": f"{small['name']} {small['format']}",
                        "smaller_score": small["score"], "smaller_gb": round(_weight_gb(small), 2),
                        "margin": round(big["score"] - small["score"], 2),
                        "evidence": big["origin"],
                    }
                )  # fmt: skip
    return pairs


def predicted_pairs(task: str = "mmlu") -> list[dict[str, Any]]:
    """The same question on the fitted curves, over the bundled catalogue: within each
    family, larger@Q4_K_M (and @Q3_K_M, @Q2_K) vs smaller@Q8_0/F16 at equal weight memory."""
    from advisor.memory import weight_bytes
    from advisor.profiles.formats import get_format

    if coefficients() is None:
        return []
    by_family: dict[str, list[Any]] = defaultdict(list)
    for arch in profiles.architectures().values():
        by_family[arch.family_key].append(arch)
    rows = []
    for family, archs in sorted(by_family.items()):
        for big in archs:
            for low_name in ("Q4_K_M", "Q3_K_M", "Q2_K"):
                low = get_format(low_name)
                big_ev = predict_for_config(big, low, task)
                if big_ev is None:
                    continue
                for small in archs:
                    if small.params_total * 1.2 >= big.params_total:
                        continue
                    for high_name in ("Q8_0", "F16"):
                        high = get_format(high_name)
                        if weight_bytes(big, low) > weight_bytes(small, high) * MEMORY_SLACK:
                            continue
                        ref = _reference_score(small, high, task)
                        if ref is None:
                            continue
                        value, kind = ref
                        rows.append(
                            {
                                "family": family, "task": task, "band": band(low.nominal_bits),
                                "larger": f"{big.name} {low_name}", "larger_score": big_ev.value,
                                "larger_pm": big_ev.uncertainty,
                                "larger_gb": round(weight_bytes(big, low) / 1e9, 2),
                                "smaller": f"{small.name} {high_name}", "smaller_score": value,
                                "smaller_kind": kind,
                                "smaller_gb": round(weight_bytes(small, high) / 1e9, 2),
                                "margin": round(big_ev.value - value, 2),
                                "decided": abs(big_ev.value - value) > (big_ev.uncertainty or 0),
                            }
                        )  # fmt: skip
    return rows


def _reference_score(arch: Any, fmt: Any, task: str) -> tuple[float, str] | None:
    if fmt.method == "float":
        found = measured_anchors().get((arch.model_id, task)) or published_anchors().get(
            (arch.model_id, task)
        )
        return None if found is None else (found[0], "published/measured 16-bit")
    ev = predict_for_config(arch, fmt, task)
    return None if ev is None else (ev.value, "predicted")


def win_rates(pairs: Sequence[dict[str, Any]], keys: Sequence[str]) -> list[dict[str, Any]]:
    """Share of pairs the larger, lower-bit config wins, grouped by ``keys``."""
    cells: dict[tuple[Any, ...], list[float]] = defaultdict(list)
    for p in pairs:
        cells[tuple(p[k] for k in keys)].append(p["margin"])
    order = {">=4": 0, "3": 1, "2": 2}
    rows = []
    for key, margins in sorted(
        cells.items(), key=lambda kv: tuple(order.get(str(v), v) for v in kv[0])
    ):
        margins.sort()
        rows.append(
            {
                **dict(zip(keys, key, strict=True)), "pairs": len(margins),
                "larger_wins": sum(m > 0 for m in margins),
                "win_rate": round(sum(m > 0 for m in margins) / len(margins), 3),
                "median_margin": round(margins[len(margins) // 2], 2),
                "worst_margin": round(margins[0], 2), "best_margin": round(margins[-1], 2),
            }
        )  # fmt: skip
    return rows


def retained_skill(points: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Share of the above-floor 16-bit score kept, per task and nominal bits (RTN grid)."""
    from advisor.curves.data import with_anchors

    _, quantized = with_anchors(list(points))
    cells: dict[tuple[str, float], list[float]] = defaultdict(list)
    for p in quantized:
        if p["method"] != "rtn" or p["kind"] == "ppl" or p["anchor"] - p["floor"] < 10:
            continue
        cells[(p["task"], p["bits"])].append((p["score"] - p["floor"]) / (p["anchor"] - p["floor"]))
    rows = []
    for (task, bits), values in sorted(cells.items(), key=lambda kv: (kv[0][0], -kv[0][1])):
        values.sort()
        rows.append(
            {
                "task": task, "bits": bits, "models": len(values),
                "median_retained": round(values[len(values) // 2], 3),
                "min_retained": round(values[0], 3),
            }
        )  # fmt: skip
    return rows


def _spearman(xs: Sequence[float], ys: Sequence[float]) -> float:
    def ranks(v: Sequence[float]) -> list[float]:
        order = sorted(range(len(v)), key=lambda i: v[i])
        r = [0.0] * len(v)
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and v[order[j + 1]] == v[order[i]]:
                j += 1
            for k in range(i, j + 1):
                r[order[k]] = (i + j) / 2
            i = j + 1
        return r

    rx, ry = ranks(xs), ranks(ys)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    sx = math.sqrt(sum((a - mx) ** 2 for a in rx))
    sy = math.sqrt(sum((b - my) ** 2 for b in ry))
    return cov / (sx * sy) if sx and sy else float("nan")


def perplexity_vs_accuracy(points: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per model and accuracy task: Spearman ρ between perplexity and accuracy across its
    formats (16-bit included). ρ = -1: perplexity orders the formats exactly by accuracy."""
    by_model: dict[tuple[str, str], dict[str, dict[str, float]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    for p in points:
        key = (p["origin"], p["model"])
        by_model[key][p["task"] if p["kind"] != "ppl" else "_ppl"][p["format"]] = p["score"]
    rows = []
    for (origin, model), tasks in sorted(by_model.items()):
        ppl = tasks.get("_ppl")
        if not ppl:
            continue
        for task, acc in sorted(tasks.items()):
            if task == "_ppl":
                continue
            common = sorted(set(ppl) & set(acc))
            if len(common) < 4:
                continue
            rho = _spearman([ppl[f] for f in common], [acc[f] for f in common])
            rows.append(
                {
                    "model": model.split("|")[0], "origin": origin, "task": task,
                    "formats": len(common), "spearman": round(rho, 3),
                }
            )  # fmt: skip
    return rows


def gather(task_for_predictions: str = "mmlu") -> dict[str, Any]:
    """Everything ``advisor findings`` reports, as plain data."""
    # Ladders from a 4-bit base still show whether perplexity orders formats by accuracy.
    points = published_points() + measured_points(dequantized_bases=True)
    pairs = equal_memory_pairs(points)
    predicted = predicted_pairs(task_for_predictions)
    ppl = perplexity_vs_accuracy(points)
    rhos = sorted(r["spearman"] for r in ppl if not math.isnan(r["spearman"]))
    return {
        "equal_memory": {
            "memory_slack": MEMORY_SLACK,
            "by_band": win_rates(pairs, ["band"]),
            "by_kind_and_band": win_rates(pairs, ["kind", "band"]),
            "by_family_task_band": win_rates(pairs, ["family", "task", "band"]),
            "pairs": pairs,
        },
        "predicted_equal_memory": {
            "task": task_for_predictions,
            "by_band": win_rates(predicted, ["band"]),
            "by_family_band": win_rates(predicted, ["family", "band"]),
            "pairs": predicted,
        },
        "retained_skill_rtn": retained_skill(points),
        "perplexity_vs_accuracy": {
            "rows": ppl,
            "median_spearman": rhos[len(rhos) // 2] if rhos else None,
            "n": len(rhos),
        },
    }
