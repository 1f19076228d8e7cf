"""Quantization formats as tables.

GGML tensor types are declared the way gguf-py declares them: (block size, bytes per
block) written as arithmetic, so bits/weight is derived, never typed by hand. A llama.cpp
*file type* (Q4_K_M) is a mix of tensor types; its whole-file bits/weight, as measured on
Llama-3.1-8B by llama.cpp's own quantize README, is kept beside the block figure, and the
bits/weight of its repeating layers is derived from it (see :func:`FileType.body_bpw`).

bitsandbytes and GPTQ/AWQ quantize the linear layers only: embeddings and ``lm_head``
stay in 16-bit, which is why a 4-bit small model with a large vocabulary is far bigger
than 4 bits/parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

QK_K = 256  # super-block size of the k-quants and i-quants (ggml-common.h)

# (block size in weights, bytes per block): ggml-common.h, as gguf-py's GGML_QUANT_SIZES.
GGML_TYPE_SIZES: dict[str, tuple[int, int]] = {
    "F32": (1, 4),
    "F16": (1, 2),
    "BF16": (1, 2),
    "Q4_0": (32, 2 + 16),
    "Q4_1": (32, 2 + 2 + 16),
    "Q5_0": (32, 2 + 4 + 16),
    "Q5_1": (32, 2 + 2 + 4 + 16),
    "Q8_0": (32, 2 + 32),
    "Q8_1": (32, 4 + 4 + 32),
    "Q2_K": (256, 2 + 2 + QK_K // 16 + QK_K // 4),
    "Q3_K": (256, 2 + QK_K // 4 + QK_K // 8 + 12),
    "Q4_K": (256, 2 + 2 + QK_K // 2 + 12),
    "Q5_K": (256, 2 + 2 + QK_K // 2 + QK_K // 8 + 12),
    "Q6_K": (256, 2 + QK_K // 2 + QK_K // 4 + QK_K // 16),
    "Q8_K": (256, 4 + QK_K + QK_K // 8),
    "IQ2_XXS": (256, 2 + QK_K // 4),
    "IQ2_XS": (256, 2 + QK_K // 4 + QK_K // 32),
    "IQ3_XXS": (256, 2 + QK_K // 4 + QK_K // 8),
    "IQ1_S": (256, 2 + QK_K // 8 + QK_K // 16),
    "IQ4_NL": (32, 2 + 16),
    "IQ3_S": (256, 2 + QK_K // 4 + QK_K // 8 + QK_K // 32 + 4),
    "IQ2_S": (256, 2 + QK_K // 4 + QK_K // 16),
    "IQ4_XS": (256, 2 + 2 + QK_K // 2 + QK_K // 64),
    "IQ1_M": (256, QK_K // 8 + QK_K // 16 + QK_K // 32),
    "TQ1_0": (256, 2 + 4 * 13),
    "TQ2_0": (256, 2 + 64),
    "MXFP4": (32, 1 + 16),
}


def ggml_type_bpw(type_name: str) -> float:
    """Bits per weight of one GGML tensor type, from its block layout."""
    block_size, type_size = GGML_TYPE_SIZES[type_name]
    return type_size * 8 / block_size


LLAMACPP_QUANTIZE_README = (
    "ggml-org/llama.cpp tools/quantize/README.md (commit 311c2c9), bits/weight table "
    "for Llama-3.1-8B"
)
LLAMACPP_QUANT_RULES = "ggml-org/llama.cpp src/llama-quant.cpp (tensor type selection per ftype)"

# Reference model for the whole-file figures: Llama-3.1-8B (untied, vocab 128256, hidden 4096).
REFERENCE_PARAMS = 8_030_261_248
REFERENCE_EMBED_PARAMS = 128_256 * 4096


@dataclass(frozen=True)
class FileType:
    """A llama.cpp file type (``--ftype``): a recipe that mixes tensor types."""

    name: str
    ftype: int  # llama_ftype enum value (LLAMA_FTYPE_MOSTLY_*)
    base_type: str  # type of most 2-D weights
    embed_type: str  # token_embd.weight
    output_type: str  # output.weight (and token_embd when the head is tied)
    nominal_bits: int
    family: str  # "float", "legacy", "k-quant", "i-quant", "mxfp4"
    reference_file_bpw: float | None  # whole-file bits/weight on Llama-3.1-8B
    expert_type: str | None = None  # type of MoE expert tensors when it differs (MXFP4_MOE)

    @property
    def block_bpw(self) -> float:
        """Bits/weight of the base tensor type alone."""
        return ggml_type_bpw(self.base_type)

    @property
    def body_bpw(self) -> float:
        """Bits/weight of the repeating layers (everything but embeddings and head).

        Derived from the whole-file figure measured on Llama-3.1-8B by removing its
        embedding and output tensors, which are stored at ``embed_type``/``output_type``;
        what remains includes the mix's higher-precision layers (attn_v, ffn_down).
        """
        if self.reference_file_bpw is None:
            return self.block_bpw
        total_bits = self.reference_file_bpw * REFERENCE_PARAMS
        edge_bits = REFERENCE_EMBED_PARAMS * (
            ggml_type_bpw(self.embed_type) + ggml_type_bpw(self.output_type)
        )
        body_params = REFERENCE_PARAMS - 2 * REFERENCE_EMBED_PARAMS
        return (total_bits - edge_bits) / body_params


def _ft(
    name: str,
    ftype: int,
    base: str,
    embed: str | None,
    output: str,
    bits: int,
    family: str,
    ref_bpw: float | None,
) -> FileType:
    return FileType(name, ftype, base, embed or base, output, bits, family, ref_bpw)


# Whole-file bits/weight: LLAMACPP_QUANTIZE_README. embed/output types: LLAMACPP_QUANT_RULES
# (output.weight is Q6_K for most types; token_embd drops to Q2_K/IQ3_S for the 1-2 bit types).
# Q3_K_M, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0-with-output are absent from that README: for them the
# whole-file figure is that of the Llama-3-8B scoreboard (examples/perplexity/README.md).
GGUF_FILE_TYPES: dict[str, FileType] = {
    ft.name: ft
    for ft in [
        _ft("F32", 0, "F32", None, "F32", 32, "float", None),
        _ft("F16", 1, "F16", None, "F16", 16, "float", 16.0005),
        _ft("BF16", 32, "BF16", None, "BF16", 16, "float", 16.0005),
        _ft("Q8_0", 7, "Q8_0", None, "Q8_0", 8, "legacy", 8.5008),
        _ft("Q6_K", 18, "Q6_K", None, "Q6_K", 6, "k-quant", 6.5633),
        _ft("Q5_K_M", 17, "Q5_K", None, "Q6_K", 5, "k-quant", 5.7036),
        _ft("Q5_K_S", 16, "Q5_K", None, "Q6_K", 5, "k-quant", 5.5704),
        _ft("Q5_1", 9, "Q5_1", None, "Q6_K", 5, "legacy", 6.044),
        _ft("Q5_0", 8, "Q5_0", None, "Q6_K", 5, "legacy", 5.573),
        _ft("Q4_K_M", 15, "Q4_K", None, "Q6_K", 4, "k-quant", 4.8944),
        _ft("Q4_K_S", 14, "Q4_K", None, "Q6_K", 4, "k-quant", 4.6672),
        _ft("Q4_1", 3, "Q4_1", None, "Q6_K", 4, "legacy", 5.113),
        _ft("Q4_0", 2, "Q4_0", None, "Q6_K", 4, "legacy", 4.643),
        _ft("IQ4_NL", 25, "IQ4_NL", None, "Q6_K", 4, "i-quant", 4.6818),
        _ft("IQ4_XS", 30, "IQ4_XS", None, "Q6_K", 4, "i-quant", 4.4597),
        _ft("Q3_K_L", 13, "Q3_K", None, "Q6_K", 3, "k-quant", 4.2979),
        _ft("Q3_K_M", 12, "Q3_K", None, "Q6_K", 3, "k-quant", 4.001),
        _ft("Q3_K_S", 11, "Q3_K", None, "Q6_K", 3, "k-quant", 3.6429),
        _ft("IQ3_M", 27, "IQ3_S", None, "Q6_K", 3, "i-quant", 3.7628),
        _ft("IQ3_S", 26, "IQ3_S", None, "Q6_K", 3, "i-quant", 3.6606),
        _ft("IQ3_XS", 22, "IQ3_XXS", None, "Q6_K", 3, "i-quant", 3.4977),
        _ft("IQ3_XXS", 23, "IQ3_XXS", None, "Q6_K", 3, "i-quant", 3.2548),
        _ft("Q2_K", 10, "Q2_K", None, "Q6_K", 2, "k-quant", 3.1593),
        _ft("Q2_K_S", 21, "Q2_K", None, "Q6_K", 2, "k-quant", 2.9697),
        _ft("IQ2_M", 29, "IQ2_S", "IQ3_S", "Q5_K", 2, "i-quant", 2.9294),
        _ft("IQ2_S", 28, "IQ2_S", "IQ3_S", "Q5_K", 2, "i-quant", 2.7403),
        _ft("IQ2_XS", 20, "IQ2_XS", "Q2_K", "Q5_K", 2, "i-quant", 2.5882),
        _ft("IQ2_XXS", 19, "IQ2_XXS", "Q2_K", "Q5_K", 2, "i-quant", 2.3824),
        _ft("IQ1_M", 31, "IQ1_M", "Q2_K", "Q5_K", 1, "i-quant", 2.1460),
        _ft("IQ1_S", 24, "IQ1_S", "Q2_K", "Q5_K", 1, "i-quant", 2.0042),
    ]
}

# llama.cpp's MXFP4_MOE file type (what gpt-oss ships in as GGUF): MoE expert tensors
# (3-D, ne[2] > 1) are MXFP4, every other tensor Q8_0 -- token_embd included, and output.weight
# too when the hidden size is not a multiple of 256 (gpt-oss: 2880), else Q6_K.
LLAMACPP_MXFP4_RULE = (
    "ggml-org/llama.cpp src/llama-quant.cpp (LLAMA_FTYPE_MOSTLY_MXFP4_MOE = 38: 'MoE tensors -> "
    "MXFP4, other tensors -> Q8_0'); MXFP4 block = 32 E2M1 values + one E8M0 scale byte "
    "(ggml-common.h block_mxfp4, OCP Microscaling Formats v1.0): (1 + 16) * 8 / 32 = 4.25 "
    "bits/weight; matches ggml-org/gpt-oss-20b-GGUF gpt-oss-20b-mxfp4.gguf (12,109,566,624 bytes)"
)
GGUF_FILE_TYPES["MXFP4"] = FileType(
    "MXFP4", 38, "Q8_0", "Q8_0", "Q8_0", 4, "mxfp4", None, expert_type="MXFP4"
)
# Other spellings of a file type: llama-quantize's name for it.
GGUF_ALIASES = {"MXFP4_MOE": "MXFP4"}

# The formats `advisor recommend` offers by default: what people actually download.
COMMON_GGUF_TYPES: tuple[str, ...] = (
    "F16",
    "Q8_0",
    "Q6_K",
    "Q5_K_M",
    "Q4_K_M",
    "Q4_0",
    "IQ4_XS",
    "Q3_K_M",
    "IQ3_M",
    "Q2_K",
    "IQ2_M",
)


@dataclass(frozen=True)
class LinearQuantFormat:
    """Load-time or checkpoint quantization of linear layers (bitsandbytes, GPTQ, AWQ).

    ``linear_bpw`` includes the per-block/per-group scale storage; embeddings and
    ``lm_head`` stay at ``edge_bits`` (16), as all of these libraries leave them.
    """

    name: str
    backend: str  # "bnb", "gptq", "awq", "hf"
    nominal_bits: int
    linear_bpw: float
    edge_bits: int
    group_size: int | None
    source: str
    expert_bpw: float | None = None  # MoE expert weights, when stored differently


BNB_SOURCE = (
    "bitsandbytes docs + Dettmers et al. 2022 (LLM.int8(), arXiv 2208.07339) and 2023 "
    "(QLoRA, arXiv 2305.14314): int8 keeps an fp32 scale per row; nf4/fp4 an fp32 absmax "
    "per 64 weights, or with double quantization an 8-bit absmax plus an fp32 scale per 256 blocks"
)
QLLM_EVAL_SOURCE = (
    "thu-nics/qllm-eval (Li et al. 2024, arXiv 2402.18158): asymmetric round-to-nearest, "
    "an fp16 scale and zero per group of 128 weights"
)
GPTQ_AWQ_SOURCE = (
    "AutoGPTQ / AutoAWQ packing: a fp16 scale and a packed zero point per group of 128 "
    "weights; embeddings and lm_head left in 16-bit (Qwen2.5 speed benchmark, SOURCES.md)"
)

# FP8 (E4M3) checkpoints for vLLM (CUDA): 8-bit weights plus fp32 scales, in the three scale
# layouts the makers ship. Embeddings are never quantized; lm_head stays 16-bit.
FP8_BLOCK_SOURCE = (
    "Qwen/Qwen3-*-FP8 quantization_config {quant_method fp8, fmt e4m3, weight_block_size "
    "[128, 128], activation_scheme dynamic, modules_to_not_convert lm_head, norms, router} "
    "(verbatim config of Qwen/Qwen3-30B-A3B-FP8 and Qwen3-32B-FP8 in "
    "ai-dynamo/aiconfigurator@095f58a model_configs); one fp32 scale per 128x128 block: "
    "8 + 32 / (128 * 128) bits/weight; DeepSeek-V3 ships the same layout"
)
FP8_CHANNEL_SOURCE = (
    "RedHatAI / neuralmagic *-FP8-dynamic checkpoints (llm-compressor, compressed-tensors "
    "float-quantized: weights 8-bit float with one scale per output channel, activations "
    "dynamic per token); one fp32 scale per row of 4096 inputs: 8 + 32 / 4096 bits/weight "
    "(less for wider layers)"
)
FP8_TENSOR_SOURCE = (
    "NVIDIA modelopt FP8 checkpoints (quant_algo FP8, e.g. Qwen3-32B-FP8-Static-PerTensor in "
    "ai-dynamo/aiconfigurator@095f58a: weights and activations 8-bit float, static, one scale "
    "per tensor; lm_head ignored): 8 bits/weight"
)
NVFP4_SOURCE = (
    "NVIDIA NVFP4 (modelopt quant_algo NVFP4 / W4A16_NVFP4, group_size 16, e.g. "
    "nvidia/GLM-5.1-NVFP4 and nvidia/Qwen3.6-27B-NVFP4 configs in ai-dynamo/aiconfigurator"
    "@095f58a): 4-bit E2M1 values with one FP8 E4M3 scale per 16 plus one fp32 scale per "
    "tensor: 4 + 8 / 16 = 4.5 bits/weight; NVIDIA's own repacks keep attention in FP8 "
    "(slightly more bytes than this all-NVFP4 figure); native kernels on Blackwell GPUs"
)
MXFP4_CHECKPOINT_SOURCE = (
    "openai/gpt-oss checkpoints: quantization_config {quant_method mxfp4, "
    "modules_to_not_convert self_attn, mlp.router, embed_tokens, lm_head} (verbatim configs "
    "in ai-dynamo/aiconfigurator@095f58a); MoE experts MXFP4 = (1 + 16) * 8 / 32 = 4.25 "
    "bits/weight, everything else bfloat16 (openai/gpt-oss README: 'post-trained with MXFP4 "
    "quantization of the MoE weights')"
)

# int8: 8 bits + one fp32 scale per output row; per weight that is 32 / in_features,
# negligible (0.008 bits at 4096) and ignored here.
LINEAR_FORMATS: dict[str, LinearQuantFormat] = {
    f.name: f
    for f in [
        LinearQuantFormat("bf16", "hf", 16, 16.0, 16, None, "torch bfloat16"),
        LinearQuantFormat("fp16", "hf", 16, 16.0, 16, None, "torch float16"),
        LinearQuantFormat("int8", "bnb", 8, 8.0, 16, None, BNB_SOURCE),
        LinearQuantFormat("nf4", "bnb", 4, 4 + 32 / 64, 16, 64, BNB_SOURCE),
        LinearQuantFormat("fp4", "bnb", 4, 4 + 32 / 64, 16, 64, BNB_SOURCE),
        LinearQuantFormat("nf4-dq", "bnb", 4, 4 + 8 / 64 + 32 / (64 * 256), 16, 64, BNB_SOURCE),
        LinearQuantFormat("fp4-dq", "bnb", 4, 4 + 8 / 64 + 32 / (64 * 256), 16, 64, BNB_SOURCE),
        # Research formats of published grids (weight-only round-to-nearest), named so
        # benchmarks can ask `recommend(formats=...)` about them; never offered by default.
        *(
            LinearQuantFormat(f"RTN-W{b}-g128", "rtn", b, b + 32 / 128, 16, 128, QLLM_EVAL_SOURCE)
            for b in (8, 4, 3, 2)
        ),
        LinearQuantFormat("GPTQ-Int8", "gptq", 8, 8 + (16 + 8) / 128, 16, 128, GPTQ_AWQ_SOURCE),
        LinearQuantFormat("GPTQ-Int4", "gptq", 4, 4 + (16 + 4) / 128, 16, 128, GPTQ_AWQ_SOURCE),
        LinearQuantFormat("AWQ", "awq", 4, 4 + (16 + 4) / 128, 16, 128, GPTQ_AWQ_SOURCE),
        LinearQuantFormat("FP8", "vllm", 8, 8 + 32 / (128 * 128), 16, None, FP8_BLOCK_SOURCE),
        LinearQuantFormat("FP8-channel", "vllm", 8, 8 + 32 / 4096, 16, None, FP8_CHANNEL_SOURCE),
        LinearQuantFormat("FP8-tensor", "vllm", 8, 8.0, 16, None, FP8_TENSOR_SOURCE),
        LinearQuantFormat("NVFP4", "vllm", 4, 4 + 8 / 16, 16, 16, NVFP4_SOURCE),
        # The shipped gpt-oss checkpoint: only the experts are 4-bit.
        LinearQuantFormat(
            "mxfp4", "vllm", 4, 16.0, 16, 32, MXFP4_CHECKPOINT_SOURCE, expert_bpw=(1 + 16) * 8 / 32
        ),
    ]
}

BNB_FORMATS: tuple[str, ...] = ("bf16", "int8", "nf4", "nf4-dq", "fp4")


@dataclass(frozen=True)
class Format:
    """Any deployable format, GGUF or linear-layer quantization, seen uniformly."""

    name: str
    backend: str  # "gguf", "bnb", "gptq", "awq", "hf"
    nominal_bits: int
    body_bpw: float  # bits/weight of the repeating layers
    embed_bpw: float
    output_bpw: float
    method: str  # for the curves: "float", "gguf-legacy", "gguf-k", "gguf-i", "bnb-*", "gptq",
    # "awq", "fp8", "nvfp4", "mxfp4"
    source: str
    # Bits/weight of MoE expert tensors when they are stored apart from the body (MXFP4:
    # experts 4.25, the rest Q8_0 or BF16); None = as body_bpw.
    expert_bpw: float | None = None


@cache
def get_format(name: str) -> Format:
    """Look up a format by name (GGUF spelling for llama.cpp types, case-insensitive)."""
    key = GGUF_ALIASES.get(name.strip().upper(), name.strip())
    gguf = {k.upper(): v for k, v in GGUF_FILE_TYPES.items()}
    linear = {k.lower(): v for k, v in LINEAR_FORMATS.items()}
    # "BF16" is llama.cpp's, "bf16" is transformers': an exact spelling decides first.
    if key in LINEAR_FORMATS and key not in GGUF_FILE_TYPES:
        return _linear_format(LINEAR_FORMATS[key])
    if key.upper() in gguf:
        ft = gguf[key.upper()]
        method = {
            "float": "float",
            "legacy": "gguf-legacy",
            "k-quant": "gguf-k",
            "mxfp4": "mxfp4",
        }.get(ft.family, "gguf-i")
        source = LLAMACPP_MXFP4_RULE if ft.family == "mxfp4" else LLAMACPP_QUANTIZE_README
        return Format(
            ft.name,
            "gguf",
            ft.nominal_bits,
            ft.body_bpw,
            ggml_type_bpw(ft.embed_type),
            ggml_type_bpw(ft.output_type),
            method,
            f"{source}; {LLAMACPP_QUANT_RULES}",
            expert_bpw=ggml_type_bpw(ft.expert_type) if ft.expert_type else None,
        )
    if key.lower() in linear:
        return _linear_format(linear[key.lower()])
    raise KeyError(name)


def _linear_format(lf: LinearQuantFormat) -> Format:
    # bitsandbytes' data types degrade differently (fp4 < nf4 at the same bits): each is
    # its own method for the curves; double quantization only lowers the bits/weight.
    method = "float" if lf.backend == "hf" else lf.backend
    if lf.backend == "bnb":
        method = "bnb-int8" if lf.nominal_bits == 8 else f"bnb-{lf.name.split('-')[0]}"
    if lf.backend == "vllm":  # FP8 in any scale layout is one method; so are the FP4 kinds
        method = lf.name.split("-")[0].lower()
    return Format(
        lf.name,
        lf.backend,
        lf.nominal_bits,
        lf.linear_bpw,
        lf.edge_bits,
        lf.edge_bits,
        method,
        lf.source,
        expert_bpw=lf.expert_bpw,
    )


def all_format_names() -> list[str]:
    return [*GGUF_FILE_TYPES, *LINEAR_FORMATS]


# How 16-bit weights are spelled: llama.cpp (F16, BF16), transformers (bf16, fp16) and the
# published tables ("BF16/FP16" when a maker does not say which).
SIXTEEN_BIT_NAMES: frozenset[str] = frozenset({"F16", "BF16", "bf16", "fp16", "FP16", "BF16/FP16"})


def is_sixteen_bit(name: str) -> bool:
    """Whether a format name (ours or a published table's) means 16-bit weights."""
    return name in SIXTEEN_BIT_NAMES
