"""Picks you can trust (issue 10): each test is one of the failures a new user hit, and
fails on the code before the fix."""

from __future__ import annotations

import json
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import pytest

import advisor
from advisor.measure.store import Measurement, append
from advisor.recommender import RecommendError, recommend


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "advisor", *args], capture_output=True, text=True, timeout=120
    )


def test_a_wide_guess_never_outranks_a_near_equal_narrow_one() -> None:
    """Before: phi-4 IQ2_M "75.0 ± 31.3" ranked above Qwen2.5-7B Q5_K_M "73.4 ± 4.2"."""
    rec = recommend("8GB", task="mmlu", variant="any")
    scored = [c for c in rec.ranked if c.estimate is not None]
    top = scored[0].estimate
    assert top is not None
    for c in scored[1:]:
        e = c.estimate
        assert e is not None
        # ranked by the pessimistic end (a model's faster format within half a point of
        # its best may lead it: equal on the evidence)
        assert e.low <= top.low + 0.5 + 1e-9
    # and the notation says which interval it is
    assert "[" in top.notation() or top.kind != "predicted"


def test_risk_neutral_ranks_by_the_mean() -> None:
    rec = recommend("8GB", task="mmlu", variant="any", risk="neutral")
    means = [c.estimate.value for c in rec.ranked if c.estimate is not None]
    assert all(a >= b - 0.5 for a, b in pairwise(means))  # up to equals (half a point)
    firsts = [c.estimate.value for c in rec.best_per_model() if c.estimate is not None]
    assert all(a >= b - 0.5 for a, b in pairwise(firsts))


@pytest.mark.parametrize(
    ("arch_id", "foreign"),
    [
        ("Qwen/Qwen2.5-32B", "Instruct"),
        ("mistralai/Mistral-Small-24B-Base-2501", "Instruct"),
        ("google/gemma-3-27b-it", "-pt"),
        ("microsoft/Phi-3-mini-4k-instruct", "128k"),
    ],
)
def test_evidence_never_crosses_variants(arch_id: str, foreign: str) -> None:
    """Before: Qwen2.5-32B was scored from Qwen2.5-32B-Instruct, and so on."""
    rec = recommend("200GB", task="mmlu", variant="any", models=[arch_id])
    for c in rec.ranked:
        for e in c.evidence:
            if e.kind == "published":
                assert foreign not in e.source.split(":")[0], e.source
            if e.kind == "predicted" and e.detail["anchor_kind"] == "base model + shift":
                # allowed, and said: the base's score plus a post-training shift, its sd kept
                assert "post-training shift" in e.detail["anchor_source"]
            elif e.kind == "predicted":
                assert foreign not in str(e.detail.get("anchor_source", "")), e.detail


def test_default_candidates_are_instruct_models() -> None:
    rec = recommend("24GB")
    assert rec.ranked and all(c.arch.deploy_variant == "instruct" for c in rec.ranked)
    base = recommend("24GB", variant="base")
    assert base.ranked and all(c.arch.deploy_variant == "base" for c in base.ranked)


def test_a_perplexity_change_is_never_ranked_as_a_perplexity() -> None:
    """Before: `--ram 16GB --task wikitext2` picked Llama-3-8B Q2_K at "2.4" (a delta)."""
    rec = recommend("16GB", device="cpu", task="wikitext2", variant="any")
    for c in rec.ranked:
        if c.estimate is not None:
            assert c.estimate.metric not in {"delta_ppl", "delta_ppl_pct", "ppl_ratio"}
    ladder = {c.format.name: c for c in rec.ranked if c.arch.name == "Meta-Llama-3-8B"}
    if "Q2_K" in ladder and "Q8_0" in ladder:
        q2, q8 = ladder["Q2_K"].estimate, ladder["Q8_0"].estimate
        assert q2 is not None and q8 is not None
        assert q2.value > q8.value  # lower is better: Q2_K's perplexity is higher


def test_mixed_sources_are_named_once_and_listed() -> None:
    """Before: OLMES and Qwen-team HellaSwag figures were ranked together silently."""
    rec = recommend("80GB", task="hellaswag", variant="any")
    published = [s for s in rec.sources if s["kind"] == "published"]
    if len(published) > 1:
        assert any("published evaluations" in n for n in rec.notes)
    data = rec.to_dict(top=5)
    assert data["sources"] == [dict(s) for s in rec.sources]


def test_context_beyond_a_models_limit_leaves_it_out() -> None:
    """Before: phi-4 (16k) was picked at 131072 tokens; Llama-2 (4k) offered at 32k."""
    rec = recommend("80GB", context=131072, variant="any")
    assert all((c.arch.max_context or 10**9) >= 131072 for c in rec.ranked)
    assert any("maximum context" in n for n in rec.notes)


def test_cpu_and_apple_get_gguf_only() -> None:
    """Before: no GPU → phi-4 int8 (bitsandbytes on CPU); Apple → Llama-3.3-70B nf4."""
    cpu = recommend("32GB", device="cpu")
    assert all(c.format.backend == "gguf" for c in cpu.ranked)
    asked = recommend("32GB", device="cpu", backend="bnb")
    assert any(c.format.backend == "bnb" for c in asked.ranked)
    mac = recommend(hardware="apple-m4-pro-48gb")
    assert mac.budget.device == "apple" and mac.budget.memory_kind == "unified memory"
    assert all(c.format.backend == "gguf" for c in mac.ranked)
    assert mac.usable_bytes < mac.budget_bytes * 0.8  # the Metal working set, not all of it


