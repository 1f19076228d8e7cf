"""transformers' memory: weights as the checkpoint loads them, the DynamicCache, and the
prefill activations of the chosen attention implementation.

Read from the installed transformers 5.x:

* ``DynamicCache(config=...)`` gives sliding/chunked layers a ``DynamicSlidingWindowLayer``
  that keeps ``sliding_window - 1`` tokens (cache_utils.py:196-246), but during prefill it
  stores a *view* of the whole prompt's K/V, so until the next decode step a sliding layer
  holds the full prompt: at the peak it holds ``max(prompt, window - 1)`` tokens.
* ``eager`` materialises the attention matrix (eager_attention_forward: matmul, scale, mask,
  softmax in float32, cast back): about n_heads x prompt^2 x (2 + 4) bytes for one layer at a
  time, plus K/V repeated to every query head (``repeat_kv``).
* ``sdpa`` and ``flash_attention_2`` never materialise it: memory grows with the prompt
  linearly; sdpa repeats K/V for GQA when it cannot pass ``enable_gqa`` (a mask is given or
  the device is not CUDA; sdpa_attention.py:use_gqa_in_sdpa).
* generate() computes logits for the last position only (``logits_to_keep=1``), in float32.
"""

from __future__ import annotations

from functools import lru_cache

from advisor.memory._base import FP16_BYTES, FP32_BYTES, MemoryModelError, Term, mib
from advisor.memory.layout import AttentionLayout, attention_layout
from advisor.profiles import Architecture
from advisor.profiles.formats import Format

ATTN_IMPLEMENTATIONS = ("sdpa", "eager", "flash_attention_2")
DEFAULT_ATTN_IMPLEMENTATION = "sdpa"
ACTIVATION_BYTES = FP16_BYTES  # bf16/fp16 activations


def check_attn_implementation(name: str) -> str:
    if name not in ATTN_IMPLEMENTATIONS:
        raise MemoryModelError(
            f"attn_implementation must be one of {', '.join(ATTN_IMPLEMENTATIONS)}, got {name!r}"
        )
    return name


def expert_params(arch: Architecture) -> int:
    """Parameters of the routed-expert tensors (0 for a dense model)."""
    if not arch.n_experts:
        return 0
    from advisor.memory.tensors import gguf_tensors

    return sum(t.n_elements for t in gguf_tensors(arch) if t.part == "expert")


def weight_parts(arch: Architecture, fmt: Format) -> tuple[int, int, int]:
    """(body, embedding, head) bytes: linear layers at the format's bits/weight, embedding and
    lm_head at their 16-bit edge precision (bitsandbytes, GPTQ and AWQ leave them alone).
    A tied head is stored once. A format with its own expert precision (MXFP4 checkpoints:
    experts 4.25 bits, the rest 16-bit) stores the routed experts at it."""
    expert_bpw = getattr(fmt, "expert_bpw", None)
    if expert_bpw is not None and arch.n_experts:
        experts = min(expert_params(arch), arch.body_params)
        body = int(
            round(experts * expert_bpw / 8 + (arch.body_params - experts) * fmt.body_bpw / 8)
        )
    else:
        body = int(round(arch.body_params * fmt.body_bpw / 8))
    embed = int(round(arch.embed_params * fmt.embed_bpw / 8))
    head = int(round(arch.output_params * fmt.output_bpw / 8))
    return body, embed, head


