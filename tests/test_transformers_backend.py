"""The transformers + bitsandbytes backend on CPU, with SmolLM2-135M dequantized from its
Q4_1 GGUF; GPU checks are marked ``gpu`` and skip without CUDA.

The cross-backend checks run the SAME weights through llama.cpp (the F16 rung of the
GGUF) and transformers. At equal precision (transformers fp32; llama.cpp F16 weights with
fp32 activations) they agree within 0.05 nats per item. bf16 cannot: its 8-bit mantissa,
in the weights and in every activation, moves a 10-token continuation by up to ~0.6 nats
on this model, so bf16 is held to 0.05 nats per *token* and to picking the same answers.
"""

from __future__ import annotations

import math
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from advisor.errors import AdvisorError
from advisor.measure.backends.base import GenerateRequest, LoglikelihoodRequest, RollingRequest
from tests._hf_fixtures import hf_cache, smollm2_f16_gguf, smollm2_hf

pytestmark = pytest.mark.slow  # real models: minutes on two cores

IMPORTED_FIXTURES = (hf_cache, smollm2_f16_gguf, smollm2_hf)  # used by name below

QUESTIONS: list[tuple[str, list[str]]] = [
    (
        "Question: Which gas do plants take in from the air to make food?\nAnswer:",
        [" carbon dioxide", " oxygen", " nitrogen", " helium"],
    ),
    (
        "Question: What is the boiling point of water at sea level?\nAnswer:",
        [
            " 100 degrees Celsius",
            " 50 degrees Celsius",
            " 0 degrees Celsius",
            " 212 degrees Celsius",
        ],
    ),
    (
        "Question: Which planet is closest to the Sun?\nAnswer:",
        [" Mercury", " Venus", " Mars", " Jupiter"],
    ),
    (
        "Question: What do bees collect from flowers?\nAnswer:",
        [" nectar and pollen", " sand", " small stones", " water droplets only"],
    ),
    (
        "Question: What force pulls objects toward the center of the Earth?\nAnswer:",
        [" gravity", " friction", " magnetism", " electricity"],
    ),
    (
        "Question: Which of these is a mammal?\nAnswer:",
        [" a whale", " a shark", " a frog", " a lizard"],
    ),
    ("The capital of France is", [" Paris", " Berlin", " a large city in Germany"]),
    ("Water freezes at", [" zero degrees Celsius.", " the top of a mountain", " noon"]),
]
REQS = [LoglikelihoodRequest(ctx, c) for ctx, choices in QUESTIONS for c in choices]
TEXT = (
    "The Moon is Earth's only natural satellite. It orbits at an average distance of "
    "384,400 kilometres, about thirty times the diameter of Earth. Its gravity produces "
    "the ocean tides and slightly lengthens the day. The Moon is thought to have formed "
    "about 4.5 billion years ago from the debris of a collision between the young Earth "
    "and a Mars-sized body. Its surface is covered in craters, dark volcanic plains and "
    "a layer of fine dust called regolith. Twelve astronauts walked on it between 1969 "
    "and 1972 during the Apollo programme."
)
FORMATS = ("fp32", "bf16", "int8", "nf4", "fp4")
CTX = 64  # every item fits; TEXT (~120 tokens) needs several rolling windows


def _choice(scores: list[float]) -> list[int]:
    """Index of the best choice of each question."""
    out, k = [], 0
    for _ctx, choices in QUESTIONS:
        part = scores[k : k + len(choices)]
        out.append(max(range(len(part)), key=part.__getitem__))
        k += len(choices)
    return out


@pytest.fixture(scope="module")
def fp32_lm(smollm2_hf: Path) -> Any:
    from advisor.measure.backends.transformers_bnb import TransformersBackend

    with TransformersBackend(smollm2_hf, format="fp32", context_tokens=CTX) as lm:
        yield lm.load()


@pytest.fixture(scope="module")
def runs(smollm2_hf: Path, fp32_lm: Any) -> dict[str, dict[str, Any]]:
    """Every format loaded once (one at a time): its scores, footprint and configuration."""
    from advisor.measure.backends.transformers_bnb import TransformersBackend

    def run(lm: Any) -> dict[str, Any]:
        return {"results": lm.loglikelihood(REQS), "footprint": lm.footprint(), "config": lm.config}

    out = {"fp32": run(fp32_lm)}
    for fmt in FORMATS[1:]:
        with TransformersBackend(smollm2_hf, format=fmt, context_tokens=CTX) as lm:
            out[fmt] = run(lm.load())
    return out


