"""One deployment config's memory, term by term, for the runtime that runs it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from advisor.memory import llama_cpp as lc
from advisor.memory import transformers as tf
from advisor.memory import vllm as vl
from advisor.memory._base import (
    DEVICES,
    MemoryModelError,
    MiB,
    Term,
    check_context,
    kv_element_bytes,
    mib,
    normalize_backend,
)
from advisor.memory.layout import attention_layout
from advisor.memory.tensors import FTYPE_BASE_TYPE, gguf_tensors, quantize
from advisor.profiles import Architecture
from advisor.profiles.formats import Format, get_format

DEFAULT_CONTEXT_TOKENS = (
    4096  # not the model's maximum: that is what inflates other tools' estimates
)

# Runtime overheads per (backend, device): the process before any model memory.
RUNTIME_OVERHEAD_BYTES: dict[tuple[str, str], int] = {
    # CUDA context of a PyTorch process with lazy module loading (CUDA >= 11.7): 300-600 MiB
    # across recent GPUs (PyTorch "CUDA semantics" notes; NVML process usage minus
    # torch.cuda.memory_reserved). Plus allocator slack, taken as part of this constant.
    ("transformers", "cuda"): 600 * MiB,
    ("transformers", "metal"): 450 * MiB,
    # What torch.cuda.max_memory_allocated reports leaves the context and slack out
    # (Qwen2.5 speed benchmark, SOURCES.md): used to validate against those rows.
    ("torch-allocated", "cuda"): 0,
    # Python + torch + transformers imported, before weights: RSS seen on this project's CPU runs.
    ("transformers", "cpu"): 450 * MiB,
    # llama.cpp CUDA backend context + cuBLAS workspace: ~300-400 MiB in llama.cpp logs.
    ("llama.cpp", "cuda"): 400 * MiB,
    # Python + llama-cpp-python process RSS before a model is loaded.
    ("llama.cpp", "cpu"): 120 * MiB,
    ("llama.cpp", "metal"): 120 * MiB,
    # vLLM: worker CUDA context + non-torch workspaces and the CUDA-graph pool (vllm.py).
    ("vllm", "cuda"): vl.CUDA_CONTEXT_BYTES + vl.NON_TORCH_AND_GRAPHS_BYTES,
}

# Upper bound of what a config really takes, as a factor on the predicted model memory (the
# runtime overhead constant is added unscaled), per calibration group. Derived by
# `python benchmarks/memory_validation.py --calibrate`: the 95th percentile of
# measured / predicted (never below 1) over the conformance vectors
# (tests/data/memory_vectors.csv: llama.cpp logs and files, vLLM logs) and the 124 published
# transformers peaks (Qwen2.5 speed benchmark, Qwen-1 chat; profiles/published.csv).
# transformers is split by kernel family: GPTQ and AWQ decode paths hold workspaces the model
# does not count (Qwen2.5-0.5B AWQ generating from a 1-token prompt: 0.68 GiB measured, 0.45
# predicted). bitsandbytes has no published peak: it takes the largest transformers factor.
UPPER_BOUND_FACTOR: dict[str, float] = {
    "llama.cpp": 1.014,
    "vllm": 1.002,
    "transformers/float": 1.038,
    "transformers/gptq": 1.147,
    "transformers/awq": 1.343,
}
UPPER_BOUND_SOURCE = (
    "95th percentile of measured/predicted per backend (transformers per kernel family) over "
    "tests/data/memory_vectors.csv and the published transformers peaks "
    "(benchmarks/memory_validation.py --calibrate)"
)


def calibration_key(backend: str, method: str) -> str:
    if backend in ("transformers", "torch-allocated"):
        return f"transformers/{method}"
    return backend


def upper_bound_factor(backend: str, method: str) -> float:
    key = calibration_key(backend, method)
    if key in UPPER_BOUND_FACTOR:
        return UPPER_BOUND_FACTOR[key]
    same = [v for k, v in UPPER_BOUND_FACTOR.items() if k.startswith(key.split("/")[0])]
    return max(same or UPPER_BOUND_FACTOR.values())


@dataclass(frozen=True)
class Footprint:
    """Predicted memory of one deployment config, term by term (bytes).

    ``total_bytes`` counts every byte once wherever it lives; ``device_bytes`` is what the
    accelerator holds (on a CPU run: everything), ``host_bytes`` what stays in system RAM
    beside a GPU (llama.cpp's token embedding and host buffers). ``terms`` carries each part
    with the rule behind it.
    """

    weight_bytes: int
    kv_bytes: int
    compute_bytes: int
    overhead_bytes: int
    context_tokens: int
    kv_cache_type: str
    backend: str
    device: str
    notes: tuple[str, ...] = field(default_factory=tuple)
    state_bytes: int = 0  # recurrent (linear-attention / SSM) state
    host_bytes: int = 0
    duplicate_bytes: int = 0  # a tied embedding held twice (host input, device output)
    terms: tuple[Term, ...] = field(default_factory=tuple)
    settings: tuple[tuple[str, Any], ...] = field(default_factory=tuple)
    format: str = ""
    method: str = ""  # the format's method ("gguf-k", "float", "gptq", "awq", "bnb", ...)

    @property
    def total_bytes(self) -> int:
        return (
            self.weight_bytes
            + self.kv_bytes
            + self.state_bytes
            + self.compute_bytes
            + self.overhead_bytes
        )

    @property
    def device_bytes(self) -> int:
        """Bytes on the accelerator (all of them on a CPU-only run)."""
        if self.device == "cpu":
            return self.total_bytes
        return self.total_bytes + self.duplicate_bytes - self.host_bytes

    @property
    def upper_bytes(self) -> int:
        """The calibrated upper bound of what the config takes on its device."""
        return upper_bound_bytes(self)

    def to_dict(self) -> dict[str, Any]:
        return {
            "weight_bytes": self.weight_bytes,
            "kv_bytes": self.kv_bytes,
            "state_bytes": self.state_bytes,
            "compute_bytes": self.compute_bytes,
            "overhead_bytes": self.overhead_bytes,
            "total_bytes": self.total_bytes,
            "device_bytes": self.device_bytes,
            "host_bytes": self.host_bytes,
            "upper_bytes": self.upper_bytes,
            "upper_bound_factor": upper_bound_factor(self.backend, self.method),
            "format": self.format,
            "context_tokens": self.context_tokens,
            "kv_cache_type": self.kv_cache_type,
            "backend": self.backend,
            "device": self.device,
            "settings": dict(self.settings),
            "terms": [t.to_dict() for t in self.terms],
            "notes": list(self.notes),
        }


def upper_bound_bytes(footprint: Footprint) -> int:
    """The memory to budget for ``footprint`` on its device: the model's memory times the
    calibrated factor of its backend (:data:`UPPER_BOUND_FACTOR`) plus the runtime overhead.
    This is the recommender's fit test."""
    if not isinstance(footprint, Footprint):
        raise TypeError(f"upper_bound_bytes needs a Footprint, got {type(footprint).__name__}")
    factor = upper_bound_factor(footprint.backend, footprint.method)
    model = footprint.device_bytes - footprint.overhead_bytes
    return int(math.ceil(model * factor)) + footprint.overhead_bytes


def _as_format(fmt: Format | str) -> Format:
    if isinstance(fmt, Format):
        return fmt
    if not isinstance(fmt, str):
        raise MemoryModelError(f"format must be a name such as 'Q4_K_M' or a Format, got {fmt!r}")
    try:
        return get_format(fmt)
    except KeyError:
        upper = fmt.strip().upper()
        if upper in FTYPE_BASE_TYPE or upper == "MXFP4":
            return _gguf_only_format(upper)
        from advisor.profiles.formats import all_format_names

        raise MemoryModelError(
            f"unknown format {fmt!r}: one of {', '.join(all_format_names())}"
        ) from None


@lru_cache(maxsize=64)
def _gguf_only_format(name: str) -> Format:
    """A llama.cpp file type the format table does not list (e.g. MXFP4_MOE): its sizes come
    from the per-tensor recipe, so only the name matters."""
    return Format(name, "gguf", 4, 4.25, 8.5, 8.5, "gguf-mxfp4" if "MXFP4" in name else "gguf-k",
                  "llama.cpp file type (per-tensor recipe, src/llama-quant.cpp)")  # fmt: skip


def backend_for(fmt: Format) -> str:
    """The runtime a format runs on by default."""
    if fmt.backend == "gguf":
        return "llama.cpp"
    if fmt.backend == "vllm":
        return "vllm"
    return "transformers"


def _gguf_ftype(fmt: Format, backend: str) -> str | None:
    """The llama.cpp file type of ``fmt`` when it runs on llama.cpp."""
    if fmt.backend == "gguf":
        name = fmt.name.upper()
        return "MXFP4_MOE" if name.startswith("MXFP4") else name
    if backend == "llama.cpp":
        if fmt.name.lower() in ("bf16", "fp16"):
            return "BF16" if fmt.name.lower() == "bf16" else "F16"
        raise MemoryModelError(
            f"format {fmt.name} is not a GGUF file type: llama.cpp runs GGUF files "
            "(use e.g. Q4_K_M, or --backend transformers)"
        )
    return None


@dataclass(frozen=True)
class WeightBreakdown:
    """Weights by part, for placement and speed (bytes)."""

    token_embd_bytes: int  # host-resident in llama.cpp
    output_bytes: int  # 0 when tied to the embedding (the embedding then serves as head)
    layer_bytes: tuple[int, ...]  # each repeating layer, experts included
    expert_bytes: tuple[int, ...]  # routed-expert part of each layer (0 for dense)
    other_bytes: int  # output_norm and other non-repeating tensors
    active_bytes_per_token: int  # non-expert weights + experts_per_token/n_experts of experts
    backend: str
    format: str

    @property
    def total_bytes(self) -> int:
        return self.token_embd_bytes + self.output_bytes + self.other_bytes + sum(self.layer_bytes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "token_embd_bytes": self.token_embd_bytes,
            "output_bytes": self.output_bytes,
            "layer_bytes": list(self.layer_bytes),
            "expert_bytes": list(self.expert_bytes),
            "other_bytes": self.other_bytes,
            "active_bytes_per_token": self.active_bytes_per_token,
            "total_bytes": self.total_bytes,
            "backend": self.backend,
            "format": self.format,
        }


def _linear_tensor_bytes(arch: Architecture, fmt: Format) -> list[tuple[str, int | None, str, int]]:
    """(name, layer, part, bytes) of each tensor for a non-GGUF format: linear layers at the
    format's bits/weight, embedding/head/norms at their edge precision."""
    from advisor.memory.tensors import gguf_tensors

    out = []
    body_scale = arch.body_params / max(
        1, sum(t.n_elements for t in gguf_tensors(arch) if t.layer is not None or t.part == "norm")
    )
    for t in gguf_tensors(arch):
        if t.part == "token_embd":
            n_bytes = t.n_elements * fmt.embed_bpw / 8
        elif t.part == "output":
            n_bytes = t.n_elements * fmt.output_bpw / 8
        elif len(t.shape) < 2 or t.part in ("norm", "router"):
            n_bytes = t.n_elements * 2 * body_scale
        elif t.part == "expert" and fmt.expert_bpw is not None:
            n_bytes = t.n_elements * fmt.expert_bpw / 8 * body_scale
        else:
            n_bytes = t.n_elements * fmt.body_bpw / 8 * body_scale
        out.append((t.name, t.layer, t.part, int(round(n_bytes))))
    return out


@lru_cache(maxsize=8192)
def _breakdown(arch: Architecture, f: Format, backend: str) -> WeightBreakdown:
    ftype = _gguf_ftype(f, backend)
    rows: list[tuple[str, int | None, str, int]]
    if ftype is not None:
        sizes = quantize(arch, ftype).n_bytes
        rows = [
            (spec.name, spec.layer, spec.part, n)
            for spec, n in zip(gguf_tensors(arch), sizes, strict=True)
        ]
    else:
        rows = _linear_tensor_bytes(arch, f)
    layers = [0] * arch.n_layers
    experts = [0] * arch.n_layers
    token_embd = output = other = 0
    for _name, layer, part, n_bytes in rows:
        if layer is not None:
            layers[layer] += n_bytes
            if part == "expert":
                experts[layer] += n_bytes
        elif part == "token_embd":
            token_embd += n_bytes
        elif part == "output":
            output += n_bytes
        else:
            other += n_bytes
    head = output if output else token_embd  # tied: the embedding is read as the head
    share = (arch.experts_per_token or 0) / arch.n_experts if arch.n_experts else 0.0
    active = sum(layers) - sum(experts) + int(round(sum(experts) * share)) + head + other
    return WeightBreakdown(
        token_embd, output, tuple(layers), tuple(experts), other, active, backend, f.name
    )


def weight_breakdown(
    arch: Architecture, fmt: Format | str, backend: str = "llama.cpp"
) -> WeightBreakdown:
    """Weights of ``arch`` in ``fmt`` by part: embedding, head, each layer, its experts, and the
    bytes read per generated token."""
    if not isinstance(arch, Architecture):
        raise TypeError(f"arch must be an advisor.profiles.Architecture, got {type(arch).__name__}")
    f = _as_format(fmt)
    backend = normalize_backend(backend)
    if backend == "torch-allocated":
        backend = "transformers"
    if backend == "vllm" and f.backend == "gguf":
        raise MemoryModelError(
            f"{f.name} is a GGUF file type: vLLM is sized here for safetensors formats"
        )
    return _breakdown(arch, f, backend)


def weight_bytes(arch: Architecture, fmt: Format | str, backend: str | None = None) -> int:
    """Bytes of the weights of ``arch`` stored in ``fmt``.

    GGUF file types: the sum over tensors of llama.cpp's per-tensor recipe (see
    :mod:`advisor.memory.tensors`). bitsandbytes/GPTQ/AWQ/16-bit: linear layers at the format's
    bits/weight, embedding and head in 16-bit, a tied head once.
    """
    f = _as_format(fmt)
    chosen = normalize_backend(backend) if backend else backend_for(f)
    if f.backend == "gguf" or chosen == "llama.cpp":
        return weight_breakdown(arch, f, "llama.cpp").total_bytes
    return sum(tf.weight_parts(arch, f))


def _llama_settings(settings: lc.LlamaCppSettings | None, **changes: Any) -> lc.LlamaCppSettings:
    return lc.with_settings(settings, **changes)


def kv_bytes_per_layer(
    arch: Architecture,
    context_tokens: int,
    kv_cache_type: str = "f16",
    backend: str = "llama.cpp",
    **options: Any,
) -> tuple[int, ...]:
    """KV bytes of each layer at ``context_tokens`` as ``backend`` allocates them (0 for
    layers without a KV cache: linear/SSM layers keep a fixed state instead)."""
    check_context(context_tokens)
    backend = normalize_backend(backend)
    if backend == "llama.cpp":
        settings = _llama_settings(options.pop("settings", None), **_llama_option_names(options))
        return lc.kv_cache(arch, context_tokens, kv_cache_type, settings).per_layer
    if backend == "vllm":
        return vl.kv_cache(
            arch, context_tokens, kv_cache_type if kv_cache_type != "f16" else "auto"
        )[0]
    prompt = options.get("prompt_tokens") or context_tokens
    return tf.kv_cache(arch, context_tokens, prompt)[0]


def _llama_option_names(options: dict[str, Any]) -> dict[str, Any]:
    mapping = {
        "parallel": "n_parallel",
        "n_parallel": "n_parallel",
        "kv_unified": "kv_unified",
        "n_ubatch": "n_ubatch",
        "n_batch": "n_batch",
        "flash_attn": "flash_attn",
        "swa_full": "swa_full",
        "n_outputs": "n_outputs",
        "n_gpu_layers": "n_gpu_layers",
        "era": "era",
    }
    out: dict[str, Any] = {}
    for key, value in options.items():
        if key in mapping:
            out[mapping[key]] = _flash_name(value) if key == "flash_attn" else value
        elif key != "prompt_tokens":
            raise MemoryModelError(f"unknown llama.cpp option {key!r}: one of {', '.join(mapping)}")
    return out


def _flash_name(value: Any) -> Any:
    if value is True:
        return "on"
    if value is False:
        return "off"
    return value


def kv_cache_bytes(
    arch: Architecture,
    context_tokens: int,
    kv_cache_type: str = "f16",
    backend: str = "llama.cpp",
    **options: Any,
) -> int:
    """KV-cache bytes at ``context_tokens`` as ``backend`` allocates them (llama.cpp by default,
    with llama-server's defaults): see :func:`kv_bytes_per_layer`."""
    kv_element_bytes(kv_cache_type)
    return sum(kv_bytes_per_layer(arch, context_tokens, kv_cache_type, backend, **options))


def kv_bytes_per_token(
    arch: Architecture, kv_cache_type: str = "f16", backend: str = "llama.cpp"
) -> float:
    """KV bytes per token with every attention layer holding it (the slope for full attention;
    sliding windows ignored; no KV on linear/SSM layers). MLA: the latent llama.cpp caches."""
    elt = kv_element_bytes(kv_cache_type)
    layout = attention_layout(arch, normalize_backend(backend))
    return sum((layer.k_width + layer.v_width) * elt for layer in layout.layers if layer.has_kv)


def compute_bytes(
    arch: Architecture, context_tokens: int, backend: str, device: str = "cuda", **options: Any
) -> int:
    """Scratch memory of the forward pass: llama.cpp's compute buffers (device + host) for one
    micro-batch; transformers' prefill activations over ``context_tokens``; vLLM's profile run."""
    check_context(context_tokens)
    backend = normalize_backend(backend)
    if backend == "llama.cpp":
        settings = _llama_settings(options.pop("settings", None), **_llama_option_names(options))
        result = lc.compute_buffer(arch, context_tokens, settings, on_gpu=device != "cpu")
        return result.total_bytes
    if backend == "vllm":
        return vl.activation_bytes(arch)[0]
    impl = options.get("attn_implementation") or tf.DEFAULT_ATTN_IMPLEMENTATION
    return tf.activation_bytes(arch, context_tokens, impl, on_cuda=device == "cuda")[0]


def overhead_bytes(backend: str, device: str) -> int:
    try:
        return RUNTIME_OVERHEAD_BYTES[(backend, device)]
    except KeyError:
        known = ", ".join(f"{b}/{d}" for b, d in RUNTIME_OVERHEAD_BYTES)
        raise MemoryModelError(
            f"no overhead known for {backend}/{device}: one of {known}"
        ) from None


def footprint(
    arch: Architecture,
    fmt: Format | str,
    context_tokens: int = DEFAULT_CONTEXT_TOKENS,
    kv_cache_type: str = "f16",
    device: str = "cuda",
    backend: str | None = None,
    prompt_tokens: int | None = None,
    *,
    flash_attn: str | bool | None = None,
    parallel: int | None = None,
    n_ubatch: int | None = None,
    swa_full: bool | None = None,
    n_gpu_layers: int | None = None,
    n_outputs: int | None = None,
    kv_unified: bool | None = None,
    era: str | None = None,
    llama_cpp: lc.LlamaCppSettings | None = None,
    attn_implementation: str | None = None,
    gpu_memory_utilization: float | None = None,
    block_size: int | None = None,
    max_num_batched_tokens: int | None = None,
) -> Footprint:
    """Predict the memory of ``arch`` in ``fmt`` at ``context_tokens`` on ``device``.

    ``backend``: "llama.cpp" (alias "gguf"), "transformers" or "vllm"; by default the runtime
    of the format (GGUF -> llama.cpp, else transformers). Runtime defaults: llama-server with
    one slot, n_ubatch 512, flash attention auto, no --swa-full, every layer on the GPU;
    transformers with sdpa; vLLM with gpu_memory_utilization 0.9 and 16-token blocks.
    ``prompt_tokens``: the longest prompt processed in one pass (default: the whole context),
    which sizes transformers' prefill.
    """
    if not isinstance(arch, Architecture):
        raise TypeError(f"arch must be an advisor.profiles.Architecture, got {type(arch).__name__}")
    check_context(context_tokens)
    prompt = context_tokens if prompt_tokens is None else check_context(prompt_tokens)
    kv_element_bytes(kv_cache_type)
    if device not in DEVICES:
        raise MemoryModelError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    f = _as_format(fmt)
    chosen = normalize_backend(backend) if backend is not None else backend_for(f)
    if chosen == "llama.cpp":
        settings = _llama_settings(
            llama_cpp,
            n_parallel=parallel,
            n_ubatch=n_ubatch,
            flash_attn=_flash_name(flash_attn),
            swa_full=swa_full,
            n_gpu_layers=n_gpu_layers,
            n_outputs=n_outputs,
            kv_unified=kv_unified,
            era=era,
        )
        return _llama_footprint(arch, f, context_tokens, kv_cache_type.lower(), device, settings)
    if chosen == "vllm":
        if device != "cuda":
            raise MemoryModelError("vLLM is sized here for CUDA GPUs: use device='cuda'")
        util = vl.check_utilization(
            vl.DEFAULT_GPU_MEMORY_UTILIZATION
            if gpu_memory_utilization is None
            else gpu_memory_utilization
        )
        return _vllm_footprint(
            arch, f, context_tokens, kv_cache_type.lower(), util,
            block_size or vl.DEFAULT_BLOCK_SIZE,
            max_num_batched_tokens or vl.DEFAULT_MAX_NUM_BATCHED_TOKENS,
        )  # fmt: skip
    impl = tf.check_attn_implementation(attn_implementation or tf.DEFAULT_ATTN_IMPLEMENTATION)
    if flash_attn in (True, "on") and attn_implementation is None:
        impl = "flash_attention_2"
    return _transformers_footprint(
        arch, f, context_tokens, kv_cache_type.lower(), device, chosen, prompt, impl
    )


@lru_cache(maxsize=32768)
def _llama_footprint(
    arch: Architecture,
    f: Format,
    context_tokens: int,
    kv_cache_type: str,
    device: str,
    settings: lc.LlamaCppSettings,
) -> Footprint:
    # Pure and called per config on every re-rank (the TUI re-ranks on each keystroke).
    from advisor.memory.tensors import weight_totals

    ftype = _gguf_ftype(f, "llama.cpp") or f.name
    if settings.n_gpu_layers is None or device == "cpu":
        # every layer on one device: totals are enough (the fast path over the catalogue)
        totals = weight_totals(arch, ftype)
        layers = totals.total - totals.token_embd - totals.output
        share = (arch.experts_per_token or 0) / arch.n_experts if arch.n_experts else 0.0
        head = totals.output or totals.token_embd
        active = layers - totals.experts + int(round(totals.experts * share)) + head
        breakdown = WeightBreakdown(
            totals.token_embd, totals.output, (layers,), (totals.experts,), 0, active,
            "llama.cpp", f.name,
        )  # fmt: skip
        n_fb = totals.fallback_tensors
    else:
        breakdown = _breakdown(arch, f, "llama.cpp")
        n_fb = weight_totals(arch, ftype).fallback_tensors
    weights_rule = f"{ftype} per-tensor recipe (llama-quant.cpp): {mib(breakdown.total_bytes)}"
    notes = []
    if n_fb:
        weights_rule += f"; {n_fb} tensors fall back (rows not a multiple of the 256 block)"
        notes.append(f"{n_fb} tensors use a fallback type: row widths not divisible by 256")
    return llama_cpp_footprint(
        arch, breakdown, weights_rule, context_tokens, kv_cache_type, device, settings, tuple(notes)
    )


def llama_cpp_footprint(
    arch: Architecture,
    breakdown: WeightBreakdown,
    weights_rule: str,
    context_tokens: int,
    kv_cache_type: str,
    device: str,
    settings: lc.LlamaCppSettings,
    extra_notes: tuple[str, ...] = (),
) -> Footprint:
    """A llama.cpp footprint from weights already broken down (a recipe or a real file)."""
    on_gpu = device != "cpu"
    layout = attention_layout(arch, "llama.cpp", settings.rules.mla_v_cache)
    kv = lc.kv_cache(arch, context_tokens, kv_cache_type, settings)
    compute = lc.compute_buffer(arch, context_tokens, settings, on_gpu)
    parts = {"token_embd": breakdown.token_embd_bytes, "output": breakdown.output_bytes,
             "other": breakdown.other_bytes}  # fmt: skip
    placement = lc.place_weights(arch, parts, breakdown.layer_bytes, settings, on_gpu)
    overhead = overhead_bytes("llama.cpp", device)
    host = duplicate = 0
    notes = list(layout.notes) + list(extra_notes)
    if on_gpu:
        host = placement.host_weight_bytes + compute.host_bytes + compute.output_bytes
        first_gpu = placement.gpu_layers[0] if placement.gpu_layers else arch.n_layers
        cpu_layers = range(first_gpu)  # -ngl offloads the last layers
        host += sum(kv.per_layer[:first_gpu]) + sum(kv.state_per_layer[:first_gpu])
        duplicate = (
            placement.device_weight_bytes + placement.host_weight_bytes - breakdown.total_bytes
        )
        if cpu_layers:
            notes.append(
                f"-ngl {settings.n_gpu_layers}: {len(cpu_layers)} of {arch.n_layers} layers and "
                "their KV stay in host memory"
            )
    terms = [Term("weights", breakdown.total_bytes, weights_rule)]
    if on_gpu:
        terms += list(placement.terms)
    terms += list(kv.terms)
    terms += list(compute.terms)
    terms.append(
        Term("runtime overhead", overhead, f"llama.cpp {device} backend context (constant)")
    )
    if arch.is_moe:
        notes.append("MoE: every expert must be resident; speed follows the active parameters")
    return Footprint(
        weight_bytes=breakdown.total_bytes,
        kv_bytes=kv.kv_total,
        compute_bytes=compute.total_bytes,
        overhead_bytes=overhead,
        context_tokens=context_tokens,
        kv_cache_type=kv_cache_type,
        backend="llama.cpp",
        device=device,
        notes=tuple(notes),
        state_bytes=kv.state_total,
        host_bytes=host,
        duplicate_bytes=max(0, duplicate),
        terms=tuple(terms),
        settings=settings.items,
        format=breakdown.format,
        method="gguf",
    )


@lru_cache(maxsize=32768)
def _transformers_footprint(
    arch: Architecture,
    f: Format,
    context_tokens: int,
    kv_cache_type: str,
    device: str,
    backend: str,
    prompt_tokens: int,
    attn_implementation: str,
) -> Footprint:
    if f.backend == "gguf":
        raise MemoryModelError(
            f"{f.name} is a GGUF file type: transformers runs safetensors formats "
            "(bf16, int8, nf4, GPTQ, AWQ); use --backend llama.cpp"
        )
    notes: list[str] = []
    if kv_cache_type not in ("f16", "bf16"):
        notes.append(f"KV cache kept at 16-bit: {kv_cache_type} is a llama.cpp option")
    layout = attention_layout(arch, "transformers")
    notes += list(layout.notes)
    body, embed, head = tf.weight_parts(arch, f)
    weights = body + embed + head
    per_layer, kv_terms = tf.kv_cache(arch, context_tokens, prompt_tokens, layout)
    state = tf.state_bytes(layout)
    activations, act_term = tf.activation_bytes(
        arch, prompt_tokens, attn_implementation, device == "cuda"
    )
    overhead = overhead_bytes(backend, device)
    terms = [
        Term(
            "weights",
            weights,
            f"linear layers {arch.body_params:,} x {f.body_bpw:.3g} bits + embedding/head at "
            f"{f.embed_bpw:.3g} bits = {mib(weights)}",
        ),
        *[t for t in kv_terms],
        act_term,
        Term(
            "runtime overhead",
            overhead,
            f"{backend} {device}: CUDA context and allocator slack (constant)",
        ),
    ]
    if arch.is_moe:
        notes.append("MoE: every expert must be resident; speed follows the active parameters")
    return Footprint(
        weight_bytes=weights,
        kv_bytes=sum(per_layer),
        compute_bytes=activations,
        overhead_bytes=overhead,
        context_tokens=context_tokens,
        kv_cache_type="bf16" if kv_cache_type in ("f16", "bf16") else kv_cache_type,
        backend=backend,
        device=device,
        notes=tuple(notes),
        state_bytes=state,
        terms=tuple(terms),
        settings=(("attn_implementation", attn_implementation), ("prompt_tokens", prompt_tokens)),
        format=f.name,
        method=f.method,
    )


@lru_cache(maxsize=8192)
def _vllm_footprint(
    arch: Architecture,
    f: Format,
    context_tokens: int,
    kv_cache_type: str,
    utilization: float,
    block_size: int,
    max_num_batched_tokens: int,
) -> Footprint:
    if f.backend == "gguf":
        raise MemoryModelError(
            f"{f.name} is a GGUF file type: vLLM is sized here for safetensors formats"
        )
    layout = attention_layout(arch, "vllm")
    kv_dtype = "auto" if kv_cache_type in ("f16", "bf16") else kv_cache_type
    per_layer, kv_terms = vl.kv_cache(arch, context_tokens, kv_dtype, block_size, layout)
    body, embed, head = tf.weight_parts(arch, f)
    weights = body + embed + head
    activations, act_term = vl.activation_bytes(arch, max_num_batched_tokens)
    state = tf.state_bytes(layout)
    inside = weights + sum(per_layer) + state + activations + vl.NON_TORCH_AND_GRAPHS_BYTES
    headroom = int(math.ceil(inside / utilization)) - inside
    overhead = vl.NON_TORCH_AND_GRAPHS_BYTES + vl.CUDA_CONTEXT_BYTES + headroom
    terms = [
        Term("weights", weights, f"{arch.params_total:,} parameters in {f.name} = {mib(weights)}"),
        *kv_terms,
        act_term,
        Term(
            "runtime overhead",
            overhead,
            f"non-torch + CUDA graphs {mib(vl.NON_TORCH_AND_GRAPHS_BYTES)} + CUDA context "
            f"{mib(vl.CUDA_CONTEXT_BYTES)} + the {1 - utilization:.0%} vLLM leaves outside "
            f"gpu_memory_utilization {utilization} ({mib(headroom)})",
        ),
    ]
    notes = [
        *layout.notes,
        "vLLM fills gpu_memory_utilization with KV cache: the total is the smallest GPU "
        "it starts on",
    ]
    return Footprint(
        weight_bytes=weights,
        kv_bytes=sum(per_layer),
        compute_bytes=activations,
        overhead_bytes=overhead,
        context_tokens=context_tokens,
        kv_cache_type=kv_dtype,
        backend="vllm",
        device="cuda",
        notes=tuple(notes),
        state_bytes=state,
        terms=tuple(terms),
        settings=(
            ("gpu_memory_utilization", utilization),
            ("block_size", block_size),
            ("max_num_batched_tokens", max_num_batched_tokens),
        ),
        format=f.name,
        method=f.method,
    )
