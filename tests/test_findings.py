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


# -- our own ladders -------------------------------------------------------------------------
def test_paired_difference_matches_scipy() -> None:
    from scipy.stats import binomtest, ttest_rel

    a = [1.0] * 30 + [0.0] * 10 + [1.0] * 5 + [0.0] * 5
    b = [1.0] * 30 + [0.0] * 10 + [0.0] * 5 + [1.0] * 1 + [0.0] * 4
    got = findings.paired_difference(a, b)
    assert got["diff"] == pytest.approx((5 - 1) / 50)
    assert got["p"] == pytest.approx(binomtest(1, 6, 0.5).pvalue)  # McNemar exact
    assert "5 vs 1" in got["test"]
    x = [0.1 * i for i in range(40)]
    y = [v + (0.3 if i % 3 else -0.2) for i, v in enumerate(x)]
    got = findings.paired_difference(x, y)
    t = ttest_rel(x, y)
    assert got["diff"] / got["se"] == pytest.approx(t.statistic)
    with pytest.raises(ValueError, match="paired"):
        findings.paired_difference([1.0], [0.0])


def _ladder_store(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """Two sizes of one family, per-item scores in a sidecar: the 1.5B at Q3_K_M answers
    items 0-59 of 100, the 0.5B at F16 items 0-39 and 60-64."""
    from types import SimpleNamespace

    from advisor.measure.backends.base import LoadedConfig
    from advisor.measure.store import Measurement, append
    from advisor.measure.tasks import TaskResult, itemlog

    store, side = tmp_path / "s.jsonl", tmp_path / "items.jsonl"
    monkeypatch.setenv(itemlog.ENV, str(side))
    ids = [f"q{i}" for i in range(100)]
    rungs = {  # (model, format, params, file GB, bpw, correct items, ppl, kld, same-top, tg)
        ("Big-1.5B", "F16"): (1.5e9, 3.1, 16.0, set(range(70)), 10.0, 0.0, 100.0, 5.0),
        ("Big-1.5B", "Q4_K_M"): (1.5e9, 1.1, 5.0, set(range(66)), 10.3, 0.01, 96.0, 10.0),
        ("Big-1.5B", "Q3_K_M"): (1.5e9, 0.92, 4.1, set(range(60)), 11.0, 0.05, 90.0, 11.0),
        ("Big-1.5B", "Q2_K"): (1.5e9, 0.74, 3.4, set(range(45)), 14.0, 0.3, 75.0, 14.0),
        ("Small-0.5B", "F16"): (5e8, 1.27, 16.0, set(range(40)) | set(range(60, 65)), 14.0, 0.0,
                               100.0, 12.0),
        ("Small-0.5B", "Q8_0"): (5e8, 0.68, 8.5, set(range(40)) | set(range(60, 64)), 14.1,
                                0.002, 99.0, 20.0),
    }  # fmt: skip
    for (model, fmt), (params, gb, bpw, ok, ppl, kl, same, tg) in rungs.items():
        sha = f"{model}-{fmt}".ljust(64, "0")
        scores = [1.0 if i in ok else 0.0 for i in range(100)]
        extra = {"mean_kld": {"value": kl, "stderr": None}, "same_top_p": {"value": same}}
        for task, metric, value, n in (("mmlu", "acc", sum(scores) / 100, 100),
                                       ("lambada_ppl", "perplexity", ppl, 40)):  # fmt: skip
            append(store, Measurement(
                key=f"{sha}{task}", status="ok", model_name=model, backend="llama.cpp",
                format=fmt, task=task, task_version=1, metric=metric, value=value,
                stderr=0.05 if task == "mmlu" else 0.2, n=n, family="fam", params=int(params),
                model_sha256=sha, bits_per_weight=bpw, metrics=extra,
                footprint={"file_bytes": int(gb * 1e9)},
                speed={"prompt_tokens_per_s": 50.0, "gen_tokens_per_s": tg},
                created="2026-12-03T00:00:00+00:00",
                provenance=["base dequantized from Q4_K_M"],
            ))  # fmt: skip
        backend = SimpleNamespace(name="llama.cpp", config=LoadedConfig(model, fmt, bpw, 0, 512))
        task = SimpleNamespace(name="mmlu", version=1, primary_metric="acc")
        res = TaskResult("mmlu", 1, 100, "acc", {}, item_ids=ids, item_scores=scores)
        monkeypatch.setattr("advisor.measure.files.file_sha256", lambda p, s=sha: s)
        itemlog.append_item_scores(side, task, backend, res)  # type: ignore[arg-type]
    return store


def test_local_ladders_equal_size_degradation_proxies_speed(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    store = _ladder_store(tmp_path, monkeypatch)
    local = findings.local_ladders([store])
    eq = {(r["larger"], r["smaller"]): r for r in local["equal_size"] if r["task"] == "mmlu"}
    # 1.5B Q3_K_M (0.92 GB) fits under the 0.5B F16 (1.27 GB), not under its Q8_0 (0.68 GB)
    assert set(eq) == {
        ("Big-1.5B Q3_K_M", "Small-0.5B F16"),
        ("Big-1.5B Q2_K", "Small-0.5B F16"),
        ("Big-1.5B Q4_K_M", "Small-0.5B F16"),
        ("Big-1.5B Q2_K", "Small-0.5B Q8_0"),
    }
    r = eq[("Big-1.5B Q3_K_M", "Small-0.5B F16")]
    assert r["paired"] and r["n"] == 100
    assert r["diff"] == pytest.approx(15.0)  # 60 % vs 45 %, in points
    # discordant: items 40-59 right only for the larger (20), 60-64 only for the smaller (5)
    assert "20 vs 5" in r["test"] and r["p"] == pytest.approx(0.00408, abs=1e-4)
    assert r["se"] == pytest.approx(4.79, abs=0.01)
    assert r["verdict"] == "larger better"  # 15 points > 2 paired se
    ppl = {
        (r["larger"], r["smaller"]): r for r in local["equal_size"] if r["task"] == "lambada_ppl"
    }
    assert ppl[("Big-1.5B Q3_K_M", "Small-0.5B F16")]["verdict"] == "larger better"  # lower ppl
    deg = {(r["model"], r["task"], r["format"]): r for r in local["degradation"]}
    q2 = deg[("Big-1.5B", "mmlu", "Q2_K")]
    assert q2["top"] == "F16" and q2["drop"] == pytest.approx(-25.0) and q2["paired"]
    assert q2["kept"] == pytest.approx((45 - 25) / (70 - 25))
    prox = {(r["model"], r["proxy"]): r for r in local["proxies"] if r["task"] == "mmlu"}
    assert prox[("Big-1.5B", "perplexity")]["agreement"] == 1.0
    assert prox[("Big-1.5B", "mean_kld")]["agreement"] == 1.0
    assert prox[("Big-1.5B", "same_top_p")]["agreement"] == 1.0
    assert ("Small-0.5B", "perplexity") not in prox  # two rungs: no rank correlation
    speed = {(r["model"], r["format"]): r for r in local["speed"]}
    assert speed[("Big-1.5B", "Q2_K")]["tg_vs_top"] == pytest.approx(14.0 / 5.0, rel=1e-3)
    assert local["four_bit_sourced"] == ["Big-1.5B", "Small-0.5B"]


def test_findings_cli_prints_the_local_comparison(tmp_path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    import json

    from advisor.cli import main

    store = _ladder_store(tmp_path, monkeypatch)
    monkeypatch.setenv("ADVISOR_STORE", str(store))
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["findings"]) == 0
    out = capsys.readouterr().out
    assert "5. Our own ladders" in out and "Big-1.5B Q3_K_M (0.92)" in out
    assert "+15.0 ± 4.8" in out and "larger better" in out
    assert main(["findings", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["schema"] == "advisor.findings/1"
    assert any(r["task"] == "mmlu" for r in data["local_ladders"]["equal_size"])


def test_one_or_two_pairs_are_named_not_summarised(capsys) -> None:  # type: ignore[no-untyped-def]
    from advisor.commands._output import console
    from advisor.commands.findings import _wins

    rows = [{"band": "3", "pairs": 1, "larger_wins": 1, "win_rate": 1.0, "median_margin": 4.0,
             "worst_margin": 4.0, "best_margin": 4.0},
            {"band": "2", "pairs": 2, "larger_wins": 0, "win_rate": 0.0, "median_margin": -3.0,
             "worst_margin": -5.0, "best_margin": -1.0}]  # fmt: skip
    console().print(_wins(rows, ["band"], "t"))
    out = capsys.readouterr().out
    assert "one pair" in out and "two pairs" in out and "1 of 1" in out and "-5.0, -1.0" in out
    assert "100%" not in out
