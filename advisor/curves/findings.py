"""The seed findings, checked on the data: compute only (``advisor findings`` renders).

1. At equal weight memory, does a larger model at 4 bits beat a smaller one at 8/16 bits?
   Checked on every published/measured grid that holds several sizes of one family, and on
   the fitted curves over the bundled catalogue.
2. Where it fails: by bit-width (4 vs 3 vs 2) and by task kind (knowledge/commonsense
   multiple choice vs cloze vs generated math/code).
3. How well perplexity ranks quantized variants by task accuracy (Spearman rank
   correlation, per model, across formats).
4. The same questions on our own ladders (:func:`local_ladders`): at equal file size, the
   larger model at 2–4 bits vs the smaller at 8–16 bits, per task with a paired test on
   the same items; which tasks degrade first; which proxy (perplexity, KL divergence,
   top-token agreement) tracks accuracy loss; how quantization moves pp/tg speed.
"""

from __future__ import annotations

import math
import re
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
        "local_ladders": local_ladders(),
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


# -- 4. our own ladders ------------------------------------------------------------------------
LOCAL_TASKS_FIRST = ("mmlu", "arc_easy", "humaneval", "arithmetic", "lambada", "lambada_ppl")
PROXIES = (("perplexity", -1.0), ("mean_kld", -1.0), ("same_top_p", 1.0))


def _binom_two_sided(k: int, n: int) -> float:
    """Exact two-sided sign test: P(X <= k or X >= n - k), X ~ Binomial(n, 1/2)."""
    if n == 0:
        return 1.0
    k = min(k, n - k)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2.0**n
    return min(1.0, 2 * tail)


def _normal_two_sided(z: float) -> float:
    return math.erfc(abs(z) / math.sqrt(2))


def paired_difference(a: Sequence[float], b: Sequence[float]) -> dict[str, Any]:
    """Mean of a - b over the same items, its standard error and a two-sided p-value:
    McNemar's exact test when every score is 0/1, else the normal approximation of the
    paired t statistic."""
    if len(a) != len(b) or len(a) < 2:
        raise ValueError("a paired difference needs two equally long score lists (n >= 2)")
    d = [x - y for x, y in zip(a, b, strict=True)]
    n = len(d)
    mean = sum(d) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1))
    se = sd / math.sqrt(n)
    binary = all(x in (0.0, 1.0) for x in (*a, *b))
    if binary:
        wins = sum(1 for x in d if x > 0)
        losses = sum(1 for x in d if x < 0)
        p = _binom_two_sided(min(wins, losses), wins + losses)
        test = f"McNemar exact ({wins} vs {losses} discordant)"
    else:
        p = _normal_two_sided(mean / se) if se > 0 else (1.0 if mean == 0 else 0.0)
        test = "paired z"
    return {"diff": mean, "se": se, "n": n, "p": p, "test": test}


def _local_records(paths: Sequence[Any] | None = None) -> list[Any]:
    from advisor.evidence import store_paths
    from advisor.measure.store import load_measurements

    out = []
    for m in load_measurements(list(paths) if paths is not None else store_paths(), warn=False):
        if m.status != "ok" or m.value is None or not m.model_sha256:
            continue
        out.append(m)
    return out


def _rungs(records: Sequence[Any]) -> dict[tuple[str, str], dict[str, dict[str, Any]]]:
    """(family, backend) -> model -> format -> rung: its file, bits, tasks, speed, KLD."""
    ladders: dict[tuple[str, str], dict[str, dict[str, Any]]] = defaultdict(dict)
    for m in sorted(records, key=lambda r: (r.created, r.n)):
        model = ladders[(str(m.family).lower(), m.backend)].setdefault(m.model_name, {})
        rung = model.setdefault(
            m.format,
            {"format": m.format, "model": m.model_name, "params": m.params, "tasks": {},
             "bits_per_weight": m.bits_per_weight, "sha256": m.model_sha256, "speed": {},
             "file_bytes": None, "kld": {}, "provenance": list(m.provenance)},
        )  # fmt: skip
        rung["tasks"][m.task] = m  # later and larger runs replace earlier ones
        rung["file_bytes"] = m.footprint.get("file_bytes") or rung["file_bytes"]
        if m.speed.get("gen_tokens_per_s"):
            rung["speed"] = dict(m.speed)
        for name in ("mean_kld", "kld_p99", "same_top_p", "mean_delta_p", "ppl_ratio"):
            if name in (m.metrics or {}):
                rung["kld"][name] = m.metrics[name].get("value")
    return ladders


