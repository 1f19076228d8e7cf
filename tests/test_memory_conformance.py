"""Conformance: the memory model against what runtimes really allocate.

tests/data/memory_vectors.csv holds 72 vectors with their public sources: llama-server /
llama-cli log lines (KV cache sizes, compute buffers, model buffers), real GGUF file sizes,
vLLM logs and published transformers peaks. Older logs are recomputed with the rules of their
llama.cpp build (``era`` in settings_json, see advisor.memory.llama_cpp.LLAMA_CPP_ERAS).
"""

import csv
import sys

import pytest

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
try:
    import memory_validation as mv
finally:
    sys.path.pop(0)

RESULTS = {r.vector.id: r for r in mv.conformance()}

# Official Qwen GGUFs of tied models store the head a second time (output.weight); today's
# converter does not (w-qwen2.5-0.5b-q4km, the gemma files): known, explained misses.
KNOWN_MISSES = {
    "w-qwen2.5-coder-0.5b-q4km-official-file",
    "w-qwen2.5-coder-1.5b-q4km-official-file",
}


def test_vectors_have_sources_and_enough_of_them() -> None:
    with mv.VECTORS.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) >= 40
    assert len({r["id"] for r in rows}) == len(rows)
    for row in rows:
        assert row["source"].strip(), row["id"]
        assert row["quote"].strip() or "rule-derived" in row["verdict_note"], row["id"]
        assert float(row["expected_value"]) > 0 and float(row["tolerance_pct"]) > 0
        assert row["arch_id"] or row["arch_json"], row["id"]
    kinds = {r["kind"] for r in rows}
    assert {"kv_cache", "compute_buffer", "weights_file", "total_gpu", "total_peak"} <= kinds


def test_goal_95_percent_within_2_percent() -> None:
    summary = mv.conformance_summary(list(RESULTS.values()))
    assert summary["share_within_goal"] >= 0.95, [
        (r.vector.id, round(r.error_pct, 2)) for r in RESULTS.values() if not r.within_goal
    ]
    # the same run: the old model and the peer formula fall short of it
    assert summary["old_model_within_goal"] < summary["within_goal"] - 20
    assert summary["peer_within_goal"] < summary["within_goal"] - 20


@pytest.mark.parametrize("vector_id", sorted(RESULTS))
def test_vector(vector_id: str) -> None:
    if vector_id in KNOWN_MISSES:
        pytest.xfail("official Qwen file stores a tied head twice (see verdict_note)")
    result = RESULTS[vector_id]
    assert (
        abs(result.error_pct) <= max(result.vector.goal_pct, result.vector.tolerance_pct) + 1.0
    ), (
        f"{vector_id}: expected {result.vector.expected} {result.vector.unit}, "
        f"ours {result.ours:.4f} "
        f"({result.error_pct:+.2f}%); source {result.vector.source}"
    )


@pytest.mark.parametrize(
    "vector_id",
    [
        # the four misses the issue names, exact now
        "kv-gemma3-270m-p1-8192",  # SWA: pad(512 + 512, 256) cells, not the window
        "kv-mistral-7b-v0.1-131072-noswa",  # GGUF arch llama: no SWA cache
        "w-qwen2.5-72b-q4km",  # k-quant fallback on 29,568-wide ffn_down
        "gpu-r1-qwen-32b-q4km-ngl-all",  # token_embd stays in host memory
        # rules that peers get wrong
        "kv-deepseek-v3-16384-mla",
        "kv-qwen3.6-27b-262144-hybrid",
        "rs-qwen3.6-27b-4seq",
        "w-qwen2.5-0.5b-q4km",
        "cb-llama3-8b-512-host",
        "gpu-gemma3-270m-q80-tied-dup",
    ],
)
def test_rule_vectors_are_exact(vector_id: str) -> None:
    result = RESULTS[vector_id]
    assert result.within_tolerance, (vector_id, result.ours, result.vector.expected)


def test_no_memory_quantity_under_estimated_beyond_the_margin() -> None:
    # Without the calibrated factor, no vector but the known file-layout misses is under by
    # more than the 10 % the recommender used to keep; those explain themselves in the table.
    from advisor.memory import UPPER_BOUND_FACTOR

    for r in RESULTS.values():
        if r.vector.id in KNOWN_MISSES:
            assert "output.weight" in r.vector.note and r.error_pct > -20
            continue
        assert r.error_pct > -10, r.vector.id
    assert {r.vector.id for r in RESULTS.values() if not r.within_goal} <= KNOWN_MISSES | {
        "tf-qwen2.5-0.5b-instruct-bf16-in1"
    }
    for r in RESULTS.values():
        if r.vector.id in KNOWN_MISSES:
            continue
        if (
            r.vector.quantity in ("bits_per_weight", "vllm_kv_tokens")
            or r.vector.backend != "llama.cpp"
        ):
            continue
        if r.vector.quantity in mv.COMPUTE_QUANTITIES:
            continue  # compute buffers are within 20 %, a small share of any total
        assert r.ours * UPPER_BOUND_FACTOR["llama.cpp"] >= r.vector.expected * 0.995, r.vector.id


def test_calibration_matches_the_committed_factors() -> None:
    from advisor.memory import UPPER_BOUND_FACTOR

    factors = mv.calibrate(list(RESULTS.values()), mv.validation_rows())
    for key, value in factors.items():
        assert UPPER_BOUND_FACTOR[key] == pytest.approx(value, abs=0.005), key


def test_peers_are_wrong_where_the_verdict_says() -> None:
    # llmfit's q8_0 KV at 1 byte/element and its params x 0.58 B for Q4_K_M
    fallback = RESULTS["w-qwen2.5-0.5b-q4km"]
    assert fallback.other_error(fallback.peer) is not None
    assert fallback.other_error(fallback.peer) < -20  # type: ignore[operator]
    swa = RESULTS["kv-gemma3-270m-p1-8192"]
    assert swa.other_error(swa.old) < -15  # type: ignore[operator]  # the old window-only rule
