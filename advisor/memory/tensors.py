"""The tensors of a GGUF file, derived from architecture facts, and the type llama.cpp's
quantizer gives each one.

A llama.cpp file type (Q4_K_M) is a recipe, not a bit-width: ``llama_tensor_get_type`` picks a
type per tensor (attn_v and some ffn_down layers get more bits, the output head Q6_K...) and
falls back per tensor when a row is not a multiple of the type's block (a k-quant needs 256:
Qwen2.5-72B's ffn_down rows are 29,568 wide, so they become Q5_0/Q8_0; hidden sizes 576, 640,
896, 2880 and 4544 send most tensors of SmolLM2-135M, Gemma-3-270m, Qwen2.5-0.5B, gpt-oss and
Falcon-7B to the fallback). Rules: ``src/llama-quant.cpp`` (llama_tensor_get_type_impl,
tensor_type_fallback, tensor_allows_quantization) at ggml-org/llama.cpp@0c1e570 (same recipe at
ec98e200; the fallback for Q2_K/Q3_K became Q4_0 instead of IQ4_NL, equal in size).

The tensor list follows convert_hf_to_gguf.py's layout for the common architectures; parts the
catalogue does not describe (linear-attention and Mamba mixers, MLA projections) are sized so
the parameter count matches ``params_total`` and quantized at the file type's base type.
Verified against real files in tests/test_memory_conformance.py (w-* vectors).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from advisor.memory._base import MemoryModelError
from advisor.memory.layout import gguf_architecture
from advisor.profiles import Architecture
from advisor.profiles.formats import GGML_TYPE_SIZES

# ftype -> default tensor type (llama_ftype_get_default_type, src/llama-quant.cpp).
FTYPE_BASE_TYPE: dict[str, str] = {
    "F32": "F32",
    "F16": "F16",
    "BF16": "BF16",
    "Q4_0": "Q4_0",
    "Q4_1": "Q4_1",
    "Q5_0": "Q5_0",
    "Q5_1": "Q5_1",
    "Q8_0": "Q8_0",
    "Q2_K_S": "Q2_K",
    "Q2_K": "Q2_K",
    "IQ3_XS": "IQ3_S",
    "Q3_K_S": "Q3_K",
    "Q3_K_M": "Q3_K",
    "Q3_K_L": "Q3_K",
    "Q4_K_S": "Q4_K",
    "Q4_K_M": "Q4_K",
    "Q5_K_S": "Q5_K",
    "Q5_K_M": "Q5_K",
    "Q6_K": "Q6_K",
    "IQ2_XXS": "IQ2_XXS",
    "IQ2_XS": "IQ2_XS",
    "IQ2_S": "IQ2_XS",
    "IQ2_M": "IQ2_S",
    "IQ3_XXS": "IQ3_XXS",
    "IQ1_S": "IQ1_S",
    "IQ1_M": "IQ1_M",
    "IQ4_NL": "IQ4_NL",
    "IQ4_XS": "IQ4_XS",
    "IQ3_S": "IQ3_S",
    "IQ3_M": "IQ3_S",
    "TQ1_0": "TQ1_0",
    "TQ2_0": "TQ2_0",
    "MXFP4_MOE": "MXFP4",
}
FTYPE_ALIASES = {"MXFP4": "MXFP4_MOE"}
UNQUANTIZED = frozenset({"F32", "F16", "BF16"})
# tensor_type_fallback: a 256-block type on a row that is not a multiple of 256.
FALLBACK_TYPE: dict[str, str] = {
    "IQ1_S": "IQ4_NL",
    "IQ1_M": "IQ4_NL",
    "IQ2_XXS": "IQ4_NL",
    "IQ2_XS": "IQ4_NL",
    "IQ2_S": "IQ4_NL",
    "IQ3_XXS": "IQ4_NL",
    "IQ3_S": "IQ4_NL",
    "IQ4_XS": "IQ4_NL",
    "Q2_K": "Q4_0",
    "Q3_K": "Q4_0",
    "TQ1_0": "Q4_0",
    "TQ2_0": "Q4_0",
    "Q4_K": "Q5_0",
    "Q5_K": "Q5_1",
    "Q6_K": "Q8_0",
}
_IQ2_FAMILY = frozenset({"IQ2_XXS", "IQ2_XS", "IQ1_S", "IQ2_S", "IQ2_M", "IQ1_M"})
_FUSED_QKV_ARCHS = frozenset({"falcon", "phi3", "bloom", "gptneox"})
# FFNs without a gate (up + down only): GELU MLPs, and Nemotron-H's squared-ReLU experts.
_UNGATED_FFN_ARCHS = frozenset(
    {"falcon", "bloom", "gptneox", "opt", "nemotron_h", "nemotron_h_moe"}
)
_QKV_BIAS_ARCHS = frozenset({"qwen", "qwen2", "bloom", "gptneox", "falcon"})
# Extra per-layer 1-D norms (F32): post-attention/post-FFN norms, per-head q/k norms.
_POST_NORM_ARCHS = frozenset({"gemma2", "gemma3", "gemma3n", "gemma4", "olmo2"})
_QK_NORM_ARCHS = frozenset({"gemma3", "gemma3n", "gemma4", "qwen3", "qwen3moe", "olmo2", "smollm3"})
# Architectures whose GGUF stores output.weight even when the checkpoint ties it to the
# embedding (falcon.cpp reads OUTPUT first; the converted files carry it: the gpt4all
# Falcon-7B Q4_0 file is 4,210,994,112 bytes, 314 MB more than with a tied head).
_GGUF_ALWAYS_OUTPUT = frozenset({"falcon"})
# Q-lora rank of MLA models (not a catalogue column): DeepSeek-V3 config.json q_lora_rank.
_MLA_Q_LORA_RANK = {"deepseek-v3": 1536}
_MLA_NOPE_DIM = 128  # qk_nope_head_dim of DeepSeek-V2/V3


@dataclass(frozen=True)
class TensorSpec:
    """One tensor as a GGUF file stores it. ``shape`` is ggml order: ``shape[0]`` is the row
    (the matmul's input dimension), the one the block size must divide."""

    name: str
    shape: tuple[int, ...]
    layer: int | None  # repeating layer index, None for embedding/head/norm
    part: str  # token_embd, output, attention, ffn, expert, shared_expert, router, mixer, norm

    @property
    def n_elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass(frozen=True)
class TypedTensor:
    spec: TensorSpec
    type_name: str
    fallback: bool  # the recipe's type did not fit the row width

    @property
    def n_bytes(self) -> int:
        block, size = GGML_TYPE_SIZES[self.type_name]
        return self.spec.n_elements // block * size


def _moe_layers(arch: Architecture) -> list[bool]:
    dense = arch.n_dense_layers or 0
    return [bool(arch.n_experts) and i >= dense for i in range(arch.n_layers)]


def _attention_params(
    arch: Architecture, kind: str, gguf_arch: str
) -> list[tuple[str, tuple[int, ...], str]]:
    """(name suffix, shape, part) of one attention layer's tensors."""
    e = arch.hidden_size
    if arch.attention == "mla":
        rope = arch.qk_rope_head_dim or 0
        kv_lora = arch.kv_lora_rank or 0
        q_dim = arch.n_heads * arch.head_dim
        v_dim = arch.v_head_dim or arch.head_dim
        q_lora = _MLA_Q_LORA_RANK.get(arch.family_key)
        out: list[tuple[str, tuple[int, ...], str]] = []
        if q_lora:
            out += [
                ("attn_q_a.weight", (e, q_lora), "attention"),
                ("attn_q_b.weight", (q_lora, q_dim), "attention"),
            ]
        else:
            out += [("attn_q.weight", (e, q_dim), "attention")]
        nope = max(arch.head_dim - rope, 0) or _MLA_NOPE_DIM
        out += [
            ("attn_kv_a_mqa.weight", (e, kv_lora + rope), "attention"),
            ("attn_kv_b.weight", (kv_lora, arch.n_heads * (nope + v_dim)), "attention"),
            ("attn_output.weight", (arch.n_heads * v_dim, e), "attention"),
        ]
        return out
    if kind == "full" and (arch.global_n_kv_heads or arch.global_head_dim):
        kv_heads = arch.global_n_kv_heads or arch.n_kv_heads
        hd = arch.global_head_dim or arch.head_dim
        hv = hd
    else:
        kv_heads, hd, hv = arch.n_kv_heads, arch.head_dim, arch.v_head_dim or arch.head_dim
    q = arch.n_heads * hd
    k = kv_heads * hd
    v = kv_heads * hv
    tensors: list[tuple[str, tuple[int, ...], str]]
    if gguf_arch in _FUSED_QKV_ARCHS:
        tensors = [("attn_qkv.weight", (e, q + k + v), "attention")]
    else:
        tensors = [
            ("attn_q.weight", (e, q), "attention"),
            ("attn_k.weight", (e, k), "attention"),
            ("attn_v.weight", (e, v), "attention"),
        ]
    tensors.append(("attn_output.weight", (arch.n_heads * hv, e), "attention"))
    if gguf_arch in _QKV_BIAS_ARCHS:
        tensors.append(("attn_qkv.bias", (q + k + v,), "attention"))
    return tensors


def _dense_ffn(
    arch: Architecture, gguf_arch: str, n_ff: int
) -> list[tuple[str, tuple[int, ...], str]]:
    e = arch.hidden_size
    if gguf_arch in _UNGATED_FFN_ARCHS:
        return [("ffn_up.weight", (e, n_ff), "ffn"), ("ffn_down.weight", (n_ff, e), "ffn")]
    if gguf_arch == "phi3":  # gate and up fused into one ffn_up of twice the width
        return [("ffn_up.weight", (e, 2 * n_ff), "ffn"), ("ffn_down.weight", (n_ff, e), "ffn")]
    return [
        ("ffn_gate.weight", (e, n_ff), "ffn"),
        ("ffn_up.weight", (e, n_ff), "ffn"),
        ("ffn_down.weight", (n_ff, e), "ffn"),
    ]


def _expert_ffn(
    arch: Architecture, n_ff_exp: int, gated: bool = True
) -> list[tuple[str, tuple[int, ...], str]]:
    e = arch.hidden_size
    n = arch.n_experts or 0
    out: list[tuple[str, tuple[int, ...], str]] = [("ffn_gate_inp.weight", (e, n), "router")]
    if gated:
        out.append(("ffn_gate_exps.weight", (e, n_ff_exp, n), "expert"))
    out += [
        ("ffn_up_exps.weight", (e, n_ff_exp, n), "expert"),
        ("ffn_down_exps.weight", (n_ff_exp, e, n), "expert"),
    ]
    if arch.n_shared_experts:
        width = n_ff_exp * arch.n_shared_experts
        if gated:
            out.append(("ffn_gate_shexp.weight", (e, width), "shared_expert"))
        out += [
            ("ffn_up_shexp.weight", (e, width), "shared_expert"),
            ("ffn_down_shexp.weight", (width, e), "shared_expert"),
        ]
    return out


def _count(tensors: list[tuple[str, tuple[int, ...], str]]) -> int:
    total = 0
    for _, shape, _ in tensors:
        n = 1
        for d in shape:
            n *= d
        total += n
    return total


# Architectures whose mixer layers (Mamba or attention) carry no FFN: the FFN sits in
# layers of their own ("none" in layer_types), as in Nemotron-H's hybrid_override_pattern.
_FFN_ONLY_IN_MLP_LAYERS = frozenset({"nemotron_h", "nemotron_h_moe"})


def _has_ffn(arch_name: str, kind: str) -> bool:
    if arch_name in _FFN_ONLY_IN_MLP_LAYERS:
        return kind == "none"
    return True


@lru_cache(maxsize=4096)
def shape_signature(arch: Architecture) -> tuple[object, ...]:
    """Everything the tensor list and the recipe read from an architecture: variants that
    share it (base / instruct) share one computation."""
    return (
        gguf_architecture(arch), arch.family_key, arch.params_total, arch.n_layers,
        arch.hidden_size, arch.intermediate_size, arch.n_heads, arch.n_kv_heads, arch.head_dim,
        arch.v_head_dim, arch.vocab_size, arch.tied_embeddings, arch.layer_kinds, arch.attention,
        arch.kv_lora_rank, arch.qk_rope_head_dim, arch.n_experts, arch.experts_per_token,
        arch.expert_intermediate_size, arch.n_shared_experts, arch.n_dense_layers,
        arch.global_n_kv_heads, arch.global_head_dim,
    )  # fmt: skip


_TENSORS: dict[tuple[object, ...], tuple[TensorSpec, ...]] = {}
_QUANT: dict[tuple[object, ...], QuantResult] = {}
_CACHE_LIMIT = 8192


Template = tuple[str, tuple[int, ...], str]  # (name, shape, part)


@dataclass(frozen=True)
class _Templates:
    """A GGUF's tensors as templates: non-repeating head/tail and one list per layer
    (identical layers share one list)."""

    head: tuple[Template, ...]
    layers: tuple[tuple[Template, ...], ...]
    tail: tuple[Template, ...]


_TEMPLATES: dict[tuple[object, ...], _Templates] = {}


def gguf_tensors(arch: Architecture) -> tuple[TensorSpec, ...]:
    """The tensors of a GGUF of ``arch``, in file order (embedding, layers, norm, head),
    cached per :func:`shape_signature`.

    Parameters the layout does not name (mixers of linear-attention / Mamba layers, an MoE
    model's expert width when the catalogue lacks it) are fitted so that the total equals
    ``params_total``; so is the share of MoE layers when experts on every layer would exceed it
    (Llama-4-Maverick interleaves MoE and dense layers, interleave_moe_layer_step 2).
    """
    key = shape_signature(arch)
    specs = _TENSORS.get(key)
    if specs is None:
        t = _templates(arch)
        out = [TensorSpec(n, sh, None, p) for n, sh, p in t.head]
        for i, layer in enumerate(t.layers):
            out += [TensorSpec(f"blk.{i}.{n}", sh, i, p) for n, sh, p in layer]
        out += [TensorSpec(n, sh, None, p) for n, sh, p in t.tail]
        if len(_TENSORS) > _CACHE_LIMIT:
            _TENSORS.clear()
        specs = _TENSORS[key] = tuple(out)
    return specs


def _templates(arch: Architecture) -> _Templates:
    key = shape_signature(arch)
    found = _TEMPLATES.get(key)
    if found is not None:
        return found
    moe = _moe_layers(arch)
    best = _templates_with(arch, moe)
    if any(moe) and _params(best) > 1.1 * arch.params_total:
        for step in (2, 4):
            every = [m and (i + 1) % step == 0 for i, m in enumerate(moe)]
            candidate = _templates_with(arch, every)
            if abs(_params(candidate) - arch.params_total) < abs(_params(best) - arch.params_total):
                best = candidate
    if len(_TEMPLATES) > _CACHE_LIMIT:
        _TEMPLATES.clear()
    _TEMPLATES[key] = best
    return best


def _params(t: _Templates) -> int:
    counted: dict[int, int] = {}
    total = _count(list(t.head)) + _count(list(t.tail))
    for layer in t.layers:
        if id(layer) not in counted:
            counted[id(layer)] = _count(list(layer))
        total += counted[id(layer)]
    return total


def _templates_with(arch: Architecture, moe: list[bool]) -> _Templates:
    g = gguf_architecture(arch)
    e = arch.hidden_size
    kinds = arch.layer_kinds
    gated = g not in _UNGATED_FFN_ARCHS
    n_ff = arch.intermediate_size or 4 * e
    head: list[Template] = [("token_embd.weight", (e, arch.vocab_size), "token_embd")]
    tail: list[Template] = [("output_norm.weight", (e,), "norm")]
    if not arch.tied_embeddings or g in _GGUF_ALWAYS_OUTPUT:
        tail.append(("output.weight", (e, arch.vocab_size), "output"))
    mixer_layers = [i for i, kind in enumerate(kinds) if kind in ("linear", "mamba")]
    moe_layers = [i for i in range(arch.n_layers) if moe[i] and _has_ffn(g, kinds[i])]
    # one template list per distinct (kind, moe) pair: the layers of a pair are identical
    base: dict[tuple[str, bool], list[Template]] = {}
    for i, kind in enumerate(kinds):
        key = (kind, moe[i])
        if key in base:
            continue
        layer: list[Template] = [("attn_norm.weight", (e,), "norm")]
        if kind in ("full", "sliding", "chunked"):
            layer += _attention_params(arch, kind, g)
            if g in _QK_NORM_ARCHS:
                layer += [("attn_q_norm.weight", (arch.head_dim,), "norm"),
                          ("attn_k_norm.weight", (arch.head_dim,), "norm")]  # fmt: skip
            if g in _POST_NORM_ARCHS:
                layer += [("post_attention_norm.weight", (e,), "norm"),
                          ("post_ffw_norm.weight", (e,), "norm")]  # fmt: skip
        if not moe[i] and _has_ffn(g, kind):
            layer.append(("ffn_norm.weight", (e,), "norm"))
            layer += _dense_ffn(arch, g, n_ff)
        base[key] = layer
    known = (
        _count(head) + _count(tail) + sum(_count(base[(k, moe[i])]) for i, k in enumerate(kinds))
    )
    if moe_layers:
        if arch.expert_intermediate_size:
            n_ff_exp = arch.expert_intermediate_size
        else:
            # Solve the expert width from params_total; a mixer layer is taken to be about
            # the size of an attention layer's projections.
            mixer_guess = len(mixer_layers) * _count(_attention_params(arch, "full", g))
            n_exp = arch.n_experts or 0
            router = len(moe_layers) * e * n_exp
            mats = 3 if gated else 2
            unit = len(moe_layers) * mats * e * (n_exp + (arch.n_shared_experts or 0))
            n_ff_exp = max(1, round((arch.params_total - known - mixer_guess - router) / unit))
        experts = _expert_ffn(arch, n_ff_exp, gated)
        for key in base:
            if key[1] and _has_ffn(g, key[0]):
                base[key] = base[key] + experts
        known += len(moe_layers) * _count(experts)
    remaining = arch.params_total - known
    if mixer_layers and remaining > 0:
        # Linear-attention / Mamba mixer tensors are not catalogue columns: sized to match
        # params_total, with rows n_embd wide like the in-projections that dominate them.
        rows = max(1, remaining // len(mixer_layers) // e)
        for key in base:
            if key[0] in ("linear", "mamba"):
                base[key] = base[key] + [("ssm_mixer.weight", (e, rows), "mixer")]
    frozen = {key: tuple(layer) for key, layer in base.items()}
    layers = tuple(frozen[(kind, moe[i])] for i, kind in enumerate(kinds))
    return _Templates(tuple(head), layers, tuple(tail))


def normalize_ftype(name: str) -> str:
    key = FTYPE_ALIASES.get(name.upper(), name.upper())
    if key not in FTYPE_BASE_TYPE:
        raise MemoryModelError(
            f"{name!r} is not a llama.cpp file type: use one of {', '.join(FTYPE_BASE_TYPE)}"
        )
    return key


def _use_more_bits(i: int, n: int) -> bool:
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def _allows_name(name: str) -> bool:
    """tensor_allows_quantization for a 2-D/3-D tensor: ``*weight``, not norms or the router."""
    if not name.endswith("weight"):
        return False
    return (
        "_norm.weight" not in name
        and "ffn_gate_inp.weight" not in name
        and "ssm_conv1d" not in name
    )


def _allows_quantization(spec: TensorSpec) -> bool:
    """tensor_allows_quantization: 2-D/3-D ``*weight`` tensors, not norms or the router."""
    name = spec.name
    if len(spec.shape) < 2 or not name.endswith("weight"):
        return False
    return (
        "_norm.weight" not in name
        and "ffn_gate_inp.weight" not in name
        and "ssm_conv1d" not in name
    )


@dataclass(frozen=True)
class _Recipe:
    """What llama_tensor_get_type_impl reads besides the tensor: the model and the ftype."""

    g: str
    ftype: str
    base: str
    imatrix: bool
    n_expert: int
    n_gqa: int
    is_70b: bool
    has_output: bool
    n_attention_wv: int
    n_layer: int


def _recipe_for(
    arch: Architecture, ftype: str, imatrix: bool, has_output: bool, n_attention_wv: int
) -> _Recipe:
    g = gguf_architecture(arch)
    return _Recipe(
        g=g,
        ftype=ftype,
        base=FTYPE_BASE_TYPE[ftype],
        imatrix=imatrix,
        n_expert=arch.n_experts or 0,
        n_gqa=arch.n_heads // max(1, arch.n_kv_heads),
        is_70b=arch.n_layers == 80
        and ((g == "llama" and arch.n_heads != arch.n_kv_heads) or g in ("qwen2", "olmo", "deci")),
        has_output=has_output,
        n_attention_wv=n_attention_wv,
        n_layer=arch.n_layers,
    )


_ATTN_V_LIKE = ("attn_v", "attn_qkv", "attn_kv_b")
_CATEGORY_KEYS = (
    ("attn_qkv.weight", "attn_qkv"),
    ("attn_kv_b.weight", "attn_kv_b"),
    ("attn_v.weight", "attn_v"),
    ("attn_k.weight", "attn_k"),
    ("attn_q.weight", "attn_q"),
    ("attn_output.weight", "attn_output"),
    ("ffn_up", "ffn_up"),
    ("ffn_gate", "ffn_gate"),
    ("ffn_down", "ffn_down"),
)


def _category(name: str) -> str:
    """tensor_get_category (llama-quant.cpp): broad categories by name."""
    if name == "output.weight":
        return "output"
    if name == "token_embd.weight":
        return "token_embd"
    for key, cat in _CATEGORY_KEYS:
        if key in name:
            return cat
    return "other"


def _indices_of(items: list[tuple[str, int | None]], n_expert: int) -> list[tuple[int, int]]:
    """The quantizer's counters per tensor, in file order: (index the recipe uses, raw
    ffn_down counter). attn_v-like tensors count among themselves; ffn_down/gate/up count
    per tensor in a dense model and use the layer number parsed from the name in an MoE one."""
    iv = i_down = i_gate = i_up = 0
    out: list[tuple[int, int]] = []
    for cat, layer_or_none in items:
        layer = layer_or_none if layer_or_none is not None else 0
        if cat in _ATTN_V_LIKE:
            out.append((iv, 0))
            iv += 1
        elif cat == "ffn_down":
            out.append((layer if n_expert > 1 else i_down, i_down))
            i_down += 1
        elif cat == "ffn_gate":
            out.append((layer if n_expert > 1 else i_gate, 0))
            i_gate += 1
        elif cat == "ffn_up":
            out.append((layer if n_expert > 1 else i_up, 0))
            i_up += 1
        else:
            out.append((0, 0))
    return out


def _index_class(cat: str, idx: int, raw: int, r: _Recipe) -> tuple[bool, ...]:
    """The only facts about a tensor's index the recipe reads (so equal classes get equal types)."""
    if cat in _ATTN_V_LIKE:
        return (_use_more_bits(idx, r.n_attention_wv), idx < 2, idx < 4)
    n = r.n_layer
    if cat == "ffn_down":
        return (_use_more_bits(idx, n), idx < n // 8, idx < n // 16, raw < n // 8)
    if cat in ("ffn_gate", "ffn_up"):
        return (n // 8 <= idx < 7 * n // 8,)
    return ()


def _recipe_type(cat: str, ncols: int, n_dims: int, idx: int, raw: int, r: _Recipe) -> str:
    """llama_tensor_get_type_impl for one tensor: ``idx`` is the quantizer's counter for its
    category (see :func:`_indices`), ``raw`` the plain ffn_down counter."""
    g, ftype, new, imatrix = r.g, r.ftype, r.base, r.imatrix
    n_expert, n_gqa, is_70b = r.n_expert, r.n_gqa, r.is_70b
    if cat == "output" or (not r.has_output and cat == "token_embd"):
        nx = ncols
        if ftype == "MXFP4_MOE" or g == "falcon" or nx % GGML_TYPE_SIZES[new][0] != 0:
            return "Q8_0"
        if ftype in ("IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ2_S", "IQ2_M", "IQ1_M"):
            return "Q5_K"
        return new if new == "Q8_0" else "Q6_K"
    if ftype == "MXFP4_MOE":
        return "MXFP4" if n_dims > 2 else "Q8_0"
    if cat == "token_embd":
        if ftype in ("IQ2_XXS", "IQ2_XS", "IQ1_S", "IQ1_M"):
            return "Q2_K"
        if ftype in ("IQ2_S", "IQ2_M", "IQ3_XXS"):
            return "IQ3_S"
        if ftype in ("TQ1_0", "TQ2_0"):
            return "Q4_K"
        return new
    attn_v = cat in ("attn_v", "attn_qkv", "attn_kv_b")
    if ftype in _IQ2_FAMILY:
        if attn_v:
            if n_gqa >= 4 or n_expert >= 4:
                return "Q4_K"
            return "IQ3_S" if ftype in ("IQ2_S", "IQ2_M") else "Q2_K"
        if n_expert == 8 and cat == "attn_k":
            return "Q4_K"
        if cat == "ffn_down":
            if raw < r.n_layer // 8:
                return "IQ3_S" if ftype in ("IQ2_S", "IQ2_M") else "Q2_K"
            return new
        if cat == "attn_output":
            if n_expert == 8:
                return "Q5_K"
            if ftype in ("IQ1_S", "IQ1_M"):
                return "IQ2_XXS"
            if ftype in ("IQ2_S", "IQ2_M"):
                return "IQ3_S"
        return new
    if attn_v:
        iv, nv = idx, r.n_attention_wv
        if ftype == "Q2_K":
            new = "Q4_K" if n_gqa >= 4 else "Q3_K"
        elif ftype == "Q2_K_S" and n_gqa >= 4:
            new = "Q4_K"
        elif ftype == "IQ3_XXS":
            new = "Q4_K" if n_gqa >= 4 else ("IQ3_XXS" if imatrix else "IQ3_S")
        elif (ftype in ("IQ3_XS", "IQ3_S") and n_gqa >= 4) or ftype == "IQ3_M":
            new = "Q4_K"
        elif ftype == "Q3_K_M":
            new = "Q5_K" if iv < 2 else "Q4_K"
        elif ftype == "Q3_K_L" or (ftype in ("IQ4_NL", "IQ4_XS") and n_gqa >= 4):
            new = "Q5_K"
        elif ftype in ("Q4_K_M", "Q5_K_M") and _use_more_bits(iv, nv):
            new = "Q6_K"
        elif ftype == "Q4_K_S" and iv < 4:
            new = "Q5_K"
        if is_70b and new in ("Q3_K", "Q4_K"):
            new = "Q5_K"
        if n_expert == 8:
            new = "Q8_0"
        return new
    if cat == "attn_k":
        if n_expert == 8:
            return "Q8_0"
        if ftype == "IQ3_XS":
            return "IQ3_XXS"
        if ftype == "IQ3_XXS":
            return "IQ2_S"
        return new
    if cat == "attn_q":
        if ftype == "IQ3_XS":
            return "IQ3_XXS"
        if ftype == "IQ3_XXS":
            return "IQ2_S"
        return new
    if cat == "ffn_down":
        i, n = idx, r.n_layer
        if ftype == "Q2_K":
            return "Q3_K"
        if ftype == "Q2_K_S":
            return "Q4_K" if i < n // 8 else new
        if ftype == "IQ3_XXS" and not imatrix:
            return "Q4_K" if i < n // 8 else "Q3_K"
        if ftype == "Q3_K_M":
            if i < n // 16:
                return "Q5_K"
            return "Q4_K" if (g != "falcon" or _use_more_bits(i, n)) else "Q3_K"
        if ftype == "IQ3_M" and (i < n // 8 or (n_expert == 8 and _use_more_bits(i, n))):
            return "Q4_K"
        if ftype == "Q3_K_L":
            return "Q4_K" if g == "falcon" else "Q5_K"
        if ftype == "Q4_K_M":
            if g == "falcon":
                return "Q6_K" if i < n // 16 else ("Q5_K" if _use_more_bits(i, n) else "Q4_K")
            return "Q6_K" if _use_more_bits(i, n) else new
        if i < n // 8 and ftype in ("IQ4_NL", "IQ4_XS") and not imatrix:
            return "Q5_K"
        if ftype == "Q5_K_M":
            return "Q6_K" if _use_more_bits(i, n) else new
        if ftype == "Q4_K_S" and g != "falcon" and i < n // 8:
            return "Q5_K"
        if ftype in ("Q4_0", "Q5_0") and imatrix and i < n // 8:
            return "Q4_1" if ftype == "Q4_0" else "Q5_1"
        return new
    if cat == "attn_output":
        if g != "falcon":
            if n_expert == 8:
                if ftype in ("Q2_K", "IQ3_XS", "IQ3_XXS", "Q3_K_S", "Q3_K_M", "IQ4_NL", "Q4_K_S",
                             "Q4_K_M", "IQ3_S", "IQ3_M", "IQ4_XS"):  # fmt: skip
                    return "Q5_K"
                return new
            return {"Q2_K": "Q3_K", "IQ3_XXS": "IQ3_S", "Q3_K_M": "Q4_K", "Q3_K_L": "Q5_K",
                    "IQ3_M": "Q4_K"}.get(ftype, new)  # fmt: skip
        return "Q4_K" if ftype == "Q3_K_L" else new
    if cat in ("ffn_gate", "ffn_up"):
        i = idx
        n = r.n_layer
        if ftype == "IQ3_XS" and n // 8 <= i < 7 * n // 8:
            return "IQ3_XXS"
        return new
    return new


def _fallback(ncols: int, type_name: str) -> tuple[str, bool]:
    """tensor_type_fallback: a row not divisible by the block falls back to a 32-block type,
    and to F16 when even 32 does not divide it."""
    if ncols % GGML_TYPE_SIZES[type_name][0] == 0:
        return type_name, False
    fb = FALLBACK_TYPE.get(type_name, type_name)
    if ncols % GGML_TYPE_SIZES[fb][0] != 0:
        fb = "F16"
    return fb, True


@dataclass(frozen=True)
class QuantResult:
    """The recipe's outcome for every tensor of :func:`gguf_tensors`, in the same order."""

    types: tuple[str, ...]
    n_bytes: tuple[int, ...]
    fallback: tuple[bool, ...]


@dataclass(frozen=True)
class _Facts:
    """Per-tensor facts that do not depend on the file type (computed once per signature)."""

    cats: tuple[str, ...]
    has_output: bool
    n_attention_wv: int
    kind: tuple[str, ...]  # "vector" (F32), "keep" (source type), "router" (F32), "quant"
    indices: tuple[tuple[int, int], ...]
    # tensors grouped by everything the recipe reads: (spec, cat, kind, idx, raw, count)
    classes: tuple[tuple[TensorSpec, str, str, int, int, int], ...]


_FACTS: dict[tuple[object, ...], _Facts] = {}


def _facts(arch: Architecture) -> _Facts:
    key = shape_signature(arch)
    facts = _FACTS.get(key)
    if facts is not None:
        return facts
    t = _templates(arch)
    n_expert = arch.n_experts or 0
    # category and kind per distinct tensor name (identical layers share their templates)
    known: dict[str, tuple[str, str]] = {}

    def describe(name: str, shape: tuple[int, ...]) -> tuple[str, str]:
        found = known.get(name)
        if found is None:
            if len(shape) < 2:
                kind = "vector"
            elif not _allows_name(name):
                kind = "router" if "ffn_gate_inp" in name else "keep"
            else:
                kind = "quant"
            found = known[name] = (_category(name), kind)
        return found

    rows: list[tuple[Template, int | None, str, str]] = []
    for tpl in t.head:
        rows.append((tpl, None, *describe(tpl[0], tpl[1])))
    for i, layer_templates in enumerate(t.layers):
        for tpl in layer_templates:
            rows.append((tpl, i, *describe(tpl[0], tpl[1])))
    for tpl in t.tail:
        rows.append((tpl, None, *describe(tpl[0], tpl[1])))
    cats = tuple(r[2] for r in rows)
    indices = _indices_of([(r[2], r[1]) for r in rows], n_expert)
    has_output = any(r[0][0] == "output.weight" for r in rows)
    n_wv = sum(1 for c in cats if c in _ATTN_V_LIKE)
    probe = _recipe_for(arch, "Q4_K_M", False, has_output, n_wv)
    groups: dict[tuple[object, ...], tuple[TensorSpec, str, str, int, int]] = {}
    counts: dict[tuple[object, ...], int] = {}
    for ((name, shape, part), layer, cat, kind), (idx, raw) in zip(rows, indices, strict=True):
        # the layer number only matters through the index class; the name only through cat
        gkey = (name, shape, cat, _index_class(cat, idx, raw, probe))
        if gkey in counts:
            counts[gkey] += 1
        else:
            counts[gkey] = 1
            groups[gkey] = (TensorSpec(name, shape, layer, part), cat, kind, idx, raw)
    classes = tuple((*groups[k], counts[k]) for k in groups)
    facts = _Facts(cats, has_output, n_wv, tuple(r[3] for r in rows), tuple(indices), classes)
    if len(_FACTS) > _CACHE_LIMIT:
        _FACTS.clear()
    _FACTS[key] = facts
    return facts


def _tensor_type(
    sp: TensorSpec, cat: str, kind: str, idx: int, raw: int, r: _Recipe, source_type: str
) -> tuple[str, bool]:
    if kind == "vector" or kind == "router":
        return "F32", False
    if kind == "keep":
        return source_type, False
    type_name = r.base
    if r.base not in UNQUANTIZED:
        type_name = _recipe_type(cat, sp.shape[0], len(sp.shape), idx, raw, r)
    if type_name in UNQUANTIZED:
        return type_name, False
    return _fallback(sp.shape[0], type_name)


def _source_type(ftype: str) -> str:
    # 2-D tensors the quantizer leaves alone keep the converted file's type (BF16 here)
    return FTYPE_BASE_TYPE[ftype] if ftype in UNQUANTIZED else "BF16"


def quantize(arch: Architecture, ftype: str, imatrix: bool = False) -> QuantResult:
    """Type and bytes of every tensor of ``arch`` in llama.cpp file type ``ftype``, in file
    order (cached per shape signature; pure)."""
    ftype = normalize_ftype(ftype)
    key = (shape_signature(arch), ftype, bool(imatrix))
    result = _QUANT.get(key)
    if result is None:
        specs = gguf_tensors(arch)
        facts = _facts(arch)
        r = _recipe_for(arch, ftype, bool(imatrix), facts.has_output, facts.n_attention_wv)
        source = _source_type(ftype)
        types, sizes, fell = [], [], []
        for sp, cat, kind, (idx, raw) in zip(
            specs, facts.cats, facts.kind, facts.indices, strict=True
        ):
            type_name, fallback = _tensor_type(sp, cat, kind, idx, raw, r, source)
            block, size = GGML_TYPE_SIZES[type_name]
            types.append(type_name)
            sizes.append(sp.n_elements // block * size)
            fell.append(fallback)
        result = QuantResult(tuple(types), tuple(sizes), tuple(fell))
        if len(_QUANT) > _CACHE_LIMIT:
            _QUANT.clear()
        _QUANT[key] = result
    return result


@dataclass(frozen=True)
class WeightTotals:
    total: int
    token_embd: int
    output: int
    experts: int
    fallback_tensors: int


_TOTALS: dict[tuple[object, ...], WeightTotals] = {}


def weight_totals(arch: Architecture, ftype: str, imatrix: bool = False) -> WeightTotals:
    """Totals of :func:`quantize` computed per class of equal tensors: the fast path the
    recommender takes over the whole catalogue (tests check it equals the per-tensor sums)."""
    ftype = normalize_ftype(ftype)
    key = (shape_signature(arch), ftype, bool(imatrix))
    totals = _TOTALS.get(key)
    if totals is None:
        facts = _facts(arch)
        r = _recipe_for(arch, ftype, bool(imatrix), facts.has_output, facts.n_attention_wv)
        source = _source_type(ftype)
        total = embd = output = experts = n_fb = 0
        for sp, cat, kind, idx, raw, count in facts.classes:
            type_name, fallback = _tensor_type(sp, cat, kind, idx, raw, r, source)
            block, size = GGML_TYPE_SIZES[type_name]
            n_bytes = sp.n_elements // block * size * count
            total += n_bytes
            n_fb += count if fallback else 0
            if sp.part == "token_embd":
                embd += n_bytes
            elif sp.part == "output":
                output += n_bytes
            elif sp.part == "expert":
                experts += n_bytes
        totals = WeightTotals(total, embd, output, experts, n_fb)
        if len(_TOTALS) > _CACHE_LIMIT:
            _TOTALS.clear()
        _TOTALS[key] = totals
    return totals


def quantized_tensors(
    arch: Architecture, ftype: str, imatrix: bool = False
) -> tuple[TypedTensor, ...]:
    """Every tensor of ``arch`` in llama.cpp file type ``ftype`` with the type it gets.
    2-D tensors the quantizer does not touch keep the source type (BF16); 1-D tensors
    (norms, biases) are F32."""
    result = quantize(arch, ftype, imatrix)
    return tuple(
        TypedTensor(spec, t, fb)
        for spec, t, fb in zip(gguf_tensors(arch), result.types, result.fallback, strict=True)
    )


def gguf_weight_bytes(arch: Architecture, ftype: str, imatrix: bool = False) -> int:
    """Tensor-data bytes of a GGUF of ``arch`` in ``ftype`` (what llama.cpp's
    ``print_info: file size`` and the quantizer's ``quant size`` report)."""
    return sum(quantize(arch, ftype, imatrix).n_bytes)


def type_counts(arch: Architecture, ftype: str, imatrix: bool = False) -> dict[str, int]:
    counts: dict[str, int] = {}
    for t in quantized_tensors(arch, ftype, imatrix):
        counts[t.type_name] = counts.get(t.type_name, 0) + 1
    return counts


def fallback_count(arch: Architecture, ftype: str, imatrix: bool = False) -> int:
    """How many tensors the quantizer sends to a fallback type (its "required fallback" count)."""
    return sum(quantize(arch, ftype, imatrix).fallback)


def bits_per_weight(arch: Architecture, ftype: str, imatrix: bool = False) -> float:
    tensors = quantized_tensors(arch, ftype, imatrix)
    n = sum(t.spec.n_elements for t in tensors)
    return sum(t.n_bytes for t in tensors) * 8 / n