def _score(m: Any) -> tuple[float, float | None, bool]:
    """(value shown, its stderr, higher is better) in the metric table's unit."""
    from advisor.evidence.metrics import metric_info

    info = metric_info(m.metric)
    se = None if m.stderr is None else m.stderr * info.stored_scale
    return m.value * info.stored_scale, se, info.higher_is_better


def _file_gb(rung: dict[str, Any]) -> float:
    if rung["file_bytes"]:
        return float(rung["file_bytes"]) / 1e9
    return float(rung["params"] or 0) * float(rung["bits_per_weight"] or 16) / 8 / 1e9


def _item_index() -> dict[tuple[str, str, str, str, int, int], Any]:
    from advisor.measure.tasks.itemlog import read_item_scores, sidecar_paths

    return {row.key: row for row in read_item_scores(sidecar_paths())}


def _compare(big: Any, small: Any, items: dict[Any, Any]) -> dict[str, Any]:
    """Larger-model record minus smaller-model record, paired on items when both have
    per-item scores on the same items, else from the two standard errors."""
    from advisor.evidence.metrics import metric_info

    v_big, se_big, hib = _score(big)
    v_small, se_small, _ = _score(small)
    key = lambda m: (m.model_sha256, m.backend, m.format, m.task, m.task_version, m.n)  # noqa: E731
    a, b = items.get(key(big)), items.get(key(small))
    scale = metric_info(big.metric).stored_scale
    out: dict[str, Any] = {"larger_score": v_big, "larger_se": se_big, "smaller_score": v_small,
                           "smaller_se": se_small, "n": min(big.n, small.n),
                           "higher_is_better": hib}  # fmt: skip
    # Pair only where the items' mean is the record's value (accuracy-like scores; not a
    # perplexity, whose items are nats per token, nor a macro average over unequal cells).
    same_unit = all(
        row is not None and abs(sum(row.scores) / row.n - m.value) < 1e-6
        for row, m in ((a, big), (b, small))
    )
    if same_unit and a and b and a.items_sha256 == b.items_sha256 and a.n >= 2:
        pd = paired_difference(a.scores, b.scores)
        # Per-item scores are in the stored unit; means of binary scores are the value.
        out.update(diff=pd["diff"] * scale, se=pd["se"] * scale, p=pd["p"], test=pd["test"],
                   paired=True)  # fmt: skip
    else:
        se = (
            math.sqrt(se_big**2 + se_small**2)
            if se_big is not None and se_small is not None
            else None
        )
        z = (v_big - v_small) / se if se else None
        out.update(diff=v_big - v_small, se=se, p=None if z is None else _normal_two_sided(z),
                   test="unpaired (no per-item scores)", paired=False)  # fmt: skip
    sign = 1.0 if hib else -1.0
    decided = out["se"] is not None and abs(out["diff"]) > 2 * out["se"]
    out["verdict"] = (
        ("larger better" if sign * out["diff"] > 0 else "smaller better")
        if decided
        else "within noise"
    )
    return out


def _is_high(rung: dict[str, Any]) -> bool:
    return rung["format"] in {"F32", "F16", "BF16"} or (rung["bits_per_weight"] or 0) >= 7.5