@pytest.fixture(scope="module")
def f16_lm(smollm2_f16_gguf: Path) -> Any:
    from advisor.measure.backends.llama_cpp import LlamaCppBackend

    with LlamaCppBackend(smollm2_f16_gguf, context_tokens=CTX) as lm:
        yield lm.load()


@pytest.fixture(scope="module")
def f16_scores(f16_lm: Any) -> list[float]:
    return [r.logprob for r in f16_lm.loglikelihood(REQS)]


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory, smollm2_hf: Path) -> Path:
    """A random 2-layer Llama with SmolLM2's tokenizer, for the format mechanics."""
    pytest.importorskip("bitsandbytes")
    pytest.importorskip("transformers")
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=49152,
        hidden_size=256,
        intermediate_size=512,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
    )
    folder = tmp_path_factory.mktemp("tiny-llama")
    LlamaForCausalLM(cfg).save_pretrained(str(folder))
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(smollm2_hf / name, folder / name)
    return folder


# -- formats: load, score, footprint --------------------------------------------------------
@pytest.mark.parametrize("fmt", FORMATS)
def test_format_loads_and_scores(runs: dict[str, dict[str, Any]], fmt: str) -> None:
    run = runs[fmt]
    cfg = run["config"]
    assert cfg.format == fmt
    assert cfg.n_params == 134_515_008
    assert cfg.extra["device"] == "cpu"
    assert any("dequantized from Q4_1" in note for note in cfg.provenance)
    for r in run["results"]:
        assert math.isfinite(r.logprob) and r.logprob < 0
        assert r.n_tokens >= 1 and isinstance(r.is_greedy, bool)
    if fmt == "int8":
        assert cfg.extra["llm_int8_threshold"] == 6.0
    if fmt in {"nf4", "fp4"}:
        assert cfg.extra["bnb_4bit_quant_type"] == fmt
        assert cfg.extra["bnb_4bit_use_double_quant"] is False
        assert cfg.extra["compute_dtype"] == "bfloat16"


def test_footprints_shrink_in_order(runs: dict[str, dict[str, Any]]) -> None:
    w = {fmt: runs[fmt]["footprint"]["weight_bytes"] for fmt in FORMATS}
    assert w["fp32"] > w["bf16"] > w["int8"] > w["nf4"]
    assert w["fp32"] == pytest.approx(2 * w["bf16"], rel=0.001)  # fp32 buffers aside
    assert abs(w["nf4"] - w["fp4"]) <= 0.01 * w["nf4"]
    for fmt in FORMATS:
        fp = runs[fmt]["footprint"]
        assert fp["peak_rss_bytes"] > fp["weight_bytes"] > 0
        assert fp["kv_bytes"] > 0 and fp["context_tokens"] == CTX


# -- agreement with llama.cpp on the same weights -------------------------------------------
def test_fp32_matches_llama_cpp_f16_per_item(
    runs: dict[str, dict[str, Any]], f16_scores: list[float]
) -> None:
    mine = [r.logprob for r in runs["fp32"]["results"]]
    worst = max(abs(a - b) for a, b in zip(mine, f16_scores, strict=True))
    assert worst < 0.05, f"fp32 vs llama.cpp F16: worst item differs by {worst:.3f} nats"


def test_bf16_close_to_llama_cpp_f16(
    runs: dict[str, dict[str, Any]], f16_scores: list[float]
) -> None:
    res = runs["bf16"]["results"]
    per_token = [abs(r.logprob - f) / r.n_tokens for r, f in zip(res, f16_scores, strict=True)]
    # Seen on this model: mean 0.03 nats/token, worst item 0.10 nats/token.
    assert sum(per_token) / len(per_token) < 0.05
    assert max(per_token) < 0.25
    mine = _choice([r.logprob for r in res])
    agree = sum(a == b for a, b in zip(mine, _choice(f16_scores), strict=True))
    assert agree >= len(QUESTIONS) - 1


def test_quantized_formats_stay_near_the_base(runs: dict[str, dict[str, Any]]) -> None:
    base = _choice([r.logprob for r in runs["fp32"]["results"]])
    for fmt in ("int8", "nf4", "fp4"):
        got = _choice([r.logprob for r in runs[fmt]["results"]])
        assert sum(a == b for a, b in zip(got, base, strict=True)) >= len(QUESTIONS) // 2, fmt