@lru_cache(maxsize=8192)
def kv_cache(
    arch: Architecture,
    context_tokens: int,
    prompt_tokens: int,
    layout: AttentionLayout | None = None,
) -> tuple[tuple[int, ...], tuple[Term, ...]]:
    """Per-layer bytes of the 16-bit DynamicCache at its peak, with the rule."""
    layout = layout or attention_layout(arch, "transformers")
    per_layer: list[int] = []
    for layer in layout.layers:
        if not layer.has_kv:
            per_layer.append(0)
            continue
        tokens = context_tokens
        if layer.window:
            tokens = min(context_tokens, max(prompt_tokens, layer.window - 1))
        per_layer.append(tokens * (layer.k_width + layer.v_width) * ACTIVATION_BYTES)
    terms: list[Term] = []
    full = [i for i, layer in enumerate(layout.layers) if layer.has_kv and not layer.window]
    local = [i for i, layer in enumerate(layout.layers) if layer.has_kv and layer.window]
    if full:
        w = layout.layers[full[0]]
        total = sum(per_layer[i] for i in full)
        terms.append(
            Term(
                "KV full-attention",
                total,
                f"{len(full)} layers x {context_tokens:,} tokens x (K {w.k_width} + V {w.v_width}) "
                f"x 2 B = {mib(total)}",
            )
        )
    if local:
        w = layout.layers[local[0]]
        total = sum(per_layer[i] for i in local)
        tokens = min(context_tokens, max(prompt_tokens, (w.window or 1) - 1))
        terms.append(
            Term(
                "KV sliding-window",
                total,
                f"{len(local)} layers x {tokens:,} tokens = min(context, max(prompt, "
                f"window {w.window} - 1)) x (K {w.k_width} + V {w.v_width}) x 2 B = {mib(total)} "
                "(the prefill view is kept until the next decode step)",
            )
        )
    state_layers = [layer for layer in layout.layers if layer.kind in ("linear", "mamba")]
    if state_layers:
        total = sum(layer.state_elements for layer in state_layers) * FP32_BYTES
        terms.append(
            Term(
                "recurrent state",
                total,
                f"{len(state_layers)} layers x {state_layers[0].state_elements:,} elements "
                f"x 4 B = {mib(total)}",
            )
        )
    return tuple(per_layer), tuple(terms)


def state_bytes(layout: AttentionLayout) -> int:
    return (
        sum(layer.state_elements for layer in layout.layers if layer.kind in ("linear", "mamba"))
        * FP32_BYTES
    )


def activation_bytes(
    arch: Architecture, prompt_tokens: int, attn_implementation: str, on_cuda: bool = True
) -> tuple[int, Term]:
    """Peak prefill activations of one forward pass over ``prompt_tokens``.

    Common to all implementations (fits the Qwen2.5 speed benchmark's peaks, see
    benchmarks/memory_validation.py): the MLP's gate, up and product (3 x intermediate) and
    four hidden-size buffers per token in 16-bit, and the last position's float32 logits.
    eager adds the attention matrix of one layer; sdpa without native GQA the repeated K/V.
    """
    check_attn_implementation(attn_implementation)
    e = arch.hidden_size
    n_ff = arch.intermediate_size or 4 * e
    if arch.n_experts and arch.experts_per_token and arch.expert_intermediate_size:
        n_ff = max(n_ff if not arch.n_dense_layers else 0,
                   arch.expert_intermediate_size * arch.experts_per_token)  # fmt: skip
    base = prompt_tokens * (3 * n_ff + 4 * e) * ACTIVATION_BYTES + 2 * arch.vocab_size * FP32_BYTES
    rule = (
        f"{prompt_tokens:,} prompt tokens x (3 x {n_ff:,} + 4 x {e:,}) x 2 B"
        f" + logits of the last token {mib(2 * arch.vocab_size * FP32_BYTES)}"
    )
    extra = 0
    n_rep = arch.n_heads // max(1, arch.n_kv_heads)
    if attn_implementation == "eager":
        # matmul output (bf16) and its float32 softmax live together, per layer
        extra = arch.n_heads * prompt_tokens * prompt_tokens * (ACTIVATION_BYTES + FP32_BYTES)
        extra += prompt_tokens * prompt_tokens * ACTIVATION_BYTES  # the 4-D causal mask
        if n_rep > 1:
            extra += 2 * arch.n_heads * prompt_tokens * arch.head_dim * ACTIVATION_BYTES
        rule += (
            f" + eager attention matrix {arch.n_heads} heads x {prompt_tokens:,}^2 x (2 + 4) B"
            f" + mask = {mib(extra)}"
        )
    elif attn_implementation == "sdpa" and n_rep > 1 and not on_cuda:
        extra = 2 * arch.n_heads * prompt_tokens * arch.head_dim * ACTIVATION_BYTES
        rule += f" + K/V repeated to {arch.n_heads} heads (repeat_kv) {mib(extra)}"
    else:
        rule += f" ({attn_implementation}: no attention matrix)"
    total = base + extra
    return total, Term("activations (prefill)", total, f"{rule} = {mib(total)}")
