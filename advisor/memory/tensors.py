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


@lru_cache(maxsize=1024)
def gguf_tensors(arch: Architecture) -> tuple[TensorSpec, ...]:
    """The tensors of a GGUF of ``arch``, in file order (embedding, layers, norm, head).

    Parameters the layout does not name (mixers of linear-attention / Mamba layers, an MoE
    model's expert width when the catalogue lacks it) are fitted so that the total equals
    ``params_total``; so is the share of MoE layers when experts on every layer would exceed it
    (Llama-4-Maverick interleaves MoE and dense layers, interleave_moe_layer_step 2).
    """
    moe = _moe_layers(arch)
    specs = _tensors_with(arch, moe)
    total = sum(t.n_elements for t in specs)
    if any(moe) and total > 1.1 * arch.params_total:
        best = specs
        for step in (2, 4):
            every = [m and (i + 1) % step == 0 for i, m in enumerate(moe)]
            candidate = _tensors_with(arch, every)
            n = sum(t.n_elements for t in candidate)
            if abs(n - arch.params_total) < abs(
                sum(t.n_elements for t in best) - arch.params_total
            ):
                best = candidate
        specs = best
    return specs


def _tensors_with(arch: Architecture, moe: list[bool]) -> tuple[TensorSpec, ...]:
    g = gguf_architecture(arch)
    e = arch.hidden_size
    kinds = arch.layer_kinds
    gated = g not in _UNGATED_FFN_ARCHS
    n_ff = arch.intermediate_size or 4 * e
    head: list[tuple[str, tuple[int, ...], str]] = [
        ("token_embd.weight", (e, arch.vocab_size), "token_embd")
    ]
    tail: list[tuple[str, tuple[int, ...], str]] = [("output_norm.weight", (e,), "norm")]
    if not arch.tied_embeddings or g in _GGUF_ALWAYS_OUTPUT:
        tail.append(("output.weight", (e, arch.vocab_size), "output"))
    per_layer: list[list[tuple[str, tuple[int, ...], str]]] = []
    for i, kind in enumerate(kinds):
        layer: list[tuple[str, tuple[int, ...], str]] = [("attn_norm.weight", (e,), "norm")]
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
        per_layer.append(layer)
    known = _count(head) + _count(tail) + sum(_count(layer) for layer in per_layer)
    mixer_layers = [i for i, kind in enumerate(kinds) if kind in ("linear", "mamba")]
    moe_layers = [i for i in range(arch.n_layers) if moe[i] and _has_ffn(g, kinds[i])]
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
        for i in moe_layers:
            per_layer[i] += experts
        known += len(moe_layers) * _count(experts)
    remaining = arch.params_total - known
    if mixer_layers and remaining > 0:
        # Linear-attention / Mamba mixer tensors are not catalogue columns: sized to match
        # params_total, with rows n_embd wide like the in-projections that dominate them.
        rows = max(1, remaining // len(mixer_layers) // e)
        for i in mixer_layers:
            per_layer[i].append(("ssm_mixer.weight", (e, rows), "mixer"))
    specs: list[TensorSpec] = [TensorSpec(n, s, None, p) for n, s, p in head]
    for i, layer in enumerate(per_layer):
        specs += [TensorSpec(f"blk.{i}.{n}", s, i, p) for n, s, p in layer]
    specs += [TensorSpec(n, s, None, p) for n, s, p in tail]
    return tuple(specs)


def normalize_ftype(name: str) -> str:
    key = FTYPE_ALIASES.get(name.upper(), name.upper())
    if key not in FTYPE_BASE_TYPE:
        raise MemoryModelError(
            f"{name!r} is not a llama.cpp file type: use one of {', '.join(FTYPE_BASE_TYPE)}"
        )
    return key


def _use_more_bits(i: int, n: int) -> bool:
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


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


@dataclass
class _QuantState:
    n_attention_wv: int
    n_layer: int
    has_output: bool
    i_attention_wv: int = 0
    i_ffn_down: int = 0
    i_ffn_gate: int = 0
    i_ffn_up: int = 0


def _category(name: str) -> str:
    if name == "output.weight":
        return "output"
    if name == "token_embd.weight":
        return "token_embd"
    for key, cat in (
        ("attn_qkv.weight", "attn_qkv"),
        ("attn_kv_b.weight", "attn_kv_b"),
        ("attn_v.weight", "attn_v"),
        ("attn_k.weight", "attn_k"),
        ("attn_q.weight", "attn_q"),
        ("attn_output.weight", "attn_output"),
        ("ffn_up", "ffn_up"),
        ("ffn_gate", "ffn_gate"),
        ("ffn_down", "ffn_down"),
    ):
        if key in name:
            return cat
    return "other"


def _recipe_type(
    st: _QuantState,
    spec: TensorSpec,
    arch: Architecture,
    g: str,
    ftype: str,
    new: str,
    imatrix: bool,
) -> str:
    """llama_tensor_get_type_impl for the tensor categories a GGUF of ``arch`` has."""
    cat = _category(spec.name)
    n_expert = arch.n_experts or 0
    n_gqa = arch.n_heads // max(1, arch.n_kv_heads)
    is_70b = arch.n_layers == 80 and (
        (g == "llama" and arch.n_heads != arch.n_kv_heads) or g in ("qwen2", "olmo", "deci")
    )
    layer = spec.layer if spec.layer is not None else 0
    if cat == "output" or (not st.has_output and cat == "token_embd"):
        nx = spec.shape[0]
        if ftype == "MXFP4_MOE" or g == "falcon" or nx % GGML_TYPE_SIZES[new][0] != 0:
            return "Q8_0"
        if ftype in ("IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ2_S", "IQ2_M", "IQ1_M"):
            return "Q5_K"
        return new if new == "Q8_0" else "Q6_K"
    if ftype == "MXFP4_MOE":
        return "MXFP4" if len(spec.shape) > 2 else "Q8_0"
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
            st.i_attention_wv += 1
            if n_gqa >= 4 or n_expert >= 4:
                return "Q4_K"
            return "IQ3_S" if ftype in ("IQ2_S", "IQ2_M") else "Q2_K"
        if n_expert == 8 and cat == "attn_k":
            return "Q4_K"
        if cat == "ffn_down":
            i = st.i_ffn_down
            st.i_ffn_down += 1
            if i < st.n_layer // 8:
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
        iv, nv = st.i_attention_wv, st.n_attention_wv
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
        st.i_attention_wv += 1
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
        # dense: the running count; MoE: the layer index parsed from the name
        i = layer if n_expert > 1 else st.i_ffn_down
        n = st.n_layer
        st.i_ffn_down += 1
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
        i = layer if n_expert > 1 else (st.i_ffn_gate if cat == "ffn_gate" else st.i_ffn_up)
        if cat == "ffn_gate":
            st.i_ffn_gate += 1
        else:
            st.i_ffn_up += 1
        n = st.n_layer
        if ftype == "IQ3_XS" and n // 8 <= i < 7 * n // 8:
            return "IQ3_XXS"
        return new
    return new


def _with_fallback(spec: TensorSpec, type_name: str) -> tuple[str, bool]:
    """tensor_type_fallback: a row not divisible by the block falls back to a 32-block type,
    and to F16 when even 32 does not divide it."""
    ncols = spec.shape[0]
    if ncols % GGML_TYPE_SIZES[type_name][0] == 0:
        return type_name, False
    fb = FALLBACK_TYPE.get(type_name, type_name)
    if ncols % GGML_TYPE_SIZES[fb][0] != 0:
        fb = "F16"
    return fb, True


@lru_cache(maxsize=4096)
def quantized_tensors(
    arch: Architecture, ftype: str, imatrix: bool = False, source_type: str = "BF16"
) -> tuple[TypedTensor, ...]:
    """Every tensor of ``arch`` in llama.cpp file type ``ftype`` with the type it gets.

    ``source_type``: the type of 2-D tensors the quantizer does not touch (F16/BF16 in the
    converted file). 1-D tensors (norms, biases) stay F32.
    """
    ftype = normalize_ftype(ftype)
    g = gguf_architecture(arch)
    specs = gguf_tensors(arch)
    base = FTYPE_BASE_TYPE[ftype]
    if ftype in UNQUANTIZED:
        source_type = base
    st = _QuantState(
        n_attention_wv=sum(
            1 for s in specs if _category(s.name) in ("attn_v", "attn_qkv", "attn_kv_b")
        ),
        n_layer=arch.n_layers,
        has_output=any(s.name == "output.weight" for s in specs),
    )
    out: list[TypedTensor] = []
    for spec in specs:
        if len(spec.shape) < 2:
            out.append(TypedTensor(spec, "F32", False))
            continue
        if not _allows_quantization(spec):
            out.append(
                TypedTensor(spec, "F32" if "ffn_gate_inp" in spec.name else source_type, False)
            )
            continue
        new = base
        if base not in UNQUANTIZED:
            new = _recipe_type(st, spec, arch, g, ftype, base, imatrix)
        if new in UNQUANTIZED:
            out.append(TypedTensor(spec, new, False))
            continue
        type_name, fell_back = _with_fallback(spec, new)
        out.append(TypedTensor(spec, type_name, fell_back))
    return tuple(out)


def gguf_weight_bytes(arch: Architecture, ftype: str, imatrix: bool = False) -> int:
    """Tensor-data bytes of a GGUF of ``arch`` in ``ftype`` (what llama.cpp's
    ``print_info: file size`` and the quantizer's ``quant size`` report)."""
    return sum(t.n_bytes for t in quantized_tensors(arch, ftype, imatrix))


def type_counts(arch: Architecture, ftype: str, imatrix: bool = False) -> dict[str, int]:
    counts: dict[str, int] = {}
    for t in quantized_tensors(arch, ftype, imatrix):
        counts[t.type_name] = counts.get(t.type_name, 0) + 1
    return counts


def fallback_count(arch: Architecture, ftype: str, imatrix: bool = False) -> int:
    """How many tensors the quantizer sends to a fallback type (its "required fallback" count)."""
    return sum(1 for t in quantized_tensors(arch, ftype, imatrix) if t.fallback)


def bits_per_weight(arch: Architecture, ftype: str, imatrix: bool = False) -> float:
    tensors = quantized_tensors(arch, ftype, imatrix)
    n = sum(t.spec.n_elements for t in tensors)
    return sum(t.n_bytes for t in tensors) * 8 / n
