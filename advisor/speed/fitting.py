"""Fit the speed model on the benchmark rows and cross-validate it, leave one hardware out.

    python -m advisor.speed.fitting            # refit, print the CV table, write speed.json
    python -m advisor.speed.fitting --check    # refit and compare with the committed file

Least squares on log tokens/s (soft-L1 loss: a few mislabelled community rows do not pull
the fit), decode and prefill separately. Per backend: an efficiency and a fixed time per
layer (and per MoE layer); per format family: a multiplier on the efficiency, with a
per-backend deviation shrunk towards 1 (it moves only where a backend has the data); one
factor for KV reads (decode) or attention FLOPs (prefill). A table whose machine is
unstated gets a backend of its own, so it informs only the format ratios.

Numpy and scipy load here only; :mod:`advisor.speed.model` evaluates the result in pure
Python, and the cross-validation predicts each held-out row through that same code.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import platform
import re
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import least_squares

from advisor._version import __version__
from advisor.speed.data import BenchRow, benchmark_path, benchmark_rows
from advisor.speed.model import SpeedModel, StageCoefficients, Work, speed_file

MODEL_NAME = "advisor speed model v1 (bandwidth/compute roofline + per-layer times)"
FAMILY_DEVIATION_SD = 0.25  # log-scale prior on a backend's own format factor
FAMILY_PRIOR_SD = 1.0  # weak: pins a family no training row uses (a held-out fold's)
EFFICIENCY_PRIOR = (math.log(0.7), 1.5)  # weak: keeps a data-poor backend near the others
LAYER_PRIOR_SD = 3.0
SOFT_L1_SCALE = 0.2
REGIMES = ("single", "moe", "cpu", "transformers", "offload", "multi-gpu")


@dataclass(frozen=True)
class StageData:
    """One stage's fit rows as arrays (one work item per row)."""

    rows: tuple[BenchRow, ...]
    backend: np.ndarray
    family: np.ndarray
    scale: np.ndarray  # bandwidth (bytes/s) or FLOPS
    main: np.ndarray  # weight bytes or weight FLOPs
    side: np.ndarray  # KV bytes or attention FLOPs
    layers: np.ndarray
    moe_layers: np.ndarray
    y: np.ndarray  # tokens/s


class Layout:
    """Parameter vector layout of one stage."""

    def __init__(
        self, backends: Sequence[str], families: Sequence[str], pairs: Sequence[tuple[str, str]]
    ) -> None:
        self.backends = list(backends)
        self.families = list(families)
        self.pairs = list(pairs)
        nb, nf, npairs = len(self.backends), len(self.families), len(self.pairs)
        self.eff = slice(0, nb)
        self.layer = slice(nb, 2 * nb)
        self.moe = slice(2 * nb, 3 * nb)
        self.fam = slice(3 * nb, 3 * nb + nf)
        self.pair = slice(3 * nb + nf, 3 * nb + nf + npairs)
        self.side = 3 * nb + nf + npairs
        self.size = self.side + 1

    def start(self, stage: str) -> np.ndarray:
        x = np.zeros(self.size)
        x[self.eff] = math.log(0.7) if stage == "decode" else math.log(0.3)
        x[self.layer] = math.log(1e-4 if stage == "decode" else 1e-6)
        x[self.moe] = math.log(1e-5 if stage == "decode" else 1e-7)
        return x


def stage_data(rows: Sequence[BenchRow], stage: str) -> StageData:
    test = "tg" if stage == "decode" else "pp"
    chosen = []
    for r in rows:
        works = r.work.decode if stage == "decode" else r.work.prompt
        known = r.bandwidth_known if stage == "decode" else r.tflops_known
        if not (known or r.unstated):
            continue  # hardware named but this figure of it unknown
        if r.role == "fit" and r.test == test and len(works) == 1 and not r.work.streamed_bytes:
            chosen.append((r, works[0]))
    if not chosen:
        raise ValueError(f"no fit rows for {stage}")
    ws: list[Work] = [w for _, w in chosen]
    if stage == "decode":
        scale = [w.bandwidth_gbs * 1e9 for w in ws]
        main = [w.weight_bytes for w in ws]
        side = [w.kv_bytes for w in ws]
    else:
        scale = [w.tflops * 1e12 for w in ws]
        main = [w.weight_flops for w in ws]
        side = [w.attention_flops for w in ws]
    return StageData(
        rows=tuple(r for r, _ in chosen),
        backend=np.array([w.backend for w in ws]),
        family=np.array([w.family for w in ws]),
        scale=np.array(scale, dtype=float),
        main=np.array(main, dtype=float),
        side=np.array(side, dtype=float),
        layers=np.array([w.layers for w in ws], dtype=float),
        moe_layers=np.array([w.moe_layers for w in ws], dtype=float),
        y=np.array([r.tokens_per_s for r, _ in chosen], dtype=float),
    )


