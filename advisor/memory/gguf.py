"""Memory of a real GGUF file: weights exactly from its tensors, the rest by llama.cpp's rules
on the architecture its header declares. The gguf reader is imported only here, on call."""

from __future__ import annotations

import os
from typing import Any

from advisor.memory import llama_cpp as lc
from advisor.memory._base import MemoryModelError, check_context, kv_element_bytes, mib
from advisor.memory.footprint import (
    DEFAULT_CONTEXT_TOKENS,
    Footprint,
    WeightBreakdown,
    llama_cpp_footprint,
)
from advisor.memory.layout import LLAMA_CPP_SWA_ARCHS
from advisor.profiles import Architecture
from advisor.profiles.gguf_file import GGUFError


class GGUFModelError(MemoryModelError, GGUFError):
    """A readable GGUF whose header does not describe a model the memory model can size."""


# Sliding-window layer pattern per llama.cpp architecture when the GGUF has no per-layer
# array: (period, first full layer) from set_swa_pattern in src/models/<arch>.cpp.
_SWA_PATTERN: dict[str, tuple[int, int]] = {
    "gemma2": (2, 1),
    "gemma3": (6, 5),
    "gpt-oss": (2, 1),
    "cohere2": (4, 3),
    "llama4": (4, 3),
    "olmo2": (4, 3),
    "exaone4": (4, 3),
    "afmoe": (4, 3),
}
_RECURRENT_INTERVAL = {"qwen3next": 4, "qwen35": 4, "qwen35moe": 4}


def _per_layer(info: Any, key: str, n_layers: int) -> list[int] | None:
    """A per-layer integer array of the header, or None when absent or not one."""
    value = info.metadata.get(f"{info.architecture}.{key}")
    if (
        isinstance(value, list)
        and len(value) == n_layers
        and all(isinstance(v, int) for v in value)
    ):
        return [int(v) for v in value]
    return None


def _layer_types(
    info: Any, n_layers: int, window: int | None
) -> tuple[str | None, str, int | None, int | None]:
    """(layer_types, attention kind, global_every, first_global) from the header."""
    arch = info.architecture
    kv_heads = _per_layer(info, "attention.head_count_kv", n_layers)
    ssm = info.arch_int("ssm.state_size")
    if ssm and kv_heads is not None:
        # hybrids store head_count_kv per layer: 0 for recurrent (or FFN-only) layers
        kind = "mamba" if arch not in _RECURRENT_INTERVAL else "linear"
        tokens = ["full" if h else kind for h in kv_heads]
        return " ".join(tokens), "ssm_hybrid" if kind == "mamba" else "linear_hybrid", None, None
    if ssm and arch in _RECURRENT_INTERVAL:
        every = info.arch_int("full_attention_interval") or _RECURRENT_INTERVAL[arch]
        tokens = ["full" if (i + 1) % every == 0 else "linear" for i in range(n_layers)]
        return " ".join(tokens), "linear_hybrid", None, None
    pattern = info.metadata.get(f"{arch}.attention.sliding_window_pattern")
    if (
        window
        and isinstance(pattern, list)
        and len(pattern) == n_layers
        and all(isinstance(p, (bool, int)) for p in pattern)
    ):
        return " ".join("sliding" if p else "full" for p in pattern), "hybrid", None, None
    if window and arch in _SWA_PATTERN:
        every, first = _SWA_PATTERN[arch]
        return None, "hybrid", every, first
    if window and arch in LLAMA_CPP_SWA_ARCHS:
        return None, "swa", None, None
    return None, "full", None, None


def architecture_from_gguf(info: Any) -> Architecture:
    """Architecture facts read from a GGUF header (``advisor.profiles.gguf_file.GGUFInfo``).
    A header whose facts do not make a model is a one-line :class:`GGUFModelError` (both a
    :class:`MemoryModelError` and a ``GGUFError``)."""
    try:
        return _architecture_from_gguf(info)
    except (ValueError, TypeError, OverflowError, ZeroDivisionError) as exc:
        name = getattr(getattr(info, "path", None), "name", "GGUF file")
        raise GGUFModelError(f"{name}: GGUF header facts do not describe a model ({exc})") from exc


