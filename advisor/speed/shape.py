"""What one token costs: bytes read and FLOPs, split the way placement needs them.

Decode reads every weight a token touches once (the token embedding only one row, so not
counted; a tied embedding is read as the output head) and the KV cache at the context.
Prefill does 2 FLOPs per active parameter per token plus attention over the context.

The byte counts come from :mod:`advisor.memory` (``weight_breakdown``: embedding, head,
each layer and its experts; ``kv_cache_bytes``), FLOPs from the catalogue's parameter
counts; :func:`model_shape` is the one place that reads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from advisor import memory
from advisor.errors import AdvisorError
from advisor.profiles import Architecture
from advisor.profiles.formats import Format, get_format


class SpeedInputError(AdvisorError, ValueError):
    """An estimate was asked with input it cannot use (unknown format, bad hardware...)."""


@dataclass(frozen=True)
class FormatFacts:
    """Bits/weight of a format's parts and the family its kernels belong to."""

    name: str
    runtime: str  # "llama.cpp" or "transformers"
    family: str  # see FAMILIES
    body_bpw: float
    expert_bpw: float  # MoE expert tensors (differ from the body only for MXFP4)
    embed_bpw: float
    output_bpw: float


# Kernel families: the unit a fitted efficiency is shared over.
FAMILIES = (
    "float",  # F16/BF16/F32, transformers bf16/fp16
    "q8_0",
    "legacy",  # Q4_0, Q4_1, Q5_0, Q5_1
    "k-quant",
    "i-quant",
    "mxfp4",
    "bnb-int8",
    "bnb-4bit",
    "gptq",
    "awq",
)


@lru_cache(maxsize=256)
def format_facts(fmt: str) -> FormatFacts:
    """Facts of a format by name (GGUF spelling, or bitsandbytes/GPTQ/AWQ names)."""
    if not isinstance(fmt, str) or not fmt.strip():
        raise SpeedInputError(f"format must be a name such as 'Q4_K_M' or 'nf4', got {fmt!r}")
    try:
        f = get_format(fmt)
    except KeyError:
        from advisor.profiles.formats import all_format_names

        raise SpeedInputError(
            f"unknown format {fmt!r}: one of {', '.join(all_format_names())}"
        ) from None
    runtime = {"gguf": "llama.cpp", "vllm": "vllm"}.get(f.backend, "transformers")
    if runtime == "vllm":
        raise SpeedInputError(
            f"{f.name} is served by vLLM, which the speed model has no measurements of yet: "
            "ask for a GGUF or bitsandbytes/GPTQ/AWQ format"
        )
    return FormatFacts(
        f.name,
        runtime,
        _family(f),
        f.body_bpw,
        f.expert_bpw if f.expert_bpw is not None else f.body_bpw,
        f.embed_bpw,
        f.output_bpw,
    )


def _family(f: Format) -> str:
    method = f.method
    if method == "float":
        return "float"
    if method == "gguf-legacy":
        return "q8_0" if f.name == "Q8_0" else "legacy"
    if method == "gguf-k":
        return "k-quant"
    if method == "gguf-i":
        return "i-quant"
    if method == "mxfp4":
        return "mxfp4"
    if method.startswith("bnb"):
        return "bnb-int8" if f.nominal_bits == 8 else "bnb-4bit"
    if method in {"gptq", "awq"}:
        return method
    raise SpeedInputError(f"format {f.name!r} has no speed family (method {method!r})")


@dataclass(frozen=True)
class ModelShape:
    """Per-token costs of one architecture in one format (bytes, FLOPs)."""

    n_layers: int
    n_moe_layers: int
    layer_bytes: float  # non-expert weights of one repeating layer
    expert_bytes_per_layer: float  # all experts of one MoE layer (resident)
    active_expert_bytes_per_layer: float  # what one token reads of them
    output_bytes: float  # output head (the tied embedding when tied)
    token_embd_bytes: float  # stays on the host in llama.cpp; one row read per token
    active_params: float  # per token, without the token embedding
    output_params: float  # the output head (also counted in active_params)
    attention_flops_per_ctx_token: float  # per layer: 2 x heads x (k_dim + v_dim)

    @property
    def layer_active_params(self) -> float:
        """Parameters one token uses in one repeating layer, averaged over layers."""
        return (self.active_params - self.output_params) / self.n_layers

    @property
    def resident_bytes(self) -> float:
        return (
            self.n_layers * self.layer_bytes
            + self.n_moe_layers * self.expert_bytes_per_layer
            + self.output_bytes
            + self.token_embd_bytes
        )

    @property
    def read_bytes(self) -> float:
        """Weight bytes one decoded token reads."""
        return (
            self.n_layers * self.layer_bytes
            + self.n_moe_layers * self.active_expert_bytes_per_layer
            + self.output_bytes
        )

    @property
    def largest_tensor_bytes(self) -> float:
        """The biggest single allocation a device must hold whole: the output head, or
        one layer's expert block (stored as one 3-D tensor per projection)."""
        return max(self.output_bytes, self.token_embd_bytes, self.expert_bytes_per_layer / 3)