@pytest.mark.parametrize("fmt", ["fp16", "nf4-dq", "fp4-dq"])
def test_other_formats_on_a_tiny_model(tiny_llama: Path, fmt: str) -> None:
    from advisor.measure.backends.transformers_bnb import TransformersBackend

    with TransformersBackend(tiny_llama, format=fmt, context_tokens=32) as lm:
        lm.load()
        (res,) = lm.loglikelihood([LoglikelihoodRequest("a b c", " d e")])
        fp = lm.footprint()
        cfg = lm.config
    assert math.isfinite(res.logprob) and res.n_tokens >= 1
    if fmt == "fp16":
        assert cfg.extra["compute_dtype"] == "float16" and fp["quant_state_bytes"] == 0
    else:
        assert cfg.extra["bnb_4bit_quant_type"] == fmt[:3]
        assert cfg.extra["bnb_4bit_use_double_quant"] is True
        assert fp["quant_state_bytes"] > 0


def test_double_quant_shrinks_the_scales(tiny_llama: Path) -> None:
    from advisor.measure.backends.transformers_bnb import TransformersBackend

    scales = {}
    for fmt in ("nf4", "nf4-dq"):
        with TransformersBackend(tiny_llama, format=fmt) as lm:
            scales[fmt] = lm.load().footprint()["quant_state_bytes"]
    from bitsandbytes.functional import has_avx512bf16  # type: ignore[import-untyped]

    if has_avx512bf16():
        # bitsandbytes repacks 4-bit weights for its AVX512-BF16 CPU kernel at the first
        # forward pass, dequantizing the nested absmax: double quantization saves nothing
        # on such CPUs, and the footprint must say so rather than assume the saving.
        assert scales["nf4-dq"] == scales["nf4"] > 0
    else:
        # fp32 absmax per 64 weights -> 8-bit absmax plus an fp32 per 256 blocks
        assert 0 < scales["nf4-dq"] < scales["nf4"] / 3


# -- the engine: packing, rolling windows, generation ---------------------------------------
def test_packed_choices_match_one_at_a_time(fp32_lm: Any) -> None:
    packed = fp32_lm.loglikelihood(REQS)
    for req, p in zip(REQS[:8], packed[:8], strict=False):
        (single,) = fp32_lm.loglikelihood([req])
        assert single.logprob == pytest.approx(p.logprob, abs=1e-3)
        assert single.is_greedy == p.is_greedy and single.n_tokens == p.n_tokens


def test_rolling_matches_llama_cpp(fp32_lm: Any, f16_lm: Any) -> None:
    # CTX=64 on ~120 tokens: several windows, each token predicted once.
    (mine,) = fp32_lm.loglikelihood_rolling([RollingRequest(TEXT)])
    (ref,) = f16_lm.loglikelihood_rolling([RollingRequest(TEXT)])
    assert mine.n_tokens == ref.n_tokens == len(fp32_lm.tokenize(TEXT)) > CTX
    assert abs(mine.logprob - ref.logprob) / mine.n_tokens < 0.01


def test_generate_stops_at_the_stop_string(fp32_lm: Any, f16_lm: Any) -> None:
    prompt = "Count: one, two, three, four,"
    (free,) = fp32_lm.generate_until([GenerateRequest(prompt, ("\n\n\n\n",), 12)])
    assert free.startswith(" five, six")
    (cut,) = fp32_lm.generate_until([GenerateRequest(prompt, (" six",), 12)])
    assert cut == free[: free.index(" six")]
    assert f16_lm.generate_until([GenerateRequest(prompt, (" six",), 12)]) == [cut]


def test_speed_reports_both_rates(fp32_lm: Any) -> None:
    sp = fp32_lm.speed(prompt_tokens=32, gen_tokens=4)
    assert sp["prompt_tokens_per_s"] > 0 and sp["gen_tokens_per_s"] > 0
    assert sp["prompt_tokens"] == 32 and sp["gen_tokens"] == 4


# -- bad input: one line, an AdvisorError -----------------------------------------------------
def _backend(model: str | Path, fmt: str = "bf16") -> Any:
    pytest.importorskip("torch")
    from advisor.measure.backends.transformers_bnb import TransformersBackend

    return TransformersBackend(model, format=fmt)


