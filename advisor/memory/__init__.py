"""The memory model: pure functions, each term shown separately.

    total = weights + KV cache + compute buffer + runtime overhead

Weights come from a GGUF file's tensors when there is a file (exact), otherwise from
architecture facts and the format's bits/weight (:mod:`advisor.profiles.formats`). The KV cache is
GQA-, sliding-window- and MLA-aware. Compute buffers and runtime overheads are named
constants with their source, meant to be calibrated from measurements.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

from advisor.errors import AdvisorError
from advisor.profiles import Architecture
from advisor.profiles.formats import Format, get_format

DEFAULT_CONTEXT_TOKENS = (
    4096  # not the model's maximum: that is what inflates other tools' estimates
)

# Bytes per cached K or V element, by cache type (llama.cpp --cache-type-k/-v).
# q8_0 and q4_0 are ggml block types: 34 and 18 bytes per 32 values.
KV_CACHE_BYTES: dict[str, float] = {
    "f32": 4.0,
    "f16": 2.0,
    "bf16": 2.0,
    "q8_0": 34 / 32,
    "q4_0": 18 / 32,
}

MiB = 2**20

# Runtime overheads, per (backend, device). Sources in the comments; calibrate from
# measurements (`advisor fit` reports the residual once CUDA measurements exist).
RUNTIME_OVERHEAD_BYTES: dict[tuple[str, str], int] = {
    # CUDA context of a PyTorch process with lazy module loading (CUDA >= 11.7): 300-600 MiB
    # across recent GPUs (PyTorch "CUDA semantics" notes; NVML process usage minus
    # torch.cuda.memory_reserved). Plus allocator slack, taken as part of this constant.
    ("transformers", "cuda"): 600 * MiB,
    # What torch.cuda.max_memory_allocated reports leaves the context and slack out
    # (Qwen2.5 speed benchmark, SOURCES.md): used to validate against those rows.
    ("torch-allocated", "cuda"): 0,
    # Python + torch + transformers imported, before weights: RSS seen on this project's CPU runs.
    ("transformers", "cpu"): 450 * MiB,
    # llama.cpp CUDA backend context + cuBLAS workspace: ~300-400 MiB in llama.cpp logs.
    ("llama.cpp", "cuda"): 400 * MiB,
    # Python + llama-cpp-python process RSS before a model is loaded.
    ("llama.cpp", "cpu"): 120 * MiB,
}

LLAMACPP_UBATCH_TOKENS = 512  # llama.cpp default n_ubatch: the compute graph is sized for it
FP32_BYTES = 4
ACTIVATION_BYTES = 2  # bf16/fp16 activations in transformers


class MemoryModelError(AdvisorError):
    """Bad input to the memory model (unknown format, impossible context...)."""


@dataclass(frozen=True)
class Footprint:
    """Predicted memory of one deployment config, term by term (bytes)."""

    weight_bytes: int
    kv_bytes: int
    compute_bytes: int
    overhead_bytes: int
    context_tokens: int
    kv_cache_type: str
    backend: str
    device: str
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def total_bytes(self) -> int:
        return self.weight_bytes + self.kv_bytes + self.compute_bytes + self.overhead_bytes

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["notes"] = list(self.notes)
        data["total_bytes"] = self.total_bytes
        return data


def _check_context(context_tokens: int) -> None:
    if context_tokens <= 0:
        raise MemoryModelError(f"context must be a positive number of tokens, got {context_tokens}")


def _kv_element_bytes(kv_cache_type: str) -> float:
    try:
        return KV_CACHE_BYTES[kv_cache_type.lower()]
    except KeyError:
        known = ", ".join(KV_CACHE_BYTES)
        raise MemoryModelError(
            f"unknown KV cache type {kv_cache_type!r}: use one of {known}"
        ) from None


def weight_bytes(arch: Architecture, fmt: Format | str) -> int:
    """Bytes of the weights of ``arch`` stored in ``fmt``.

    Repeating layers at the format's body bits/weight; the embedding and output head at
    their own precision. A tied head is stored once: llama.cpp then quantizes the shared
    tensor with its output-tensor rule, the others keep it at 16-bit.
    """
    f = get_format(fmt) if isinstance(fmt, str) else fmt
    embed_bpw = f.output_bpw if (arch.tied_embeddings and f.backend == "gguf") else f.embed_bpw
    bits = (
        arch.body_params * f.body_bpw
        + arch.embed_params * embed_bpw
        + arch.output_params * f.output_bpw
    )
    return int(round(bits / 8))


def _cached_tokens(arch: Architecture, context_tokens: int) -> int:
    """Tokens held in the KV cache, summed over layers, at ``context_tokens``."""
    window = arch.sliding_window or context_tokens
    local = min(context_tokens, window)
    if arch.attention == "swa":
        return local * arch.n_layers
    if arch.attention == "hybrid":
        every = arch.global_every or 1
        first = arch.first_global_layer if arch.first_global_layer is not None else every - 1
        n_global = len(range(first, arch.n_layers, every))
        return n_global * context_tokens + (arch.n_layers - n_global) * local
    return context_tokens * arch.n_layers


def kv_cache_bytes(arch: Architecture, context_tokens: int, kv_cache_type: str = "f16") -> int:
    """KV-cache bytes at ``context_tokens``: 2 × layers × kv_heads × head_dim × tokens × bytes.

    GQA via ``n_kv_heads``; sliding-window layers hold at most their window; MLA
    (DeepSeek) caches the compressed latent (kv_lora_rank + rope dims) per layer instead.
    """
    _check_context(context_tokens)
    elem = _kv_element_bytes(kv_cache_type)
    tokens = _cached_tokens(arch, context_tokens)
    if arch.attention == "mla":
        per_token_layer = (arch.kv_lora_rank or 0) + (arch.qk_rope_head_dim or 0)
        return int(round(tokens * per_token_layer * elem))
    v_dim = arch.v_head_dim or arch.head_dim
    per_token_layer = arch.n_kv_heads * (arch.head_dim + v_dim)
    return int(round(tokens * per_token_layer * elem))


def kv_bytes_per_token(arch: Architecture, kv_cache_type: str = "f16") -> float:
    """KV bytes per token with every layer holding it (the slope for full attention)."""
    elem = _kv_element_bytes(kv_cache_type)
    if arch.attention == "mla":
        return arch.n_layers * ((arch.kv_lora_rank or 0) + (arch.qk_rope_head_dim or 0)) * elem
    v_dim = arch.v_head_dim or arch.head_dim
    return arch.n_layers * arch.n_kv_heads * (arch.head_dim + v_dim) * elem


def compute_bytes(arch: Architecture, context_tokens: int, backend: str) -> int:
    """Scratch memory for running the model over a prompt of ``context_tokens``.

    llama.cpp sizes its compute graph for one micro-batch (n_ubatch = 512): the logits
    (vocab × 4 bytes per token) dominate, plus hidden and FFN activations in fp32.
    transformers processes the whole prompt at once: the FFN's gate, up and activation
    outputs (3 × intermediate) and a few hidden-size buffers per token, in 16-bit, plus
    fp32 logits for the last position. Both forms match published peaks (see
    ``benchmarks/memory_validation.py``).
    """
    _check_context(context_tokens)
    intermediate = arch.intermediate_size or 4 * arch.hidden_size
    if backend == "llama.cpp":
        ubatch = min(LLAMACPP_UBATCH_TOKENS, context_tokens)
        per_token = arch.vocab_size + 4 * arch.hidden_size + 2 * intermediate
        return ubatch * per_token * FP32_BYTES
    per_token = (3 * intermediate + 4 * arch.hidden_size) * ACTIVATION_BYTES
    return context_tokens * per_token + 2 * arch.vocab_size * FP32_BYTES


def overhead_bytes(backend: str, device: str) -> int:
    try:
        return RUNTIME_OVERHEAD_BYTES[(backend, device)]
    except KeyError:
        known = ", ".join(f"{b}/{d}" for b, d in RUNTIME_OVERHEAD_BYTES)
        raise MemoryModelError(
            f"no overhead known for {backend}/{device}: one of {known}"
        ) from None


def backend_for(fmt: Format) -> str:
    return "llama.cpp" if fmt.backend == "gguf" else "transformers"


def footprint(
    arch: Architecture,
    fmt: Format | str,
    context_tokens: int = DEFAULT_CONTEXT_TOKENS,
    kv_cache_type: str = "f16",
    device: str = "cuda",
    backend: str | None = None,
    prompt_tokens: int | None = None,
) -> Footprint:
    """Predict the memory of ``arch`` in ``fmt`` at ``context_tokens`` on ``device``.

    ``prompt_tokens`` is the longest prompt processed in one pass (default: the whole
    context), which sizes the compute buffer; the KV cache holds ``context_tokens``.
    """
    _check_context(context_tokens)
    prompt_tokens = context_tokens if prompt_tokens is None else prompt_tokens
    _check_context(prompt_tokens)
    f = get_format(fmt) if isinstance(fmt, str) else fmt
    return _footprint(arch, f, context_tokens, kv_cache_type, device, backend, prompt_tokens)


@lru_cache(maxsize=32768)
def _footprint(
    arch: Architecture,
    f: Format,
    context_tokens: int,
    kv_cache_type: str,
    device: str,
    backend: str | None,
    prompt_tokens: int,
) -> Footprint:
    # Pure and called per config on every re-rank (the TUI re-ranks on each keystroke).
    backend = backend or backend_for(f)
    # transformers' KV cache is 16-bit; quantized caches are a llama.cpp option.
    kv_type = kv_cache_type if backend == "llama.cpp" else "f16"
    notes: list[str] = []
    if kv_type != kv_cache_type:
        notes.append(f"KV cache kept at f16: {kv_cache_type} is a llama.cpp option")
    if arch.attention in {"swa", "hybrid"} and context_tokens > (arch.sliding_window or 0):
        notes.append(f"sliding-window layers hold {arch.sliding_window} tokens")
    if arch.attention == "mla":
        notes.append("MLA: the cache holds the compressed latent (kv_lora_rank + rope dims)")
    if arch.is_moe:
        notes.append("MoE: every expert must be resident; speed follows the active parameters")
    compute_backend = "llama.cpp" if backend == "llama.cpp" else "transformers"
    return Footprint(
        weight_bytes=weight_bytes(arch, f),
        kv_bytes=kv_cache_bytes(arch, context_tokens, kv_type),
        compute_bytes=compute_bytes(arch, prompt_tokens, compute_backend),
        overhead_bytes=overhead_bytes(backend, device),
        context_tokens=context_tokens,
        kv_cache_type=kv_type,
        backend=backend,
        device=device,
        notes=tuple(notes),
    )


def architecture_from_gguf(info: Any) -> Architecture:
    """Architecture facts read from a GGUF header (``advisor.profiles.gguf_file.GGUFInfo``)."""
    n_layers = info.arch_int("block_count")
    hidden = info.arch_int("embedding_length")
    n_heads = info.arch_int("attention.head_count")
    if not (n_layers and hidden and n_heads):
        raise MemoryModelError(f"{info.path.name}: GGUF header lacks layer/width/head counts")
    n_kv = info.arch_int("attention.head_count_kv") or n_heads
    head_dim = info.arch_int("attention.key_length") or hidden // n_heads
    v_dim = info.arch_int("attention.value_length")
    window = info.arch_int("attention.sliding_window")
    vocab = next((t.n_elements // hidden for t in info.tensors if t.name == "token_embd.weight"), 0)
    tied = not any(t.name == "output.weight" for t in info.tensors)
    attention, every, first = "full", None, None
    if window and info.architecture in {"gemma2"}:
        attention, every, first = "hybrid", 2, 1
    elif window and info.architecture.startswith("gemma3"):
        attention, every, first = "hybrid", 6, 5
    elif window:
        attention = "swa"
    ff = info.arch_int("feed_forward_length")
    return Architecture(
        model_id=str(info.path),
        name=info.name,
        family=info.architecture,
        family_key=info.architecture,
        params_total=info.n_params,
        params_active=None,
        n_layers=n_layers,
        hidden_size=hidden,
        intermediate_size=ff,
        n_heads=n_heads,
        n_kv_heads=n_kv,
        head_dim=head_dim,
        v_head_dim=v_dim if v_dim and v_dim != head_dim else None,
        vocab_size=vocab,
        tied_embeddings=tied,
        max_context=info.arch_int("context_length"),
        attention=attention,
        sliding_window=window if attention != "full" else None,
        global_every=every,
        first_global_layer=first,
        kv_lora_rank=None,
        qk_rope_head_dim=None,
        n_experts=info.arch_int("expert_count"),
        experts_per_token=info.arch_int("expert_used_count"),
        dtype=None,
        training_tokens=None,
        source=f"GGUF header of {info.path.name}",
        confidence="read-in-file",
        notes="",
    )


def gguf_footprint(
    path: str | os.PathLike[str],
    context_tokens: int = DEFAULT_CONTEXT_TOKENS,
    kv_cache_type: str = "f16",
    device: str = "cpu",
) -> Footprint:
    """Footprint of a GGUF file: weights exactly from its tensors, the rest as :func:`footprint`."""
    from advisor.profiles.gguf_file import read_gguf

    _check_context(context_tokens)
    info = read_gguf(path)
    arch = architecture_from_gguf(info)
    return Footprint(
        weight_bytes=info.tensor_bytes,
        kv_bytes=kv_cache_bytes(arch, context_tokens, kv_cache_type),
        compute_bytes=compute_bytes(arch, context_tokens, "llama.cpp"),
        overhead_bytes=overhead_bytes("llama.cpp", device),
        context_tokens=context_tokens,
        kv_cache_type=kv_cache_type,
        backend="llama.cpp",
        device=device,
        notes=(
            f"weights read from {info.file_type or 'GGUF'} tensors: "
            f"{info.bits_per_weight:.3f} bits/weight",
        ),
    )
