"""llama.cpp's memory, allocated the way llama.cpp allocates it.

Every rule cites the source at ggml-org/llama.cpp@0c1e570 (vendored in llama-cpp-python 0.3.36)
and the PR that introduced it; the research notes cite the same lines at ec98e200.

* Context: ``n_ctx = PAD(n_ctx, 256)`` (llama-context.cpp, PR 17046). Without a unified cache
  each of ``n_parallel`` streams holds ``PAD(n_ctx / n_parallel, 256)`` cells.
* Sliding-window layers (iSWA archs only): ``PAD(min(n_ctx_seq, n_swa * (unified ? n_seq : 1)
  + n_ubatch), 256)`` cells (llama-kv-cache-iswa.cpp:55), full size with ``--swa-full``.
* MLA (deepseek2): the cache holds the 576-wide latent, K only since PR 19067 (Jan 2026).
* Recurrent layers (Mamba, Gated DeltaNet): one F32 state per sequence, independent of the
  context (llama-memory-recurrent.cpp:101-103).
* Compute buffer: the ggml-alloc peak of the prompt graph for one micro-batch, the largest of
  the FFN phase, the attention phase (only without flash attention: the KQ matrix is
  n_head x n_kv x n_ubatch F32) and the logits phase (n_vocab x outputs; llama-server
  reserves one output per slot since PR 23861, llama-cli and the library reserve n_ubatch).
  The phase formulas reproduce the CPU compute buffer of the installed llama.cpp to 0.01 MiB
  on Llama-3-8B- and Qwen2.5-7B-shaped models (tests/test_memory_llama_cpp_real.py).
* Weights: token_embd is the input layer and always stays in host memory
  (llama-model.cpp: "there is very little benefit to offloading the input layer");
  ``-ngl N`` offloads the last N repeating layers, the output layer only when N > n_layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache

from advisor.memory._base import (
    FP16_BYTES,
    FP32_BYTES,
    MemoryModelError,
    Term,
    check_positive_int,
    kv_element_bytes,
    mib,
    pad,
)
from advisor.memory.layout import AttentionLayout, LayerCache, attention_layout
from advisor.profiles import Architecture

FLASH_ATTN_CHOICES = ("auto", "on", "off")


@dataclass(frozen=True)
class LlamaCppEra:
    """Rules that changed between llama.cpp builds (to recompute logs of older builds)."""

    name: str
    ctx_pad_fa: int
    ctx_pad_no_fa: int
    swa_cache: str  # "current", "legacy" (pad before min), "none" (every layer full size)
    mla_v_cache: bool  # MLA cached V (the latent) too, before PR 19067
    server_outputs: bool  # llama-server reserves logits for n_parallel outputs (PR 23861)
    source: str


LLAMA_CPP_ERAS: dict[str, LlamaCppEra] = {
    e.name: e
    for e in [
        LlamaCppEra(
            "current", 256, 256, "current", False, True,
            "llama.cpp@0c1e570 (2026-10): PAD(n_ctx,256) (PR 17046), SWA cache padded to 256 "
            "(issue 17037), V-less MLA cache (PR 19067), server logits per slot (PR 23861)",
        ),
        LlamaCppEra(
            "2025-12", 256, 256, "current", True, False,
            "llama.cpp@ec98e200 (2025-12-16): as current, but MLA caches V and every frontend "
            "reserves n_ubatch logits",
        ),
        LlamaCppEra(
            "2025-06", 256, 32, "legacy", True, False,
            "May-Nov 2025 builds: PAD(n_ctx, FA ? 256 : 32), SWA = min(n_ctx, PAD(n_swa*n_seq "
            "+ n_ubatch, same pad)) (PR 13194)",
        ),
        LlamaCppEra(
            "2025-05", 256, 32, "none", True, False,
            "builds before PR 13194 (May 2025): no separate SWA cache, every layer n_ctx cells",
        ),
    ]
}  # fmt: skip


@dataclass(frozen=True)
class LlamaCppSettings:
    """The knobs that change llama.cpp's allocation, with llama-server's defaults
    (common/common.h, tools/server/server.cpp) except ``n_parallel``: one slot, the single
    user this tool sizes for (``llama-server -np 1``; auto mode runs 4 slots over one unified
    cache, which changes only sliding-window and recurrent layers: pass ``n_parallel=4``)."""

    n_parallel: int = 1
    kv_unified: bool | None = None  # None: unified when one slot (identical), split otherwise
    n_ubatch: int = 512
    n_batch: int = 2048
    flash_attn: str = "auto"  # auto = on wherever the device supports it (PR 15434)
    swa_full: bool = False
    n_outputs: int | None = (
        None  # logits rows: None = n_parallel (llama-server); n_ubatch = llama-cli
    )
    n_gpu_layers: int | None = None  # None = all (-ngl 999): every layer and the output
    era: str = "current"

    def __post_init__(self) -> None:
        check_positive_int(self.n_parallel, "parallel (slots)")
        check_positive_int(self.n_ubatch, "n_ubatch")
        check_positive_int(self.n_batch, "n_batch")
        if self.flash_attn not in FLASH_ATTN_CHOICES:
            raise MemoryModelError(
                f"flash attention must be one of {', '.join(FLASH_ATTN_CHOICES)}, "
                f"got {self.flash_attn!r}"
            )
        if self.n_outputs is not None:
            check_positive_int(self.n_outputs, "n_outputs")
        if self.n_gpu_layers is not None and (
            isinstance(self.n_gpu_layers, bool)
            or not isinstance(self.n_gpu_layers, int)
            or self.n_gpu_layers < 0
        ):
            raise MemoryModelError(f"n_gpu_layers must be 0 or more, got {self.n_gpu_layers!r}")
        if self.era not in LLAMA_CPP_ERAS:
            raise MemoryModelError(
                f"unknown llama.cpp era {self.era!r}: one of {', '.join(LLAMA_CPP_ERAS)}"
            )

    @property
    def unified(self) -> bool:
        return self.n_parallel == 1 if self.kv_unified is None else self.kv_unified

    @property
    def flash(self) -> bool:
        # "auto" resolves to on when every layer's FA op runs on its device: true for the
        # CPU, CUDA and Metal backends on the models bundled here.
        return self.flash_attn != "off"

    @property
    def rules(self) -> LlamaCppEra:
        return LLAMA_CPP_ERAS[self.era]

    @property
    def items(self) -> tuple[tuple[str, object], ...]:
        return tuple(sorted(self.to_dict().items()))

    def to_dict(self) -> dict[str, object]:
        return {
            "n_parallel": self.n_parallel,
            "kv_unified": self.unified,
            "n_ubatch": self.n_ubatch,
            "n_batch": self.n_batch,
            "flash_attn": self.flash_attn,
            "swa_full": self.swa_full,
            "n_outputs": self.n_outputs,
            "n_gpu_layers": self.n_gpu_layers,
            "era": self.era,
        }


DEFAULT_SETTINGS = LlamaCppSettings()


@dataclass(frozen=True)
class KvPlan:
    """Cells per stream for the base and the SWA cache, with the rule text."""

    n_ctx: int  # after padding (all streams)
    base_cells: int  # per stream
    swa_cells: int  # per stream
    streams: int
    base_rule: str
    swa_rule: str


def kv_plan(context_tokens: int, settings: LlamaCppSettings, window: int | None) -> KvPlan:
    rules = settings.rules
    unit = rules.ctx_pad_fa if settings.flash else rules.ctx_pad_no_fa
    n_ctx = pad(context_tokens, unit)
    n_seq = settings.n_parallel
    if settings.unified or n_seq == 1:
        base, streams = n_ctx, 1
        base_rule = f"{base:,} cells = pad({context_tokens:,}, {unit})"
    else:
        base, streams = pad(n_ctx // n_seq, 256), n_seq
        n_ctx = base * n_seq
        base_rule = (
            f"{n_seq} streams x {base:,} cells = pad(pad({context_tokens:,}, 256) / {n_seq}, 256)"
        )
    swa, swa_rule = base, base_rule
    if window:
        seqs = n_seq if settings.unified else 1
        if settings.swa_full:
            swa_rule = f"{base:,} cells (--swa-full)"
        elif rules.swa_cache == "none":
            swa_rule = f"{base:,} cells (no SWA cache before PR 13194)"
        elif rules.swa_cache == "legacy":
            swa = min(base, pad(window * n_seq + settings.n_ubatch, unit))
            swa_rule = (
                f"{swa:,} cells = min({base:,}, pad({window:,} x {n_seq} + "
                f"{settings.n_ubatch}, {unit}))"
            )
        else:
            swa = pad(min(base, window * seqs + settings.n_ubatch), 256)
            inner = f"{window:,}" if seqs == 1 else f"{window:,} x {seqs}"
            swa_rule = (
                f"{swa:,} cells = pad({inner} + {settings.n_ubatch}, 256)"
                if base > window * seqs + settings.n_ubatch
                else f"{swa:,} cells = pad(min({base:,}, {inner} + {settings.n_ubatch}), 256)"
            )
        if streams > 1:
            swa_rule = f"{streams} streams x {swa_rule}"
    return KvPlan(n_ctx, base, swa, streams, base_rule, swa_rule)


def _layer_kv_bytes(layer: LayerCache, cells: int, streams: int, k_elt: float, v_elt: float) -> int:
    return int(round(cells * streams * (layer.k_width * k_elt + layer.v_width * v_elt)))


@dataclass(frozen=True)
class KvResult:
    per_layer: tuple[int, ...]  # bytes of each layer's KV (0 for layers without one)
    state_per_layer: tuple[int, ...]  # recurrent state bytes per layer
    plan: KvPlan
    terms: tuple[Term, ...]

    @property
    def kv_total(self) -> int:
        return sum(self.per_layer)

    @property
    def state_total(self) -> int:
        return sum(self.state_per_layer)


@lru_cache(maxsize=8192)
def kv_cache(
    arch: Architecture,
    context_tokens: int,
    kv_cache_type: str = "f16",
    settings: LlamaCppSettings = DEFAULT_SETTINGS,
    layout: AttentionLayout | None = None,
) -> KvResult:
    """KV cache and recurrent state of ``arch`` under llama.cpp, per layer, with the rules."""
    elt = kv_element_bytes(kv_cache_type)
    if not settings.flash and kv_cache_type.lower() not in ("f16", "bf16", "f32"):
        # llama-context.cpp: "quantized V cache was requested, but this requires Flash Attention"
        raise MemoryModelError(
            f"llama.cpp needs flash attention for a quantized V cache ({kv_cache_type}): "
            "use --flash-attn on or an f16 cache"
        )
    layout = layout or attention_layout(arch, "llama.cpp", settings.rules.mla_v_cache)
    plan = kv_plan(context_tokens, settings, layout.window)
    per_layer: list[int] = []
    state: list[int] = []
    rows = max(1, settings.n_parallel)
    for layer in layout.layers:
        if layer.has_kv:
            cells = plan.swa_cells if layer.kind in ("sliding", "chunked") else plan.base_cells
            per_layer.append(_layer_kv_bytes(layer, cells, plan.streams, elt, elt))
        else:
            per_layer.append(0)
        # llama-memory-recurrent.cpp:101-103: n_embd_r + n_embd_s floats per sequence, F32
        state.append(
            layer.state_elements * rows * FP32_BYTES if layer.kind in ("linear", "mamba") else 0
        )
    terms: list[Term] = []
    kt = kv_cache_type.lower()
    for kinds, cells_rule, label in (
        (("full",), plan.base_rule, "KV full-attention"),
        (("sliding", "chunked"), plan.swa_rule, "KV sliding-window"),
    ):
        idx = [i for i, layer in enumerate(layout.layers) if layer.kind in kinds and layer.has_kv]
        if not idx:
            continue
        total = sum(per_layer[i] for i in idx)
        widths = {(layout.layers[i].k_width, layout.layers[i].v_width) for i in idx}
        k_w, v_w = max(widths)
        width_text = f"K {k_w}" + (f" + V {v_w}" if v_w else "") + f" x {kt}"
        terms.append(
            Term(label, total, f"{len(idx)} layers x {cells_rule} x ({width_text}) = {mib(total)}")
        )
    n_state = sum(1 for s in state if s)
    if n_state:
        total = sum(state)
        per = max(layer.state_elements for layer in layout.layers)
        terms.append(
            Term(
                "recurrent state",
                total,
                f"{n_state} layers x {rows} seq x {per:,} elements x f32 = {mib(total)}, "
                "independent of the context",
            )
        )
    return KvResult(tuple(per_layer), tuple(state), plan, tuple(terms))


@dataclass(frozen=True)
class ComputeResult:
    device_bytes: int  # compute buffer of the device that runs the layers
    host_bytes: int  # the CUDA_Host compute buffer that exists when a GPU runs the layers
    output_bytes: int  # the host output buffer (logits of the last tokens)
    terms: tuple[Term, ...]
    phase: str

    @property
    def total_bytes(self) -> int:
        return self.device_bytes + self.host_bytes + self.output_bytes


@lru_cache(maxsize=4096)
def _ffn_width(arch: Architecture) -> int:
    """Per-token FFN intermediate width live at once (experts: the ones a token uses)."""
    if arch.n_experts and arch.experts_per_token:
        from advisor.memory.tensors import gguf_tensors

        specs = gguf_tensors(arch)
        widths = [t.shape[1] for t in specs if t.name.endswith("ffn_up_exps.weight")]
        shared = [t.shape[1] for t in specs if t.name.endswith("ffn_up_shexp.weight")]
        if widths:
            return widths[0] * arch.experts_per_token + (shared[0] if shared else 0)
    return arch.intermediate_size or 4 * arch.hidden_size


@lru_cache(maxsize=8192)
def compute_buffer(
    arch: Architecture,
    context_tokens: int,
    settings: LlamaCppSettings = DEFAULT_SETTINGS,
    on_gpu: bool = True,
    layout: AttentionLayout | None = None,
) -> ComputeResult:
    """The compute buffer llama.cpp reserves (sched_reserve, llama-context.cpp:615-744).

    Phase rules, per token of the micro-batch, F32 unless said (measured with the installed
    llama.cpp: 124.01 MiB for a Llama-3-8B shape at 8,192 tokens with flash attention and one
    output, 572.01 MiB without flash attention, 266.50 MiB with n_ubatch outputs):

    * FFN: 3 x n_ff + 3 x n_embd + n_head x head_dim (flash attention; without it the K and V
      rows instead), plus each attention mask (F16 n_kv with flash attention, F32 without);
    * attention, without flash attention only: n_kv x (n_head + 1) + 4 x n_embd + q + k + v;
    * logits: (n_vocab + 2 x n_embd) x outputs.

    ggml-alloc packs tensors into freed holes, so when the logits tensor is about the size of
    the FFN activations the measured buffer can be up to ~8 % above the larger phase.

    With a GPU the token embedding lookup and the F32 masks stay on the host (CUDA_Host buffer:
    n_kv x n_ubatch x 4 + n_embd x n_ubatch x 4, reproduced to 0.01 MiB in the log vectors).
    """
    layout = layout or attention_layout(arch, "llama.cpp", settings.rules.mla_v_cache)
    plan = kv_plan(context_tokens, settings, layout.window)
    n_ub = min(plan.n_ctx, settings.n_ubatch)
    e = arch.hidden_size
    q_width = arch.n_heads * arch.head_dim
    kv_width = max((layer.k_width for layer in layout.layers if layer.has_kv), default=0)
    kinds = {layer.kind for layer in layout.layers if layer.has_kv}
    masks = []
    if "full" in kinds:
        masks.append(plan.base_cells * plan.streams)
    if kinds & {"sliding", "chunked"}:
        masks.append(plan.swa_cells * plan.streams)
    n_kv = max(masks, default=0)
    mask_elt = FP16_BYTES if settings.flash else FP32_BYTES
    mask_bytes = sum(m * n_ub * mask_elt for m in masks)
    # with FA the attention output (q-wide) is still live in the FFN phase, without FA the
    # layer's K and V rows are (measured; both reproduce the installed llama.cpp)
    attn_rows = q_width if settings.flash else 2 * kv_width
    ffn = (3 * _ffn_width(arch) + 3 * e + attn_rows) * n_ub * FP32_BYTES + mask_bytes
    attn = 0
    if not settings.flash and n_kv:
        attn = n_kv * n_ub * (arch.n_heads + 1) * FP32_BYTES
        attn += (4 * e + q_width + 2 * kv_width) * n_ub * FP32_BYTES
        attn += sum(m * n_ub * FP32_BYTES for m in masks) - n_kv * n_ub * FP32_BYTES
    rules = settings.rules
    if settings.n_outputs is not None:
        outputs = settings.n_outputs
        out_text = f"{outputs} outputs"
    elif rules.server_outputs:
        outputs = settings.n_parallel
        out_text = f"{outputs} output{'s' if outputs > 1 else ''} (llama-server, one per slot)"
    else:
        outputs = n_ub
        out_text = f"{outputs} outputs (n_ubatch)"
    outputs = min(outputs, n_ub)
    logits = (arch.vocab_size + 2 * e) * outputs * FP32_BYTES
    phases = {"FFN": ffn, "attention (KQ)": attn, "logits": logits}
    phase = max(phases, key=lambda k: phases[k])
    total = phases[phase]
    inp_embd = e * n_ub * FP32_BYTES
    host = 0
    if on_gpu:
        total -= inp_embd
        host = sum(m * n_ub * FP32_BYTES for m in masks) + inp_embd
    # output_reserve (llama-context.cpp): n_vocab floats per sequence, logged apart
    output_buffer = arch.vocab_size * FP32_BYTES * settings.n_parallel
    fa = "flash attention on" if settings.flash else "flash attention off"
    if phase == "FFN":
        rule = (
            f"FFN phase: (3 x {_ffn_width(arch):,} + 3 x {e:,} + {attn_rows:,}) x {n_ub} x 4 B"
            f" + masks {mib(mask_bytes)} ({fa})"
        )
    elif phase == "logits":
        rule = f"logits phase: ({arch.vocab_size:,} + 2 x {e:,}) x {out_text} x 4 B ({fa})"
    else:
        rule = (
            f"KQ phase: {n_kv:,} cells x {n_ub} x ({arch.n_heads} heads + 1) x 4 B + activations "
            f"({fa}: the attention matrix is materialised)"
        )
    if on_gpu:
        rule += f", minus the embedding lookup {mib(inp_embd)} done on the host"
    terms = [Term("compute buffer", total, f"{rule} = {mib(total)}")]
    if on_gpu:
        terms.append(
            Term(
                "host compute buffer",
                host,
                f"F32 masks {mib(host - inp_embd)} + embedding rows {mib(inp_embd)} = {mib(host)}",
                where="host",
            )
        )
    terms.append(
        Term(
            "output buffer",
            output_buffer,
            f"{arch.vocab_size:,} logits x 4 B x {settings.n_parallel} seq = {mib(output_buffer)}",
            where="host",
        )
    )
    return ComputeResult(total, host, output_buffer, tuple(terms), phase)


@dataclass(frozen=True)
class Placement:
    """Where llama.cpp puts the weights under ``-ngl`` (llama-model.cpp:2381-2406)."""

    device_weight_bytes: int
    host_weight_bytes: int
    gpu_layers: tuple[int, ...]
    output_on_device: bool
    terms: tuple[Term, ...] = field(default_factory=tuple)


def place_weights(
    arch: Architecture, tensors_bytes: dict[str, int], layer_bytes: tuple[int, ...],
    settings: LlamaCppSettings, on_gpu: bool,
) -> Placement:  # fmt: skip
    """Split the weights between the device and the host as ``-ngl`` does."""
    token_embd = tensors_bytes.get("token_embd", 0)
    output = tensors_bytes.get("output", 0)
    other = tensors_bytes.get("other", 0)  # output_norm and other non-repeating tensors
    total = token_embd + output + other + sum(layer_bytes)
    if not on_gpu:
        return Placement(total, 0, tuple(range(arch.n_layers)), False)
    ngl = arch.n_layers + 1 if settings.n_gpu_layers is None else settings.n_gpu_layers
    n_on = min(ngl, arch.n_layers)
    first = arch.n_layers - n_on
    gpu_layers = tuple(range(first, arch.n_layers))
    output_on = ngl > arch.n_layers
    head = output if not arch.tied_embeddings else token_embd  # tied: the embedding is duplicated
    device = sum(layer_bytes[first:]) + ((head + other) if output_on else 0)
    host = token_embd + sum(layer_bytes[:first]) + (0 if output_on else output + other)
    terms = [
        Term(
            "weights on the device",
            device,
            f"layers {first}-{arch.n_layers - 1}"
            + (" + output" if output_on else "")
            + (" (tied: a copy of token_embd)" if output_on and arch.tied_embeddings else "")
            + f" = {mib(device)}",
        ),
        Term(
            "weights in host memory",
            host,
            f"token_embd {mib(token_embd)} (input layer, always host)"
            + (f" + {first} layers" if first else "")
            + ("" if output_on else " + output")
            + f" = {mib(host)}",
            where="host",
        ),
    ]
    return Placement(device, host, gpu_layers, output_on, tuple(terms))


def with_settings(settings: LlamaCppSettings | None, **changes: object) -> LlamaCppSettings:
    base = settings or DEFAULT_SETTINGS
    clean = {k: v for k, v in changes.items() if v is not None}
    return replace(base, **clean) if clean else base  # type: ignore[arg-type]