def _layout(data: StageData) -> Layout:
    backends = sorted(set(data.backend.tolist()))
    families = sorted(set(data.family.tolist()))
    pairs = sorted(set(zip(data.backend.tolist(), data.family.tolist(), strict=True)))
    return Layout(backends, families, pairs)


def _indices(lay: Layout, data: StageData, idx: np.ndarray) -> tuple[np.ndarray, ...]:
    b = np.array([lay.backends.index(v) for v in data.backend[idx]], dtype=int)
    f = np.array([lay.families.index(v) for v in data.family[idx]], dtype=int)
    p = np.array(
        [
            lay.pairs.index((bb, ff))
            for bb, ff in zip(data.backend[idx], data.family[idx], strict=True)
        ],
        dtype=int,
    )
    return b, f, p


def _seconds(
    x: np.ndarray, lay: Layout, data: StageData, idx: np.ndarray, ind: tuple[np.ndarray, ...]
) -> np.ndarray:
    """The stage formula of :mod:`advisor.speed.model`, vectorized over single-work rows."""
    b, f, p = ind
    eff = x[lay.eff][b]
    main_eff = np.exp(eff + x[lay.fam][f] + x[lay.pair][p])
    side_eff = np.exp(eff + x[lay.side])
    t = data.main[idx] / (data.scale[idx] * main_eff)
    t = t + data.side[idx] / (data.scale[idx] * side_eff)
    t = t + data.layers[idx] * np.exp(x[lay.layer][b])
    t = t + data.moe_layers[idx] * np.exp(x[lay.moe][b])
    return np.asarray(t, dtype=float)


def fit_stage(
    data: StageData,
    stage: str,
    idx: np.ndarray | None = None,
    x0: np.ndarray | None = None,
    lay: Layout | None = None,
) -> tuple[np.ndarray, Layout]:
    """Least-squares fit of one stage on the rows ``idx`` (default: all)."""
    lay = lay or _layout(data)
    idx = np.arange(len(data.y)) if idx is None else idx
    log_y = np.log(data.y[idx])
    known = [i for i, b in enumerate(lay.backends) if not b.endswith("/unstated")]
    float_i = lay.families.index("float") if "float" in lay.families else None
    layer_mu = math.log(1e-4 if stage == "decode" else 1e-6)
    moe_mu = math.log(1e-5 if stage == "decode" else 1e-7)
    mu, sd = EFFICIENCY_PRIOR if stage == "decode" else (math.log(0.3), 1.5)

    ind = _indices(lay, data, idx)

    def residuals(x: np.ndarray) -> np.ndarray:
        r = -np.log(_seconds(x, lay, data, idx, ind)) - log_y
        penalties = [
            x[lay.pair] / FAMILY_DEVIATION_SD,
            (x[lay.eff][known] - mu) / sd,
            (x[lay.layer] - layer_mu) / LAYER_PRIOR_SD,
            (x[lay.moe] - moe_mu) / LAYER_PRIOR_SD,
            x[lay.fam] / FAMILY_PRIOR_SD,  # a family without rows stays at the reference
            np.array([x[lay.side] / 1.0]),
        ]
        if float_i is not None:  # the float family is the reference
            penalties.append(np.array([x[lay.fam][float_i] / 0.01]))
        return np.concatenate([r, *penalties])

    start = lay.start(stage) if x0 is None else x0
    result = least_squares(residuals, start, loss="soft_l1", f_scale=SOFT_L1_SCALE, max_nfev=2000)
    return result.x, lay


def coefficients(x: np.ndarray, lay: Layout) -> StageCoefficients:
    return StageCoefficients(
        efficiency={b: float(math.exp(x[lay.eff][i])) for i, b in enumerate(lay.backends)},
        layer_seconds={b: float(math.exp(x[lay.layer][i])) for i, b in enumerate(lay.backends)},
        moe_layer_seconds={b: float(math.exp(x[lay.moe][i])) for i, b in enumerate(lay.backends)},
        family_factor={f: float(math.exp(x[lay.fam][i])) for i, f in enumerate(lay.families)},
        backend_family_factor={
            f"{b}|{f}": float(math.exp(x[lay.pair][i])) for i, (b, f) in enumerate(lay.pairs)
        },
        kv_factor=float(math.exp(x[lay.side])),
    )


