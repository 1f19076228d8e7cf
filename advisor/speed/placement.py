"""Where a model runs: all on the GPU, layers split over several GPUs, llama.cpp layer
offload (``-ngl N``) for dense models, MoE expert tensors on the CPU (``--n-cpu-moe N``),
Apple's GPU inside the Metal working set, or the CPU alone.

Pure computation over :mod:`advisor.memory` (through :mod:`advisor.speed.shape`) and the
device figures: per-device bytes (weights, KV cache, compute buffer, runtime overhead),
whether each device's share fits, and the llama.cpp flags that produce the split. The
llama.cpp rules followed (llama-model.cpp ``load_tensors``): ``-ngl N`` with N ≤ n_layer
puts the last N repeating layers on the GPU and keeps the output head on the CPU; N > n_layer
moves the head too; the token embedding always stays on the CPU. ``--n-cpu-moe N`` keeps
the expert tensors of the first N layers on the CPU. ``--tensor-split`` (layer split, the
default) hands each GPU a contiguous run of layers in proportion to the split.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from advisor.profiles import Architecture, find_architecture
from advisor.speed.devices import Device, System, resolve_system
from advisor.speed.model import Work
from advisor.speed.shape import (
    FormatFacts,
    ModelShape,
    SpeedInputError,
    attended_tokens,
    compute_buffer_bytes,
    format_facts,
    kv_per_layer,
    model_shape,
    runtime_overhead_bytes,
)

if TYPE_CHECKING:
    from advisor.speed.estimate import Estimate

STRATEGIES = (
    "gpu",  # everything on one GPU (or Apple's GPU inside the working set)
    "multi-gpu",  # layer split over several GPUs
    "offload-layers",  # -ngl N: some repeating layers on the CPU
    "offload-experts",  # --n-cpu-moe N: expert tensors of N layers on the CPU
    "cpu",  # no accelerator
    "does-not-fit",  # not even the most offloaded split fits
)
KV_TYPES_NEEDING_FLASH = {"q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "iq4_nl"}


@dataclass(frozen=True)
class DeviceShare:
    """What one device holds and does."""

    device: Device
    role: str  # "gpu" or "host"
    first_layer: int  # index of the first repeating layer here (layers are contiguous)
    layers: int  # repeating layers whose attention/dense weights are here
    expert_layers: int  # MoE layers whose expert tensors are here
    output_head: bool
    weight_bytes: int
    kv_bytes: int
    compute_bytes: int
    overhead_bytes: int
    capacity_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.weight_bytes + self.kv_bytes + self.compute_bytes + self.overhead_bytes

    @property
    def fits(self) -> bool:
        return self.total_bytes <= self.capacity_bytes

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["device"] = self.device.to_dict()
        data["total_bytes"] = self.total_bytes
        data["fits"] = self.fits
        return data


@dataclass(frozen=True)
class Placement:
    """A decided split: where each part lives, per-device bytes, whether it fits, and the
    flags that produce it. ``estimate`` is filled by :func:`advisor.speed.plan`."""

    model: str
    format: str
    runtime: str
    system: System
    strategy: str
    shares: tuple[DeviceShare, ...]
    n_layers: int
    n_gpu_layers: int  # llama.cpp -ngl (n_layers + 1 = everything, shown as 99)
    n_cpu_moe: int
    tensor_split: tuple[float, ...] | None
    kv_on_host: bool
    context_tokens: int
    kv_cache_type: str
    fits: bool
    notes: tuple[str, ...] = field(default_factory=tuple)
    estimate: Estimate | None = None

    @property
    def gpu_shares(self) -> tuple[DeviceShare, ...]:
        return tuple(s for s in self.shares if s.role == "gpu")

    @property
    def host_share(self) -> DeviceShare:
        return next(s for s in self.shares if s.role == "host")

    @property
    def llama_cpp_flags(self) -> list[str]:
        """llama.cpp (llama-server / llama-cli / llama-bench) flags for this split."""
        if self.runtime != "llama.cpp":
            return []
        flags: list[str] = []
        if self.system.accelerators:
            ngl = "99" if self.n_gpu_layers > self.n_layers else str(self.n_gpu_layers)
            flags += ["-ngl", ngl]
        if self.n_cpu_moe:
            flags += ["--n-cpu-moe", str(self.n_cpu_moe)]
        if self.tensor_split and len(self.tensor_split) > 1:
            flags += ["--tensor-split", ",".join(f"{v:g}" for v in self.tensor_split)]
        if self.kv_on_host and self.system.accelerators:
            flags += ["-nkvo"]
        flags += ["-c", str(self.context_tokens)]
        if self.kv_cache_type != "f16":
            flags += ["-ctk", self.kv_cache_type, "-ctv", self.kv_cache_type]
            if self.kv_cache_type in KV_TYPES_NEEDING_FLASH:
                flags += ["-fa", "on"]
        return flags

    @property
    def command(self) -> str:
        """A run command with this placement (the model path is a placeholder)."""
        if self.runtime == "llama.cpp":
            return " ".join(
                ["llama-server", "-m", f"{self.model}-{self.format}.gguf", *self.llama_cpp_flags]
            )
        device = "cpu" if not self.system.accelerators else "auto"
        return (
            f"transformers: AutoModelForCausalLM.from_pretrained({self.model!r}, "
            f"device_map={device!r}, quantization per format {self.format})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "format": self.format,
            "runtime": self.runtime,
            "system": self.system.to_dict(),
            "strategy": self.strategy,
            "fits": self.fits,
            "shares": [s.to_dict() for s in self.shares],
            "n_layers": self.n_layers,
            "n_gpu_layers": self.n_gpu_layers,
            "n_cpu_moe": self.n_cpu_moe,
            "tensor_split": list(self.tensor_split) if self.tensor_split else None,
            "kv_on_host": self.kv_on_host,
            "context_tokens": self.context_tokens,
            "kv_cache_type": self.kv_cache_type,
            "llama_cpp_flags": self.llama_cpp_flags,
            "command": self.command,
            "notes": list(self.notes),
            "estimate": self.estimate.to_dict(include_placement=False) if self.estimate else None,
        }


def resolve_model(model: object) -> Architecture:
    if isinstance(model, Architecture):
        return model
    if isinstance(model, str):
        try:
            return find_architecture(model.strip())
        except Exception as exc:  # ProfileError: unknown name
            raise SpeedInputError(str(exc)) from None
    raise TypeError(
        "model must be a catalogue name such as 'Meta-Llama-3-8B' or an Architecture, "
        f"got {type(model).__name__}"
    )


def _split_counts(total: int, weights: tuple[float, ...]) -> list[int]:
    """``total`` layers over devices in proportion to ``weights`` (largest remainders)."""
    s = sum(weights)
    raw = [total * w / s for w in weights]
    counts = [int(r) for r in raw]
    for i in sorted(range(len(raw)), key=lambda i: raw[i] - counts[i], reverse=True):
        if sum(counts) >= total:
            break
        counts[i] += 1
    return counts


@dataclass(frozen=True)
class _Split:
    ngl: int
    n_cpu_moe: int
    tensor_split: tuple[float, ...]
    kv_on_host: bool


def _shares(
    arch: Architecture,
    shape: ModelShape,
    facts: FormatFacts,
    system: System,
    split: _Split,
    context_tokens: int,
    kv_cache_type: str,
) -> tuple[DeviceShare, ...]:
    n = shape.n_layers
    accels = system.accelerators
    gpu_layers = min(split.ngl, n) if accels else 0
    head_on_gpu = bool(accels) and split.ngl > n
    first_gpu_layer = n - gpu_layers
    dense = n - shape.n_moe_layers  # leading dense FFN layers of a MoE model
    kv = kv_per_layer(arch, context_tokens, kv_cache_type, facts.runtime)
    counts = _split_counts(gpu_layers, split.tensor_split) if accels else []
    compute = compute_buffer_bytes(arch, context_tokens, facts.runtime)
    shares: list[DeviceShare] = []
    start = first_gpu_layer
    for i, device in enumerate(accels):
        layers = range(start, start + counts[i])
        start += counts[i]
        experts = sum(1 for j in layers if j >= dense and j >= split.n_cpu_moe)
        last = i == len(accels) - 1
        weight = (
            len(layers) * shape.layer_bytes
            + experts * shape.expert_bytes_per_layer
            + (shape.output_bytes if head_on_gpu and last else 0)
            + (shape.token_embd_bytes if facts.runtime != "llama.cpp" and i == 0 else 0)
        )
        used = len(layers) > 0 or (head_on_gpu and last)
        shares.append(
            DeviceShare(
                device=device,
                role="gpu",
                first_layer=layers.start,
                layers=len(layers),
                expert_layers=experts,
                output_head=head_on_gpu and last,
                weight_bytes=int(weight),
                kv_bytes=0 if split.kv_on_host else int(sum(kv[j] for j in layers)),
                compute_bytes=compute if used else 0,
                overhead_bytes=runtime_overhead_bytes(facts.runtime, "gpu") if used else 0,
                capacity_bytes=device.usable_bytes,
            )
        )
    host_layers = first_gpu_layer
    host_experts = sum(
        1 for j in range(n) if j >= dense and (j < first_gpu_layer or j < split.n_cpu_moe)
    )
    host_weight = (
        host_layers * shape.layer_bytes
        + host_experts * shape.expert_bytes_per_layer
        + (0 if head_on_gpu else shape.output_bytes)
        + (shape.token_embd_bytes if facts.runtime == "llama.cpp" or not accels else 0)
    )
    host_kv = sum(kv) if split.kv_on_host else sum(kv[:host_layers])
    gpu_total = sum(s.total_bytes for s in shares)
    capacity = system.host.usable_bytes - (gpu_total if system.unified else 0)
    shares.append(
        DeviceShare(
            device=system.host,
            role="host",
            first_layer=0,
            layers=host_layers,
            expert_layers=host_experts,
            output_head=not head_on_gpu,
            weight_bytes=int(host_weight),
            kv_bytes=int(host_kv),
            compute_bytes=compute if (host_layers or host_experts or not accels) else 0,
            overhead_bytes=runtime_overhead_bytes(facts.runtime, "cpu"),
            capacity_bytes=max(0, capacity),
        )
    )
    return tuple(shares)


def _fits(shares: tuple[DeviceShare, ...]) -> bool:
    return all(s.fits for s in shares)


def _gpu_fits(shares: tuple[DeviceShare, ...]) -> bool:
    return all(s.fits for s in shares if s.role == "gpu")


def place(
    model: object,
    fmt: str,
    hardware: object,
    context_tokens: int = 4096,
    kv_cache_type: str = "f16",
    n_gpu_layers: int | None = None,
    n_cpu_moe: int | None = None,
    tensor_split: tuple[float, ...] | list[float] | None = None,
    kv_on_host: bool = False,
) -> Placement:
    """Decide where ``model`` in ``fmt`` runs on ``hardware`` with ``context_tokens`` of KV
    cache allocated. Without ``n_gpu_layers``/``n_cpu_moe`` the split is chosen: everything
    on the accelerators when it fits; else, for a MoE model, the fewest layers' experts on
    the CPU; else the most layers on the GPU that fit. Given values are kept as asked and
    the result says whether they fit."""
    arch = resolve_model(model)
    system = resolve_system(hardware)
    if isinstance(context_tokens, bool) or not isinstance(context_tokens, int):
        raise TypeError(f"context_tokens must be an int, got {context_tokens!r}")
    if context_tokens < 1:
        raise SpeedInputError(f"context_tokens must be at least 1, got {context_tokens}")
    for name, value in (("n_gpu_layers", n_gpu_layers), ("n_cpu_moe", n_cpu_moe)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise TypeError(f"{name} must be an int or None, got {value!r}")
        if value is not None and value < 0:
            raise SpeedInputError(f"{name} must be 0 or more, got {value}")
    split = tuple(float(v) for v in tensor_split) if tensor_split is not None else None
    if split is not None and (
        len(split) != len(system.accelerators) or any(v < 0 for v in split) or sum(split) <= 0
    ):
        raise SpeedInputError(
            f"tensor_split needs one non-negative share per GPU ({len(system.accelerators)}), "
            f"got {list(split)}"
        )
    return _place(
        arch,
        fmt,
        system,
        context_tokens,
        kv_cache_type.lower(),
        n_gpu_layers,
        n_cpu_moe,
        split,
        bool(kv_on_host),
    )


@lru_cache(maxsize=8192)
def _place(
    arch: Architecture,
    fmt: str,
    system: System,
    context_tokens: int,
    kv_cache_type: str,
    n_gpu_layers: int | None,
    n_cpu_moe: int | None,
    tensor_split: tuple[float, ...] | None,
    kv_on_host: bool,
) -> Placement:
    facts = format_facts(fmt)
    shape = model_shape(arch, fmt)
    n = shape.n_layers
    accels = system.accelerators
    kv_type = kv_cache_type if facts.runtime == "llama.cpp" else "f16"
    notes: list[str] = list(system.notes)
    if kv_type != kv_cache_type:
        notes.append(f"KV cache kept at f16: {kv_cache_type} is a llama.cpp option")
    if facts.runtime == "transformers" and any(d.backend not in {"cuda"} for d in accels):
        raise SpeedInputError(
            f"{facts.name} runs through transformers on NVIDIA GPUs (CUDA) or the CPU; "
            f"this hardware's accelerator uses {accels[0].backend}: pick a GGUF format"
        )
    weights = tensor_split or tuple(float(d.usable_bytes) for d in accels) or (1.0,)

    def build(ngl: int, ncmoe: int) -> tuple[DeviceShare, ...]:
        return _shares(
            arch,
            shape,
            facts,
            system,
            _Split(ngl, ncmoe, weights, kv_on_host),
            context_tokens,
            kv_type,
        )

    everything = n + 1
    if not accels:
        ngl, ncmoe = 0, 0
    elif n_gpu_layers is not None or n_cpu_moe is not None:
        ngl = everything if n_gpu_layers is None else min(n_gpu_layers, everything)
        ncmoe = min(n_cpu_moe or 0, n) if shape.n_moe_layers else 0
        if n_cpu_moe and not shape.n_moe_layers:
            notes.append("--n-cpu-moe ignored: the model has no experts")
    elif facts.runtime == "transformers":
        ngl, ncmoe = everything, 0  # transformers offload to CPU is not offered
    else:
        ngl, ncmoe = _auto_split(build, n, shape.n_moe_layers > 0)
    shares = build(ngl, ncmoe)
    fits = _fits(shares)
    if facts.runtime == "transformers" and accels and not fits:
        notes.append("does not fit the GPU; transformers' CPU offload is too slow to offer")
    largest = shape.largest_tensor_bytes
    if accels and ngl > 0 and all(largest > d.usable_bytes for d in accels):
        notes.append(f"the largest tensor ({largest / 2**30:.1f} GiB) fits no single GPU")
        fits = False
    if system.host_assumed and any(
        s.role == "host" and (s.layers or s.expert_layers) for s in shares
    ):
        notes.append(
            f"system RAM not described: assumed {system.host.name.removeprefix('assumed host: ')}"
        )
    strategy = _strategy(shares, fits, ngl, ncmoe, n, accels)
    return Placement(
        model=arch.name,
        format=facts.name,
        runtime=facts.runtime,
        system=system,
        strategy=strategy,
        shares=shares,
        n_layers=n,
        n_gpu_layers=ngl,
        n_cpu_moe=ncmoe,
        tensor_split=tuple(round(w / max(weights), 3) for w in weights)
        if len(accels) > 1
        else None,
        kv_on_host=kv_on_host,
        context_tokens=context_tokens,
        kv_cache_type=kv_type,
        fits=fits,
        notes=tuple(notes),
    )


def _auto_split(build: Any, n: int, moe: bool) -> tuple[int, int]:
    everything = n + 1
    if _gpu_fits(build(everything, 0)):
        return everything, 0
    if moe:
        for k in range(1, n + 1):  # experts of the first k layers on the CPU
            if _gpu_fits(build(everything, k)):
                return everything, k
        ncmoe = n
    else:
        ncmoe = 0
    low, high = 0, n  # most repeating layers on the GPU that fit (monotone in -ngl)
    while low < high:
        mid = (low + high + 1) // 2
        if _gpu_fits(build(mid, ncmoe)):
            low = mid
        else:
            high = mid - 1
    return low, ncmoe


def _strategy(
    shares: tuple[DeviceShare, ...],
    fits: bool,
    ngl: int,
    ncmoe: int,
    n: int,
    accels: tuple[Device, ...],
) -> str:
    if not fits:
        return "does-not-fit"
    if not accels:
        return "cpu"
    if ngl <= n:
        return "offload-layers"
    if ncmoe:
        return "offload-experts"
    used = sum(1 for s in shares if s.role == "gpu" and (s.layers or s.output_head))
    return "multi-gpu" if used > 1 else "gpu"


def with_estimate(p: Placement, estimate: Estimate) -> Placement:
    return replace(p, estimate=estimate)


def backend_key(runtime: str, device: Device) -> str:
    """Coefficient key of a runtime on a device ("llama.cpp/cuda", "transformers/cpu")."""
    if runtime == "llama.cpp":
        return f"llama.cpp/{device.backend}"
    return "transformers/cpu" if device.kind == "cpu" else "transformers/cuda"


@dataclass(frozen=True)
class TokenWork:
    """The per-device work of one decoded token and of one prompt token."""

    decode: tuple[Work, ...]
    prompt: tuple[Work, ...]
    streamed_bytes: float  # weights copied to the GPU once per prompt micro-batch
    pcie_gbs: float
    pipeline_stages: int = 1  # GPUs a layer split pipelines prompt micro-batches over


def token_work(
    placement: Placement,
    arch: Architecture,
    decode_context_tokens: float,
    prompt_tokens: int,
    prompt_depth_tokens: int = 0,
) -> TokenWork:
    """Per-device work for the speed model, at ``decode_context_tokens`` tokens in the KV
    cache while decoding and a prompt of ``prompt_tokens`` after ``prompt_depth_tokens``."""
    facts = format_facts(placement.format)
    shape = model_shape(arch, placement.format)
    n = shape.n_layers
    kv = kv_per_layer(
        arch, int(round(decode_context_tokens)), placement.kv_cache_type, placement.runtime
    )
    prompt_ctx = int(round(prompt_depth_tokens + prompt_tokens / 2))
    attn_layer = shape.attention_flops_per_ctx_token * attended_tokens(arch, prompt_ctx) / n
    layer_flops = 2 * shape.layer_active_params
    head_flops = 2 * shape.output_params
    decode: list[Work] = []
    prompt: list[Work] = []
    for s in placement.shares:
        key = backend_key(placement.runtime, s.device)
        host = s.role == "host"
        moe_here = s.expert_layers
        weight = (
            s.layers * shape.layer_bytes
            + moe_here * shape.active_expert_bytes_per_layer
            + (shape.output_bytes if s.output_head else 0.0)
        )
        here = range(s.first_layer, s.first_layer + s.layers)
        kv_here = (
            sum(kv)
            if (host and placement.kv_on_host)
            else (0.0 if placement.kv_on_host else sum(kv[j] for j in here))
        )
        if weight or s.layers or moe_here:
            decode.append(
                Work(
                    key,
                    facts.family,
                    s.device.bandwidth_gbs,
                    s.device.tflops,
                    weight,
                    kv_here,
                    s.layers,
                    moe_here,
                    0.0,
                    0.0,
                )
            )
        flops = s.layers * layer_flops + (head_flops if s.output_head else 0.0)
        prompt.append(
            Work(
                key,
                facts.family,
                s.device.bandwidth_gbs,
                s.device.tflops,
                0.0,
                0.0,
                s.layers,
                moe_here,
                flops,
                attn_layer * s.layers,
            )
        )
    streamed = 0.0
    gpu_prompt = [w for w, s in zip(prompt, placement.shares, strict=True) if s.role == "gpu"]
    if placement.runtime == "llama.cpp" and gpu_prompt:
        # Large batches run on the GPU (llama.cpp op offload): the host's layers are
        # computed there, their weights streamed over PCIe (shared memory: no copy).
        host_work = prompt[-1]
        host_share = placement.host_share
        first = next(i for i, s in enumerate(placement.shares) if s.role == "gpu")
        w0 = prompt[first]
        prompt[first] = replace(
            w0,
            weight_flops=w0.weight_flops + host_work.weight_flops,
            attention_flops=w0.attention_flops + host_work.attention_flops,
            layers=w0.layers + host_work.layers,
            moe_layers=w0.moe_layers + host_work.moe_layers,
        )
        prompt.pop()
        if not placement.system.unified:
            streamed = host_share.weight_bytes - shape.token_embd_bytes
    prompt = [w for w in prompt if w.weight_flops or w.layers]
    stages = sum(1 for s in placement.shares if s.role == "gpu" and s.layers)
    return TokenWork(
        tuple(decode),
        tuple(prompt),
        max(0.0, streamed),
        placement.system.pcie_gbs,
        stages if placement.runtime == "llama.cpp" else 1,
    )