def test_bitsandbytes_data_types_degrade_differently() -> None:
    """Before: nf4 and fp4 were predicted equal (78.9 vs 78.9) and above Q4_K_M."""
    from advisor import curves, profiles
    from advisor.profiles.formats import get_format

    arch = profiles.find_architecture("Qwen2.5-7B")
    value = {}
    for name in ("Q4_K_M", "nf4", "fp4"):
        e = curves.predict_for_config(arch, get_format(name), "mmlu")
        assert e is not None
        value[name] = e.value
    assert value["fp4"] < value["nf4"] < value["Q4_K_M"]


def _record(n: int, value: float, stderr: float, key: str) -> Measurement:
    return Measurement(
        key=key, status="ok", model_name="SmolLM2-135M-Instruct", backend="llama.cpp",
        format="F16", task="arc_easy", task_version=1, metric="acc", value=value,
        stderr=stderr, n=n, arch_id="HuggingFaceTB/SmolLM2-135M-Instruct", params=134515008,
        created="2026-12-03T00:00:00+00:00",
    )  # fmt: skip


def test_measurements_combine_by_precision_and_disagreements_are_flagged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: a fresh n=20 measurement (30.0 ± 10.5) overrode the n=300 one (49.7) with
    `disagreement: null`."""
    from advisor.evidence import reload_measurements

    store = tmp_path / "mine.jsonl"
    append(store, _record(20, 0.10, 0.067, "a"))
    append(store, _record(300, 0.497, 0.029, "b"))
    monkeypatch.setenv("ADVISOR_STORE", str(store))
    reload_measurements()
    rec = recommend(
        "8GB", task="arc_easy", models=["SmolLM2-135M-Instruct"], formats=["F16"], variant="any"
    )
    (c,) = rec.ranked
    est = c.estimate
    assert est is not None and est.kind == "measured" and len(est.basis) >= 2
    assert 10.0 < est.value < 49.7  # between, and much nearer the precise one
    assert abs(est.value - 49.7) < abs(est.value - 10.0)
    assert est.disagreement is not None


def test_unknown_family_names_close_matches_and_exits_2() -> None:
    with pytest.raises(RecommendError, match="did you mean"):
        recommend("24GB", families=["qwen25"])
    result = _cli("recommend", "--vram", "24GB", "--family", "nonexistent")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_a_prefix_family_says_which_families_it_did_not_mean() -> None:
    """Before: `--family qwen` silently meant Qwen-1 (2023)."""
    rec = recommend("24GB", families=["qwen"], variant="any")
    assert any("qwen2.5" in n and "qwen3" in n for n in rec.notes)


def test_fits_use_the_calibrated_upper_bound() -> None:
    rec = recommend("24GB")
    for c in rec.ranked:
        assert c.memory_bytes >= c.footprint.device_bytes
        assert c.memory_bytes <= rec.usable_bytes


def test_library_contract_models_formats_points() -> None:
    """A team ranks its own fine-tunes: named models and formats, its own 16-bit scores."""
    points = [
        {"model": "Llama-3.1-8B", "task": "mmlu", "score": 66.0, "bits": 16},
        {"model": "acme-ft-8b", "architecture": "Llama-3.1-8B", "task": "mmlu", "score": 70.0,
         "bits": 16},
    ]  # fmt: skip
    rec = advisor.recommend(
        budget="12GB", task="mmlu", models=["Llama-3.1-8B"], formats=["Q8_0", "Q4_K_M", "F16"],
        points=points,
    )  # fmt: skip
    assert rec.pick is not None
    labels = {c.label for c in rec.ranked}
    assert any(label.startswith("acme-ft-8b") for label in labels)
    for c in rec.ranked:
        d = c.to_dict()
        for key in ("model", "model_id", "format", "memory"):
            assert key in d
        assert {"mean", "low", "high"} <= set(d["score"])
        if c.format.name in {"Q8_0", "Q4_K_M"}:
            (pred,) = [e for e in c.evidence if e.kind == "predicted"]
            anchor = 70.0 if c.arch.name == "acme-ft-8b" else 66.0
            assert pred.detail["anchor"] == pytest.approx(anchor)
    ft16 = next(c for c in rec.ranked + rec.excluded if c.label == "acme-ft-8b F16")
    assert any(e.kind == "measured" and e.value == 70.0 for e in ft16.evidence)


def test_json_has_a_schema_and_the_score_interval() -> None:
    result = _cli("recommend", "--vram", "8GB", "--json", "--top", "3")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["schema"] == "advisor.recommend/1"
    for c in data["candidates"]:
        if c["score"] is not None:
            assert c["score"]["low"] <= c["score"]["mean"] <= c["score"]["high"]
            assert c["get"]  # an artifact or a make-it command


def test_a_dequantized_base_says_what_it_is() -> None:
    """The bundled SmolLM2 "F16" is its Q4_1 file dequantized: as evidence and as the anchor
    of a prediction it must say so, never pass for the original 16-bit weights."""
    rec = recommend(
        "2GB", device="cpu", task="arc_easy",
        models=["HuggingFaceTB/SmolLM2-135M-Instruct"], formats=["F16", "Q4_K_M"],
    )  # fmt: skip
    by_format = {c.format.name: c.estimate for c in rec.ranked}
    f16, q4 = by_format["F16"], by_format["Q4_K_M"]
    assert f16 is not None and f16.kind == "measured"
    assert "dequantized from Q4_1, not the original 16-bit weights" in f16.source
    assert q4 is not None and q4.kind == "predicted"
    assert "dequantized from Q4_1: a lower bound" in q4.source