def _rounded(c: StageCoefficients) -> StageCoefficients:
    def r(d: dict[str, float]) -> dict[str, float]:
        return {k: float(f"{v:.5g}") for k, v in d.items()}

    return StageCoefficients(
        r(c.efficiency),
        r(c.layer_seconds),
        r(c.moe_layer_seconds),
        r(c.family_factor),
        r(c.backend_family_factor),
        float(f"{c.kv_factor:.5g}"),
    )


def predict_row(model: SpeedModel, row: BenchRow) -> float:
    """Tokens/s the model predicts for a benchmark row (the estimate's own code path)."""
    if row.test == "tg":
        return 1 / model.decode_seconds(row.work.decode)
    w = row.work
    return 1 / model.prompt_seconds_per_token(
        w.prompt, w.streamed_bytes, w.pcie_gbs, row.prompt_tokens, w.pipeline_stages
    )


def _model(
    decode: StageCoefficients,
    prompt: StageCoefficients,
    bands: dict[str, dict[str, tuple[float, float]]] | None = None,
) -> SpeedModel:
    bands = bands or {"decode": {}, "prompt": {}}
    return SpeedModel(decode, prompt, bands["decode"], bands["prompt"], {}, {"name": MODEL_NAME})


def summarize(errors: Sequence[tuple[BenchRow, float, float]]) -> dict[str, Any]:
    """n, median |error|, p90 |error|, share within 2x, and 5th/95th log-ratio percentiles
    of (row, predicted, actual) triples."""
    if not errors:
        return {}
    rel = np.array([p / a - 1 for _, p, a in errors])
    log_ratio = np.array([math.log(a / p) for _, p, a in errors])
    ratio = np.array([max(p / a, a / p) for _, p, a in errors])
    return {
        "n": len(errors),
        "median_abs_error": round(float(np.median(np.abs(rel))), 4),
        "p90_abs_error": round(float(np.percentile(np.abs(rel), 90)), 4),
        "median_signed_error": round(float(np.median(rel)), 4),
        "within_2x": round(float(np.mean(ratio <= 2)), 4),
        "log_ratio_q05": round(float(np.percentile(log_ratio, 5)), 4),
        "log_ratio_q95": round(float(np.percentile(log_ratio, 95)), 4),
    }


def by_regime(errors: Sequence[tuple[BenchRow, float, float]]) -> dict[str, Any]:
    groups: dict[str, list[tuple[BenchRow, float, float]]] = defaultdict(list)
    for e in errors:
        groups[e[0].regime].append(e)
        groups["all"].append(e)
    return {k: summarize(v) for k, v in sorted(groups.items())}


def cross_validate(
    rows: Sequence[BenchRow], full: dict[str, tuple[np.ndarray, Layout]], log: Any = None
) -> dict[str, list[tuple[BenchRow, float, float]]]:
    """Leave one hardware out: refit both stages without a machine's rows, predict them."""
    out: dict[str, list[tuple[BenchRow, float, float]]] = {"decode": [], "prompt": []}
    datas = {s: stage_data(rows, s) for s in ("decode", "prompt")}
    groups = sorted({r.group for d in datas.values() for r in d.rows if not r.unstated})
    for n, g in enumerate(groups, start=1):
        stages = {}
        for s, data in datas.items():
            keep = np.array([i for i, r in enumerate(data.rows) if r.group != g])
            x0, lay = full[s]
            x, _ = fit_stage(data, s, keep, x0=x0, lay=lay)
            stages[s] = coefficients(x, lay)
        model = _model(stages["decode"], stages["prompt"])
        for s, data in datas.items():
            for r in data.rows:
                if r.group == g:
                    out[s].append((r, predict_row(model, r), r.tokens_per_s))
        if log:
            log(f"  fold {n}/{len(groups)} {g}")
    return out


