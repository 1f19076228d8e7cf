"""KL divergence against the ladder's top rung: the statistics on hand-made distributions,
the cached reference, and a real SmolLM2 ladder (F16 / Q8_0 / Q2_K) end to end."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from advisor.measure import kld


def _ref(p_rows: np.ndarray, targets: list[int], k: int) -> kld.Reference:
    lp = np.log(p_rows)
    ids = np.argsort(-lp, axis=1)[:, :k]
    return kld.Reference(
        tokens=np.asarray(targets, dtype=np.int32),
        target_logprob=lp[np.arange(len(targets)), targets].astype(np.float32),
        top_ids=ids.astype(np.int32),
        top_logprob=np.take_along_axis(lp, ids, axis=1).astype(np.float32),
        meta={"reference_bpw": 16.0},
    )


def _stats(p_rows: np.ndarray, q_rows: np.ndarray, targets: list[int], k: int) -> dict:
    ref = _ref(p_rows, targets, k)
    q_lp = np.log(q_rows)
    return kld.divergence_stats(
        ref,
        np.take_along_axis(q_lp, ref.top_ids, axis=1),
        q_lp[np.arange(len(targets)), targets],
        q_lp.argmax(axis=1),
    )


P = np.array([[0.5, 0.2, 0.15, 0.1, 0.05], [0.05, 0.05, 0.6, 0.2, 0.1]])
Q = np.array([[0.3, 0.4, 0.1, 0.1, 0.1], [0.1, 0.1, 0.5, 0.2, 0.1]])


def test_full_vocabulary_kld_is_exact() -> None:
    got = _stats(P, Q, [0, 2], k=5)
    exact = (P * np.log(P / Q)).sum(axis=1)
    assert got["mean_kld"]["value"] == pytest.approx(exact.mean(), rel=1e-5)
    assert got["kld_p99"]["value"] == pytest.approx(np.percentile(exact, 99), rel=1e-5)
    # top token: row 0 disagrees (0 vs 1), row 1 agrees
    assert got["same_top_p"]["value"] == pytest.approx(50.0)
    dp = 100 * np.array([0.3 - 0.5, 0.5 - 0.6])
    assert got["mean_delta_p"]["value"] == pytest.approx(dp.mean())
    assert got["rms_delta_p"]["value"] == pytest.approx(math.sqrt((dp**2).mean()))
    assert got["kld_tokens"]["value"] == 2
    nll_q, nll_p = -np.log([0.3, 0.5]).mean(), -np.log([0.5, 0.6]).mean()
    assert got["ppl_ratio"]["value"] == pytest.approx(math.exp(nll_q - nll_p))


def test_top_k_with_a_tail_bucket_is_a_lower_bound() -> None:
    exact = (P * np.log(P / Q)).sum(axis=1).mean()
    for k in (1, 2, 3, 4):
        got = _stats(P, Q, [0, 2], k=k)["mean_kld"]["value"]
        assert 0 <= got <= exact + 1e-9
    assert (
        _stats(P, Q, [0, 2], k=4)["mean_kld"]["value"]
        > _stats(P, Q, [0, 2], k=1)["mean_kld"]["value"]
    )


def test_identical_distributions() -> None:
    got = _stats(P, P, [1, 3], k=3)
    assert got["mean_kld"]["value"] == pytest.approx(0.0, abs=1e-7)
    assert got["same_top_p"]["value"] == 100.0
    assert got["mean_delta_p"]["value"] == pytest.approx(0.0, abs=1e-6)


def test_mismatched_arrays_are_refused() -> None:
    ref = _ref(P, [0, 2], 3)
    with pytest.raises(ValueError, match="do not match"):
        kld.divergence_stats(ref, np.zeros((2, 2)), np.zeros(2), np.zeros(2))


def test_reference_round_trip_and_damage(tmp_path: Path) -> None:
    ref = _ref(P, [0, 2], 3)
    path = tmp_path / "ref.npz"
    kld.save_reference(path, ref)
    back = kld.load_reference(path)
    assert back is not None and back.meta == ref.meta
    assert np.array_equal(back.top_ids, ref.top_ids)
    path.write_bytes(b"not a zip")
    with pytest.warns(UserWarning, match="unreadable"):
        assert kld.load_reference(path) is None
    assert kld.load_reference(tmp_path / "missing.npz") is None


# -- a real ladder ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def smol_ladder(smollm2_gguf: Path, isolated_cache: Path) -> Iterator[dict[str, Path]]:
    pytest.importorskip("llama_cpp")
    from advisor.measure.ladder import make_rung

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ADVISOR_CACHE", str(isolated_cache))  # where the rungs are made and kept
        yield {f: make_rung(smollm2_gguf, f).path for f in ("F16", "Q8_0", "Q2_K")}


def test_ladder_top_is_the_widest_rung(smol_ladder: dict[str, Path], smollm2_gguf: Path) -> None:
    assert kld.ladder_top(smol_ladder["Q2_K"]) == smol_ladder["F16"]
    assert kld.ladder_top(smollm2_gguf) == smol_ladder["F16"]  # the Q4_1 source itself
    assert kld.ladder_top(smol_ladder["F16"]) == smol_ladder["F16"]


def test_kld_on_a_real_ladder(smol_ladder: dict[str, Path]) -> None:
    """F16 is the reference (0); Q8_0 diverges a little, Q2_K a lot; the numbers ride
    along in a later task's record of the same file."""
    from advisor.measure.backends.llama_cpp import LlamaCppBackend
    from advisor.measure.tasks import evaluate, load_items, load_task

    task = load_task("kld")
    items = load_items(task, 1, 0)  # one LAMBADA passage, about 80 tokens
    got = {}
    for fmt in ("F16", "Q8_0", "Q2_K"):
        with LlamaCppBackend(smol_ladder[fmt], context_tokens=128, format=fmt).load() as lm:
            got[fmt] = evaluate(task, lm, items).metrics
            if fmt == "Q2_K":
                mmlu = load_task("mmlu")
                rec = evaluate(mmlu, lm, load_items(mmlu, 1, 0))
    assert got["F16"]["mean_kld"]["value"] == 0 and got["F16"]["same_top_p"]["value"] == 100
    assert got["F16"]["ppl_ratio"]["value"] == 1.0 < got["Q2_K"]["ppl_ratio"]["value"]
    assert 0 < got["Q8_0"]["mean_kld"]["value"] < got["Q2_K"]["mean_kld"]["value"]
    assert got["Q8_0"]["same_top_p"]["value"] > got["Q2_K"]["same_top_p"]["value"]
    assert got["Q2_K"]["kld_tokens"]["value"] > 30
    assert got["Q2_K"]["kld_reference_bpw"]["value"] == pytest.approx(16, abs=0.1)
    assert rec.metrics["mean_kld"] == got["Q2_K"]["mean_kld"]  # attached to the MMLU record
    saved = list(kld.kld_dir().glob("ref-*.npz"))
    assert saved, "the reference's top-k is cached"


