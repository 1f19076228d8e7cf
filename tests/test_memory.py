import json
import subprocess
import sys
from dataclasses import replace

import pytest

from advisor.errors import AdvisorError
from advisor.memory import (
    DEFAULT_CONTEXT_TOKENS,
    KV_CACHE_BYTES,
    Footprint,
    LlamaCppSettings,
    MemoryModelError,
    attention_layout,
    compute_bytes,
    footprint,
    gguf_footprint,
    kv_bytes_per_layer,
    kv_bytes_per_token,
    kv_cache_bytes,
    upper_bound_bytes,
    weight_breakdown,
    weight_bytes,
)
from advisor.memory.tensors import fallback_count, gguf_tensors, quantized_tensors
from advisor.profiles import architectures
from advisor.profiles.gguf_file import GGUFError, read_gguf
from tests.conftest import REPO

GiB = 2**30
MiB = 2**20


def arch(model_id: str):  # type: ignore[no-untyped-def]
    return architectures()[model_id]


def test_public_names_and_defaults() -> None:
    assert DEFAULT_CONTEXT_TOKENS == 4096
    assert KV_CACHE_BYTES["q8_0"] == 34 / 32 and KV_CACHE_BYTES["q4_0"] == 18 / 32
    assert issubclass(MemoryModelError, AdvisorError)


def test_kv_bytes_per_token_llama31_8b() -> None:
    llama = arch("meta-llama/Llama-3.1-8B")
    assert kv_bytes_per_token(llama) == 131072
    assert kv_bytes_per_token(llama, "q8_0") == 131072 * 34 / 64
    assert kv_cache_bytes(llama, 8192) == 131072 * 8192  # 1 GiB at 8k tokens


def test_kv_cache_gqa_and_mha() -> None:
    assert kv_bytes_per_token(arch("Qwen/Qwen2.5-7B")) == 57344  # 4 KV heads of 28
    assert kv_bytes_per_token(arch("meta-llama/Llama-2-7b-hf")) == 524288  # MHA
    assert kv_bytes_per_token(arch("tiiuae/falcon-7b")) == 8192  # MQA


def test_context_is_padded_to_256_cells() -> None:
    llama = arch("meta-llama/Llama-3.1-8B")
    assert kv_cache_bytes(llama, 2000) == kv_cache_bytes(llama, 2048)
    assert kv_cache_bytes(llama, 2049) == 131072 * 2304


def test_sliding_window_cells_follow_llama_cpp() -> None:
    # gemma-3-270m: 18 layers, 3 global, 15 sliding (window 512), 1 KV head x 256, K+V f16.
    gemma3 = arch("google/gemma-3-270m")
    per_cell = 2 * 256 * 2
    # SWA: pad(min(n_ctx, 512 + n_ubatch 512), 256) = 1,024 cells, not the 512 window
    assert kv_cache_bytes(gemma3, 8192) == per_cell * (3 * 8192 + 15 * 1024) == 39 * MiB
    # unified cache, 4 slots: pad(512 x 4 + 512, 256) = 2,560 cells
    assert kv_cache_bytes(gemma3, 8192, parallel=4, kv_unified=True) == per_cell * (
        3 * 8192 + 15 * 2560
    )
    # split cache, 2 slots: 2 streams x (4,096 global, 1,024 sliding cells)
    assert kv_cache_bytes(gemma3, 8192, parallel=2) == 54 * MiB
    # --swa-full: every layer the whole context
    assert kv_cache_bytes(gemma3, 8192, swa_full=True) == per_cell * 18 * 8192
    # at a short context the sliding layers hold all of it
    assert kv_cache_bytes(gemma3, 256) == per_cell * 18 * 256


def test_attention_layout_is_per_backend() -> None:
    mistral = arch("mistralai/Mistral-7B-v0.1")  # HF: SWA 4096 on every layer
    # GGUF converts it to arch "llama", which has no sliding window: the whole context
    assert attention_layout(mistral, "llama.cpp").count("full") == 32
    assert kv_cache_bytes(mistral, 131072) == 16 * GiB
    assert attention_layout(mistral, "transformers").count("sliding") == 32
    assert "no sliding-window cache" in attention_layout(mistral, "gguf").notes[0]
    ds = arch("deepseek-ai/DeepSeek-V3")
    latent = attention_layout(ds, "llama.cpp")
    assert latent.latent_kv and latent.layers[0].k_width == 576 and latent.layers[0].v_width == 0
    full = attention_layout(ds, "transformers")
    assert not full.latent_kv and full.layers[0].k_width == 128 * 192
    assert full.layers[0].v_width == 128 * 128
    # transformers' DeepSeek-V3 caches ~38 GiB at 8k, llama.cpp's MLA latent 0.5 GiB
    assert kv_cache_bytes(ds, 8192, backend="transformers") == 61 * 128 * 320 * 2 * 8192
    assert kv_cache_bytes(ds, 8192) == 61 * 576 * 2 * 8192
    # before PR 19067 llama.cpp also cached V = the latent
    assert kv_cache_bytes(ds, 8192, era="2025-12") == 61 * (576 + 512) * 2 * 8192