def fit(path: str | None = None, folds: bool = True, log: Any = None) -> dict[str, Any]:
    """Fit on the benchmark file, cross-validate, and return the speed.json document."""
    rows = benchmark_rows(path)
    full: dict[str, tuple[np.ndarray, Layout]] = {}
    coeffs: dict[str, StageCoefficients] = {}
    for s in ("decode", "prompt"):
        data = stage_data(rows, s)
        x, lay = fit_stage(data, s)
        x, lay = fit_stage(data, s, x0=x, lay=lay)  # polish from the first optimum
        full[s] = (x, lay)
        coeffs[s] = _rounded(coefficients(x, lay))
    model = _model(coeffs["decode"], coeffs["prompt"])
    cv = cross_validate(rows, full, log) if folds else {"decode": [], "prompt": []}
    check: dict[str, list[tuple[BenchRow, float, float]]] = {"decode": [], "prompt": []}
    for r in rows:
        if r.role == "check":
            stage = "decode" if r.test == "tg" else "prompt"
            check[stage].append((r, predict_row(model, r), r.tokens_per_s))
    bands: dict[str, dict[str, tuple[float, float]]] = {}
    cv_table: dict[str, Any] = {}
    for s in ("decode", "prompt"):
        table = by_regime(cv[s])
        check_table = by_regime(check[s])
        stage_bands: dict[str, tuple[float, float]] = {}
        for regime in (*REGIMES, "all"):
            src = table.get(regime) or {}
            if regime in {"offload", "multi-gpu"} or not src:
                src = check_table.get(regime) or {}
            if src and src["n"] >= 5:
                stage_bands[regime] = (
                    round(math.exp(src["log_ratio_q05"]), 4),
                    round(math.exp(src["log_ratio_q95"]), 4),
                )
        bands[s] = stage_bands
        cv_table[s] = table
        cv_table[f"{s}_check_rows"] = check_table
    data_file = Path(path) if path else benchmark_path()
    doc = _model(coeffs["decode"], coeffs["prompt"], bands).to_dict()
    doc.update(
        {
            "name": MODEL_NAME,
            "fitted": date.today().isoformat(),
            "versions": {
                "advisor": __version__,
                "python": platform.python_version(),
                "numpy": np.__version__,
                "scipy": __import__("scipy").__version__,
            },
            "data": {
                "file": f"profiles/{data_file.name}",
                "sha256": hashlib.sha256(data_file.read_bytes()).hexdigest(),
                "rows": len(rows),
                "fit_rows": {s: len(stage_data(rows, s).rows) for s in ("decode", "prompt")},
            },
            "method": {
                "loss": f"soft_l1 on log tokens/s, f_scale {SOFT_L1_SCALE}",
                "family_deviation_sd": FAMILY_DEVIATION_SD,
                "cv": "leave one hardware out (unstated machines are never held out); "
                "intervals: 5th-95th percentile of the held-out log ratios per regime, "
                "offload and multi-GPU from the check rows",
            },
            "cv": cv_table,
            "cv_predictions": {
                s: [[r.index, round(p, 4)] for r, p, _ in cv[s]] for s in ("decode", "prompt")
            },
        }
    )
    return doc


def dump(doc: dict[str, Any]) -> str:
    """speed.json text: indented, one held-out prediction pair per line."""
    text = json.dumps(doc, indent=1)
    return re.sub(r"\[\n\s+(\d+),\n\s+([-+.\deE]+)\n\s+\]", r"[\1, \2]", text) + "\n"


def format_table(doc: dict[str, Any]) -> str:
    lines = ["stage    regime        n   median|err|  p90|err|  within 2x"]
    for s in ("decode", "prompt"):
        for regime, row in doc["cv"][s].items():
            lines.append(
                f"{s:8} {regime:12} {row['n']:4d}   {100 * row['median_abs_error']:6.1f} %"
                f"   {100 * row['p90_abs_error']:6.1f} %   {100 * row['within_2x']:5.1f} %"
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed file")
    parser.add_argument("--no-cv", action="store_true", help="skip the cross-validation")
    parser.add_argument("--out", default=None, help="write here instead of measurements/")
    args = parser.parse_args(argv)
    doc = fit(folds=not args.no_cv, log=lambda m: print(m, file=sys.stderr))
    print(format_table(doc))
    out = Path(args.out) if args.out else speed_file()
    if args.check:
        committed = json.loads(speed_file().read_text(encoding="utf-8"))
        same = committed["decode"] == doc["decode"] and committed["prompt"] == doc["prompt"]
        print("coefficients match the committed file" if same else "coefficients differ")
        return 0 if same else 1
    out.write_text(dump(doc), encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
