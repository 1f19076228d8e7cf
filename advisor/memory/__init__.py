"""The memory model: what a config takes, term by term, as each runtime allocates it.

    total = weights + KV cache + recurrent state + compute buffer + runtime overhead

Per backend (``backend=``): "llama.cpp" (alias "gguf"), "transformers", "vllm".

* Weights: GGUF file types from llama.cpp's per-tensor recipe with its k-quant fallback
  (:mod:`advisor.memory.tensors`); other formats from bits/weight with 16-bit embeddings; a real
  GGUF file from its tensors (:func:`gguf_footprint`).
* KV cache: per layer, through the backend's view of the architecture
  (:func:`advisor.memory.layout.attention_layout`): sliding windows only where the runtime
  implements them, MLA latent or full heads, no KV on linear/SSM layers, which keep a fixed
  recurrent state per sequence.
* Compute: llama.cpp's compute buffer (flash attention on/off, logits rows), transformers'
  prefill activations (sdpa / eager / flash_attention_2), vLLM's profile run.
* :func:`upper_bound_bytes`: the fit test, the prediction times a per-backend factor
  calibrated on the validation residuals.

Pure Python: no numpy or torch at import; GGUF reading happens inside :func:`gguf_footprint`.
Rules cite ggml-org/llama.cpp@0c1e570 (the vendored copy installed here) and the PRs that
changed them; see docs/memory.md.
"""

from __future__ import annotations

from advisor.memory._base import (
    BACKENDS,
    KV_CACHE_BYTES,
    LLAMA_CPP_COMMIT,
    MemoryModelError,
    Term,
)
from advisor.memory.footprint import (
    DEFAULT_CONTEXT_TOKENS,
    RUNTIME_OVERHEAD_BYTES,
    UPPER_BOUND_FACTOR,
    Footprint,
    WeightBreakdown,
    backend_for,
    compute_bytes,
    footprint,
    kv_bytes_per_layer,
    kv_bytes_per_token,
    kv_cache_bytes,
    overhead_bytes,
    upper_bound_bytes,
    weight_breakdown,
    weight_bytes,
)
from advisor.memory.gguf import architecture_from_gguf, gguf_footprint
from advisor.memory.layout import AttentionLayout, LayerCache, attention_layout, gguf_architecture
from advisor.memory.llama_cpp import LLAMA_CPP_ERAS, LlamaCppSettings
from advisor.memory.transformers import ATTN_IMPLEMENTATIONS
from advisor.memory.vllm import kv_cache_tokens as vllm_kv_cache_tokens

__all__ = [
    "ATTN_IMPLEMENTATIONS",
    "BACKENDS",
    "DEFAULT_CONTEXT_TOKENS",
    "KV_CACHE_BYTES",
    "LLAMA_CPP_COMMIT",
    "LLAMA_CPP_ERAS",
    "RUNTIME_OVERHEAD_BYTES",
    "UPPER_BOUND_FACTOR",
    "AttentionLayout",
    "Footprint",
    "LayerCache",
    "LlamaCppSettings",
    "MemoryModelError",
    "Term",
    "WeightBreakdown",
    "architecture_from_gguf",
    "attention_layout",
    "backend_for",
    "compute_bytes",
    "footprint",
    "gguf_architecture",
    "gguf_footprint",
    "kv_bytes_per_layer",
    "kv_bytes_per_token",
    "kv_cache_bytes",
    "overhead_bytes",
    "upper_bound_bytes",
    "vllm_kv_cache_tokens",
    "weight_breakdown",
    "weight_bytes",
]