def test_hybrid_layers_keep_a_recurrent_state_not_kv() -> None:
    qwen35 = replace(
        arch("Qwen/Qwen2.5-7B"),
        family_key="qwen3.5",
        n_layers=64,
        layer_types="linear linear linear full",
        recurrent_state_elements=817152,  # 3 x (6144 + 2 x 16 x 128) + 128 x 6144
        n_kv_heads=4,
        head_dim=256,
    )
    layout = attention_layout(qwen35, "llama.cpp")
    assert layout.count("full") == 16 and layout.count("linear") == 48
    per_layer = kv_bytes_per_layer(qwen35, 262144, parallel=4, kv_unified=True)
    assert sum(per_layer) == 16384 * MiB and per_layer[0] == 0
    fp = footprint(qwen35, "Q8_0", 262144, parallel=4, kv_unified=True)
    assert fp.state_bytes == 598.5 * MiB  # llama_memory_recurrent: 4 cells, F32
    one = footprint(qwen35, "Q8_0", 4096)
    assert one.state_bytes == 598.5 * MiB / 4  # one sequence; independent of the context
    assert fp.total_bytes == (
        fp.weight_bytes + fp.kv_bytes + fp.state_bytes + fp.compute_bytes + fp.overhead_bytes
    )


def test_kquant_fallback_on_odd_widths() -> None:
    # Qwen2.5-72B: ffn_down rows are 29,568 wide (not a multiple of 256) -> Q5_0 / Q8_0
    q72 = arch("Qwen/Qwen2.5-72B")
    types = {t.spec.name: t.type_name for t in quantized_tensors(q72, "Q4_K_M")}
    assert types["blk.0.ffn_down.weight"] == "Q8_0"  # Q6_K where use_more_bits -> Q8_0
    assert types["blk.13.ffn_down.weight"] == "Q5_0"  # Q4_K -> Q5_0
    assert types["blk.13.attn_v.weight"] == "Q5_K"  # Q4_K bumped: 80-layer qwen2 is LLM_TYPE_70B
    assert weight_bytes(q72, "Q4_K_M") / GiB == pytest.approx(44.15, abs=0.01)
    # hidden 896: 144 of 290 tensors fall back (the quantizer's own count)
    assert fallback_count(arch("Qwen/Qwen2.5-0.5B"), "Q4_K_M") == 144
    assert weight_bytes(arch("Qwen/Qwen2.5-0.5B"), "Q4_K_M") / MiB == pytest.approx(
        373.71, abs=0.01
    )
    for model_id, ftype, mib_expected in [
        ("HuggingFaceTB/SmolLM2-135M", "Q4_K_M", 98.87),
        ("google/gemma-3-270m", "Q4_K_M", 235.16),
    ]:
        assert weight_bytes(arch(model_id), ftype) / MiB == pytest.approx(mib_expected, rel=1e-3)


def test_recipe_reproduces_llama_cpp_bits_per_weight_table() -> None:
    # llama.cpp tools/quantize/README.md (311c2c9), Llama-3.1-8B whole-file bits/weight
    from advisor.memory.tensors import bits_per_weight

    llama = arch("meta-llama/Llama-3.1-8B")
    table = [("Q4_K_M", 4.8944), ("Q2_K", 3.1593), ("Q5_K_M", 5.7036), ("Q6_K", 6.5633),
             ("Q8_0", 8.5008), ("IQ4_XS", 4.4597), ("IQ2_M", 2.9294),
             ("Q3_K_L", 4.2979)]  # fmt: skip
    for ftype, bpw in table:
        assert bits_per_weight(llama, ftype) == pytest.approx(bpw, abs=1e-4), ftype


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
    assert sum(t.n_elements for t in gguf_tensors(llama)) == llama.params_total