def local_equal_size(ladders: dict[Any, Any], items: dict[Any, Any]) -> list[dict[str, Any]]:
    """Within each family measured here at two sizes: every (larger model at < 7.5
    bits/weight, smaller model at 8-16 bits) pair whose larger file is at most
    ``MEMORY_SLACK`` x the smaller one, compared on every task both were measured on."""
    rows = []
    for (family, backend), models in sorted(ladders.items()):
        sizes = sorted({(r["params"], name) for name, fm in models.items() for r in fm.values()})
        for big_params, big_name in sizes:
            for small_params, small_name in sizes:
                if not big_params or big_params <= 1.2 * (small_params or 0):
                    continue
                for big in models[big_name].values():
                    if _is_high(big):
                        continue
                    for small in models[small_name].values():
                        if not _is_high(small) or _file_gb(big) > _file_gb(small) * MEMORY_SLACK:
                            continue
                        for task in sorted(set(big["tasks"]) & set(small["tasks"])):
                            mb, ms = big["tasks"][task], small["tasks"][task]
                            if mb.task_version != ms.task_version or task == "kld":
                                continue
                            rows.append({
                                "family": family, "backend": backend, "task": task,
                                "metric": mb.metric,
                                "larger": f"{big_name} {big['format']}",
                                "larger_gb": round(_file_gb(big), 3),
                                "larger_bpw": big["bits_per_weight"],
                                "smaller": f"{small_name} {small['format']}",
                                "smaller_gb": round(_file_gb(small), 3),
                                "smaller_bpw": small["bits_per_weight"],
                                **_compare(mb, ms, items),
                            })  # fmt: skip
    return rows


def local_degradation(ladders: dict[Any, Any], items: dict[Any, Any]) -> list[dict[str, Any]]:
    """Per model and task, every rung against the model's top rung (most bits/weight):
    the drop with its (paired) standard error, and the share of the above-floor score
    kept."""
    from advisor.evidence.tasks import curve_kind

    rows = []
    for (family, backend), models in sorted(ladders.items()):
        for name, rungs in sorted(models.items()):
            by_bits = sorted(rungs.values(), key=lambda r: -(r["bits_per_weight"] or 0))
            tasks = sorted({t for r in by_bits for t in r["tasks"]} - {"kld"})
            for task in tasks:
                have = [r for r in by_bits if task in r["tasks"]]
                if len(have) < 2:
                    continue
                top = have[0]
                kind = curve_kind(task, top["tasks"][task].metric)
                floor = kind[1] if kind and kind[0] != "ppl" else 0.0
                for r in have[1:]:
                    cmp = _compare(r["tasks"][task], top["tasks"][task], items)
                    above = cmp["smaller_score"] - floor
                    # Shares of a skill barely above chance are noise: none below 10 points.
                    kept = (cmp["larger_score"] - floor) / above if above >= 10 else None
                    rows.append({
                        "family": family, "backend": backend, "model": name, "task": task,
                        "metric": top["tasks"][task].metric, "top": top["format"],
                        "format": r["format"], "bits_per_weight": r["bits_per_weight"],
                        "score": cmp["larger_score"], "top_score": cmp["smaller_score"],
                        "drop": cmp["diff"], "se": cmp["se"], "p": cmp["p"],
                        "paired": cmp["paired"], "n": cmp["n"],
                        "kept": None if kept is None or not cmp["higher_is_better"] else kept,
                    })  # fmt: skip
    return rows


def degrades_first(rows: Sequence[dict[str, Any]], formats: Sequence[str]) -> list[dict[str, Any]]:
    """Per model and low rung, accuracy tasks ordered by the share of skill kept."""
    cells: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if r["format"] in formats and r["kept"] is not None:
            cells[(r["model"], r["format"])].append(r)
    out = []
    for (model, fmt), rs in sorted(cells.items()):
        rs.sort(key=lambda r: r["kept"])
        out.append({"model": model, "format": fmt,
                    "order": [(r["task"], round(r["kept"], 3)) for r in rs]})  # fmt: skip
    return out


