"""Findings: the equal-memory comparison, rank correlation and Pareto frontier."""

from __future__ import annotations

import math

import pytest

from advisor.curves import findings
from advisor.plotting import pareto


def _pt(name: str, params: float, bpw: float, score: float, method: str = "rtn") -> dict:
    return {
        "source": "grid", "family": "fam", "model": f"{name}|base", "name": name, "task": "mmlu",
        "kind": "mc", "floor": 25.0, "params": params, "bits": round(bpw),
        "bits_per_weight": bpw, "method": method, "format": f"W{round(bpw)}", "score": score,
        "origin": "published",
    }  # fmt: skip


def test_equal_memory_pairs_and_win_rates() -> None:
    points = [
        _pt("7b", 7e9, 16.0, 46.0, "float"),
        _pt("7b", 7e9, 8.25, 46.0),
        _pt("13b", 13e9, 16.0, 55.7, "float"),
        _pt("13b", 13e9, 4.25, 54.3),  # 6.9 GB vs the 7B at 8 bits: 7.2 GB
        _pt("13b", 13e9, 2.25, 25.0),
    ]
    pairs = findings.equal_memory_pairs(points)
    got = {(p["larger"], p["smaller"]): p["margin"] for p in pairs}
    assert got[("13b W4", "7b W8")] == pytest.approx(8.3)
    assert got[("13b W2", "7b W16")] == pytest.approx(-21.0)
    assert ("13b W4", "7b W16") in got  # 6.9 GB fits where the 16-bit 7B needs 14 GB
    rates = {r["band"]: r for r in findings.win_rates(pairs, ["band"])}
    assert rates[">=4"]["win_rate"] == 1.0
    assert rates["2"]["larger_wins"] == 0


def test_spearman_matches_definition() -> None:
    assert findings._spearman([1, 2, 3, 4], [10, 9, 8, 1]) == pytest.approx(-1.0)
    assert findings._spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    assert math.isnan(findings._spearman([1, 1, 1], [1, 2, 3]))


def test_perplexity_vs_accuracy_pairs_formats_of_one_model() -> None:
    rows = []
    for fmt, ppl, acc in [("F16", 6.1, 64.0), ("Q8", 6.12, 63.8), ("Q6", 6.3, 63.0),
                          ("Q5", 6.6, 61.0), ("Q4", 10.5, 47.0)]:  # fmt: skip
        base = {"origin": "published", "model": "m|base", "format": fmt}
        rows.append({**base, "task": "wikitext2", "kind": "ppl", "score": ppl})
        rows.append({**base, "task": "mmlu", "kind": "mc", "score": acc})
    out = findings.perplexity_vs_accuracy(rows)
    assert out == [{"model": "m", "origin": "published", "task": "mmlu", "formats": 5,
                    "spearman": -1.0}]  # fmt: skip


def test_pareto_keeps_only_undominated() -> None:
    rows = [
        {"gb": 1.0, "score": 40.0, "higher_is_better": True},
        {"gb": 2.0, "score": 39.0, "higher_is_better": True},
        {"gb": 3.0, "score": 60.0, "higher_is_better": True},
        {"gb": 3.0, "score": 50.0, "higher_is_better": True},
    ]
    assert [(r["gb"], r["score"]) for r in pareto(rows)] == [(1.0, 40.0), (3.0, 60.0)]


def test_gather_on_bundled_data_reports_the_seed_findings() -> None:
    data = findings.gather("mmlu")
    bands = {r["band"]: r for r in data["equal_memory"]["by_band"]}
    assert bands[">=4"]["win_rate"] > 0.8  # larger@4-bit wins at equal memory...
    assert bands["2"]["win_rate"] < 0.2  # ...and loses at 2 bits
    assert data["perplexity_vs_accuracy"]["n"] >= 1
