"""vLLM's memory: weights, a profiled activation peak, and a paged KV cache that takes
whatever ``gpu_memory_utilization`` leaves.

vLLM does not size its KV cache for the context: at start-up it profiles one forward pass of
``max_num_batched_tokens`` tokens, then hands every byte of ``gpu_memory_utilization x total``
left after weights, activations and non-torch memory to the KV cache, in blocks of
``block_size`` tokens (vllm/v1/worker/gpu_worker.py determine_available_memory). It refuses to
start when that cache cannot hold one ``max_model_len`` sequence. So the memory a config
*needs* is the smallest GPU on which it starts:
``(weights + activations + non-torch + KV for one sequence) / gpu_memory_utilization`` plus
the CUDA context, which sits outside the fraction. :func:`kv_cache_tokens` gives the other
view, the tokens a given amount of KV memory holds (vLLM's "GPU KV cache size: N tokens").

MLA models (DeepSeek) cache one latent of kv_lora_rank + rope dims per layer and token, no V;
sliding-window layers hold only their window (the hybrid KV cache manager).
"""

from __future__ import annotations

from advisor.memory._base import FP16_BYTES, MemoryModelError, MiB, Term, kv_element_bytes, mib
from advisor.memory.layout import AttentionLayout, attention_layout
from advisor.profiles import Architecture

DEFAULT_GPU_MEMORY_UTILIZATION = 0.9
DEFAULT_BLOCK_SIZE = 16
# vllm/engine/arg_utils.py (_set_default_args): `vllm serve` on a GPU under 70 GiB batches
# 2,048 tokens per step (8,192 on larger ones); max_num_seqs 256.
DEFAULT_MAX_NUM_BATCHED_TOKENS = 2048
DEFAULT_MAX_NUM_SEQS = 256
# Outside the KV cache and the weights: cuBLAS/NCCL workspaces and the CUDA-graph pool
# ("Graph capturing finished ... took 0.3-0.6 GiB" in vLLM logs of 7-8B models).
NON_TORCH_AND_GRAPHS_BYTES = 512 * MiB
# The CUDA context of the worker process: present before vLLM measures free memory, so it
# has to fit in the (1 - gpu_memory_utilization) share.
CUDA_CONTEXT_BYTES = 500 * MiB


def check_utilization(value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise MemoryModelError(f"gpu_memory_utilization must be in (0, 1], got {value!r}")
    return float(value)


def _kv_dtype_bytes(kv_cache_dtype: str) -> float:
    key = kv_cache_dtype.lower()
    if key in ("auto", "bf16", "f16", "fp16", "bfloat16", "float16"):
        return FP16_BYTES
    if key.startswith("fp8"):
        return 1.0
    return kv_element_bytes(key)


def kv_bytes_per_token_per_layer(
    layout: AttentionLayout, kv_cache_dtype: str = "auto"
) -> list[float]:
    elt = _kv_dtype_bytes(kv_cache_dtype)
    return [
        (layer.k_width + layer.v_width) * elt if layer.has_kv else 0.0 for layer in layout.layers
    ]


def kv_cache(
    arch: Architecture,
    context_tokens: int,
    kv_cache_dtype: str = "auto",
    block_size: int = DEFAULT_BLOCK_SIZE,
    layout: AttentionLayout | None = None,
) -> tuple[tuple[int, ...], tuple[Term, ...]]:
    """KV memory one ``context_tokens`` sequence needs, in whole blocks."""
    layout = layout or attention_layout(arch, "vllm")
    per_token = kv_bytes_per_token_per_layer(layout, kv_cache_dtype)
    blocks_full = -(-context_tokens // block_size)
    per_layer: list[int] = []
    for layer, b in zip(layout.layers, per_token, strict=True):
        if not b:
            per_layer.append(0)
            continue
        tokens = context_tokens
        if layer.window:
            tokens = min(context_tokens, layer.window + block_size)
        per_layer.append(int(-(-tokens // block_size) * block_size * b))
    total = sum(per_layer)
    n_attn = sum(1 for layer in layout.layers if layer.has_kv)
    rule = (
        f"{blocks_full:,} blocks of {block_size} tokens x {n_attn} "
        f"layers ({'latent ' if layout.latent_kv else ''}{kv_cache_dtype}) = {mib(total)}; "
        "vLLM gives the KV cache all memory left under gpu_memory_utilization"
    )
    return tuple(per_layer), (Term("KV cache (one sequence)", total, rule),)


def activation_bytes(
    arch: Architecture,
    max_num_batched_tokens: int = DEFAULT_MAX_NUM_BATCHED_TOKENS,
    max_num_seqs: int = DEFAULT_MAX_NUM_SEQS,
) -> tuple[int, Term]:
    """The profiled peak: one forward pass of ``max_num_batched_tokens`` (MLP gate/up and
    product, hidden buffers, 16-bit) and the sampler's float32 logits for ``max_num_seqs``."""
    e = arch.hidden_size
    n_ff = arch.intermediate_size or 4 * e
    if arch.n_experts and arch.expert_intermediate_size and arch.experts_per_token:
        n_ff = arch.expert_intermediate_size * arch.experts_per_token
    t = max_num_batched_tokens
    forward = t * (3 * n_ff + 4 * e) * FP16_BYTES
    sampler = 2 * max_num_seqs * arch.vocab_size * 4
    total = forward + sampler
    rule = (
        f"profile run of {t:,} tokens x (3 x {n_ff:,} + 4 x {e:,}) x 2 B + sampler logits "
        f"{max_num_seqs} seqs x {arch.vocab_size:,} x 4 B x 2 = {mib(total)}"
    )
    return total, Term("activations (profile run)", total, rule)


def kv_cache_tokens(
    arch: Architecture,
    available_kv_bytes: int,
    kv_cache_dtype: str = "auto",
    block_size: int = DEFAULT_BLOCK_SIZE,
    tensor_parallel: int = 1,
    layers_on_rank: int | None = None,
) -> int:
    """Tokens vLLM's KV cache holds in ``available_kv_bytes`` (its "GPU KV cache size").

    Per rank: full-attention layers' bytes per token, KV heads split over ``tensor_parallel``
    ranks (an MLA latent is not split); ``layers_on_rank`` for pipeline stages.
    """
    if available_kv_bytes <= 0:
        raise MemoryModelError("available KV memory must be positive")
    layout = attention_layout(arch, "vllm")
    per_token = kv_bytes_per_token_per_layer(layout, kv_cache_dtype)
    attn = [b for b in per_token if b]
    if not attn:
        raise MemoryModelError(f"{arch.name} has no attention layer with a KV cache")
    layers = layers_on_rank or len(attn)
    heads_split = 1 if layout.latent_kv else max(1, min(tensor_parallel, arch.n_kv_heads))
    bytes_per_token = layers * max(attn) / heads_split
    blocks = int(available_kv_bytes // (bytes_per_token * block_size))
    return blocks * block_size
