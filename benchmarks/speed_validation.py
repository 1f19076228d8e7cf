"""Validate the speed model on published tokens/s it was not fitted on, against the common
peer formula computed in the same run.

Held-out rows: every single-device benchmark row, predicted by a model refitted without
any row of that hardware (leave one hardware out; ``measurements/speed.json`` keeps those
predictions, ``--refit`` recomputes them). Check rows: offload, multi-GPU, other harnesses
and self-reported runs, which the fit never sees, predicted by the committed model.

Peer formula (what the closest peer tools print): decode = 0.55 x memory bandwidth / model
file bytes (the whole file, also for MoE; one GPU's bandwidth for a split); prompt, in the
same style, = 0.55 x dense FP16 FLOPS / (2 x parameters).

    python benchmarks/speed_validation.py [--refit] [--json] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from advisor.speed.data import BenchRow, benchmark_rows
from advisor.speed.fitting import fit, predict_row
from advisor.speed.model import SpeedModel, load_speed_model
from advisor.speed.shape import model_shape

PEER_EFFICIENCY = 0.55
GOALS = {"decode single-device": 0.15, "decode MoE": 0.25, "decode offload": 0.25}
# Table rows: (stage, label, which rows)
GROUPS = [
    ("decode", "single-device", "held-out"),
    ("decode", "MoE", "held-out"),
    ("decode", "CPU only", "held-out"),
    ("decode", "transformers", "held-out"),
    ("decode", "offload", "check"),
    ("decode", "multi-GPU", "check"),
    ("decode", "other harness / self-reported", "check"),
    ("prompt", "single-device", "held-out"),
    ("prompt", "MoE", "held-out"),
    ("prompt", "CPU only", "held-out"),
    ("prompt", "multi-GPU", "check"),
    ("prompt", "other harness / self-reported", "check"),
]
REGIME_LABEL = {
    "single": "single-device",
    "moe": "MoE",
    "cpu": "CPU only",
    "transformers": "transformers",
    "offload": "offload",
    "multi-gpu": "multi-GPU",
}


@dataclass(frozen=True)
class Scored:
    row: BenchRow
    stage: str
    label: str
    kind: str  # "held-out" or "check"
    predicted: float
    peer: float

    @property
    def error(self) -> float:
        return self.predicted / self.row.tokens_per_s - 1

    @property
    def peer_error(self) -> float:
        return self.peer / self.row.tokens_per_s - 1


def peer_formula(row: BenchRow) -> float:
    shape = model_shape(row.arch, row.format)
    system = row.placement.system
    main = system.accelerators[0] if system.accelerators else system.host
    if row.test == "tg":
        return PEER_EFFICIENCY * main.bandwidth_gbs * 1e9 / shape.resident_bytes
    return PEER_EFFICIENCY * main.tflops * 1e12 / (2 * row.arch.params_total)


def _label(row: BenchRow) -> str:
    if row.role == "check" and row.regime not in {"offload", "multi-gpu"}:
        return "other harness / self-reported"
    return REGIME_LABEL[row.regime]


def score(model: SpeedModel, cv_predictions: dict[str, list[list[float]]]) -> list[Scored]:
    rows = {r.index: r for r in benchmark_rows()}
    out = []
    for stage in ("decode", "prompt"):
        for index, predicted in cv_predictions[stage]:
            r = rows[int(index)]
            out.append(Scored(r, stage, _label(r), "held-out", predicted, peer_formula(r)))
    for r in rows.values():
        if r.role == "check" and r.bandwidth_known:
            stage = "decode" if r.test == "tg" else "prompt"
            out.append(Scored(r, stage, _label(r), "check", predict_row(model, r), peer_formula(r)))
    return out


def _stats(errors: list[float]) -> dict[str, float]:
    ratios = [max(1 + e, 1 / (1 + e)) for e in errors]
    return {
        "median_abs_error": round(statistics.median(abs(e) for e in errors), 4),
        "within_2x": round(sum(r <= 2 for r in ratios) / len(ratios), 4),
    }


def table(scored: list[Scored]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str, str], list[Scored]] = defaultdict(list)
    for s in scored:
        groups[(s.stage, s.label, s.kind)].append(s)
    out = []
    for stage, label, kind in GROUPS:
        items = groups.get((stage, label, kind), [])
        if not items:
            continue
        ours = _stats([s.error for s in items])
        peer = _stats([s.peer_error for s in items])
        out.append(
            {
                "stage": stage,
                "rows": label,
                "kind": kind,
                "n": len(items),
                "hardware": len({s.row.group for s in items}),
                "median_abs_error": ours["median_abs_error"],
                "within_2x": ours["within_2x"],
                "peer_median_abs_error": peer["median_abs_error"],
                "peer_within_2x": peer["within_2x"],
                "peer_over_ours": round(
                    peer["median_abs_error"] / max(ours["median_abs_error"], 1e-9), 2
                ),
            }
        )
    return out


def goals(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by = {f"{r['stage']} {r['rows']}": r for r in rows}
    out = []
    for name, limit in GOALS.items():
        r = by.get(name)
        if r is None:
            continue
        out.append(
            {
                "goal": f"{name} median |error| <= {limit:.0%}, ahead of the peer formula",
                "value": r["median_abs_error"],
                "peer": r["peer_median_abs_error"],
                "met": r["median_abs_error"] <= limit
                and r["median_abs_error"] < r["peer_median_abs_error"],
            }
        )
    return out


def markdown(rows: list[dict[str, Any]], goal_rows: list[dict[str, Any]]) -> str:
    lines = [
        "| stage | rows | n (hardware) | ours: median abs error | ours: within 2x "
        "| peer: median abs error | peer: within 2x | peer / ours |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['stage']} | {r['rows']} ({r['kind']}) | {r['n']} ({r['hardware']}) | "
            f"{100 * r['median_abs_error']:.1f} % | {100 * r['within_2x']:.0f} % | "
            f"{100 * r['peer_median_abs_error']:.1f} % | {100 * r['peer_within_2x']:.0f} % | "
            f"{r['peer_over_ours']:.1f}x |"
        )
    lines.append("")
    for g in goal_rows:
        mark = "met" if g["met"] else "NOT met"
        lines.append(
            f"- {g['goal']}: {100 * g['value']:.1f} % vs peer {100 * g['peer']:.1f} % — {mark}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--refit",
        action="store_true",
        help="refit and cross-validate now instead of reading speed.json",
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)
    if args.refit:
        doc = fit(log=lambda m: print(m, file=sys.stderr))
        model = SpeedModel.from_dict(doc)
    else:
        model = load_speed_model()
        doc = json.loads(json.dumps({"cv_predictions": model.meta["cv_predictions"]}))
    rows = table(score(model, doc["cv_predictions"]))
    goal_rows = goals(rows)
    if args.json:
        print(
            json.dumps(
                {"schema": "advisor.speed-validation/1", "rows": rows, "goals": goal_rows}, indent=1
            )
        )
    elif args.markdown:
        print(markdown(rows, goal_rows))
    else:
        print(
            f"{'stage':7} {'rows':34} {'n':>5} {'ours':>7} {'2x':>5} {'peer':>7} {'2x':>5} "
            f"{'peer/ours':>9}"
        )
        for r in rows:
            print(
                f"{r['stage']:7} {r['rows'] + ' (' + r['kind'] + ')':34} {r['n']:5d} "
                f"{100 * r['median_abs_error']:6.1f}% {100 * r['within_2x']:4.0f}% "
                f"{100 * r['peer_median_abs_error']:6.1f}% {100 * r['peer_within_2x']:4.0f}% "
                f"{r['peer_over_ours']:8.1f}x"
            )
        for g in goal_rows:
            print(
                f"{'met' if g['met'] else 'NOT MET':8} {g['goal']}: {100 * g['value']:.1f} % "
                f"(peer {100 * g['peer']:.1f} %)"
            )
    return 0 if all(g["met"] for g in goal_rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