def test_token_embd_stays_in_host_memory() -> None:
    llama = arch("meta-llama/Meta-Llama-3-8B")
    fp = footprint(llama, "Q4_K_M", 8192)
    device_weights = next(t for t in fp.terms if t.name == "weights on the device")
    assert device_weights.bytes / MiB == pytest.approx(4403.49, abs=0.01)  # file minus token_embd
    assert fp.host_bytes >= 281 * MiB
    assert fp.device_bytes < fp.total_bytes
    cpu = footprint(llama, "Q4_K_M", 8192, device="cpu")
    assert cpu.device_bytes == cpu.total_bytes and cpu.host_bytes == 0
    # -ngl 19 of 32: the last 19 layers on the GPU, the output and 13 layers in host memory
    partial = footprint(llama, "Q4_K_M", 8192, n_gpu_layers=19)
    assert partial.device_bytes < fp.device_bytes - 1.5 * GiB
    # a tied embedding is duplicated as the output on the GPU (gemma-3-270m Q8_0)
    gemma = footprint(arch("google/gemma-3-270m"), "Q8_0", 4096)
    assert (
        next(t for t in gemma.terms if t.name == "weights on the device").bytes
        == gemma.weight_bytes
    )


def test_compute_buffer_with_and_without_flash_attention() -> None:
    # Measured with the installed llama.cpp (tests/test_memory_llama_cpp_real.py): a Llama-3-8B
    # shape at 8,192 tokens on the CPU: 124.01 MiB with FA and one output, 572.01 without FA.
    llama = arch("meta-llama/Meta-Llama-3-8B")
    fa = footprint(llama, "Q4_K_M", 8192, device="cpu")
    buffer = next(t for t in fa.terms if t.name == "compute buffer")
    assert buffer.bytes == 124 * MiB
    no_fa = footprint(llama, "Q4_K_M", 8192, device="cpu", flash_attn="off")
    assert next(t for t in no_fa.terms if t.name == "compute buffer").bytes == 572 * MiB
    # without FA the KQ matrix grows with the context; with FA only the F16 mask does
    long_no_fa = compute_bytes(llama, 32768, "llama.cpp", device="cpu", flash_attn="off")
    assert long_no_fa > 2 * GiB
    assert compute_bytes(llama, 32768, "llama.cpp", device="cpu") < 200 * MiB
    # llama-cli / the library reserve logits for the whole micro-batch
    cli = footprint(llama, "Q4_K_M", 8192, device="cpu", n_outputs=512)
    assert next(t for t in cli.terms if t.name == "compute buffer").bytes == 266.5 * MiB
    with pytest.raises(MemoryModelError, match="flash attention"):
        footprint(llama, "Q4_K_M", 8192, kv_cache_type="q8_0", flash_attn="off")


def test_transformers_attention_implementations() -> None:
    qwen = arch("Qwen/Qwen2.5-7B")
    sdpa = footprint(qwen, "bf16", 8192)
    eager = footprint(qwen, "bf16", 8192, attn_implementation="eager")
    fa2 = footprint(qwen, "bf16", 8192, flash_attn="on")
    assert (
        sdpa.backend == "transformers"
        and dict(fa2.settings)["attn_implementation"] == "flash_attention_2"
    )
    # eager materialises 28 heads x 8192^2 scores in bf16 + float32 for one layer
    assert eager.compute_bytes - sdpa.compute_bytes >= 28 * 8192 * 8192 * 6
    assert fa2.compute_bytes == sdpa.compute_bytes
    # a short prompt with a long context: activations follow the prompt, the KV the context
    short = footprint(qwen, "bf16", 32768, prompt_tokens=512)
    assert short.compute_bytes < sdpa.compute_bytes < footprint(qwen, "bf16", 32768).compute_bytes
    with pytest.raises(MemoryModelError, match="attn_implementation"):
        footprint(qwen, "bf16", 8192, attn_implementation="magic")


def test_vllm_paged_kv_and_utilization() -> None:
    llama = arch("meta-llama/Meta-Llama-3-8B")
    fp = footprint(llama, "bf16", 8192, backend="vllm")
    assert fp.kv_bytes == 8192 * 131072  # 512 blocks of 16 tokens
    assert fp.weight_bytes == llama.params_total * 2
    # the smallest GPU on which vLLM starts: 10 % of it is left outside gpu_memory_utilization
    inside = fp.total_bytes - fp.overhead_bytes
    assert fp.overhead_bytes > 0.1 * inside
    tighter = footprint(llama, "bf16", 8192, backend="vllm", gpu_memory_utilization=0.95)
    assert tighter.total_bytes < fp.total_bytes
    with pytest.raises(MemoryModelError, match="gpu_memory_utilization"):
        footprint(llama, "bf16", 8192, backend="vllm", gpu_memory_utilization=1.5)
    with pytest.raises(MemoryModelError, match="GGUF"):
        footprint(llama, "Q4_K_M", 8192, backend="vllm")