def test_folder_without_weights(tmp_path: Path) -> None:
    from advisor.measure.backends.transformers_bnb import ModelSourceError

    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelSourceError, match="no weights"):
        _backend(tmp_path).load()


def test_folder_without_config(tmp_path: Path) -> None:
    from advisor.measure.backends.transformers_bnb import ModelSourceError

    with pytest.raises(ModelSourceError, match=r"no config\.json"):
        _backend(tmp_path).load()


def test_missing_path() -> None:
    from advisor.measure.backends.transformers_bnb import ModelSourceError

    with pytest.raises(ModelSourceError, match="no such file"):
        _backend("./no/such/model.safetensors").load()


def test_repo_not_cached_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    import huggingface_hub.constants as hfc

    from advisor.measure.backends.transformers_bnb import ModelSourceError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hfc, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hfc, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ModelSourceError, match=r"not in the local Hugging Face cache.*OFFLINE"):
        _backend("advisor-tests/not-a-cached-model").load()


def test_unknown_format() -> None:
    from advisor.measure.backends.transformers_bnb import TransformersError

    with pytest.raises(TransformersError, match=r"unknown format 'q4_k_m'.*nf4-dq"):
        _backend("x", "q4_k_m").load()


def test_bitsandbytes_missing_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from advisor.measure.backends.transformers_bnb import BitsAndBytesUnavailableError

    monkeypatch.setitem(sys.modules, "bitsandbytes", None)
    with pytest.raises(BitsAndBytesUnavailableError) as info:
        _backend("never/loaded", "nf4").load()
    assert "pip install 'advisor-llm[cuda]'" in str(info.value)
    assert "\n" not in str(info.value)


def test_bitsandbytes_without_device_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("bitsandbytes")
    import bitsandbytes.functional as bnbf

    from advisor.measure.backends.transformers_bnb import BitsAndBytesUnavailableError

    def no_kernel(*args: object, **kwargs: object) -> None:
        raise NotImplementedError("no kernel for 'cpu'\nsecond line")

    monkeypatch.setattr(bnbf, "quantize_4bit", no_kernel)
    with pytest.raises(BitsAndBytesUnavailableError, match=r"cpu kernels.*advisor-llm\[cuda\]"):
        _backend("never/loaded", "fp4").load()


def test_out_of_memory_on_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    torch = pytest.importorskip("torch")
    import transformers

    from advisor.measure.backends.transformers_bnb import LoadOutOfMemoryError

    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(b"")

    def oom(*args: object, **kwargs: object) -> None:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda *a, **k: None)
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", oom)
    with pytest.raises(LoadOutOfMemoryError, match=r"out of memory loading .* as bf16 on cpu"):
        _backend(tmp_path).load()


def test_errors_are_advisor_errors() -> None:
    pytest.importorskip("torch")
    from advisor.measure.backends import transformers_bnb as tb

    for cls in (
        tb.TransformersError,
        tb.ModelSourceError,
        tb.LoadOutOfMemoryError,
        tb.BitsAndBytesUnavailableError,
    ):
        assert issubclass(cls, AdvisorError)


# -- CUDA ----------------------------------------------------------------------------------------
@pytest.mark.gpu
@pytest.mark.parametrize("fmt", ["bf16", "int8", "nf4"])
def test_cuda_footprint_and_speed(smollm2_hf: Path, fmt: str) -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    from advisor.measure.backends.transformers_bnb import TransformersBackend

    with TransformersBackend(smollm2_hf, format=fmt, context_tokens=CTX).load() as lm:
        assert lm.config.extra["device"] == "cuda"
        res = lm.loglikelihood(REQS)
        assert all(math.isfinite(r.logprob) for r in res)
        sp = lm.speed(prompt_tokens=128, gen_tokens=16)
        fp = lm.footprint()
    assert fp["cuda_max_allocated_bytes"] >= fp["weight_bytes"]
    assert fp["cuda_max_reserved_bytes"] >= fp["cuda_max_allocated_bytes"]
    # NVML sees the CUDA context too (0 where the driver hides per-process usage).
    assert fp["nvml_process_bytes"] == 0 or fp["nvml_process_bytes"] > fp["cuda_max_reserved_bytes"]
    assert sp["prompt_tokens_per_s"] > 0 and sp["gen_tokens_per_s"] > 0
