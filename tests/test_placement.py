"""Placement: where a model runs on GPUs, system RAM, several GPUs or Apple unified memory,
the llama.cpp flags for it, and the speed of the split."""

from __future__ import annotations

import pytest

from advisor import speed
from advisor.profiles import find_architecture
from advisor.speed.shape import SpeedInputError, model_shape

GiB = 2**30
# --vram 12GB --ram 64GB: an RTX 3060-class card in a dual-channel DDR5 desktop
CARD_12 = {
    "kind": "gpu",
    "memory_gib": 12,
    "memory_bandwidth_gbs": 360,
    "fp16_tflops": 51,
    "ram_gib": 64,
    "ram_bandwidth_gbs": 89.6,
    "cpu_tflops": 1.3,
}


def _gpu(p: speed.Placement) -> speed.DeviceShare:
    return p.gpu_shares[0]


def test_fits_whole_on_one_gpu() -> None:
    p = speed.place("Meta-Llama-3-8B", "Q4_K_M", "rtx-4090-24gb", 8192)
    assert p.strategy == "gpu" and p.fits
    assert p.llama_cpp_flags[:2] == ["-ngl", "99"]
    gpu = _gpu(p)
    assert gpu.layers == 32 and gpu.output_head
    # the token embedding stays in host memory in llama.cpp; the rest is on the card
    shape = model_shape(find_architecture("Meta-Llama-3-8B"), "Q4_K_M")
    assert gpu.weight_bytes == pytest.approx(shape.resident_bytes - shape.token_embd_bytes, abs=2)
    assert p.host_share.weight_bytes == pytest.approx(shape.token_embd_bytes, abs=2)


def test_dense_model_offloads_layers_with_ngl() -> None:
    p = speed.place("Meta-Llama-3-70B", "Q4_K_M", CARD_12, 4096)
    assert p.strategy == "offload-layers" and p.fits
    gpu, host = _gpu(p), p.host_share
    assert 0 < p.n_gpu_layers < 80 and gpu.layers == p.n_gpu_layers
    assert host.layers == 80 - p.n_gpu_layers and host.output_head  # -ngl N <= n_layer: head on CPU
    assert (
        gpu.total_bytes
        <= 12 * GiB
        < gpu.total_bytes
        + gpu.kv_bytes / gpu.layers * 4
        + 2 * (model_shape(find_architecture("Meta-Llama-3-70B"), "Q4_K_M").layer_bytes)
    )  # the most layers that fit: one more would not
    assert p.llama_cpp_flags[:2] == ["-ngl", str(p.n_gpu_layers)]
    # one more layer on the GPU than chosen would overflow it
    more = speed.place("Meta-Llama-3-70B", "Q4_K_M", CARD_12, 4096, n_gpu_layers=p.n_gpu_layers + 1)
    assert not more.fits and more.strategy == "does-not-fit"


def test_moe_model_keeps_experts_on_the_cpu() -> None:
    p = speed.place("Qwen3-30B-A3B", "Q4_K_M", CARD_12, 4096)
    assert p.strategy == "offload-experts" and p.fits
    assert p.n_gpu_layers == 49 and 0 < p.n_cpu_moe < 48
    assert "--n-cpu-moe" in p.llama_cpp_flags
    gpu, host = _gpu(p), p.host_share
    assert gpu.layers == 48 and host.layers == 0  # attention everywhere on the GPU
    assert host.expert_layers == p.n_cpu_moe and gpu.expert_layers == 48 - p.n_cpu_moe
    fewer = speed.place("Qwen3-30B-A3B", "Q4_K_M", CARD_12, 4096, n_cpu_moe=p.n_cpu_moe - 1)
    assert not fewer.fits


def test_expert_offload_beats_layer_offload_for_moe() -> None:
    experts = speed.estimate("Qwen3-30B-A3B", "Q4_K_M", CARD_12)
    layers = speed.estimate(
        "Qwen3-30B-A3B", "Q4_K_M", CARD_12, placement={"n_gpu_layers": 20, "n_cpu_moe": 0}
    )
    assert experts.placement.strategy == "offload-experts"
    assert experts.regime == "offload" and experts.decode.mean > layers.decode.mean


def test_offload_speed_is_between_gpu_and_cpu() -> None:
    split = speed.estimate("Meta-Llama-3-70B", "Q4_K_M", CARD_12, context_tokens=1024)
    cpu = speed.estimate("Meta-Llama-3-70B", "Q4_K_M", CARD_12, 1024, placement="cpu")
    assert cpu.placement.n_gpu_layers == 0
    assert cpu.decode.mean < split.decode.mean
    # time per token = GPU bytes / GPU bandwidth + CPU bytes / RAM bandwidth: the RAM part
    # dominates, so a 70B Q4 with most layers in dual-channel DDR5 decodes at ~1-2 tokens/s
    assert 0.7 < split.decode.mean < 3.0
    assert "-ngl" in " ".join(split.placement.llama_cpp_flags)