def test_another_tokenization_is_refused(smol_ladder: dict[str, Path]) -> None:
    from advisor.measure.backends.llama_cpp import LlamaCppBackend
    from advisor.measure.tasks import load_items, load_task

    items = load_items(load_task("kld"), 1, 0)
    with LlamaCppBackend(smol_ladder["Q8_0"], context_tokens=128).load() as lm:
        ref = kld.compute_reference(lm, items, 8)
        ref.tokens = ref.tokens + 1  # as if another tokenizer had cut the text
        with pytest.raises(kld.DivergenceError, match="tokenizes the text differently"):
            kld.compare(lm, items, ref)


def test_results_show_kld_columns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from advisor.cli import main
    from advisor.measure.store import Measurement, append

    kl = {"mean_kld": {"value": 0.0123, "stderr": 0.001}, "same_top_p": {"value": 91.25}}
    store = tmp_path / "s.jsonl"
    for task, metric, value in (("mmlu", "acc", 0.4561), ("kld", "mean_kld", 0.0123)):
        append(store, Measurement(
            key=task, status="ok", model_name="Tiny", backend="llama.cpp", format="Q2_K",
            task=task, task_version=1, metric=metric, value=value, stderr=0.01, n=57,
            metrics={metric: {"value": value, "stderr": 0.01}, **kl},
        ))  # fmt: skip
    assert main(["results", "--store", str(store), "--markdown"]) == 0
    out = capsys.readouterr().out
    assert "| KLD | same top % |" in out
    assert "| mmlu | acc | 45.6 ± 1.0 se | 57 | 0.0123 | 91.2 |" in out  # accuracy in percent
    assert "| kld | mean_kld | 0.0123 ± 0.0100 se | 57 | 0.0123 | 91.2 |" in out