def _architecture_from_gguf(info: Any) -> Architecture:
    n_layers = info.arch_int("block_count")
    hidden = info.arch_int("embedding_length")
    n_heads = info.arch_int("attention.head_count")
    if not (n_layers and hidden and n_heads):
        raise GGUFModelError(f"{info.path.name}: GGUF header lacks layer/width/head counts")
    n_kv = info.arch_int("attention.head_count_kv") or n_heads
    head_dim = info.arch_int("attention.key_length") or hidden // n_heads
    v_dim = info.arch_int("attention.value_length")
    window = info.arch_int("attention.sliding_window") or None
    kv_lora = info.arch_int("attention.kv_lora_rank")
    rope_dim = info.arch_int("rope.dimension_count")
    attention_kind = "full"
    layer_types, attention_kind, every, first = _layer_types(info, n_layers, window)
    if kv_lora and info.arch_int("attention.key_length_mla"):
        attention_kind = "mla"
    vocab = next((t.n_elements // hidden for t in info.tensors if t.name == "token_embd.weight"), 0)
    tied = not any(t.name == "output.weight" for t in info.tensors)
    ff = info.arch_int("feed_forward_length")
    state = None
    d_state, d_inner = info.arch_int("ssm.state_size"), info.arch_int("ssm.inner_size")
    if d_state and d_inner:
        conv = info.arch_int("ssm.conv_kernel") or 0
        groups = info.arch_int("ssm.group_count") or 0
        # llama-hparams.cpp n_embd_r + n_embd_s
        state = max(conv - 1, 0) * (d_inner + 2 * groups * d_state) + d_state * d_inner
    n_experts = info.arch_int("expert_count")
    mla_rope = rope_dim if attention_kind == "mla" else None
    return Architecture(
        model_id=str(info.path),
        name=info.name,
        family=info.architecture,
        family_key=_family_key(str(info.architecture)),
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
        attention=attention_kind,
        sliding_window=window if layer_types or attention_kind in ("hybrid", "swa") else None,
        global_every=every,
        first_global_layer=first,
        kv_lora_rank=kv_lora if attention_kind == "mla" else None,
        qk_rope_head_dim=mla_rope,
        n_experts=n_experts,
        experts_per_token=info.arch_int("expert_used_count"),
        dtype=None,
        training_tokens=None,
        source=f"GGUF header of {info.path.name}",
        confidence="read-in-file",
        notes="",
        layer_types=layer_types,
        recurrent_state_elements=state,
        expert_intermediate_size=info.arch_int("expert_feed_forward_length"),
        n_shared_experts=info.arch_int("expert_shared_count"),
        n_dense_layers=info.arch_int("leading_dense_block_count"),
    )


def _family_key(gguf_arch: str) -> str:
    """A catalogue family key that maps back to ``gguf_arch`` (so layout decisions follow
    the header's architecture: a "llama" file never has an SWA cache)."""
    from advisor.memory.layout import GGUF_ARCH_BY_FAMILY

    return next((k for k, v in GGUF_ARCH_BY_FAMILY.items() if v == gguf_arch), gguf_arch)


def file_breakdown(info: Any, arch: Architecture) -> WeightBreakdown:
    """The file's tensors by part (exact bytes)."""
    layers = [0] * arch.n_layers
    experts = [0] * arch.n_layers
    token_embd = output = other = 0
    for t in info.tensors:
        name = t.name
        if name.startswith("blk."):
            try:
                i = int(name.split(".")[1])
            except ValueError:
                other += t.n_bytes
                continue
            if 0 <= i < arch.n_layers:
                layers[i] += t.n_bytes
                if "_exps." in name:
                    experts[i] += t.n_bytes
            else:
                other += t.n_bytes  # e.g. a multi-token-prediction layer past n_layers
        elif name == "token_embd.weight":
            token_embd += t.n_bytes
        elif name == "output.weight":
            output += t.n_bytes
        else:
            other += t.n_bytes
    head = output if output else token_embd
    share = (arch.experts_per_token or 0) / arch.n_experts if arch.n_experts else 0.0
    active = sum(layers) - sum(experts) + int(round(sum(experts) * share)) + head + other
    return WeightBreakdown(
        token_embd, output, tuple(layers), tuple(experts), other, active, "llama.cpp",
        str(info.file_type or "GGUF"),
    )  # fmt: skip


def gguf_footprint(
    path: str | os.PathLike[str],
    context_tokens: int = DEFAULT_CONTEXT_TOKENS,
    kv_cache_type: str = "f16",
    device: str = "cpu",
    settings: lc.LlamaCppSettings | None = None,
) -> Footprint:
    """Footprint of a GGUF file: weights exactly from its tensors, the rest as llama.cpp
    allocates it for the architecture in the header."""
    from advisor.profiles.gguf_file import read_gguf

    check_context(context_tokens)
    kv_element_bytes(kv_cache_type)
    info = read_gguf(path)
    arch = architecture_from_gguf(info)
    breakdown = file_breakdown(info, arch)
    rule = (
        f"read from {info.file_type or 'GGUF'} tensors: {mib(info.tensor_bytes)} "
        f"({info.bits_per_weight:.3f} bits/weight)"
    )
    fp = llama_cpp_footprint(
        arch, breakdown, rule, context_tokens, kv_cache_type.lower(), device,
        settings or lc.DEFAULT_SETTINGS,
        (f"weights read from {info.file_type or 'GGUF'} tensors: "
         f"{info.bits_per_weight:.3f} bits/weight",),
    )  # fmt: skip
    return fp