def local_proxies(ladders: dict[Any, Any]) -> list[dict[str, Any]]:
    """Per model and accuracy task, across its rungs: Spearman ρ between accuracy and
    each proxy (perplexity on LAMBADA, or the KLD text's perplexity ratio when more rungs
    have that; mean KLD and same-top-token % against the top rung). ``agreement`` = ρ
    signed so that +1 means the proxy orders rungs exactly by accuracy."""
    rows = []
    for (_family, _backend), models in sorted(ladders.items()):
        for name, rungs in sorted(models.items()):
            proxy_of: dict[str, dict[str, float]] = {p: {} for p, _ in PROXIES}
            # Perplexity: LAMBADA's where every rung has it, else the KLD text's ratio to
            # the top rung (the same ordering within one model; never mixed in one ρ).
            with_ppl = [f for f, r in rungs.items() if "lambada_ppl" in r["tasks"]]
            with_ratio = [f for f, r in rungs.items() if r["kld"].get("ppl_ratio") is not None]
            use_ratio = len(with_ratio) > len(with_ppl)
            for fmt, r in rungs.items():
                if use_ratio and fmt in with_ratio:
                    proxy_of["perplexity"][fmt] = float(r["kld"]["ppl_ratio"])
                elif not use_ratio and fmt in with_ppl:
                    proxy_of["perplexity"][fmt] = r["tasks"]["lambada_ppl"].value
                for p in ("mean_kld", "same_top_p"):
                    if r["kld"].get(p) is not None:
                        proxy_of[p][fmt] = float(r["kld"][p])
            tasks = sorted({t for r in rungs.values() for t in r["tasks"]}
                           - {"kld", "lambada_ppl"})  # fmt: skip
            for task in tasks:
                acc = {
                    f: _score(r["tasks"][task])[0] for f, r in rungs.items() if task in r["tasks"]
                }
                for proxy, sign in PROXIES:
                    common = sorted(set(acc) & set(proxy_of[proxy]))
                    if len(common) < 4:
                        continue
                    rho = _spearman([proxy_of[proxy][f] for f in common], [acc[f] for f in common])
                    agreement = None if math.isnan(rho) else round(sign * rho, 3)
                    rows.append({"model": name, "task": task, "proxy": proxy, "rungs": len(common),
                                 "spearman": round(rho, 3), "agreement": agreement})  # fmt: skip
    return rows


# A share of skill barely above chance is noise; KLD steps smaller than this are too.
MIN_ABOVE_FLOOR = 10.0
MIN_KLD_STEP = 0.005
# Published KLD ladders (llama.cpp's Llama-3-8B scoreboard) and real-file accuracy of the
# same file types (auto-round's Llama-3.1-8B table): an importance-matrix file is matched
# with auto-round's optimized-scales file of the type, a plain one with a plain one.
KLD_LADDER_MODEL = "meta-llama/Meta-Llama-3-8B"
KLD_ACCURACY_MODEL = "meta-llama/Llama-3.1-8B"
CALIBRATION_FOR_KLD = {"optimized-scales": "imatrix", "": "none", "none": "none"}


def _kld_point(
    kind: str, floor: float, kld: float, kld_ref: float, score: float, ref_score: float
) -> dict[str, float] | None:
    step = kld - kld_ref
    if step < MIN_KLD_STEP or ref_score - floor < MIN_ABOVE_FLOOR:
        return None
    kept = max((score - floor) / (ref_score - floor), 0.01)
    return {"kld_step": step, "kept": kept}