def test_weight_breakdown_for_placement() -> None:
    q30 = arch("Qwen/Qwen3-30B-A3B")  # 48 MoE layers, 128 experts, 8 per token
    wb = weight_breakdown(q30, "Q4_K_M")
    assert len(wb.layer_bytes) == len(wb.expert_bytes) == 48
    assert all(0 < e < layer for e, layer in zip(wb.expert_bytes, wb.layer_bytes, strict=True))
    assert wb.total_bytes == weight_bytes(q30, "Q4_K_M")
    experts = sum(wb.expert_bytes)
    assert wb.active_bytes_per_token == pytest.approx(
        wb.total_bytes - wb.token_embd_bytes - experts + experts * 8 / 128, rel=1e-6
    )
    dense = weight_breakdown(arch("meta-llama/Llama-3.1-8B"), "Q4_K_M", backend="gguf")
    assert set(dense.expert_bytes) == {0} and dense.token_embd_bytes > 0 and dense.output_bytes > 0
    assert dense.active_bytes_per_token == dense.total_bytes - dense.token_embd_bytes
    nf4 = weight_breakdown(arch("Qwen/Qwen2.5-7B"), "nf4", backend="transformers")
    assert nf4.total_bytes == pytest.approx(weight_bytes(arch("Qwen/Qwen2.5-7B"), "nf4"), rel=1e-3)
    per_layer = kv_bytes_per_layer(arch("google/gemma-3-270m"), 8192)
    assert len(per_layer) == 18 and per_layer[5] == 8192 * 1024 and per_layer[0] == 1024 * 1024


def test_upper_bound_is_calibrated_per_backend() -> None:
    llama = arch("meta-llama/Llama-3.1-8B")
    gguf = footprint(llama, "Q4_K_M", 4096)
    assert gguf.device_bytes <= upper_bound_bytes(gguf) <= gguf.device_bytes * 1.02
    awq = footprint(arch("Qwen/Qwen2.5-7B"), "AWQ", 4096)
    assert upper_bound_bytes(awq) > 1.2 * (awq.device_bytes - awq.overhead_bytes)
    assert awq.upper_bytes == upper_bound_bytes(awq)
    assert awq.to_dict()["upper_bytes"] == awq.upper_bytes
    with pytest.raises(TypeError):
        upper_bound_bytes(42)  # type: ignore[arg-type]


def test_footprint_terms_add_up_and_carry_rules() -> None:
    fp = footprint(arch("Qwen/Qwen2.5-14B"), "Q4_K_M", 4096, device="cuda")
    assert fp.total_bytes == fp.weight_bytes + fp.kv_bytes + fp.compute_bytes + fp.overhead_bytes
    assert fp.backend == "llama.cpp"
    assert footprint(arch("Qwen/Qwen2.5-14B"), "nf4", 4096).backend == "transformers"
    assert footprint(arch("Qwen/Qwen2.5-14B"), "Q4_K_M", backend="gguf").backend == "llama.cpp"
    assert all(t.rule for t in fp.terms)
    data = fp.to_dict()
    assert data["total_bytes"] == fp.total_bytes and data["terms"][0]["name"] == "weights"
    assert isinstance(fp, Footprint)
    gemma = footprint(arch("google/gemma-3-27b-it"), "Q4_K_M", 8192)
    swa = next(t for t in gemma.terms if t.name == "KV sliding-window")
    assert "1,536 cells = pad(1,024 + 512, 256)" in swa.rule


def test_bad_inputs_raise_clear_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    llama = arch("meta-llama/Llama-3.1-8B")
    with pytest.raises(AdvisorError, match="context"):
        footprint(llama, "Q4_K_M", 0)
    with pytest.raises(AdvisorError, match="KV cache type"):
        kv_cache_bytes(llama, 10, "q3")
    with pytest.raises(AdvisorError, match="backend"):
        footprint(llama, "Q4_K_M", backend="tensorrt")
    with pytest.raises(AdvisorError, match="unknown format"):
        footprint(llama, "Q9_X")
    with pytest.raises(AdvisorError, match="device"):
        footprint(llama, "Q4_K_M", device="tpu")
    with pytest.raises(AdvisorError, match="parallel"):
        LlamaCppSettings(n_parallel=0)
    with pytest.raises(AdvisorError, match="flash attention"):
        footprint(llama, "Q4_K_M", flash_attn="maybe")
    with pytest.raises(TypeError, match="Architecture"):
        footprint("Llama-3.1-8B", "Q4_K_M")  # type: ignore[arg-type]
    with pytest.raises(GGUFError, match="no such file"):
        read_gguf(tmp_path / "missing.gguf")
    not_gguf = tmp_path / "x.gguf"
    not_gguf.write_text("hello")
    with pytest.raises(GGUFError, match="not a GGUF"):
        read_gguf(not_gguf)


