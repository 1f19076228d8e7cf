"""The recommender's own logic: fitting, ranking and evidence precedence."""

from __future__ import annotations

from itertools import pairwise

import pytest

import advisor
from advisor.recommender import RecommendError, recommend


def test_library_call_returns_typed_objects() -> None:
    rec = advisor.recommend(budget="24GB", task="mmlu", context=4096)
    assert rec.budget_bytes == 24 * 10**9
    assert rec.ranked
    top = rec.ranked[0]
    assert top.footprint.total_bytes <= rec.usable_bytes
    assert top.best is not None and top.best.kind in {"measured", "published", "predicted"}


def test_everything_ranked_fits_and_nothing_excluded_does() -> None:
    rec = recommend(budget="12GiB", task="mmlu", backend="gguf")
    assert all(c.memory_bytes <= rec.usable_bytes for c in rec.ranked)
    assert all(c.memory_bytes > rec.usable_bytes for c in rec.excluded)
    assert all(c.format.backend == "gguf" for c in rec.ranked)
    left_out = rec.limits.get("no artifact and no way to make it", 0)
    assert len(rec.ranked) + len(rec.excluded) + left_out == rec.considered


def test_scored_configs_rank_by_lower_bound_then_unscored_follow() -> None:
    rec = recommend(budget="24GB", task="mmlu")
    scores = [c.best.low for c in rec.ranked if c.best is not None]
    # sorted, up to a model's format moved ahead as equally good (half a point)
    assert all(a >= b - 0.5 for a, b in pairwise(scores))
    heads = [c.best.low for c in rec.best_per_model() if c.best is not None]
    best_of = {}
    for c in rec.ranked:
        if c.best is not None:
            best_of[c.arch.model_id] = max(best_of.get(c.arch.model_id, -1.0), c.best.low)
    assert sorted(best_of.values(), reverse=True) == list(best_of.values())
    assert len(heads) == len(best_of)
    first_unscored = next(i for i, c in enumerate(rec.ranked) if c.best is None)
    assert all(c.best is None for c in rec.ranked[first_unscored:])


def test_published_16bit_score_backs_f16_config() -> None:
    rec = recommend(
        budget="80GB", task="mmlu", backend="gguf", families=["qwen2.5"], variant="base"
    )
    f16 = next(c for c in rec.ranked if c.label == "Qwen2.5-7B F16")
    published = [e for e in f16.evidence if e.kind == "published"]
    assert published and published[0].value == pytest.approx(74.2)
    assert "qwenlm.github.io" in published[0].source


def test_longer_context_costs_more_memory() -> None:
    short = recommend(budget="24GB", context=2048, families=["llama3.1"], variant="any")
    long = recommend(budget="24GB", context=32768, families=["llama3.1"], variant="any")
    label = "Llama-3.1-8B Q4_K_M"
    s = next(c for c in short.ranked if c.label == label)
    l_ = next(c for c in long.ranked if c.label == label)
    assert l_.footprint.kv_bytes == 16 * s.footprint.kv_bytes


def test_task_groups_resolve_to_one_task() -> None:
    assert recommend(budget="24GB", task="math").task == "gsm8k"
    assert recommend(budget="24GB", task="knowledge").task == "mmlu"


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"budget": "24GB", "task": "astrology"}, "unknown task"),
        ({"budget": "24GB", "backend": "tpu"}, "unknown backend"),
        ({"budget": "24GB", "kv_cache": "q3"}, "KV cache"),
        ({"budget": "24GB", "context": 0}, "context"),
        ({"budget": "24GB", "safety_margin": 1.5}, "margin"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], needle: str) -> None:
    with pytest.raises(RecommendError, match=needle):
        recommend(**kwargs)  # type: ignore[arg-type]


def test_gptq_evidence_never_backs_bitsandbytes() -> None:
    rec = recommend(budget="80GB", task="mmlu", families=["qwen1"])
    int8 = next(c for c in rec.ranked if c.label == "Qwen-7B-Chat int8")
    gptq = next(c for c in rec.ranked if c.label == "Qwen-7B-Chat GPTQ-Int8")
    assert not [e for e in int8.evidence if e.kind == "published"]
    assert [e.value for e in gptq.evidence if e.kind == "published"] == [55.4]


def test_cpu_budgets_leave_out_cuda_only_formats() -> None:
    rec = recommend(budget="16GB", task="gsm8k", device="cpu")
    assert not any(c.format.backend in {"gptq", "awq"} for c in rec.ranked)
    assert not any("--vram" in n for n in rec.notes)


def test_explanation_does_not_claim_a_win_inside_the_uncertainty() -> None:
    rec = recommend(budget="16GB", task="gsm8k", device="cpu")
    line = rec.explanation()
    assert line is not None and line.startswith(rec.ranked[0].label)
    pick, rival = rec.ranked[0].best, None
    assert pick is not None
    if "beats" in line:
        rival_label = line.split("beats ", 1)[1].split(" (", 1)[0]
        rival = next(c.best for c in rec.ranked if c.label == rival_label)
        assert rival is not None
        assert pick.value - rival.value > (pick.uncertainty or 0)


def test_equally_good_formats_of_one_model_yield_to_the_fastest() -> None:
    """int8 (bitsandbytes, ~10 tok/s) ranked 0.2 points above Q8_0 (~48 tok/s) on the
    interval's lower end: within half a point they are equal, so the faster leads."""
    from advisor.recommender.ranking import equal_on_evidence

    rec = recommend(budget="24GB", task="mmlu", models=["microsoft/phi-4"])
    head = rec.ranked[0]
    assert head.estimate is not None and head.speed is not None
    best = max(c.estimate.low for c in rec.ranked if c.estimate is not None)
    tie = equal_on_evidence(head.estimate)
    equals = [c for c in rec.ranked if c.estimate is not None and best - c.estimate.low <= tie]
    assert len(equals) >= 2  # the rule had something to decide
    assert all(c.speed is not None for c in equals)
    assert head.speed.decode.mean == max(c.speed.decode.mean for c in equals)
    assert head.format.name != "int8"