def kld_points_measured(ladders: dict[Any, Any]) -> list[dict[str, Any]]:
    """Per model and task on this machine's ladders: each rung's KLD above the
    lowest-KLD rung that has the task, and the share of that rung's above-chance score it
    keeps. KLD and accuracy come from the same files."""
    from advisor.evidence.tasks import curve_kind

    out = []
    for (_family, _backend), models in sorted(ladders.items()):
        for name, rungs in sorted(models.items()):
            with_kld = [r for r in rungs.values() if r["kld"].get("mean_kld") is not None]
            tasks = sorted({t for r in with_kld for t in r["tasks"]} - {"kld", "lambada_ppl"})
            for task in tasks:
                have = sorted((r for r in with_kld if task in r["tasks"]),
                              key=lambda r: float(r["kld"]["mean_kld"]))  # fmt: skip
                kind = curve_kind(task, have[0]["tasks"][task].metric) if have else None
                if len(have) < 2 or kind is None or kind[0] == "ppl":
                    continue
                ref = have[0]
                ref_score = _score(ref["tasks"][task])[0]
                for r in have[1:]:
                    point = _kld_point(kind[0], kind[1], float(r["kld"]["mean_kld"]),
                                       float(ref["kld"]["mean_kld"]),
                                       _score(r["tasks"][task])[0], ref_score)  # fmt: skip
                    if point:
                        out.append({"source": "measured here (same files)", "model": name,
                                    "task": task, "kind": kind[0], "format": r["format"],
                                    "reference": ref["format"], **point})  # fmt: skip
    return out


def kld_points_published() -> list[dict[str, Any]]:
    """The scoreboard's KLD of a file type (Llama-3-8B) against auto-round's real-file
    accuracy of that type (Llama-3.1-8B, lm-eval), both against the 16-bit model. Not
    the same files, nor quite the same model: a cross-check of the measured rate."""
    from advisor.evidence.tasks import curve_kind
    from advisor.profiles import published

    kld: dict[tuple[str, str], float] = {}
    sixteen_kld = 0.0
    # (table, task) -> (file type, calibration) -> (score, metric)
    scores: dict[tuple[str, str], dict[tuple[str, str], tuple[float, str]]] = defaultdict(dict)
    for p in published():
        if p.metric == "mean_kld" and p.arch_id == KLD_LADDER_MODEL:
            if p.method == "none":
                sixteen_kld = p.value
            elif p.calibration:
                kld[(p.format.upper(), p.calibration)] = p.value
        elif (
            p.arch_id == KLD_ACCURACY_MODEL
            and p.file.startswith("autoround_gguf")
            and p.unit == "percent"
            and curve_kind(p.task, p.metric) is not None
        ):
            # The one-type tables (plain llama.cpp vs AutoRound) are one evaluation.
            table = "one-type tables" if re.fullmatch(r"Q\d_K_S table", p.table) else p.table
            scores[(table, p.task)][(p.format.upper(), p.calibration)] = (p.value, p.metric)
    out = []
    for (_table, task), by_file in sorted(scores.items()):
        files: list[tuple[float, float, str]] = []  # (KLD, score, label) with a KLD match
        for (fmt, calibration), (value, _metric) in by_file.items():
            if fmt in {"BF16", "F16"}:
                files.append((sixteen_kld, value, fmt))
            elif (fmt, CALIBRATION_FOR_KLD.get(calibration)) in kld:
                k = kld[(fmt, CALIBRATION_FOR_KLD[calibration])]
                files.append((k, value, f"{fmt} ({calibration or 'plain'})"))
        kind = curve_kind(task, next(iter(by_file.values()))[1])
        if len(files) < 2 or kind is None or kind[0] == "ppl":
            continue
        files.sort()
        ref_kld, ref_score, ref_label = files[0]
        for k, value, label in files[1:]:
            point = _kld_point(kind[0], kind[1], k, ref_kld, value, ref_score)
            if point:
                out.append({"source": "published (Llama-3-8B KLD, Llama-3.1-8B accuracy)",
                            "model": "Llama-3.1-8B", "task": task, "kind": kind[0],
                            "format": label, "reference": ref_label, **point})  # fmt: skip
    return out


