"""Architecture facts seen through a runtime: which layers keep a KV cache, of what width,
for how many tokens, and which keep a fixed recurrent state instead.

The same checkpoint is cached differently by different runtimes. GGUF converts
Mistral-7B-v0.1 to llama.cpp's ``llama`` architecture, which never reads a sliding window,
so llama.cpp caches the whole context on every layer while transformers keeps 4,095 tokens.
DeepSeek's MLA is cached as its compressed latent by llama.cpp and vLLM, but transformers'
DeepSeek-V3 caches full per-head K and V. :func:`attention_layout` decides this per backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from advisor.memory._base import LLAMA_CPP_COMMIT_SHORT, MemoryModelError, normalize_backend
from advisor.profiles import Architecture

# GGUF architecture names (``general.architecture``) by catalogue family_key: what
# convert_hf_to_gguf.py writes. Mistral and Mixtral are written as ``llama``; Phi-4 as ``phi3``.
GGUF_ARCH_BY_FAMILY: dict[str, str] = {
    "llama2": "llama",
    "llama3": "llama",
    "llama3.1": "llama",
    "llama3.2": "llama",
    "llama3.3": "llama",
    "tinyllama": "llama",
    "smollm2": "llama",
    "mistral": "llama",
    "mixtral": "llama",
    "mistral-nemo": "llama",
    "mistral-small3": "llama",
    "ministral": "llama",
    "deepseek-r1-distill-llama": "llama",
    "qwen1": "qwen",
    "qwen1.5": "qwen2",
    "qwen2": "qwen2",
    "qwen2.5": "qwen2",
    "qwen2.5-coder": "qwen2",
    "deepseek-r1-distill-qwen2.5": "qwen2",
    "qwen3": "qwen3",
    "qwen3-moe": "qwen3moe",
    "qwen3-next": "qwen3next",
    "qwen3.5": "qwen35",
    "gemma": "gemma",
    "gemma2": "gemma2",
    "gemma3": "gemma3",
    "gemma3n": "gemma3n",
    "gemma4": "gemma4",
    "gpt-oss": "gpt-oss",
    "llama4": "llama4",
    "olmo2": "olmo2",
    "olmo3": "olmo2",  # OLMo 3 GGUFs are olmo2 with a sliding window (pattern 4)
    "phi3": "phi3",
    "phi3.5": "phi3",
    "phi4": "phi3",
    "phi4-mini": "phi3",
    "smollm3": "smollm3",
    "deepseek-v3": "deepseek2",
    "deepseek-v2": "deepseek2",
    "falcon": "falcon",
    "bloom": "bloom",
    "pythia": "gptneox",
    "nemotron-h": "nemotron_h",
    "granite4-hybrid": "granitehybrid",
    "opt": "opt",  # not supported by llama.cpp; kept so the error names it
}

# llama.cpp architectures whose GGUF sliding window is honoured with a separate SWA cache
# (load_arch_hparams sets swa_type in src/models/<arch>.cpp). ``phi3`` reads the window and
# disables it (phi3.cpp:13-23); ``llama`` never reads it; ``llama4``'s local layers are chunked.
LLAMA_CPP_SWA_ARCHS = frozenset(
    {
        "gemma2",
        "gemma3",
        "gemma3n",
        "gemma4",
        "cohere2",
        "gpt-oss",
        "llama4",
        "olmo2",
        "exaone4",
        "afmoe",
        "smallthinker",
    }
)
# Hybrid architectures: recurrent (SSM / linear-attention) state plus attention KV
# (llm_arch_is_hybrid, src/llama-arch.cpp).
LLAMA_CPP_HYBRID_ARCHS = frozenset(
    {
        "jamba",
        "falcon-h1",
        "granitehybrid",
        "lfm2",
        "lfm2moe",
        "nemotron_h",
        "nemotron_h_moe",
        "qwen3next",
        "qwen35",
        "qwen35moe",
    }
)
LLAMA_CPP_UNSUPPORTED = frozenset({"opt"})

ATTENTION_KINDS = ("full", "sliding", "chunked")
STATE_KINDS = ("linear", "mamba")


@dataclass(frozen=True)
class LayerCache:
    """What one layer keeps between tokens, as a runtime allocates it.

    ``kind``: "full", "sliding", "chunked" (attention with a KV cache), "linear" or "mamba"
    (a fixed recurrent state), "none" (no cache: an FFN-only layer or a layer that reuses
    another's KV). ``k_width``/``v_width``: cached elements per token (all KV heads);
    ``window``: tokens a sliding/chunked layer attends to.
    """

    kind: str
    k_width: int = 0
    v_width: int = 0
    window: int | None = None
    state_elements: int = 0  # recurrent state elements per sequence (F32 in llama.cpp)

    @property
    def has_kv(self) -> bool:
        return self.kind in ATTENTION_KINDS and (self.k_width + self.v_width) > 0


@dataclass(frozen=True)
class AttentionLayout:
    """Per-layer cache layout of one architecture under one backend, with the reasons."""

    backend: str
    runtime_arch: str  # GGUF architecture for llama.cpp, else the family key
    layers: tuple[LayerCache, ...]
    latent_kv: bool  # MLA cached as its compressed latent
    notes: tuple[str, ...] = ()

    def count(self, kind: str) -> int:
        return sum(1 for layer in self.layers if layer.kind == kind)

    @property
    def window(self) -> int | None:
        windows = [layer.window for layer in self.layers if layer.window]
        return max(windows) if windows else None

    def summary(self) -> str:
        parts = []
        for kind in ("full", "sliding", "chunked", "linear", "mamba", "none"):
            n = self.count(kind)
            if n:
                parts.append(f"{n} {kind}")
        return ", ".join(parts)


def gguf_architecture(arch: Architecture) -> str:
    """The ``general.architecture`` a GGUF of ``arch`` carries (what llama.cpp dispatches on)."""
    name = GGUF_ARCH_BY_FAMILY.get(arch.family_key, arch.family_key)
    if name == "qwen35" and arch.n_experts:
        return "qwen35moe"
    if name == "nemotron_h" and arch.n_experts:
        return "nemotron_h_moe"
    return name


def _mla_widths(arch: Architecture, latent: bool, v_cached: bool) -> tuple[int, int]:
    if latent:
        k = (arch.kv_lora_rank or 0) + (arch.qk_rope_head_dim or 0)
        return k, (arch.kv_lora_rank or 0) if v_cached else 0
    v_dim = arch.v_head_dim or arch.head_dim
    return arch.n_kv_heads * arch.head_dim, arch.n_kv_heads * v_dim


def _attention_widths(arch: Architecture, kind: str) -> tuple[int, int]:
    if kind == "full" and (arch.global_n_kv_heads or arch.global_head_dim):
        heads = arch.global_n_kv_heads or arch.n_kv_heads
        dim = arch.global_head_dim or arch.head_dim
        return heads * dim, heads * dim
    v_dim = arch.v_head_dim or arch.head_dim
    return arch.n_kv_heads * arch.head_dim, arch.n_kv_heads * v_dim


@lru_cache(maxsize=4096)
def attention_layout(
    arch: Architecture, backend: str = "llama.cpp", mla_v_cache: bool = False
) -> AttentionLayout:
    """How ``backend`` caches each layer of ``arch``.

    ``mla_v_cache``: llama.cpp builds before PR 19067 (Jan 2026) also cached V = the
    kv_lora_rank latent for MLA layers; today the cache is K-only ("V-less").
    """
    if not isinstance(arch, Architecture):
        raise MemoryModelError(f"arch must be an advisor.profiles.Architecture, got {arch!r}")
    backend = normalize_backend(backend)
    kinds = arch.layer_kinds
    notes: list[str] = []
    runtime_arch = gguf_architecture(arch) if backend == "llama.cpp" else arch.family_key
    honour_windows = True
    if backend == "llama.cpp":
        if runtime_arch in LLAMA_CPP_UNSUPPORTED:
            # Sized as a plain transformer so rankings still work; no GGUF of it exists.
            notes.append(f"llama.cpp has no '{runtime_arch}' architecture: no GGUF file of it runs")
        honour_windows = runtime_arch in LLAMA_CPP_SWA_ARCHS
        if not honour_windows and any(k in ("sliding", "chunked") for k in kinds):
            notes.append(
                f"GGUF arch '{runtime_arch}' has no sliding-window cache in llama.cpp: "
                f"every attention layer caches the whole context ({LLAMA_CPP_COMMIT_SHORT} "
                f"src/models/{runtime_arch}.cpp)"
            )
    latent = arch.attention == "mla" and backend in ("llama.cpp", "vllm")
    if arch.attention == "mla" and not latent:
        notes.append(
            "MLA: transformers caches full per-head K and V "
            f"({arch.n_kv_heads} heads x ({arch.head_dim} + {arch.v_head_dim or arch.head_dim})), "
            "not the compressed latent"
        )
    elif latent:
        v_text = " + V latent" if (mla_v_cache and backend == "llama.cpp") else " (K only, no V)"
        notes.append(
            f"MLA: the cache holds the latent, kv_lora_rank {arch.kv_lora_rank} + rope "
            f"{arch.qk_rope_head_dim}{v_text}"
        )
    state = arch.recurrent_state_elements or 0
    if any(k in STATE_KINDS for k in kinds) and not state:
        notes.append(
            "recurrent state size unknown for the linear/SSM layers (catalogue lacks "
            "recurrent_state_elements): counted as 0"
        )
    layers: list[LayerCache] = []
    for kind in kinds:
        if kind in ("sliding", "chunked"):
            if not honour_windows:
                kind = "full"
            elif not arch.sliding_window:
                raise MemoryModelError(f"{arch.name}: {kind} layers need sliding_window")
        if kind in ATTENTION_KINDS:
            if arch.attention == "mla":
                k_w, v_w = _mla_widths(arch, latent, mla_v_cache and backend == "llama.cpp")
            else:
                k_w, v_w = _attention_widths(arch, kind)
            window = arch.sliding_window if kind in ("sliding", "chunked") else None
            layers.append(LayerCache(kind, k_w, v_w, window))
        elif kind in STATE_KINDS:
            layers.append(LayerCache(kind, state_elements=state))
        else:
            layers.append(LayerCache("none"))
    return AttentionLayout(backend, runtime_arch, tuple(layers), latent, tuple(notes))