def _expert_params(arch: Architecture) -> tuple[float, float]:
    """(all expert parameters, parameters of the experts one token uses), summed over
    layers: total = shared + n × E and active = shared + k × E give E (one expert of
    every layer) without knowing the expert width."""
    n, k = arch.n_experts or 0, arch.experts_per_token or 0
    if not arch.params_active or n <= k or k <= 0:
        return 0.0, 0.0
    one_expert = (arch.params_total - arch.params_active) / (n - k)
    return n * one_expert, k * one_expert


@lru_cache(maxsize=4096)
def model_shape(arch: Architecture, fmt: str) -> ModelShape:
    """Bytes and FLOPs per token of ``arch`` stored in ``fmt``.

    Bytes: :func:`advisor.memory.weight_breakdown` (llama.cpp's per-tensor quantization
    recipe for GGUF types, linear layers at the format's bits/weight otherwise), averaged
    per repeating layer. A tied embedding is read as the head; llama.cpp also keeps a copy
    of it on the host as the input layer (``TENSOR_DUPLICATED``). FLOPs: the catalogue's
    parameter counts, the MoE split derived from total and active counts.
    """
    f = format_facts(fmt)
    try:
        wb = memory.weight_breakdown(arch, f.name, f.runtime)
    except memory.MemoryModelError as exc:
        raise SpeedInputError(str(exc)) from None
    expert_params, active_expert_params = _expert_params(arch)
    shared_body = arch.body_params - expert_params
    if shared_body <= 0:
        raise SpeedInputError(
            f"{arch.name}: expert parameters exceed the body; check the catalogue"
        )
    n = arch.n_layers
    experts = [e for e in wb.expert_bytes if e > 0]
    n_moe = len(experts)
    share = (arch.experts_per_token or 0) / arch.n_experts if arch.n_experts else 0.0
    dense = sum(wb.layer_bytes) - sum(experts)
    tied = wb.output_bytes == 0
    head = (wb.token_embd_bytes if tied else wb.output_bytes) + wb.other_bytes
    # transformers keeps one tied tensor (counted as the head); llama.cpp a host copy too
    token_embd = 0.0 if tied and f.runtime != "llama.cpp" else float(wb.token_embd_bytes)
    head_params = float(arch.embed_params if arch.tied_embeddings else arch.output_params)
    v_dim = arch.v_head_dim or arch.head_dim
    if arch.attention == "mla":
        per_layer = 2 * arch.n_heads * ((arch.kv_lora_rank or 0) + (arch.qk_rope_head_dim or 0))
    else:
        per_layer = 2 * arch.n_heads * (arch.head_dim + v_dim)
    mean_expert = sum(experts) / n_moe if n_moe else 0.0
    return ModelShape(
        n_layers=n,
        n_moe_layers=n_moe,
        layer_bytes=dense / n,
        expert_bytes_per_layer=mean_expert,
        active_expert_bytes_per_layer=mean_expert * share,
        output_bytes=float(head),
        token_embd_bytes=token_embd,
        active_params=shared_body + active_expert_params + head_params,
        output_params=head_params,
        attention_flops_per_ctx_token=float(per_layer),
    )


def kv_bytes(arch: Architecture, context_tokens: int, kv_cache_type: str = "f16") -> float:
    """KV-cache bytes at ``context_tokens`` (what one decoded token's attention reads)."""
    if context_tokens <= 0:
        return 0.0
    try:
        return float(memory.kv_cache_bytes(arch, context_tokens, kv_cache_type))
    except memory.MemoryModelError as exc:
        raise SpeedInputError(str(exc)) from None


@lru_cache(maxsize=16384)
def kv_per_layer(
    arch: Architecture, context_tokens: int, kv_cache_type: str = "f16", runtime: str = "llama.cpp"
) -> tuple[float, ...]:
    """KV bytes of each layer at ``context_tokens`` as the runtime allocates them (sliding
    windows, layers without a cache), from :func:`advisor.memory.kv_bytes_per_layer`."""
    if context_tokens <= 0:
        return (0.0,) * arch.n_layers
    backend = "llama.cpp" if runtime == "llama.cpp" else "transformers"
    try:
        return tuple(
            float(b)
            for b in memory.kv_bytes_per_layer(arch, context_tokens, kv_cache_type, backend)
        )
    except memory.MemoryModelError as exc:
        raise SpeedInputError(str(exc)) from None


def attended_tokens(arch: Architecture, context_tokens: int) -> float:
    """Context tokens attended, summed over layers (sliding-window layers see their window)."""
    if context_tokens <= 0:
        return 0.0
    per_token = memory.kv_bytes_per_token(arch, "f16")
    if per_token <= 0:
        return 0.0
    return kv_bytes(arch, context_tokens, "f16") / per_token * arch.n_layers


def compute_buffer_bytes(arch: Architecture, context_tokens: int, runtime: str) -> int:
    """Scratch memory of one device for a pass over ``context_tokens`` (the memory model's)."""
    backend = "llama.cpp" if runtime == "llama.cpp" else "transformers"
    return int(memory.compute_bytes(arch, max(1, context_tokens), backend))


def runtime_overhead_bytes(runtime: str, device_kind: str) -> int:
    """Runtime overhead of one device (CUDA/Metal context, process baseline)."""
    backend = "llama.cpp" if runtime == "llama.cpp" else "transformers"
    device = "cpu" if device_kind == "cpu" else "cuda"
    return int(memory.overhead_bytes(backend, device))