def kld_accuracy(points: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """How accuracy falls with KL divergence, per source and task kind: the rate ``k`` in
    ``kept = exp(-k · ΔKLD)`` (share of above-chance skill kept), least squares through
    the origin on ``-ln kept``, and what 0.1 nat costs."""
    cells: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for p in points:
        cells[(p["source"], p["kind"])].append(p)
    rows = []
    for (source, kind), ps in sorted(cells.items()):
        x = [p["kld_step"] for p in ps]
        y = [-math.log(p["kept"]) for p in ps]
        rate = sum(a * b for a, b in zip(x, y, strict=True)) / sum(a * a for a in x)
        per_point = [b / a for a, b in zip(x, y, strict=True)]
        rows.append({
            "source": source, "kind": kind, "points": len(ps),
            "tasks": sorted({p["task"] for p in ps}), "rate_per_nat": round(rate, 3),
            "lost_per_0_1_nat_pct": round(100 * (1 - math.exp(-0.1 * rate)), 2),
            "rate_range": [round(min(per_point), 3), round(max(per_point), 3)],
        })  # fmt: skip
    return rows


def local_speed(ladders: dict[Any, Any]) -> list[dict[str, Any]]:
    """pp512 / tg128 per rung (the speed probe of the run that measured it) and the
    ratio to the model's top rung."""
    rows = []
    for (_family, backend), models in sorted(ladders.items()):
        for name, rungs in sorted(models.items()):
            timed = sorted((r for r in rungs.values() if r["speed"].get("gen_tokens_per_s")),
                           key=lambda r: -(r["bits_per_weight"] or 0))  # fmt: skip
            if not timed:
                continue
            top = timed[0]
            for r in timed:
                pp, tg = r["speed"]["prompt_tokens_per_s"], r["speed"]["gen_tokens_per_s"]
                rows.append({
                    "model": name, "backend": backend, "format": r["format"],
                    "bits_per_weight": r["bits_per_weight"], "file_gb": round(_file_gb(r), 3),
                    "pp_tokens_per_s": round(pp, 1), "tg_tokens_per_s": round(tg, 2),
                    "pp_vs_top": round(pp / top["speed"]["prompt_tokens_per_s"], 3),
                    "tg_vs_top": round(tg / top["speed"]["gen_tokens_per_s"], 3),
                    "top": top["format"], "threads": r["speed"].get("n_threads"),
                })  # fmt: skip
    return rows


def local_ladders(paths: Sequence[Any] | None = None) -> dict[str, Any]:
    """Claim 4 on the measurements of this machine (bundled and the user's store)."""
    records = _local_records(paths)
    ladders = _rungs([m for m in records if m.backend == "llama.cpp"])
    items = _item_index()
    degradation = local_degradation(ladders, items)
    proxies = local_proxies(ladders)
    best: dict[str, list[float]] = defaultdict(list)
    for r in proxies:
        if r["agreement"] is not None:
            best[r["proxy"]].append(r["agreement"])
    dequantized = sorted({m.model_name for m in records
                          if any("dequantized" in note for note in m.provenance)})  # fmt: skip
    return {
        "memory_slack": MEMORY_SLACK,
        "equal_size": local_equal_size(ladders, items),
        "degradation": degradation,
        "degrades_first": degrades_first(degradation, ("Q3_K_M", "Q2_K")),
        "proxies": proxies,
        "proxy_summary": [
            {
                "proxy": p,
                "cells": len(v),
                "mean_agreement": round(sum(v) / len(v), 3),
                "median_agreement": round(sorted(v)[len(v) // 2], 3),
            }
            for p, v in sorted(best.items())
        ],
        "speed": local_speed(ladders),
        "kld_accuracy": kld_accuracy(kld_points_measured(ladders) + kld_points_published()),
        "four_bit_sourced": dequantized,
    }
