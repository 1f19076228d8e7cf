import sys

import pytest

from advisor.errors import AdvisorError
from advisor.memory import (
    footprint,
    gguf_footprint,
    kv_bytes_per_token,
    kv_cache_bytes,
    weight_bytes,
)
from advisor.profiles import architectures
from advisor.profiles.gguf_file import GGUFError, read_gguf
from tests.conftest import REPO

GiB = 2**30


def arch(model_id: str):  # type: ignore[no-untyped-def]
    return architectures()[model_id]


def test_kv_bytes_per_token_llama31_8b() -> None:
    llama = arch("meta-llama/Llama-3.1-8B")
    assert kv_bytes_per_token(llama) == 131072
    assert kv_bytes_per_token(llama, "q8_0") == 131072 * 34 / 64
    assert kv_cache_bytes(llama, 8192) == 131072 * 8192  # 1 GiB at 8k tokens


def test_kv_cache_gqa_and_mha() -> None:
    assert kv_bytes_per_token(arch("Qwen/Qwen2.5-7B")) == 57344  # 4 KV heads of 28
    assert kv_bytes_per_token(arch("meta-llama/Llama-2-7b-hf")) == 524288  # MHA
    assert kv_bytes_per_token(arch("tiiuae/falcon-7b")) == 8192  # MQA


def test_kv_cache_sliding_windows() -> None:
    gemma3 = arch("google/gemma-3-270m")  # 18 layers: 3 global, 15 local (window 512)
    per_layer_token = 2 * gemma3.n_kv_heads * gemma3.head_dim * 2
    assert kv_cache_bytes(gemma3, 32768) == per_layer_token * (3 * 32768 + 15 * 512)
    assert kv_cache_bytes(gemma3, 256) == per_layer_token * 18 * 256
    mistral = arch("mistralai/Mistral-7B-v0.1")  # SWA 4096 on every layer
    assert kv_cache_bytes(mistral, 32768) == kv_cache_bytes(mistral, 4096)
    gemma2 = arch("google/gemma-2-9b")  # alternating local (4096) / global
    full = kv_bytes_per_token(gemma2) * 16384
    assert kv_cache_bytes(gemma2, 16384) == pytest.approx(full * (1 + 4096 / 16384) / 2, rel=1e-9)


def test_kv_cache_mla_uses_latent() -> None:
    ds = arch("deepseek-ai/DeepSeek-V3")
    assert kv_cache_bytes(ds, 1000) == 1000 * ds.n_layers * (512 + 64) * 2


def test_weights_of_known_models() -> None:
    # llama.cpp's quantize README: Llama-3.1-8B Q4_K_M 4.58 GiB, F16 14.96 GiB, Q8_0 7.95 GiB.
    llama = arch("meta-llama/Llama-3.1-8B")
    assert weight_bytes(llama, "Q4_K_M") / GiB == pytest.approx(4.58, abs=0.01)
    assert weight_bytes(llama, "F16") / GiB == pytest.approx(14.96, abs=0.01)
    assert weight_bytes(llama, "Q8_0") / GiB == pytest.approx(7.95, abs=0.01)
    qwen = arch("Qwen/Qwen2.5-7B")
    assert weight_bytes(qwen, "bf16") == qwen.params_total * 2
    # nf4 leaves the 152k x 3584 embedding and the untied head in bf16.
    edge = 2 * 152064 * 3584
    body = qwen.params_total - edge
    assert weight_bytes(qwen, "nf4") == round((body * 4.5 + edge * 16) / 8)


def test_weights_of_a_real_gguf_are_exact(smollm2_gguf) -> None:  # type: ignore[no-untyped-def]
    info = read_gguf(smollm2_gguf)
    assert info.n_params == 134_515_008
    assert info.file_type == "Q4_1"
    fp = gguf_footprint(smollm2_gguf, context_tokens=2048, device="cpu")
    assert fp.weight_bytes == info.tensor_bytes
    # SmolLM2-135M: 30 layers x 3 KV heads x 64 dims x 2 (K,V) x 2 bytes = 23040 B/token.
    assert fp.kv_bytes == 23040 * 2048
    assert 5.0 < info.bits_per_weight < 6.0  # Q4_1 falls back on 576-wide rows


def test_footprint_terms_add_up() -> None:
    fp = footprint(arch("Qwen/Qwen2.5-14B"), "Q4_K_M", 4096, device="cuda")
    assert fp.total_bytes == fp.weight_bytes + fp.kv_bytes + fp.compute_bytes + fp.overhead_bytes
    assert fp.backend == "llama.cpp"
    assert footprint(arch("Qwen/Qwen2.5-14B"), "nf4", 4096).backend == "transformers"


def test_bad_inputs_raise_clear_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    llama = arch("meta-llama/Llama-3.1-8B")
    with pytest.raises(AdvisorError, match="context"):
        footprint(llama, "Q4_K_M", 0)
    with pytest.raises(AdvisorError, match="KV cache type"):
        kv_cache_bytes(llama, 10, "q3")
    with pytest.raises(GGUFError, match="no such file"):
        read_gguf(tmp_path / "missing.gguf")
    not_gguf = tmp_path / "x.gguf"
    not_gguf.write_text("hello")
    with pytest.raises(GGUFError, match="not a GGUF"):
        read_gguf(not_gguf)


def test_truncated_gguf_is_detected(smollm2_gguf, tmp_path) -> None:  # type: ignore[no-untyped-def]
    torn = tmp_path / "torn.gguf"
    torn.write_bytes(smollm2_gguf.read_bytes()[:5_000_000])
    with pytest.raises(GGUFError, match=r"truncated|damaged"):
        read_gguf(torn)


def test_memory_model_matches_published_qwen_memory() -> None:
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import memory_validation
    finally:
        sys.path.pop(0)
    rows = memory_validation.validation_rows()
    assert len(rows) == 124  # every Qwen2.5 speed-benchmark and Qwen-1 chat memory row
    stats = memory_validation.summary(rows)
    assert stats["median_abs_error"] < 0.05
    assert stats["ratio_baseline_over_ours"] > 5