def test_weights_of_a_real_gguf_are_exact(smollm2_gguf) -> None:  # type: ignore[no-untyped-def]
    info = read_gguf(smollm2_gguf)
    assert info.n_params == 134_515_008
    assert info.file_type == "Q4_1"
    fp = gguf_footprint(smollm2_gguf, context_tokens=2048, device="cpu")
    assert fp.weight_bytes == info.tensor_bytes
    # SmolLM2-135M: 30 layers x 3 KV heads x 64 dims x 2 (K,V) x 2 bytes = 23040 B/token.
    assert fp.kv_bytes == 23040 * 2048
    assert 5.0 < info.bits_per_weight < 6.0  # Q4_1 falls back on 576-wide rows


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


def test_importing_the_memory_model_is_pure() -> None:
    code = (
        "import sys, advisor.memory as m; from advisor.profiles import architectures;"
        "m.footprint(architectures()['meta-llama/Llama-3.1-8B'], 'Q4_K_M');"
        "print(sorted(k for k in sys.modules if k.split('.')[0] in "
        "('numpy', 'torch', 'gguf', 'transformers', 'llama_cpp')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "advisor", *args], capture_output=True, text=True, cwd=REPO
    )


def test_memory_command_prints_rules_and_json() -> None:
    out = run_cli("memory", "gemma-3-27b-it", "--context", "8192")
    assert out.returncode == 0, out.stderr
    assert "1,536 cells = pad(1,024 + 512, 256)" in out.stdout
    assert "token_embd" in out.stdout and "GiB" in out.stdout
    js = run_cli("memory", "Qwen2.5-7B", "--format", "nf4", "--json", "--flash-attn", "on")
    data = json.loads(js.stdout)
    assert data["schema"] == "advisor.memory/1"
    assert (
        data["backend"] == "transformers"
        and data["settings"]["attn_implementation"] == "flash_attention_2"
    )
    par = json.loads(run_cli("memory", "gemma-3-270m", "--parallel", "4", "--json").stdout)
    assert par["settings"]["n_parallel"] == 4
    vllm = json.loads(
        run_cli("memory", "Llama-3.1-8B", "--format", "bf16", "--backend", "vllm", "--json").stdout
    )
    assert vllm["backend"] == "vllm"
    help_text = run_cli("memory", "--help").stdout
    for flag in ("--backend", "--flash-attn", "--parallel", "--context"):
        assert flag in help_text
    assert help_text.count("(default:") >= 10
    bad = run_cli("memory", "Llama-3.1-8B", "--parallel", "0")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "--parallel" in bad.stderr


def test_fast_totals_equal_the_per_tensor_recipe() -> None:
    # the recommender's fast path (classes of equal tensors) must equal the tensor-by-tensor sums
    from advisor.memory.tensors import quantize, weight_totals

    ftypes = ["F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_K_S", "Q4_0", "IQ4_XS", "Q3_K_M",
              "IQ3_M", "IQ3_XS", "IQ3_XXS", "Q2_K", "Q2_K_S", "IQ2_M", "IQ1_S",
              "MXFP4"]  # fmt: skip
    for a in architectures().values():
        specs = gguf_tensors(a)
        for ftype in ftypes:
            per_tensor = quantize(a, ftype)
            totals = weight_totals(a, ftype)
            embd = sum(
                n for s, n in zip(specs, per_tensor.n_bytes, strict=True) if s.part == "token_embd"
            )
            assert totals.total == sum(per_tensor.n_bytes), (a.model_id, ftype)
            assert totals.token_embd == embd and totals.fallback_tensors == sum(per_tensor.fallback)


def test_a_header_without_model_facts_is_a_gguf_error(smollm2_gguf, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # fuzzed headers (benchmarks/gguf_fuzz.py --target advisor.memory:gguf_footprint) must be
    # refused as a damaged file, one line
    from advisor.memory import architecture_from_gguf

    info = read_gguf(smollm2_gguf)
    broken = replace(
        info, metadata={k: v for k, v in info.metadata.items() if "block_count" not in k}
    )
    with pytest.raises(GGUFError, match="lacks layer"):
        architecture_from_gguf(broken)
    with pytest.raises(MemoryModelError):
        architecture_from_gguf(broken)
