"""The llama.cpp law against real GGUF files (issue 11): real files' accuracy level and
slope fitted second, the noise cells a thin cell borrows from, the family bootstrap that says
whether a difference from a baseline is resolved, and the KLD → accuracy map."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from advisor.curves import law

ROOT = Path(__file__).resolve().parents[1]


def _gguf_points(rng: np.random.Generator) -> list[dict[str, object]]:
    """Synthetic files of three families: round-to-nearest accuracy and perplexity, and GGUF
    perplexity ladders on one law, and GGUF task accuracy that loses less than that law says (the
    real files' pattern)."""
    points: list[dict[str, object]] = []
    gguf_types = {"Q4_K_M": 4.8, "Q3_K_S": 3.44, "Q2_K_S": 2.73}
    for f, params in enumerate((3e9, 8e9, 14e9)):
        common = {"params": params, "model": f"m{f}", "family": f"fam{f}", "bits": 4}

        def z(bpw: float, params: float = params) -> float:
            return -2.0 - 1.2 * (bpw - 4) - 0.2 * math.log(params / 1e10)

        ladders = [("rtn", None, b) for b in (4.25, 3.25, 2.5)]
        ladders += [("gguf-k", fmt, b) for fmt, b in gguf_types.items()]
        for method, fmt, bpw in ladders:
            points.append({**common, "task": "wikitext2", "kind": "ppl", "method": method,
                           "tool": "imatrix" if fmt else None, "format": fmt,
                           "bits_per_weight": bpw, "anchor": 6.0, "floor": 1.0,
                           "score": 6.0 * math.exp(math.exp(z(bpw)))})  # fmt: skip
        for task, anchor in (("arc_easy", 75.0), ("mmlu", 60.0)):
            floor = 25.0
            files = [("rtn", None, b, z(b)) for b in (8.25, 5.25, 4.25, 3.25, 2.5)]
            files += [("gguf-k", fmt, b, z(b) - 0.4) for fmt, b in gguf_types.items()]
            for method, fmt, bpw, zz in files:
                score = floor + (anchor - floor) * math.exp(-math.exp(zz))
                points.append({**common, "task": task, "kind": "mc", "method": method,
                               "tool": "imatrix" if fmt else None, "format": fmt,
                               "bits_per_weight": bpw, "anchor": anchor, "floor": floor,
                               "score": score + rng.normal(0, 0.05)})  # fmt: skip
    return points


def test_accuracy_terms_are_fitted_second_and_leave_perplexity_alone() -> None:
    """On the bundled points: real GGUF files' accuracy loses less than the group's law
    (which the perplexity ladders dominate) says; the second-stage terms carry that, and
    leave every perplexity prediction where it was."""
    from advisor.curves.fitting import REFINED, DegradationLaw, prepare_records

    everything, groups, _ = prepare_records(None)
    keep = [i for i, r in enumerate(everything) if not r["family"].endswith("~requant")]
    points = [everything[i] for i in keep]
    fitted = DegradationLaw(n_bootstrap=0).fit(points, groups=[groups[i] for i in keep])
    assert [n for n in fitted.names_ if n.startswith(REFINED)] == [
        "acc_level:gguf", "acc_slope:gguf"]  # fmt: skip
    w = dict(zip(fitted.names_, fitted.coef_, strict=True))
    assert w["acc_level:gguf"] < 0  # less damage at 4 bits than the perplexity ladders imply
    coefs = fitted.to_coefficients()
    names, weights = coefs["names"], coefs["w"]
    stripped = {**coefs, "w": [0.0 if n.startswith(REFINED) else v
                               for n, v in zip(names, weights, strict=True)]}  # fmt: skip
    gguf = [p for p in points if p["method"].startswith("gguf") and p.get("ref_bits_per_weight")
            is None]  # fmt: skip

    def bias(c: dict[str, object], rows: list[dict[str, object]]) -> float:
        """Mean observed − predicted: > 0 where the law over-predicts the damage."""
        return float(np.mean([p["score"] - law.evaluate({**c, "_cache": {}}, p)["mean"]
                              for p in rows]))  # fmt: skip

    q4 = [p for p in gguf if p["kind"] == "mc" and p.get("format") == "Q4_K_M"]
    assert q4 and abs(bias(coefs, q4)) < abs(bias(stripped, q4))
    ppl = [p for p in gguf if p["kind"] == "ppl"]
    assert bias(coefs, ppl) == pytest.approx(bias(stripped, ppl), rel=1e-12)


def test_the_refinement_does_not_move_the_shared_law() -> None:
    """Stage two holds every shared coefficient at stage one's fit: the same shared law
    as a fit without the refinement columns."""
    from advisor.curves import fitting

    points = _gguf_points(np.random.default_rng(1))
    law_ = fitting.DegradationLaw(n_bootstrap=0)
    records, y = law_._records(points)
    assert y is not None
    law_.log_tpp_ref_ = 0.0
    names = fitting._layout(records)
    shared_names = [n for n in names if not n.startswith(fitting.REFINED)]
    arrays = law_._arrays(records)
    both = law_._fit_stages(fitting._design(records, names, 0.0), y, arrays, names,
                            law_._start(names))  # fmt: skip
    alone = law_._solve(fitting._design(records, shared_names, 0.0), y, arrays, shared_names,
                        law_._start(shared_names))  # fmt: skip
    got = dict(zip(names, both, strict=True))
    # kind and task intercepts trade off along a flat direction; the identified terms agree.
    for name, value in zip(shared_names, alone, strict=True):
        if name.startswith(("u:", "curv:", "alpha", "format:")):
            assert got[name] == pytest.approx(value, abs=1e-3), name


def test_thin_log_likelihood_cells_borrow_their_own_groups_scatter_first() -> None:
    assert law.noise_keys("gguf", "cloze", "3") == (
        "gguf|cloze|3", "gguf|loglik|3", "cloze|3", "cloze")  # fmt: skip
    assert law.noise_keys("gguf", "mc", "2")[1] == "gguf|loglik|2"
    # Generated answers and perplexity never pool with multiple choice.
    assert law.noise_keys("gguf", "gen", "3") == ("gguf|gen|3", "gen|3", "gen")
    assert law.noise_keys("rtn", "ppl", "2") == ("rtn|ppl|2", "ppl|2", "ppl")


def _row(cell: str, observed: float, mean: float, param_sd: float) -> dict[str, object]:
    return {"cell": cell, "kind": cell.split("|")[1], "observed": observed, "ours": mean,
            "param_sd": param_sd, "anchor": 60.0, "floor": 25.0, "anchor_sd": 0.0}  # fmt: skip


def test_calibration_fills_the_pooled_cell_and_hits_the_coverage() -> None:
    from advisor.curves.fitting import MIN_CELL, calibrate_intervals

    rng = np.random.default_rng(0)
    rows = [_row(f"gguf|{'mc' if i % 2 else 'cloze'}|3", 50.0 + rng.normal(0, 2), 50.0, 0.5)
            for i in range(10 * MIN_CELL)]  # fmt: skip
    noise, scales = calibrate_intervals(rows, q=1.645)
    assert {"gguf|loglik|3", "gguf|cloze|3", "gguf|mc|3"} <= set(noise)
    # Errors of sd 2 need a noise near 2 (the parametric 0.5 adds little in quadrature),
    # and the interval as law.evaluate forms it then covers ~90 %.
    assert 1.5 < noise["gguf|loglik|3"] < 2.6
    inside = []
    for r in rows:
        low, high = law.interval_bounds("mc", 50.0, 60.0, 25.0,
                                        scales["gguf|loglik|3"] * 0.5, noise["gguf|loglik|3"],
                                        0.0, 1.645, noise["gguf|loglik|3"])  # fmt: skip
        inside.append(low <= float(r["observed"]) <= high)  # type: ignore[arg-type]
    assert 0.88 <= np.mean(inside) <= 0.93


def test_the_calibrations_vectorized_interval_is_the_products() -> None:
    """Calibration judges coverage with its vectorized copy of law.interval_bounds: both
    must give the same interval, capped and uncapped, accuracy and perplexity."""
    from advisor.curves.fitting import _CellRows

    rng = np.random.default_rng(2)
    rows = []
    for i in range(200):
        ppl = i % 4 == 0
        anchor = 6.0 if ppl else float(rng.uniform(30, 90))
        rows.append({"kind": "ppl" if ppl else "mc", "ours": anchor * (1.1 if ppl else 0.9),
                     "param_sd": float(rng.uniform(0, 6)), "anchor": anchor,
                     "floor": 1.0 if ppl else 25.0, "anchor_sd": float(rng.uniform(0, 2)),
                     "observed": anchor})  # fmt: skip
    arrays = _CellRows(rows, q=1.645)
    near = rng.uniform(0, 3, len(rows))
    low, high = arrays.bounds(0.75, 2.5, near)
    for r, lo, hi, n8 in zip(rows, low, high, near, strict=True):
        want = law.interval_bounds(str(r["kind"]), float(r["ours"]), float(r["anchor"]),
                                   float(r["floor"]), 0.75 * float(r["param_sd"]), 2.5,
                                   float(r["anchor_sd"]), 1.645, float(n8))  # fmt: skip
        assert (lo, hi) == pytest.approx(want)


def test_a_cell_whose_bootstrap_part_overstates_its_errors_scales_it_down() -> None:
    from advisor.curves.fitting import PARAM_SCALES, calibrate_intervals

    rng = np.random.default_rng(1)
    # The coefficients' part says sd 4; held-out errors have sd 1: the narrowest interval
    # at 90 % keeps the smallest scale allowed, never drops the part.
    rows = [_row("rtn|mc|2", 40.0 + rng.normal(0, 1), 40.0, 4.0) for _ in range(200)]
    _, scales = calibrate_intervals(rows, q=1.645)
    assert scales["rtn|mc|2"] == min(PARAM_SCALES) > 0


def test_family_bootstrap_resolves_only_what_the_families_support() -> None:
    from advisor.curves.fitting import _family_bootstrap

    clear = _family_bootstrap(np.array([1.0, 1.2, 0.9, 1.1, 1.0, 0.8]),
                              ["a", "a", "b", "b", "c", "c"])  # fmt: skip
    assert clear["families"] == 3 and 0 < clear["low"] <= clear["mean"] <= clear["high"]
    mixed = _family_bootstrap(np.array([2.0, 2.0, -2.0, -2.0, 0.1, -0.1]),
                              ["a", "a", "b", "b", "c", "c"])  # fmt: skip
    assert mixed["low"] < 0 < mixed["high"]
    # Resampling families, not rows: one family's many rows do not narrow the interval.
    many = _family_bootstrap(np.array([2.0] * 50 + [-2.0]), ["a"] * 50 + ["b"])
    assert many["low"] < 0


def test_summarize_reports_the_difference_from_the_better_baseline() -> None:
    from advisor.curves.fitting import summarize

    rows = []
    for fam, obs in (("a", 50.0), ("b", 52.0), ("c", 48.0)):
        rec = {"kind": "mc"}
        rows.append({"group": "gguf", "kind": "mc", "band": "3", "family": fam,
                     "observed": obs, "ours": obs - 0.2, "none": obs + 3, "const": obs - 1,
                     "low": obs - 2, "high": obs + 2, "record": rec})  # fmt: skip
    cell = next(r for r in summarize(rows) if r["band"] == "3")
    gap = cell["vs_best_baseline"]
    assert gap["baseline"] == "constant per format"
    assert gap["mean"] == pytest.approx(0.2 - 1.0)
    assert gap["families"] == 3


def test_kld_rate_recovers_a_known_rate() -> None:
    from advisor.curves.findings import kld_accuracy

    points = [{"source": "s", "kind": "mc", "task": "t", "kld_step": step,
               "kept": math.exp(-0.5 * step)} for step in (0.05, 0.2, 0.4)]  # fmt: skip
    (row,) = kld_accuracy(points)
    assert row["rate_per_nat"] == pytest.approx(0.5, abs=1e-3)
    assert row["lost_per_0_1_nat_pct"] == pytest.approx(100 * (1 - math.exp(-0.05)), abs=0.01)


def test_published_kld_map_pairs_scoreboard_kld_with_real_file_accuracy() -> None:
    from advisor.curves.findings import kld_accuracy, kld_points_published

    points = kld_points_published()
    mc = [p for p in points if p["kind"] == "mc"]
    assert {p["reference"] for p in mc} >= {"BF16"}
    q2 = [p for p in mc if p["format"].startswith("Q2_K_S")]
    assert q2 and all(0.35 < p["kld_step"] < 0.45 for p in q2)  # the scoreboard's 0.403
    rows = {(r["source"], r["kind"]): r for r in kld_accuracy(points)}
    rate = next(r for (_, kind), r in rows.items() if kind == "mc")["rate_per_nat"]
    # Multiple choice loses a few % of its above-chance skill per 0.1 nat, not tens of %.
    assert 0.1 < rate < 2.0


def test_a_ppl_cell_contradicting_its_own_ratio_is_corrected_and_says_so() -> None:
    """The Llama-2-7B Q2_K "Mean PPL" cell of llama.cpp's L2-vs-L3 table is a copy slip
    (its ratio, ΔPPL and KLD say 6.42); the bundled row follows the ratio and says so."""
    with open(ROOT / "profiles" / "published.csv", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f)
                if r["file"] == "llamacpp_llama2_7b_vs_llama3_8b.csv"]  # fmt: skip
    by_model: dict[str, dict[str, dict[str, float]]] = {}
    for r in rows:
        by_model.setdefault(r["model_id"], {}).setdefault(r["format"], {})[r["task_raw"]] = float(
            r["value"]
        )
    for model, quants in by_model.items():
        implied = [q["ppl"] / q["ppl_ratio_vs_fp16"] for q in quants.values()]
        assert max(implied) / min(implied) < 1.02, model
    fixed = next(r for r in rows if r["model_id"] == "L2-7B" and r["format"] == "Q2_K"
                 and r["task_raw"] == "ppl")  # fmt: skip
    assert "contradicts" in fixed["notes"] and "5.794552" in fixed["notes"]