def test_two_24gb_gpus_split_layers() -> None:
    p = speed.place("Meta-Llama-3-70B", "Q4_K_M", "2x rtx-3090-24gb", 4096)
    assert p.strategy == "multi-gpu" and p.fits
    a, b = p.gpu_shares
    assert a.layers + b.layers == 80 and abs(a.layers - b.layers) <= 1
    assert a.overhead_bytes > 0 and b.overhead_bytes > 0  # each GPU pays its own context
    assert b.output_head and not a.output_head
    assert "--tensor-split" in p.llama_cpp_flags
    one = speed.place("Meta-Llama-3-70B", "Q4_K_M", "rtx-3090-24gb", 4096)
    assert one.strategy == "offload-layers"
    # layer split does not add bandwidth: decode stays near one 48 GB card's speed
    two = speed.estimate("Meta-Llama-3-70B", "Q4_K_M", "2x rtx-3090-24gb", 512)
    assert 12 < two.decode.mean < 22  # XiongjieDai: 2x3090 70B Q4_K_M tg ~16-17 tokens/s


def test_tensor_split_and_the_largest_tensor() -> None:
    p = speed.place(
        "Meta-Llama-3-70B", "Q4_K_M", "2x rtx-3090-24gb", 4096, n_gpu_layers=99, tensor_split=[3, 1]
    )
    a, b = p.gpu_shares
    assert a.layers == 60 and b.layers == 20 and not p.fits  # 3/4 of a 40 GB model on 24 GB
    auto = speed.place("Meta-Llama-3-70B", "Q4_K_M", "2x rtx-3090-24gb", 4096, tensor_split=[3, 1])
    assert auto.fits and auto.strategy == "offload-layers"  # the split kept, fewer layers
    with pytest.raises(SpeedInputError, match="one non-negative share per GPU"):
        speed.place("Meta-Llama-3-70B", "Q4_K_M", "2x rtx-3090-24gb", 4096, tensor_split=[1])
    # what must fit one device whole is the biggest single tensor: a dense model's head
    shape = model_shape(find_architecture("Llama-3.1-405B"), "Q4_K_M")
    assert shape.largest_tensor_bytes == pytest.approx(shape.output_bytes)


def test_apple_unified_memory_respects_the_metal_working_set() -> None:
    apple = {"kind": "apple", "memory_gib": 48, "memory_bandwidth_gbs": 273, "fp16_tflops": 8.6}
    p = speed.place("Meta-Llama-3-70B", "Q4_K_M", apple, 4096)
    gpu, host = _gpu(p), p.host_share
    assert gpu.capacity_bytes == int(48 * GiB * 0.75)  # default working set above 32 GiB
    assert p.strategy == "offload-layers" and p.fits  # 40 GB: over the working set, in RAM
    assert gpu.total_bytes <= gpu.capacity_bytes
    assert host.capacity_bytes == 48 * GiB - gpu.total_bytes  # one pool, shared
    assert any("working set" in n for n in p.notes)
    roomy = speed.place("Meta-Llama-3-70B", "Q4_K_M", {**apple, "working_set_fraction": 0.95}, 4096)
    assert roomy.strategy == "gpu"
    small = speed.place("Meta-Llama-3-70B", "Q4_K_M", "apple-m4-pro-24gb", 4096)
    assert not small.fits and small.strategy == "does-not-fit"


def test_cpu_only_and_the_issue_example() -> None:
    p = speed.place("Qwen2.5-32B", "Q6_K", "cpu-32gb-ddr5", 4096)
    assert p.strategy == "cpu" and p.fits and p.llama_cpp_flags == ["-c", "4096"]
    est = speed.estimate("Qwen2.5-32B", "Q6_K", "cpu-32gb-ddr5", 2048)
    assert est.regime == "cpu" and 0.8 < est.decode.mean < 3.5  # "about 2 tokens/s"


def test_gpu_without_described_ram_says_what_it_assumed() -> None:
    hw = {"kind": "gpu", "memory_gb": 12, "memory_bandwidth_gbs": 360, "fp16_tflops": 51}
    est = speed.estimate("Meta-Llama-3-70B", "Q4_K_M", hw)
    assert est.placement.system.host_assumed
    assert any("assumed" in n for n in est.notes)


def test_quantized_kv_needs_flash_attention_flag() -> None:
    p = speed.place("Meta-Llama-3-8B", "Q4_K_M", "rtx-3060-12gb", 32768, kv_cache_type="q8_0")
    flags = " ".join(p.llama_cpp_flags)
    assert "-ctk q8_0 -ctv q8_0" in flags and "-fa on" in flags
    f16 = speed.place("Meta-Llama-3-8B", "Q4_K_M", "rtx-3060-12gb", 32768)
    assert _gpu(p).kv_bytes < _gpu(f16).kv_bytes


def test_plan_attaches_the_estimate_and_serializes() -> None:
    p = speed.plan("Qwen3-30B-A3B", "Q4_K_M", CARD_12, context_tokens=4096)
    assert p.estimate is not None and p.estimate.placement.strategy == p.strategy
    data = p.to_dict()
    assert data["estimate"]["decode"]["mean"] == p.estimate.decode.mean
    assert data["llama_cpp_flags"] == p.llama_cpp_flags
    assert "--n-cpu-moe" in p.command


def test_placement_argument_errors() -> None:
    with pytest.raises(TypeError, match="n_gpu_layers"):
        speed.place("Meta-Llama-3-8B", "Q4_K_M", CARD_12, 4096, n_gpu_layers="all")  # type: ignore[arg-type]
    with pytest.raises(SpeedInputError, match="context_tokens"):
        speed.place("Meta-Llama-3-8B", "Q4_K_M", CARD_12, 0)
    with pytest.raises(TypeError, match="placement must be"):
        speed.estimate("Meta-Llama-3-8B", "Q4_K_M", CARD_12, placement=3)
