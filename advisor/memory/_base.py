"""Shared pieces of the memory model: the error type, cache element sizes, one term of a
footprint with the rule behind it, and the runtime names."""

from __future__ import annotations

from dataclasses import dataclass

from advisor.errors import AdvisorError

MiB = 2**20
GiB = 2**30
FP32_BYTES = 4
FP16_BYTES = 2

# The llama.cpp source the rules are read from. The vendored copy in llama-cpp-python 0.3.36
# (the version this project installs) is ggml-org/llama.cpp@0c1e57098bba (2026-10-01); the
# research notes cite ec98e20021f7 (2025-12-16), which has the same KV/SWA/recurrent rules.
LLAMA_CPP_COMMIT = "ggml-org/llama.cpp@0c1e57098bba43ac29e6e3b677cdceebdd22334f"
LLAMA_CPP_COMMIT_SHORT = "llama.cpp@0c1e570"

# Bytes per cached K or V element, by cache type (llama.cpp -ctk/-ctv): a ggml block type's
# row size divided by its block (ggml-common.h): q8_0 34 bytes per 32 values, q4_0 18.
KV_CACHE_BYTES: dict[str, float] = {
    "f32": 4.0,
    "f16": 2.0,
    "bf16": 2.0,
    "q8_0": 34 / 32,
    "q5_1": 24 / 32,
    "q5_0": 22 / 32,
    "q4_1": 20 / 32,
    "q4_0": 18 / 32,
    "iq4_nl": 18 / 32,
}

# Runtime names. "gguf" is accepted as another name for llama.cpp (the format's runtime).
BACKENDS = ("llama.cpp", "transformers", "vllm")
BACKEND_ALIASES = {
    "llama.cpp": "llama.cpp",
    "llama_cpp": "llama.cpp",
    "llamacpp": "llama.cpp",
    "gguf": "llama.cpp",
    "transformers": "transformers",
    "hf": "transformers",
    "vllm": "vllm",
    # What torch.cuda.max_memory_allocated reports: transformers without the CUDA context
    # and allocator slack (the Qwen speed benchmark's figures are of this kind).
    "torch-allocated": "torch-allocated",
}
DEVICES = ("cuda", "cpu", "metal")


class MemoryModelError(AdvisorError):
    """Bad input to the memory model (unknown format, impossible context...)."""


@dataclass(frozen=True)
class Term:
    """One part of a footprint: its bytes, where it lives and the rule that gave them."""

    name: str
    bytes: int
    rule: str
    where: str = "device"  # "device" (the accelerator or, on a CPU, RAM) or "host"

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "bytes": self.bytes, "rule": self.rule, "where": self.where}


def pad(value: int, multiple: int) -> int:
    """``GGML_PAD``: round ``value`` up to a multiple of ``multiple``."""
    return (value + multiple - 1) // multiple * multiple


def check_positive_int(value: object, name: str, what: str = "a positive whole number") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise MemoryModelError(f"{name} must be {what}, got {value!r}")
    if value <= 0:
        raise MemoryModelError(f"{name} must be {what}, got {value}")
    return value


def check_context(context_tokens: object) -> int:
    if isinstance(context_tokens, bool) or not isinstance(context_tokens, int):
        raise MemoryModelError(
            f"context must be a positive number of tokens, got {context_tokens!r}"
        )
    if context_tokens <= 0:
        raise MemoryModelError(f"context must be a positive number of tokens, got {context_tokens}")
    return context_tokens


def kv_element_bytes(kv_cache_type: str) -> float:
    if not isinstance(kv_cache_type, str):
        raise MemoryModelError(f"KV cache type must be a name such as 'f16', got {kv_cache_type!r}")
    try:
        return KV_CACHE_BYTES[kv_cache_type.lower()]
    except KeyError:
        known = ", ".join(KV_CACHE_BYTES)
        raise MemoryModelError(
            f"unknown KV cache type {kv_cache_type!r}: use one of {known}"
        ) from None


def normalize_backend(backend: str) -> str:
    if not isinstance(backend, str):
        raise MemoryModelError(f"backend must be a name such as 'llama.cpp', got {backend!r}")
    try:
        return BACKEND_ALIASES[backend.strip().lower()]
    except KeyError:
        raise MemoryModelError(
            f"unknown backend {backend!r}: use one of {', '.join(BACKENDS)} "
            "('gguf' means llama.cpp)"
        ) from None


def mib(n_bytes: float) -> str:
    """Bytes as MiB with two decimals, the way llama.cpp logs them."""
    return f"{n_bytes / MiB:,.2f} MiB"
