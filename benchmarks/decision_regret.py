"""Decision regret: does `advisor.recommend` pick well for a family the fit has not seen?

For each bundled grid where every config of a family has a true published score (the
qllm-eval RTN W8/W4/W3/W2 grids across sizes, the Qwen GPTQ/AWQ grids, AutoRound's real
llama.cpp files of Llama-3.1-8B and Qwen2.5-7B-Instruct at Q4_K_M/Q3_K_S/Q2_K_S vs BF16),
the family's quantized rows are left out of the fit (the degradation law is refitted
without them), only its 16-bit scores are given to
``advisor.recommend(..., models=, formats=, points=)``, and the pick is made at ~30 budgets
spanning the family's sizes (for the llama.cpp file grids, the real files of one model
against its BF16: which file at this budget). Regret = (best true score among the configs
that fit) − (true score of the pick). Two baselines are computed in the same run: "largest model at
4 bits that fits" and the common tool rule "largest model that fits, at the highest of
8 → 2 bits that fits". Calibration: the share of true scores inside the 90 % intervals of
the predicted configs, and their median width.

    python benchmarks/decision_regret.py [--budgets 30] [--bootstrap 20] [--risk averse]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from advisor import profiles
from advisor.curves import fitting
from advisor.curves.committed import coefficients
from advisor.memory import footprint
from advisor.profiles.formats import get_format, is_sixteen_bit
from advisor.recommender import recommend

# The grids: file, the formats of the grid (catalogue names; Qwen-1 calls GPTQ "Int8/Int4").
AUTOROUND = "autoround_gguf_mxfp_accuracy.csv"
GRIDS = {
    "qllm_eval_rtn_g128_weight_only.csv": ("RTN-W8-g128", "RTN-W4-g128", "RTN-W3-g128",
                                           "RTN-W2-g128"),
    "qwen2_instruct_quant_accuracy.csv": ("GPTQ-Int8", "GPTQ-Int4", "AWQ"),
    "qwen1_chat_quant_accuracy_memory.csv": ("GPTQ-Int8", "GPTQ-Int4"),
    "llamacpp_llama2_7b_vs_llama3_8b.csv": ("Q8_0", "Q6_K", "Q4_K_M", "Q2_K"),
    # Real llama.cpp files against BF16 (one size per family: which file at this budget).
    AUTOROUND: ("Q4_K_M", "Q3_K_S", "Q2_K_S"),
}  # fmt: skip
# Of the AutoRound tables, the files made like the common hub files (optimized scales, the
# importance-matrix kind); its AutoRound files are the same types made otherwise.
AUTOROUND_CALIBRATION = "optimized-scales"
ALIASES = {"Int8": "GPTQ-Int8", "Int4": "GPTQ-Int4"}
SIXTEEN = "F16"


@dataclass
class Grid:
    file: str
    family: str
    task: str
    metric: str
    truth: dict[tuple[str, str], float]  # (arch_id, format) -> true score
    sixteen: dict[str, float]  # arch_id -> 16-bit score
    formats: tuple[str, ...]

    @property
    def archs(self) -> list[str]:
        return sorted(self.sixteen, key=lambda a: profiles.architectures()[a].params_total)

    @property
    def context(self) -> int:
        """The budgeted context: 4096 tokens, or less where a model of the grid is shorter."""
        limits = [profiles.architectures()[a].max_context or 4096 for a in self.sixteen]
        return min(4096, *limits)


def grids() -> list[Grid]:
    archs = profiles.architectures()
    cells: dict[tuple[str, str, str, str], dict[str, Any]] = defaultdict(
        lambda: {"truth": {}, "sixteen": {}}
    )
    for p in profiles.published():
        if p.file not in GRIDS or not p.arch_id or p.arch_id not in archs:
            continue
        if p.unit not in {"percent", "ppl"} or p.metric.startswith(("delta", "mean_")):
            continue
        if "avg" in p.task:  # an average of tasks, not a task
            continue
        if p.file == AUTOROUND and p.method != "none" and p.calibration != AUTOROUND_CALIBRATION:
            continue
        family = archs[p.arch_id].family_key
        key = (p.file, family, p.task, p.metric)
        if is_sixteen_bit(p.format) or p.method == "none":
            cells[key]["sixteen"][p.arch_id] = p.value
        else:
            fmt = ALIASES.get(p.format, p.format)
            try:
                name = get_format(fmt).name
            except KeyError:
                continue
            cells[key]["truth"][(p.arch_id, name)] = p.value
    out = []
    for (file, family, task, metric), cell in sorted(cells.items()):
        sixteen = cell["sixteen"]
        truth = {k: v for k, v in cell["truth"].items() if k[0] in sixteen}
        sizes = {a for a, _ in truth}
        # Sizes × formats; the llama.cpp file grids have one size and choose among its files.
        if len(truth) < 3 or (len(sizes) < 2 and file != AUTOROUND):
            continue
        formats = tuple(f for f in GRIDS[file] if any(k[1] == f for k in truth))
        for a, v in sixteen.items():
            truth[(a, SIXTEEN)] = v
        out.append(Grid(file, family, task, metric, truth, sixteen, (SIXTEEN, *formats)))
    return out


def refit_without(family: str, n_bootstrap: int) -> dict[str, Any]:
    """The committed coefficients with the degradation law refitted without ``family``."""
    records, groups, _ = fitting.prepare_records()
    keep = [
        i for i, r in enumerate(records)
        if r["family"] != family and not r["family"].endswith("~requant")
    ]  # fmt: skip
    law = fitting.DegradationLaw(n_bootstrap=n_bootstrap, bootstrap_nfev=60)
    law.fit([records[i] for i in keep], groups=[groups[i] for i in keep])
    committed = coefficients()
    assert committed is not None, "run `advisor fit` first"
    law.set_noise(committed["degradation"]["noise"], committed["degradation"].get("param_scale"))
    data = dict(committed)
    data["degradation"] = law.to_coefficients()
    data["degradation"]["_index"] = {n: i for i, n in enumerate(data["degradation"]["names"])}
    data.pop("_anchor_index", None)
    return data


def higher_is_better(metric: str) -> bool:
    from advisor.evidence import metric_info

    return metric_info(metric).higher_is_better


def sign(grid: Grid) -> float:
    return 1.0 if higher_is_better(grid.metric) else -1.0


def fits(grid: Grid, budget: int) -> dict[tuple[str, str], int]:
    """The configs that fit ``budget`` by the recommender's own test (the memory model's
    calibrated upper bound), so that regret measures the quality decision alone and the
    baselines choose from the same configs."""
    archs = profiles.architectures()
    out = {}
    for arch_id, fmt in grid.truth:
        fp = footprint(archs[arch_id], fmt, grid.context, "f16", device="cuda")
        if fp.upper_bytes <= budget:
            out[(arch_id, fmt)] = fp.upper_bytes
    return out


def baseline_4bit(
    grid: Grid, fitting_configs: dict[tuple[str, str], int]
) -> tuple[str, str] | None:
    archs = profiles.architectures()
    four = [k for k in fitting_configs if get_format(k[1]).nominal_bits == 4]
    pool = four or list(fitting_configs)
    if not pool:
        return None
    return max(pool, key=lambda k: (archs[k[0]].params_total, get_format(k[1]).nominal_bits))


def baseline_tool_rule(
    grid: Grid, fitting_configs: dict[tuple[str, str], int]
) -> tuple[str, str] | None:
    """Largest model that fits at all, at the highest of 8 → 2 bits that fits (16-bit not
    offered: the peer tools' ladder starts at Q8_0)."""
    archs = profiles.architectures()
    quantized = {k: v for k, v in fitting_configs.items() if k[1] != SIXTEEN}
    if not quantized:
        return None
    largest = max(archs[a].params_total for a, _ in quantized)
    options = [k for k in quantized if archs[k[0]].params_total == largest]
    return max(options, key=lambda k: get_format(k[1]).nominal_bits)


def run(budgets: int, n_bootstrap: int, risk: str) -> int:
    all_grids = grids()
    families = sorted({g.family for g in all_grids})
    archs = profiles.architectures()
    rows = []
    calibration: list[tuple[bool, float, str]] = []
    started = time.perf_counter()
    for family in families:
        data = refit_without(family, n_bootstrap)
        for grid in (g for g in all_grids if g.family == family):
            s = sign(grid)
            sizes = [
                footprint(archs[a], f, grid.context, "f16", device="cuda").total_bytes
                for a, f in grid.truth
            ]
            lo, hi = min(sizes), max(sizes) * 1.05
            grid_budgets = [int(lo * (hi / lo) ** (i / (budgets - 1))) for i in range(budgets)]
            points = [
                {"model": archs[a].name, "task": grid.task, "score": v, "metric": grid.metric,
                 "bits": 16, "method": "float"}
                for a, v in grid.sixteen.items()
            ]  # fmt: skip
            regrets: dict[str, list[float]] = defaultdict(list)
            for budget in grid_budgets:
                available = fits(grid, budget)
                if not available:
                    continue
                best = max(s * grid.truth[k] for k in available)
                rec = recommend(
                    budget=budget, task=grid.task, models=[archs[a].name for a in grid.archs],
                    formats=list(grid.formats), points=points, safety_margin=0.0, risk=risk,
                    context=grid.context,
                    curve_data=data, variant="any", published=False,
                )  # fmt: skip
                # The decision among the configs the grid can judge: the best-ranked one
                # with a true score (a model may lack one format on this task).
                judged = [c for c in rec.ranked if (c.arch.model_id, c.format.name) in grid.truth]
                if not judged:
                    continue
                pick = judged[0]
                key = (pick.arch.model_id, pick.format.name)
                regrets["advisor"].append(best - s * grid.truth[key])
                for name, rule in (("4-bit", baseline_4bit), ("tool rule", baseline_tool_rule)):
                    chosen = rule(grid, available)
                    if chosen is not None:
                        regrets[name].append(best - s * grid.truth[chosen])
                for c in rec.ranked:
                    est = c.estimate
                    k = (c.arch.model_id, c.format.name)
                    if est is not None and est.kind == "predicted" and k in grid.truth:
                        width = est.high - est.low
                        calibration.append((est.low <= grid.truth[k] <= est.high, width, grid.file))
            if regrets["advisor"]:
                rows.append((grid, regrets))
    elapsed = time.perf_counter() - started
    print(f"decision regret, {len(rows)} family × task grids, risk={risk}, {elapsed:.0f} s")
    header = f"{'family':10s} {'task':14s} {'grid':12s} {'n':>3s} "
    print(header + f"{'advisor mean/med/worst':>24s} {'4-bit mean':>10s} {'tool rule mean':>14s}")
    pooled: dict[str, list[float]] = defaultdict(list)
    for grid, regrets in rows:
        for k, v in regrets.items():
            pooled[k].extend(v)
        a = regrets["advisor"]
        b4 = statistics.mean(regrets["4-bit"]) if regrets["4-bit"] else float("nan")
        bt = statistics.mean(regrets["tool rule"]) if regrets["tool rule"] else float("nan")
        unit = "" if higher_is_better(grid.metric) else " ppl"
        print(
            f"{grid.family:10s} {grid.task:14s} {grid.file.split('_')[0]:12s} {len(a):3d} "
            f"{statistics.mean(a):8.2f} {statistics.median(a):6.2f} {max(a):7.2f}{unit:4s} "
            f"{b4:10.2f} {bt:14.2f}"
        )
    gguf = [(g, r) for g, r in rows if g.file == AUTOROUND]
    if gguf:
        mean = {k: statistics.mean([v for _, r in gguf for v in r[k]]) for k in gguf[0][1]}
        worst = max(v for _, r in gguf for v in r["advisor"])
        print(
            f"\nllama.cpp file grids ({len(gguf)}; real imatrix-kind files vs BF16): advisor "
            f"mean {mean['advisor']:.2f}, worst {worst:.2f}; "
            f"4-bit rule mean {mean['4-bit']:.2f}; tool rule mean {mean['tool rule']:.2f}"
        )
        inside = [ok for ok, _, f in calibration if f == AUTOROUND]
        widths = [w for _, w, f in calibration if f == AUTOROUND]
        if inside:
            print(f"llama.cpp calibration: {sum(inside) / len(inside):.0%} of {len(inside)} "
                  f"inside, median width {statistics.median(widths):.1f}")  # fmt: skip
    a = pooled["advisor"]
    better = min(statistics.mean(pooled["4-bit"]), statistics.mean(pooled["tool rule"]))
    print(
        f"\nall: advisor mean {statistics.mean(a):.2f}, median {statistics.median(a):.2f}, "
        f"worst {max(a):.2f} (n={len(a)}); 4-bit rule mean "
        f"{statistics.mean(pooled['4-bit']):.2f}; tool rule mean "
        f"{statistics.mean(pooled['tool rule']):.2f}; ratio advisor / better baseline = "
        f"{statistics.mean(a) / better:.2f} (goal ≤ 0.33; median goal ≤ 0.5)"
    )
    if calibration:
        inside = sum(1 for ok, _, _ in calibration if ok) / len(calibration)
        width = statistics.median(w for _, w, _ in calibration)
        print(
            f"calibration: {inside:.0%} of {len(calibration)} true scores inside the 90% "
            f"intervals of predicted configs (goal 85–95%); median width {width:.1f}"
        )
    return 0 if math.isfinite(statistics.mean(a)) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", type=int, default=30, help="budgets per grid (default 30)")
    parser.add_argument("--bootstrap", type=int, default=20, help="bootstrap resamples per refit")
    parser.add_argument("--risk", choices=["averse", "neutral"], default="averse")
    args = parser.parse_args(argv)
    return run(args.budgets, args.bootstrap, args.risk)


if __name__ == "__main__":
    sys.exit(main())
