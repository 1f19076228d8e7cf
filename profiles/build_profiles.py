"""Build the bundled profile tables in ``profiles/`` from the curated source material.

Reads ``architectures.csv``, ``training_tokens.csv`` and ``published/*.csv`` from the shared
folder and writes ``architectures.csv``, ``training_tokens.csv``, ``published.csv`` and
``published_manifest.csv`` next to this script, adding the curated tables in ``sources/``.
``hardware.csv`` is hand-curated data and is not built here. Deterministic: the same inputs
always give byte-identical outputs. Run from the repository root::

    python profiles/build_profiles.py --shared ../shared
"""

from __future__ import annotations

import argparse
import csv
import re
import statistics
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

PROFILES_DIR = Path(__file__).resolve().parent
REPO_ROOT = PROFILES_DIR.parent
SOURCES_DIR = PROFILES_DIR / "sources"

Row = dict[str, str]

# --------------------------------------------------------------------------------------
# Output schemas
# --------------------------------------------------------------------------------------

ARCH_COLUMNS = [
    "model_id",
    "name",
    "family",
    "family_key",
    "params_total",
    "params_active",
    "n_layers",
    "hidden_size",
    "intermediate_size",
    "n_heads",
    "n_kv_heads",
    "head_dim",
    "v_head_dim",
    "vocab_size",
    "tied_embeddings",
    "max_context",
    "attention",
    "sliding_window",
    "global_every",
    "first_global_layer",
    "kv_lora_rank",
    "qk_rope_head_dim",
    "n_experts",
    "experts_per_token",
    "dtype",
    "training_tokens",
    "source",
    "confidence",
    "notes",
    # Optional columns for today's models (advisor/profiles/architectures.py says what each means).
    "variant",
    "base_model_id",
    "layer_types",
    "recurrent_state_elements",
    "global_n_kv_heads",
    "global_head_dim",
    "expert_intermediate_size",
    "n_shared_experts",
    "n_dense_layers",
    "shipped_format",
    "release_date",
    "licence",
]
NEW_ARCH_COLUMNS = ARCH_COLUMNS[ARCH_COLUMNS.index("variant") :]
VARIANTS = {"base", "instruct", "reasoning"}

TOKENS_COLUMNS = [
    "model_id",
    "family",
    "params_nominal",
    "training_tokens",
    "training_tokens_text",
    "source",
    "confidence",
    "notes",
]

PUBLISHED_COLUMNS = [
    "id",
    "model_id",
    "arch_id",
    "model",
    "family",
    "params_b",
    "variant",
    "format",
    "method",
    "bits",
    "bits_per_weight",
    "group_size",
    "task",
    "task_raw",
    "metric",
    "shots",
    "evaluator",
    "harness",
    "prompt_style",
    "quant_tool",
    "calibration",
    "value",
    "unit",
    "context_tokens",
    "generated_tokens",
    "source",
    "table",
    "file",
    "notes",
]


# --------------------------------------------------------------------------------------
# Architectures
# --------------------------------------------------------------------------------------

FAMILY_KEYS: dict[str, str] = {
    "Llama 2": "llama2",
    "Llama 3": "llama3",
    "Llama 3.1": "llama3.1",
    "Llama 3.2": "llama3.2",
    "Llama 3.3": "llama3.3",
    "Qwen1.5": "qwen1.5",
    "Qwen2": "qwen2",
    "Qwen2.5": "qwen2.5",
    "Qwen2.5-Coder": "qwen2.5-coder",
    "Qwen3": "qwen3",
    "Qwen3 MoE": "qwen3-moe",
    "Mistral": "mistral",
    "Mixtral": "mixtral",
    "Mistral NeMo": "mistral-nemo",
    "Mistral Small 3": "mistral-small3",
    "Gemma 2": "gemma2",
    "Gemma 3": "gemma3",
    "Phi-3": "phi3",
    "Phi-3.5": "phi3.5",
    "Phi-4": "phi4",
    "SmolLM2": "smollm2",
    "OPT": "opt",
    "BLOOM": "bloom",
    "Falcon": "falcon",
    "Pythia": "pythia",
    "TinyLlama": "tinyllama",
    "OLMo 2": "olmo2",
    "DeepSeek-R1-Distill (Qwen2.5)": "deepseek-r1-distill-qwen2.5",
    "DeepSeek-V3 (MLA+MoE)": "deepseek-v3",
    "gpt-oss": "gpt-oss",
}

# Attention layout per family (hand-read from sliding_window_or_layer_pattern / kv_cache_notes).
# Values: (attention, sliding_window, global_every, first_global_layer, note).
ATTN_FULL = ("full", "", "", "", "")
ATTENTION_BY_FAMILY: dict[str, tuple[str, str, str, str, str]] = {
    "Gemma 2": (
        "hybrid",
        "4096",
        "2",
        "1",
        (
            "attention parsed: local SWA 4096 and global layers alternate 1:1, layer 0 local "
            "(HF Gemma2: even layers sliding), so global layers are 1, 3, 5, ..."
        ),
    ),
    "gpt-oss": (
        "hybrid",
        "128",
        "2",
        "1",
        (
            "attention parsed: sliding (128) and full layers alternate, starting with sliding at "
            "layer 0, so full layers are 1, 3, 5, ..."
        ),
    ),
    "DeepSeek-V3 (MLA+MoE)": (
        "mla",
        "",
        "",
        "",
        (
            "attention parsed: MLA; cache holds the latent (kv_lora_rank 512 + rope key 64 = 576 "
            "values per layer per token)"
        ),
    ),
}
ATTENTION_BY_MODEL: dict[str, tuple[str, str, str, str, str]] = {
    "mistralai/Mistral-7B-v0.1": (
        "swa",
        "4096",
        "",
        "",
        (
            "attention parsed: SWA 4096 on every layer (a rolling cache caps KV at 4096 tokens; "
            "HF DynamicCache does not)"
        ),
    ),
    "microsoft/Phi-3-mini-4k-instruct": (
        "full",
        "",
        "",
        "",
        (
            "attention parsed: config sliding_window 2047 is below the 4k context; memory is "
            "counted as full attention, the upper bound (HF DynamicCache and llama.cpp keep "
            "every token)"
        ),
    ),
    "microsoft/Phi-3-medium-4k-instruct": (
        "full",
        "",
        "",
        "",
        (
            "attention parsed: config sliding_window 2047 is below the 4k context; memory is "
            "counted as full attention, the upper bound (HF DynamicCache and llama.cpp keep "
            "every token)"
        ),
    ),
    "microsoft/Phi-3.5-mini-instruct": (
        "full",
        "",
        "",
        "",
        "attention parsed: config sliding_window 262144 exceeds the context, so full attention",
    ),
}
GEMMA3_SMALL = {"google/gemma-3-270m", "google/gemma-3-1b-it"}

# Architecture model_id -> training_tokens.csv model_id (same pretraining run).
TOKENS_ALIASES: dict[str, str] = {
    "Qwen/Qwen1.5-0.5B-Chat": "Qwen/Qwen1.5-0.5B",
    "Qwen/Qwen1.5-7B-Chat": "Qwen/Qwen1.5-7B",
    "Qwen/Qwen1.5-72B-Chat": "Qwen/Qwen1.5-72B",
    "Qwen/Qwen2-1.5B-Instruct": "Qwen/Qwen2-1.5B",
    "Qwen/Qwen3-0.6B": "Qwen/Qwen3-0.6B-Base",
    "Qwen/Qwen3-1.7B": "Qwen/Qwen3-1.7B-Base",
    "Qwen/Qwen3-4B": "Qwen/Qwen3-4B-Base",
    "Qwen/Qwen3-8B": "Qwen/Qwen3-8B-Base",
    "Qwen/Qwen3-14B": "Qwen/Qwen3-14B-Base",
    "Qwen/Qwen3-30B-A3B": "Qwen/Qwen3-30B-A3B-Base",
    "Qwen/Qwen2.5-Coder-0.5B-Instruct": "",  # Coder had extra code pretraining: not the same
    "Qwen/Qwen2.5-Coder-1.5B-Instruct": "",
    "HuggingFaceTB/SmolLM2-135M-Instruct": "HuggingFaceTB/SmolLM2-135M",
    "google/gemma-3-1b-it": "google/gemma-3-1b-pt",
    "google/gemma-3-4b-it": "google/gemma-3-4b-pt",
    "google/gemma-3-12b-it": "google/gemma-3-12b-pt",
    "google/gemma-3-27b-it": "google/gemma-3-27b-pt",
    "mistralai/Mixtral-8x22B-Instruct-v0.1": "mistralai/Mixtral-8x22B-v0.1",
    "deepseek-ai/DeepSeek-V3": "deepseek-ai/DeepSeek-V3-Base",
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-14B": "Qwen/Qwen2.5-14B",
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B": "Qwen/Qwen2.5-32B",
}
TOKENS_NOTES: dict[str, str] = {
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-14B": (
        "training_tokens inherited from the base Qwen/Qwen2.5-14B (the distill is an SFT of it)"
    ),
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B": (
        "training_tokens inherited from the base Qwen/Qwen2.5-32B (the distill is an SFT of it)"
    ),
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B": (
        "training_tokens left empty: base is Qwen2.5-Math-1.5B (extra math pretraining, count "
        "not in training_tokens.csv)"
    ),
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B": (
        "training_tokens left empty: base is Qwen2.5-Math-7B (extra math pretraining, count "
        "not in training_tokens.csv)"
    ),
}

# Instruct/coder variants used locally, copied from the same-architecture row.
EXTRA_ARCH_ROWS: list[tuple[str, str, str, str]] = [
    # (new model_id, copied from, family, note)
    (
        "Qwen/Qwen2.5-Coder-0.5B-Instruct",
        "Qwen/Qwen2.5-0.5B",
        "Qwen2.5-Coder",
        (
            "architecture copied from Qwen/Qwen2.5-0.5B (same dims); max_context 32768 as in the "
            "Qwen2.5 -Instruct configs"
        ),
    ),
    (
        "Qwen/Qwen2.5-Coder-1.5B-Instruct",
        "Qwen/Qwen2.5-1.5B",
        "Qwen2.5-Coder",
        (
            "architecture copied from Qwen/Qwen2.5-1.5B (same dims); max_context 32768 as in the "
            "Qwen2.5 -Instruct configs"
        ),
    ),
    (
        "HuggingFaceTB/SmolLM2-135M-Instruct",
        "HuggingFaceTB/SmolLM2-135M",
        "SmolLM2",
        "architecture copied from HuggingFaceTB/SmolLM2-135M (same dims)",
    ),
]
EXTRA_MAX_CONTEXT = {
    "Qwen/Qwen2.5-Coder-0.5B-Instruct": "32768",
    "Qwen/Qwen2.5-Coder-1.5B-Instruct": "32768",
}

REQUIRED_ARCH = [
    "n_layers",
    "n_kv_heads",
    "head_dim",
    "vocab_size",
    "hidden_size",
    "params_total",
]


def leading_int(text: str) -> str:
    """Return the leading integer of a cell such as ``'128 (nominal; MLA latent cache)'``."""
    match = re.match(r"\s*(\d+)", text)
    return match.group(1) if match else ""


def plain_int(text: str) -> str:
    """Format a number written as ``1.5e13`` / ``300000000000`` as a plain integer string."""
    text = text.strip()
    if not text:
        return ""
    value = Decimal(text)
    if value != value.to_integral_value():
        raise ValueError(f"not an integer: {text!r}")
    return str(int(value))


def clean_dtype(text: str) -> tuple[str, str]:
    """Return (dtype, note) from a torch_dtype cell."""
    text = text.strip()
    if text in {"bfloat16", "float16", "float32"}:
        return text, ""
    if text.startswith("bfloat16 (config)"):
        return "bfloat16", f"dtype: {text}"
    if text:
        return "", f"dtype not confirmed: {text}"
    return "", ""


def join_notes(*parts: str) -> str:
    return "; ".join(p.strip().rstrip(".;") for p in parts if p and p.strip())


def attention_fields(src: Row) -> tuple[str, str, str, str, str]:
    model_id, family = src["model_id"], src["family"]
    if model_id in ATTENTION_BY_MODEL:
        return ATTENTION_BY_MODEL[model_id]
    if family == "Gemma 3":
        window = "512" if model_id in GEMMA3_SMALL else "1024"
        return (
            "hybrid",
            window,
            "6",
            "5",
            (
                f"attention parsed: 5 local (SWA {window}) : 1 global, sliding_window_pattern 6, "
                "layer i global when (i+1) % 6 == 0"
            ),
        )
    if family in ATTENTION_BY_FAMILY:
        return ATTENTION_BY_FAMILY[family]
    pattern = src["sliding_window_or_layer_pattern"].lower()
    if ("swa" in pattern or "sliding" in pattern) and not pattern.startswith("no swa"):
        raise ValueError(f"{model_id}: unhandled attention pattern {pattern!r}")
    return ATTN_FULL


def shared_variant(model_id: str) -> str:
    """Variant of a row of shared/architectures.csv, read from its model id (the catalogue
    table states it explicitly for the rows it carries)."""
    low = model_id.lower()
    if "deepseek-r1-distill" in low or low.startswith("openai/gpt-oss"):
        return "reasoning"
    if re.search(r"-(instruct|it|chat)(-|$)", low) or model_id in POST_TRAINED_PLAIN_IDS:
        return "instruct"
    return "base"


# Post-trained models whose id carries no -Instruct/-it/-Chat suffix.
POST_TRAINED_PLAIN_IDS = {"microsoft/phi-4", "deepseek-ai/DeepSeek-V3"}

# Facts for shared rows that shared/architectures.csv has no column for: (column, value, source).
SHARED_ROW_EXTRAS: dict[str, list[tuple[str, str, str]]] = {
    "deepseek-ai/DeepSeek-V3": [
        ("n_dense_layers", "3", "first_k_dense_replace 3"),
        ("n_shared_experts", "1", "n_shared_experts 1"),
        ("expert_intermediate_size", "2048", "moe_intermediate_size 2048"),
        (
            "shipped_format",
            "FP8",
            "quantization_config fp8 e4m3 with weight_block_size [128, 128]",
        ),
    ],
}
DEEPSEEK_V3_CONFIG = (
    "ai-dynamo/aiconfigurator@095f58a:aic-core/src/aiconfigurator_core/model_configs/"
    "deepseek-ai--DeepSeek-V3_config.json (verbatim HF config)"
)

# Corrected notes of shared rows (the shared file is read-only; the wrong reason is replaced).
SHARED_NOTE_FIXES: dict[str, tuple[str, str]] = {}


def layer_types_of(row: Row) -> str:
    """The repeating per-layer pattern of a Gemma-style hybrid row, derived from its
    global_every / first_global_layer (empty for uniform attention)."""
    if row["attention"] != "hybrid" or row["layer_types"]:
        return row["layer_types"]
    every, first = int(row["global_every"]), int(row["first_global_layer"])
    if first != every - 1:
        raise ValueError(f"{row['model_id']}: hybrid pattern with first global {first} of {every}")
    return " ".join(["sliding"] * (every - 1) + ["full"])


def base_model_of(model_id: str, variant: str, ids: set[str]) -> str:
    """The bundled base row an instruct row was trained from, when its id says so."""
    if variant == "base":
        return ""
    for pattern, repl in [
        (r"-Instruct$", ""),
        (r"-instruct$", ""),
        (r"-it$", "-pt"),
        (r"-it$", ""),
        (r"-chat-hf$", "-hf"),
        (r"-Chat$", ""),
    ]:
        candidate = re.sub(pattern, repl, model_id)
        if candidate != model_id and candidate in ids:
            return candidate
    return ""


def shared_row(
    src: Row, model_id: str, family: str, extra_note: str, tokens: dict[str, Row]
) -> Row:
    attention, window, global_every, first_global, attn_note = attention_fields(src)
    dtype, dtype_note = clean_dtype(src["torch_dtype"])
    head_dim = leading_int(src["head_dim"])
    v_head_dim = ""
    kv_lora_rank = qk_rope = ""
    if attention == "mla":
        v_head_dim = re.search(r"v_head_dim (\d+)", src["head_dim"]).group(1)  # type: ignore[union-attr]
        kv_lora_rank = re.search(
            r"kv_lora_rank (\d+)", src["sliding_window_or_layer_pattern"]
        ).group(1)  # type: ignore[union-attr]
        qk_rope = re.search(r"qk_rope (\d+)", src["sliding_window_or_layer_pattern"]).group(1)  # type: ignore[union-attr]
    n_experts = leading_int(src["num_experts"])
    expert_note = ""
    if src["num_experts"] and src["num_experts"] != n_experts:
        expert_note = f"n_experts = routed experts; source: {src['num_experts']}"
    tok_id = TOKENS_ALIASES.get(model_id, model_id)
    tok_row = tokens.get(tok_id) if tok_id else None
    training_tokens = plain_int(tok_row["training_tokens"]) if tok_row else ""
    tok_note = TOKENS_NOTES.get(model_id, "")
    if not tok_note and tok_row and training_tokens and tok_id != model_id:
        tok_note = f"training_tokens from {tok_id} (same pretraining)"
    is_extra = model_id != src["model_id"]
    max_context = EXTRA_MAX_CONTEXT.get(model_id, src["max_position_embeddings"])
    row = {c: "" for c in ARCH_COLUMNS}
    row.update(
        {
            "model_id": model_id,
            "name": model_id.split("/", 1)[1],
            "family": family,
            "family_key": FAMILY_KEYS[family],
            "params_total": plain_int(src["params_total_derived"]),
            "params_active": plain_int(src["params_active_derived"]),
            "n_layers": src["num_hidden_layers"],
            "hidden_size": src["hidden_size"],
            "intermediate_size": src["intermediate_size"],
            "n_heads": src["num_attention_heads"],
            "n_kv_heads": leading_int(src["num_key_value_heads"]),
            "head_dim": head_dim,
            "v_head_dim": v_head_dim,
            "vocab_size": src["vocab_size"],
            "tied_embeddings": src["tie_word_embeddings"].strip().lower(),
            "max_context": plain_int(max_context),
            "attention": attention,
            "sliding_window": window,
            "global_every": global_every,
            "first_global_layer": first_global,
            "kv_lora_rank": kv_lora_rank,
            "qk_rope_head_dim": qk_rope,
            "n_experts": n_experts,
            "experts_per_token": leading_int(src["experts_per_tok"]),
            "dtype": dtype,
            "training_tokens": training_tokens,
            "source": src["source"],
            "confidence": "derived-from-family" if is_extra else src["confidence"],
            "variant": shared_variant(model_id),
        }
    )
    notes = [extra_note, src["notes"], attn_note, dtype_note, expert_note, tok_note]
    extras = SHARED_ROW_EXTRAS.get(model_id, [])
    for column, value, _what in extras:
        row[column] = value
    if extras:
        said = ", ".join(what for _, _, what in extras)
        notes.append(f"{said} read from {DEEPSEEK_V3_CONFIG}")
    row["notes"] = join_notes(*notes)
    return row


def build_architectures(shared: Path, tokens: dict[str, Row]) -> tuple[list[Row], list[str]]:
    """Architecture rows: shared/architectures.csv, then the catalogue table of today's models
    and variants (``sources/catalogue_architectures.csv``, which replaces a shared row of the
    same id), then variant siblings copied from a row (``sources/variant_siblings.csv``).
    Returns the rows and a log of what the catalogue changed in shared rows."""
    rows = read_csv(shared / "architectures.csv")
    by_src = {r["model_id"]: r for r in rows}
    out: dict[str, Row] = {}
    for r in rows:
        out[r["model_id"]] = shared_row(r, r["model_id"], r["family"], "", tokens)
    for new_id, base_id, family, note in EXTRA_ARCH_ROWS:
        if new_id not in out:
            out[new_id] = shared_row(by_src[base_id], new_id, family, note, tokens)
    for row in qwen1_rows():
        out[row["model_id"]] = row
    changes: list[str] = []
    for cat in read_csv(SOURCES_DIR / "catalogue_architectures.csv"):
        row = {c: cat[c].strip() for c in ARCH_COLUMNS}
        old = out.get(row["model_id"])
        if old is not None:
            diff = [
                f"{c} {old[c] or '-'} -> {row[c] or '-'}"
                for c in ARCH_COLUMNS
                if c not in NEW_ARCH_COLUMNS
                and c not in {"source", "confidence", "notes"}
                and old[c] != row[c]
            ]
            if diff:
                changes.append(f"{row['model_id']}: {'; '.join(diff)}")
            if not row["training_tokens"]:
                row["training_tokens"] = old["training_tokens"]
        out[row["model_id"]] = row
    for sib in read_csv(SOURCES_DIR / "variant_siblings.csv"):
        if sib["model_id"] in out:
            raise SystemExit(f"variant_siblings.csv: {sib['model_id']} is already a row")
        template = out[sib["copy_from"]]
        row = dict(template)
        row.update(
            model_id=sib["model_id"],
            name=sib["model_id"].split("/", 1)[1],
            variant=sib["variant"],
            base_model_id=sib["base_model_id"],
            max_context=sib["max_context"],
            release_date=sib["release_date"],
            licence=sib["licence"],
            source=sib["source"],
            confidence=sib["confidence"],
            notes=join_notes(
                sib["notes"],
                f"dims copied from {sib['copy_from']} (its source: {template['source']})",
            ),
        )
        out[row["model_id"]] = row
    ids = set(out)
    for row in out.values():
        row["layer_types"] = layer_types_of(row)
        if not row["base_model_id"]:
            row["base_model_id"] = base_model_of(row["model_id"], row["variant"], ids)
    result = sorted(
        out.values(), key=lambda r: (r["family_key"], int(r["params_total"]), r["model_id"])
    )
    return result, changes


# Qwen (1.0) chat models, absent from shared/architectures.csv but needed to check the memory
# model against Qwen's published GPU memory. Config facts as in each HF config.json; QWen's
# code splits `intermediate_size` in two (w1 and w2 are intermediate_size // 2 wide) and has
# no grouped-query attention (one third-party copy lists 40 KV heads for 72B: QWenAttention
# has no such parameter).
QWEN1_SOURCE = (
    "huggingface.co/Qwen/Qwen-{size}/blob/main/config.json, as copied in a third-party model "
    "config table (code search); QWen modeling_qwen.py: MLP width = intermediate_size // 2, "
    "c_attn with bias, untied lm_head"
)
QWEN1_CONFIGS = [
    # (model_id, size tag, hidden, layers, heads, intermediate_size (config), vocab, max_ctx)
    ("Qwen/Qwen-1_8B-Chat", "1_8B", 2048, 24, 16, 11008, 151936, 8192),
    ("Qwen/Qwen-7B-Chat", "7B", 4096, 32, 32, 22016, 151936, 8192),
    ("Qwen/Qwen-14B-Chat", "14B", 5120, 40, 40, 27392, 152064, 2048),
    ("Qwen/Qwen-72B-Chat", "72B", 8192, 80, 64, 49152, 152064, 32768),
]


def qwen1_rows() -> list[Row]:
    rows = []
    for model_id, size, hidden, layers, heads, ff_config, vocab, max_ctx in QWEN1_CONFIGS:
        ff = ff_config // 2
        per_layer = (
            2 * hidden + (hidden * 3 * hidden + 3 * hidden) + hidden * hidden + 3 * hidden * ff
        )
        params = 2 * vocab * hidden + layers * per_layer + hidden
        row = {c: "" for c in ARCH_COLUMNS}
        row.update(
            {
                "model_id": model_id,
                "name": model_id.split("/", 1)[1],
                "family": "Qwen",
                "family_key": "qwen1",
                "params_total": str(params),
                "params_active": "",
                "n_layers": str(layers),
                "hidden_size": str(hidden),
                "intermediate_size": str(ff),
                "n_heads": str(heads),
                "n_kv_heads": str(heads),
                "head_dim": str(hidden // heads),
                "v_head_dim": "",
                "vocab_size": str(vocab),
                "tied_embeddings": "false",
                "max_context": str(max_ctx),
                "attention": "full",
                "sliding_window": "",
                "global_every": "",
                "first_global_layer": "",
                "kv_lora_rank": "",
                "qk_rope_head_dim": "",
                "n_experts": "",
                "experts_per_token": "",
                "dtype": "bfloat16",
                "training_tokens": "",
                "source": QWEN1_SOURCE.format(size=size),
                "confidence": "second-hand (1 source; params derived)",
                "notes": "params_total derived from the config as in modeling_qwen.py",
                "variant": "instruct",
            }
        )
        rows.append(row)
    return rows


def check_architectures(rows: list[Row], shared: Path) -> list[str]:
    """Sanity checks: required fields present; KV bytes/token match the source."""
    problems: list[str] = []
    derived = {r["model_id"]: r for r in read_csv(shared / "architectures.csv")}
    for row in rows:
        for col in REQUIRED_ARCH:
            if not row[col]:
                problems.append(f"{row['model_id']}: missing {col}")
        src = derived.get(row["model_id"])
        if src is None or row["attention"] == "mla":
            continue
        kv = 2 * int(row["n_layers"]) * int(row["n_kv_heads"]) * int(row["head_dim"]) * 2
        if str(kv) != src["kv_bytes_per_token_fp16_derived"]:
            problems.append(
                f"{row['model_id']}: kv bytes/token {kv} != source "
                f"{src['kv_bytes_per_token_fp16_derived']}"
            )
    ids = {r["model_id"] for r in rows}
    kinds = {"full", "sliding", "chunked", "linear", "mamba", "none"}
    for row in rows:
        mid = row["model_id"]
        if row["variant"] not in VARIANTS:
            problems.append(f"{mid}: variant {row['variant']!r} not in {sorted(VARIANTS)}")
        if row["base_model_id"] and row["base_model_id"] not in ids:
            # A base never released (or not bundled) is fine; say so in the build output.
            pass
        pattern = row["layer_types"].split()
        if pattern and not set(pattern) <= kinds:
            problems.append(f"{mid}: layer_types tokens {sorted(set(pattern) - kinds)}")
        if row["attention"] in {"linear_hybrid", "ssm_hybrid"} and not pattern:
            problems.append(f"{mid}: attention {row['attention']} needs layer_types")
        if (
            row["attention"] in {"linear_hybrid", "ssm_hybrid"}
            and not row["recurrent_state_elements"]
        ):
            problems.append(f"{mid}: attention {row['attention']} needs recurrent_state_elements")
        if pattern and len(pattern) > int(row["n_layers"]):
            problems.append(f"{mid}: layer_types longer than its {row['n_layers']} layers")
        if row["n_experts"] and not row["params_active"]:
            problems.append(f"{mid}: MoE row without params_active")
    llama = next(r for r in rows if r["model_id"] == "meta-llama/Llama-3.1-8B")
    kv = 2 * int(llama["n_layers"]) * int(llama["n_kv_heads"]) * int(llama["head_dim"]) * 2
    if kv != 131072:
        problems.append(f"Llama-3.1-8B kv bytes/token {kv} != 131072")
    return problems


# --------------------------------------------------------------------------------------
# Training tokens
# --------------------------------------------------------------------------------------


def build_training_tokens(shared: Path) -> list[Row]:
    rows = read_csv(shared / "training_tokens.csv")
    out = [{c: r[c].strip() for c in TOKENS_COLUMNS} for r in rows]
    for r in out:
        r["training_tokens"] = plain_int(r["training_tokens"])
    out.sort(key=lambda r: (r["family"].lower(), r["model_id"]))
    return out


# --------------------------------------------------------------------------------------
# Published measurements
# --------------------------------------------------------------------------------------

# Raw task names (lowercased) -> normalized task key. Anything else: raw name slugified.
TASKS: dict[str, str] = {
    "mmlu": "mmlu",
    "mmlu_cot": "mmlu",
    "mmlu_5shot_macro": "mmlu",
    "mmlu_pro": "mmlu_pro",
    "mmlu_pro_cot": "mmlu_pro",
    "arc_c": "arc_challenge",
    "arc-c": "arc_challenge",
    "arc_e": "arc_easy",
    "arc-e": "arc_easy",
    "hellaswag": "hellaswag",
    "winogrande": "winogrande",
    "piqa": "piqa",
    "gsm8k": "gsm8k",
    "math": "math",
    "humaneval": "humaneval",
    "mbpp": "mbpp",
    "ceval": "ceval",
    "ceval_val": "ceval",
    "c_eval": "ceval",
    "cmmlu": "cmmlu",
    "ifeval": "ifeval",
    "ifeval_strict_prompt": "ifeval",
    "truthfulqa": "truthfulqa",
    "lambada": "lambada",
    "lambada_openai": "lambada",
    "strategyqa": "strategyqa",
    "mtbench_turn1": "mt_bench",
    "mtbench_turn2": "mt_bench",
    "bbh": "bbh",
    "gpqa": "gpqa",
    "gpqa_main": "gpqa",
    "wikitext2_ppl": "wikitext2",
    "avg": "avg",
}

# Raw metric strings of base_scores / cross_eval_scores / qwen2_maker -> normalized metric.
METRICS: dict[str, str] = {
    "acc": "acc",
    "acc (OLL v1)": "acc",
    "acc (lm-eval-harness)": "acc",
    "acc (simple-evals)": "acc",
    "acc (unstated)": "acc",
    "acc (unstated; Llama 3.1 card uses acc_char for base MC tasks)": "acc",
    "acc (unstated; OLMES)": "acc",
    "acc (unstated; lighteval)": "acc",
    "acc, MCF format": "acc",
    "acc, cloze format": "acc",
    "acc_char": "acc_char",
    "average/acc_char": "acc_char",
    "macro_avg/acc_char": "acc_char",
    "macro_avg/acc": "acc",
    "avg acc": "acc",
    "avg top-1": "acc",
    "top-1 acc": "acc",
    "strict-prompt acc": "acc",
    "strict prompt-level acc": "acc",
    "avg of prompt- and instruction-level acc, strict+loose (Llama eval_details)": "acc",
    "avg of prompt/instruction acc": "acc",
    "acc_norm (OLL v1)": "acc_norm",
    "acc_norm (lm-eval-harness)": "acc_norm",
    "EM": "exact_match",
    "EM (OLL v1)": "exact_match",
    "EM (unstated)": "exact_match",
    "em": "exact_match",
    "em (per Llama 3.1 card)": "exact_match",
    "average/em": "exact_match",
    "avg EM": "exact_match",
    "final_em": "exact_match",
    "em_maj1@1": "exact_match",
    "em_maj1@1 (per Llama 3.1 card)": "exact_match",
    "maj1@1": "exact_match",
    "maj@1": "exact_match",
    'maj (printed "MaJ")': "exact_match",
    "maj@4": "maj@4",
    "maj@8": "maj@8",
    "cons@64": "cons@64",
    "pass@1": "pass@1",
    "pass@1 (unstated)": "pass@1",
    "pass@1 (simple-evals)": "pass@1",
    "pass@1 (64 samples, T=0.6)": "pass@1",
    "avg pass@1": "pass@1",
    "F1": "f1",
    "f1": "f1",
    "F1 (unstated)": "f1",
    "F1 (simple-evals)": "f1",
    "MC2": "mc2",
    "mc2 (OLL v1)": "mc2",
    "GPT-4-judge win-rate (unstated)": "win_rate",
    "judge win-rate (unstated)": "win_rate",
    "partial score": "score",
    "sympy_intersection_score": "score",
    "avg": "score",
    "unstated": "score",
    "unstated (safety table)": "score",
}

# Published model names that are not a model id -> the exact model id they were measured on
# (None: the variant is not in the catalogue, or the source does not say which it is). A
# published row maps ONLY to the exact variant: no name normalisation, no borrowing from a
# base/instruct sibling or a context-length sibling.
ARCH_ALIASES: dict[str, str | None] = {
    # qllm-eval names (thu-nics/qllm-eval, Feb 2024)
    "LLaMA2-7B": "meta-llama/Llama-2-7b-hf",
    "LlaMA2_7B": "meta-llama/Llama-2-7b-hf",
    "LLaMA2-13B": "meta-llama/Llama-2-13b-hf",
    "LlaMA2_13B": "meta-llama/Llama-2-13b-hf",
    "LLaMA2-70B": "meta-llama/Llama-2-70b-hf",
    "LlaMA2_70B": "meta-llama/Llama-2-70b-hf",
    "LLaMA2-7B-chat": "meta-llama/Llama-2-7b-chat-hf",
    "LLaMA2-13B-chat": "meta-llama/Llama-2-13b-chat-hf",
    "LLaMA2-70B-chat": "meta-llama/Llama-2-70b-chat-hf",
    "Falcon-7B": "tiiuae/falcon-7b",
    "Falcon_7B": "tiiuae/falcon-7b",
    "Falcon-40B": "tiiuae/falcon-40b",
    "Falcon_40B": "tiiuae/falcon-40b",
    "Falcon-180B": "tiiuae/falcon-180B",
    "Falcon_180B": "tiiuae/falcon-180B",
    "Falcon-7B-instruct": "tiiuae/falcon-7b-instruct",
    "falcon_7b_instruct": "tiiuae/falcon-7b-instruct",
    "Falcon-40B-instruct": "tiiuae/falcon-40b-instruct",
    "falcon_40b_instruct": "tiiuae/falcon-40b-instruct",
    "Falcon-180B-chat": "tiiuae/falcon-180B-chat",
    "falcon_180b_chat": "tiiuae/falcon-180B-chat",
    # the only Mistral 7B base before Feb 2024 was v0.1
    "Mistral-7B": "mistralai/Mistral-7B-v0.1",
    "Mistral_7B": "mistralai/Mistral-7B-v0.1",
    "Mistral-7B-instruct": None,  # v0.1 or v0.2: not stated
    "mistral_7b_instruct": None,
    "Mixtral-8x7B": "mistralai/Mixtral-8x7B-v0.1",
    "Mixtral_8x7B": "mistralai/Mixtral-8x7B-v0.1",
    "Mixtral-8x7B-instruct": "mistralai/Mixtral-8x7B-Instruct-v0.1",  # the only one released
    "mixtral_8x7b_instruct": "mistralai/Mixtral-8x7B-Instruct-v0.1",
    "OPT_125M": "facebook/opt-125m",
    "OPT_1B3": "facebook/opt-1.3b",
    "OPT_2B7": "facebook/opt-2.7b",
    "OPT_6B7": "facebook/opt-6.7b",
    "OPT_13B": "facebook/opt-13b",
    "OPT_30B": "facebook/opt-30b",
    "OPT_66B": "facebook/opt-66b",
    "Bloom_560M": "bigscience/bloom-560m",
    "Bloom_1B1": "bigscience/bloom-1b1",
    "Bloom_1B7": "bigscience/bloom-1b7",
    "Bloom_3B": "bigscience/bloom-3b",
    "Bloom_7B1": "bigscience/bloom-7b1",
    "Bloom_175B": "bigscience/bloom",
    "Bloomz_560M": "bigscience/bloomz-560m",
    "Bloomz_1B1": "bigscience/bloomz-1b1",
    "Bloomz_1B7": "bigscience/bloomz-1b7",
    "Bloomz_3B": "bigscience/bloomz-3b",
    "Bloomz_7B1": "bigscience/bloomz-7b1",
    "Bloomz_175B": "bigscience/bloomz",
    # llama.cpp tables
    "Llama-3-8B": "meta-llama/Meta-Llama-3-8B",
    "L3-8B": "meta-llama/Meta-Llama-3-8B",
    "L2-7B": "meta-llama/Llama-2-7b-hf",
    "Llama-2-7B": "meta-llama/Llama-2-7b-hf",
    "Llama-2-13B": "meta-llama/Llama-2-13b-hf",
    "Llama-2-70B": "meta-llama/Llama-2-70b-hf",
    # Qwen (1.0) README
    "Qwen-1.8B-Chat": "Qwen/Qwen-1_8B-Chat",
    # Neural Magic cards name the models as Meta did before the HF rename
    "Meta-Llama-3.1-8B-Instruct": "meta-llama/Llama-3.1-8B-Instruct",
    "Meta-Llama-3.1-70B-Instruct": "meta-llama/Llama-3.1-70B-Instruct",
    "Meta-Llama-3.1-405B-Instruct": "meta-llama/Llama-3.1-405B-Instruct",
    "Meta-Llama-3.1-8B": "meta-llama/Llama-3.1-8B",  # printed "(base)"
    "Meta-Llama-3.1-70B": "meta-llama/Llama-3.1-70B",  # printed "(base)"
    # auto-round tables
    "Llama3.1-8B-I": "meta-llama/Llama-3.1-8B-Instruct",
    "Qwen2.5-7B-I": "Qwen/Qwen2.5-7B-Instruct",
    "Falcon3-7B": None,  # Falcon3-7B-Base or -Instruct: not stated; Falcon 3 not bundled
    # llama.cpp benchmark files name the GGUF repository
    "ggml-org/gpt-oss-20b-GGUF": "openai/gpt-oss-20b",
    "ggml-org/gpt-oss-120b-GGUF": "openai/gpt-oss-120b",
    "ggml-org/Qwen3-Coder-30B-A3B-Instruct-Q8_0-GGUF": "Qwen/Qwen3-Coder-30B-A3B-Instruct",
    "ggml-org/gemma-3-4b-it-qat-GGUF": None,  # QAT weights: a variant of its own
    "ggml-org/Qwen2.5-Coder-7B-Q8_0-GGUF": None,  # Qwen2.5-Coder-7B not bundled
}
VARIANT_WORDS = {"instruct (reasoning)": "reasoning", "chat": "instruct"}


class ArchMatcher:
    """Map published model names to the exact architecture row they were measured on: the
    model id, its short name (without the organisation), or an ARCH_ALIASES entry. Records
    what it could not match."""

    def __init__(self, arch_rows: list[Row]) -> None:
        self.rows = {r["model_id"]: r for r in arch_rows}
        self.exact: dict[str, str] = {}
        short: dict[str, list[str]] = {}
        for mid in self.rows:
            self.exact[mid.lower()] = mid
            short.setdefault(mid.split("/")[-1].lower(), []).append(mid)
        self.short = {k: v[0] for k, v in short.items() if len(v) == 1}
        for alias, target in ARCH_ALIASES.items():
            if target is not None and target not in self.rows:
                raise SystemExit(f"ARCH_ALIASES: {alias!r} -> {target!r}, not a catalogue row")
        self.unmatched: Counter[str] = Counter()

    def match(self, name: str) -> str:
        name = name.strip()
        if name.endswith(" (base)"):  # Neural Magic cards label the base model so
            name = name[: -len(" (base)")]
        if name in ARCH_ALIASES:
            found = ARCH_ALIASES[name] or ""
        else:
            low = name.lower()
            found = self.exact.get(low) or self.short.get(low.split("/")[-1], "")
        if not found:
            self.unmatched[name] += 1
        return found

    def variant(self, arch_id: str) -> str:
        return self.rows[arch_id]["variant"] if arch_id else ""


def metric_of(raw: str) -> str:
    """A metric-table name for a raw metric string (the raw string stays in the notes)."""
    if raw in METRICS:
        return METRICS[raw]
    low = raw.lower()
    for prefix, metric in [
        ("as self-reported", "score"),
        ("strict-prompt acc", "acc"),
        ("accuracy", "acc"),
        ("acc", "acc"),
        ("pass@1", "pass@1"),
        ("avg of humaneval", "pass@1"),
        ("win rate", "win_rate"),
        ("judge score", "score"),
        ("score", "score"),
        ("resolved rate", "score"),
        ("macro_avg/em", "exact_match"),
        ("average/f1", "f1"),
    ]:
        if low.startswith(prefix):
            return metric
    return slug(raw)


def parse_sources_md(path: Path) -> dict[str, str]:
    """Read the file -> source column of the markdown table in published/SOURCES.md."""
    sources: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].endswith(".csv"):
            sources[cells[0]] = cells[-1]
    same = sources.get("llamacpp_llama2_7b_vs_llama3_8b.csv", "")
    if same.startswith("same README"):
        sources["llamacpp_llama2_7b_vs_llama3_8b.csv"] = (
            sources["llamacpp_llama3_8b_ppl_kld.csv"] + ' (section "LLaMA 2 vs. LLaMA 3 '
            'Quantization comparison")'
        )
    return sources


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9@.]+", "_", text.strip().lower()).strip("_")


def parse_shots(text: str) -> tuple[str, str]:
    """Return (integer shots or '', raw text to keep in notes when it says more)."""
    text = text.strip()
    match = re.fullmatch(r"(\d+)-shot", text)
    if match:
        return match.group(1), ""
    match = re.match(r"(\d+)-shot\b", text)
    return (match.group(1) if match else ""), (f"shots={text}" if text else "")


def gguf_type(text: str) -> str:
    """llama.cpp type in GGUF spelling: q4_K_M -> Q4_K_M, iq2_XS -> IQ2_XS, fp16 -> F16."""
    up = text.strip().upper()
    return "F16" if up in {"FP16", "F16"} else up


def gguf_bits(fmt: str) -> str:
    if fmt in {"F16", "BF16"}:
        return "16"
    return re.match(r"I?Q(\d+)", fmt).group(1)  # type: ignore[union-attr]


def variant_of(name: str) -> str:
    """Variant of a model the catalogue lacks, read from its name."""
    low = name.lower()
    if "(base)" in low:
        return "base"
    if low.startswith("bloomz"):
        return "instruct"  # BLOOMZ = BLOOM fine-tuned on xP3 prompts
    if "deepseek-r1" in low or "reasoning" in low or "thinking" in low:
        return "reasoning"
    if re.search(r"(^|[-_ ])(instruct|it|chat)($|[-_ ])", low):
        return "instruct"
    return "base"


def display_name(name: str) -> str:
    return name.split("/")[-1].replace(" (base)", "").strip()


def nominal_params_b(name: str) -> str:
    """Nominal size in billions parsed from a model name ('Llama-2-70B' -> '70')."""
    match = re.search(r"(\d+(?:\.\d+)?)\s*([bm])(?![a-z])", display_name(name).lower())
    if not match:
        return ""
    value = Decimal(match.group(1)) / (1000 if match.group(2) == "m" else 1)
    return format(value.normalize(), "f")


def table_from_source(source: str) -> str:
    match = re.search(r'table "([^"]+)"', source) or re.search(r'\("([^"]+)"', source)
    return match.group(1) if match else ""


PROMPT_STYLES = {
    "base few-shot",  # a base model prompted completion-style with k >= 0 examples
    "few-shot",  # a post-trained model given k > 0 examples (template as the harness does it)
    "chat",  # a post-trained model asked zero-shot in its chat format
    "CoT",  # chain-of-thought prompting, any variant
    "thinking",  # a reasoning model's thinking mode (or reasoning effort)
    "agentic",  # a scaffold with tools
    "unknown",  # the source does not say
    "n/a",  # perplexity, file size, speed and memory rows
}


class Published:
    """Accumulates long-format rows plus the per-file manifest."""

    def __init__(self, matcher: ArchMatcher, sources: dict[str, str]) -> None:
        self.matcher = matcher
        self.sources = sources
        self.rows: list[Row] = []
        self.manifest: list[Row] = []
        self.variant_conflicts: Counter[str] = Counter()
        self.file_rows: list[Row] = []  # every row of the file being read (cross-row checks)

    def add(self, file: str, row_no: int, column: str, **fields: str) -> None:
        """One published figure. ``arch_name`` (optional) is the name to match against the
        catalogue when ``model_id`` is not the model (a GGUF repository, say)."""
        model_id = fields["model_id"]
        arch_id = self.matcher.match(fields.pop("arch_name", "") or model_id)
        stated = fields.pop("variant", "").strip()
        stated = VARIANT_WORDS.get(stated, stated)
        variant = self.matcher.variant(arch_id) or stated or variant_of(model_id)
        if arch_id and stated and stated != variant:
            self.variant_conflicts[f"{model_id}: source says {stated}, {arch_id} is {variant}"] += 1
        row = {c: "" for c in PUBLISHED_COLUMNS}
        row.update(
            id=f"{Path(file).stem}:{row_no}:{column}",
            arch_id=arch_id,
            model=display_name(model_id),
            variant=variant,
            params_b=nominal_params_b(model_id),
            source=self.sources.get(file, ""),
            file=file,
        )
        row.update({k: v for k, v in fields.items() if v != "" or k not in row or not row[k]})
        if row["method"] == "none" and not row["bits"]:
            row["bits"] = "16"
        self.rows.append(row)


def quant_fields(fmt: str) -> dict[str, str]:
    """format/method/bits/group_size for the Qwen-style format names."""
    table = {
        "BF16": ("none", "16", ""),
        "FP16": ("none", "16", ""),
        "GPTQ-Int8": ("gptq", "8", "128"),
        "GPTQ-Int4": ("gptq", "4", "128"),
        "AWQ": ("awq", "4", "128"),
        "Int8": ("gptq", "8", "128"),
        "Int4": ("gptq", "4", "128"),
    }
    method, bits, group = table[fmt]
    return {"format": fmt, "method": method, "bits": bits, "group_size": group}


# Files of ../shared/published that are not per-model figures: carried by another table.
CARRIED_ELSEWHERE = {
    "gpu_bandwidth_lookup.csv": (
        "GPU name -> bandwidth lookup rules, not per-model figures; the hardware profiles "
        "(profiles/hardware.csv, hand-curated) carry vendor figures instead"
    ),
}
# Curated score tables kept in profiles/sources/ (../shared is read-only), each row with its
# source: maker scores of today's models and the Qwen3 report's runs of other makers' models.
SOURCE_SCORE_FILES = ["maker_scores_2025.csv", "cross_eval_scores_qwen3.csv"]

# Per-file provenance for the tables whose rows all share it (filled where a handler left the
# field empty): evaluator, harness, prompt_style, quant_tool.
FILE_PROVENANCE: dict[str, dict[str, str]] = {
    "qwen2_maker_quant_scores.csv": dict(
        evaluator="Qwen team (maker)",
        harness="internal (Qwen)",
        prompt_style="chat",
        quant_tool="AutoGPTQ / AutoAWQ",
    ),
    "qwen2_instruct_quant_accuracy.csv": dict(
        evaluator="Qwen team (maker)",
        harness="internal (Qwen)",
        prompt_style="chat",
        quant_tool="AutoGPTQ / AutoAWQ",
    ),
    "qwen1_chat_quant_accuracy_memory.csv": dict(
        evaluator="Qwen team (maker)",
        harness="internal (Qwen)",
        prompt_style="unknown",
        quant_tool="AutoGPTQ",
    ),
    "qwen25_speed_memory_transformers.csv": dict(
        evaluator="Qwen team (maker)",
        harness="transformers (speed_benchmark_transformers.py)",
        prompt_style="n/a",
        quant_tool="AutoGPTQ 0.7.1 / AutoAWQ 0.2.6",
    ),
    "qllm_eval_rtn_g128_weight_only.csv": dict(
        evaluator="qllm-eval (Li et al. 2024)",
        quant_tool="qllm-eval (RTN)",
    ),
    "llamacpp_llama3_8b_ppl_kld.csv": dict(
        evaluator="llama.cpp contributors",
        harness="llama-perplexity",
        prompt_style="n/a",
        quant_tool="llama.cpp",
    ),
    "llamacpp_llama2_7b_vs_llama3_8b.csv": dict(
        evaluator="llama.cpp contributors",
        harness="llama-perplexity",
        prompt_style="n/a",
        quant_tool="llama.cpp",
    ),
    "llamacpp_llama2_70b_ppl.csv": dict(
        evaluator="llama.cpp contributors",
        harness="llama-perplexity",
        prompt_style="n/a",
        quant_tool="llama.cpp",
    ),
    "llamacpp_bpw_llama31_8b.csv": dict(
        evaluator="llama.cpp contributors",
        harness="llama-quantize",
        prompt_style="n/a",
        quant_tool="llama.cpp",
    ),
    "llamacpp_bpw_llama2.csv": dict(
        evaluator="llama.cpp contributors",
        harness="llama-quantize",
        prompt_style="n/a",
        quant_tool="llama.cpp",
    ),
    "transformerx_rtn_llama_family.csv": dict(
        evaluator="cs-giung (transformerx)",
        harness="internal (transformerx)",
        prompt_style="base few-shot",
        quant_tool="transformerx (RTN)",
    ),
    "neuralmagic_cards_openllm_v1_avg.csv": dict(
        evaluator="Neural Magic / Red Hat",
        harness="lm-eval (Open LLM Leaderboard v1 tasks)",
        prompt_style="unknown",
        quant_tool="llm-compressor",
    ),
}
CALIBRATION_BY_METHOD = {"gptq": "gptq", "awq": "awq", "rtn": "none", "smoothquant": "gptq"}


def build_published(shared: Path, arch_rows: list[Row]) -> tuple[list[Row], list[Row], Published]:
    pub_dir = shared / "published"
    sources = parse_sources_md(pub_dir / "SOURCES.md")
    out = Published(ArchMatcher(arch_rows), sources)
    handlers = {
        "base_scores.csv": _scores,
        "cross_eval_scores.csv": _scores,
        "qwen2_maker_quant_scores.csv": _qwen2_maker,
        "qwen2_instruct_quant_accuracy.csv": _qwen2_instruct,
        "qwen1_chat_quant_accuracy_memory.csv": _qwen1_chat,
        "qwen25_speed_memory_transformers.csv": _qwen25_speed,
        "qllm_eval_rtn_g128_weight_only.csv": _qllm,
        "llamacpp_llama3_8b_ppl_kld.csv": _llamacpp_kld,
        "llamacpp_llama2_7b_vs_llama3_8b.csv": _llamacpp_l2_l3,
        "llamacpp_llama2_70b_ppl.csv": _llamacpp_70b,
        "llamacpp_bpw_llama31_8b.csv": _llamacpp_bpw,
        "llamacpp_bpw_llama2.csv": _llamacpp_bpw,
        "transformerx_rtn_llama_family.csv": _transformerx,
        "neuralmagic_cards_openllm_v1_avg.csv": _neuralmagic,
        "autoround_gguf_mxfp_accuracy.csv": _autoround,
        "open_llm_leaderboard_v2.csv": _open_llm_v2,
        "llamacpp_speed_bench.csv": _llamacpp_speed,
        "speed_runs_localmaxxing.csv": _localmaxxing,
    }
    files = sorted(p.name for p in pub_dir.glob("*.csv"))
    missing = set(files) - set(handlers) - set(CARRIED_ELSEWHERE)
    if missing:
        raise SystemExit(f"no handler for published files: {sorted(missing)}")
    inputs = [(name, pub_dir / name, handlers.get(name)) for name in files]
    inputs += [(f"sources/{n}", SOURCES_DIR / n, _scores) for n in SOURCE_SCORE_FILES]
    for name, path, handler in inputs:
        rows = read_csv(path)
        if handler is None:
            out.manifest.append(
                {
                    "file": name,
                    "input_rows": str(len(rows)),
                    "output_rows": "0",
                    "carried_in": CARRIED_ELSEWHERE[name],
                }
            )
            continue
        before = len(out.rows)
        out.file_rows = rows
        for i, row in enumerate(rows, start=1):
            handler(out, name, i, row)
        produced = len(out.rows) - before
        rows_out = {r["id"].split(":")[1] for r in out.rows[before:]}
        if len(rows_out) != len(rows):
            raise SystemExit(f"{name}: {len(rows)} input rows but {len(rows_out)} carried")
        for r in out.rows[before:]:
            quantized = r["method"] not in {"", "none"}
            for column, value in FILE_PROVENANCE.get(name, {}).items():
                if column != "quant_tool" or quantized:
                    r[column] = r[column] or value
            if r["method"] not in {"", "none"} and not r["calibration"]:
                r["calibration"] = CALIBRATION_BY_METHOD.get(r["method"], "")
        out.manifest.append(
            {
                "file": name,
                "input_rows": str(len(rows)),
                "output_rows": str(produced),
                "carried_in": "published.csv",
            }
        )
    out.rows.sort(key=lambda r: (r["file"], int(r["id"].split(":")[1]), r["id"]))
    return out.rows, out.manifest, out


def check_published(rows: list[Row]) -> list[str]:
    """Every row has its provenance in the controlled vocabulary; ids are unique."""
    problems: list[str] = []
    seen: set[str] = set()
    for r in rows:
        if r["id"] in seen:
            problems.append(f"duplicate id {r['id']}")
        seen.add(r["id"])
        for column in ("evaluator", "harness", "prompt_style", "source"):
            if not r[column]:
                problems.append(f"{r['id']}: empty {column}")
        if r["prompt_style"] and r["prompt_style"] not in PROMPT_STYLES:
            problems.append(f"{r['id']}: prompt_style {r['prompt_style']!r}")
    return problems[:50]


# Who ran a maker-table score and with what, by the opening of its source (base_scores-notes.md
# and SOURCES.md name each): (prefix, maker evaluator, harness).
SCORE_SOURCES: list[tuple[str, str, str]] = [
    ("meta-llama/llama-models", "Meta (maker)", "internal (Meta; eval_details.md)"),
    ("Llama 2 paper", "Meta (maker)", "internal (Meta)"),
    ("https://qwenlm.github.io", "Qwen team (maker)", "internal (Qwen)"),
    ("Gemma", "Google (maker)", "internal (Google)"),
    ("launch-time", "Google (maker)", "internal (Google)"),
    ("EleutherAI/pythia", "EleutherAI (maker)", "lm-eval"),
    ("Azure/azureml-assets", "Microsoft (maker)", "internal (Microsoft)"),
    ("microsoft/Phi-3.5-mini-instruct", "Microsoft (maker)", "internal (Microsoft)"),
    ("deepseek-ai/DeepSeek-R1", "DeepSeek (maker)", "internal (DeepSeek)"),
    ("Mixtral", "Mistral AI (maker)", "internal (Mistral)"),
    ("Mistral", "Mistral AI (maker)", "internal (Mistral)"),
    ("mistralai/Mistral-Small-24B", "Mistral AI (maker)", "internal (Mistral)"),
    ("https://traictory.com", "Mistral AI (maker; via an aggregator, rounded)", "unknown"),
    ("https://docs.api.nvidia.com/nim", "Mistral AI + NVIDIA (makers)", "unknown"),
    ("allenai/OLMo-2", "AI2 (maker)", "OLMES"),
    ("HuggingFaceTB/SmolLM2", "Hugging Face (maker)", "lighteval"),
]
# Third-party evaluators named in ``[evaluated by X, ...]`` or the ``evaluator`` column.
THIRD_PARTY_HARNESS: list[tuple[str, str]] = [
    ("Open LLM Leaderboard v1", "lm-eval (Open LLM Leaderboard v1)"),
    ("EleutherAI", "lm-eval"),
    ("OLMES", "OLMES"),
    ("AI2", "OLMES"),
    ("lighteval", "lighteval"),
    ("Qwen", "internal (Qwen)"),
    ("Microsoft", "internal (Microsoft)"),
    ("Meta", "internal (Meta)"),
    ("Mistral", "internal (Mistral)"),
]


def score_provenance(r: Row) -> tuple[str, str]:
    """(evaluator, harness) of a base_scores / cross_eval_scores row."""
    source = r["source"].split("||")[0].strip()
    third = re.search(r"\[evaluated by ([^\]]+?), not by the model maker\]", r["source"])
    evaluator = r.get("evaluator", "").strip() or (third.group(1) if third else "")
    harness = ""
    if "simple-evals" in r["shots"] or "simple-evals" in r["metric"]:
        harness = "simple-evals"
    elif "lm-eval-harness" in r["metric"] or "(OLL v1)" in r["metric"]:
        harness = "lm-eval"
    elif "lighteval" in r["metric"]:
        harness = "lighteval"
    elif "OLMES" in r["metric"] or "OLMES" in r["shots"]:
        harness = "OLMES"
    if evaluator:
        for key, name in THIRD_PARTY_HARNESS:
            if key in evaluator:
                return evaluator, harness or name
        return evaluator, harness or "unknown"
    for prefix, maker, maker_harness in SCORE_SOURCES:
        if source.startswith(prefix) or (prefix == "Llama 2 paper" and source.startswith("Llama")):
            return maker, harness or maker_harness
    raise SystemExit(f"no evaluator known for source {source[:80]!r}")


def prompt_style_of(variant: str, shots: str, metric: str, stated: str = "") -> str:
    """The prompt style in the PROMPT_STYLES vocabulary, from the row's variant and shots."""
    low = f"{shots} {metric}".lower()
    stated = stated.lower()
    if stated.startswith("thinking") or variant == "reasoning" or "reasoning" in low:
        return "thinking"
    if stated.startswith("agentic") or "agentic" in low:
        return "agentic"
    if "cot" in low:
        return "CoT"
    if variant == "base" or stated.startswith("base"):
        return "base few-shot"
    match = re.match(r"\s*(\d+)-shot", shots)
    if match and int(match.group(1)) > 0:
        return "few-shot"
    if stated.startswith("chat") or variant == "instruct":
        return "chat"
    return "unknown"


def _scores(out: Published, file: str, i: int, r: Row) -> None:
    shots, shots_note = parse_shots(r["shots"])
    metric_raw = r["metric"].strip()
    notes = [f"metric_raw={metric_raw}", shots_note, f"confidence={r['confidence']}"]
    task_raw = r["task"].strip()
    evaluator, harness = score_provenance(r)
    variant = VARIANT_WORDS.get(r["variant"], r["variant"])
    stated_style = r.get("prompt_style", "")
    plain = {"thinking", "chat", "base few-shot"}
    if stated_style and (stated_style not in plain or "(" in stated_style):
        notes.append(f"prompt_style_raw={stated_style}")
    if r.get("harness") and r["harness"] not in {harness}:
        harness = r["harness"]
    fmt = {"format": "BF16/FP16", "method": "none", "bits": "16"}
    if r["model_id"].startswith("openai/gpt-oss"):
        # "All evals were performed with the same MXFP4 quantization" (openai/gpt-oss README)
        fmt = {"format": "MXFP4", "method": "mxfp4", "bits": "4.25"}
        notes.append("scored on the shipped checkpoint: MoE experts MXFP4, the rest BF16")
    out.add(
        file,
        i,
        "score",
        model_id=r["model_id"],
        family=r["family"],
        params_b=r["params_B"],
        variant=r["variant"],
        **fmt,
        task=TASKS.get(task_raw.lower(), slug(task_raw)),
        task_raw=task_raw,
        metric=metric_of(metric_raw),
        shots=shots,
        evaluator=evaluator,
        harness=harness,
        prompt_style=prompt_style_of(variant, r["shots"], metric_raw, stated_style),
        value=r["score"],
        unit="percent",
        source=r["source"],
        table=table_from_source(r["source"]),
        notes=join_notes(*notes),
    )


def _qwen2_maker(out: Published, file: str, i: int, r: Row) -> None:
    shots, shots_note = parse_shots(r["shots"])
    metric_raw = r["metric"].strip()
    out.add(
        file,
        i,
        "score",
        model_id=r["model_id"],
        family="Qwen2",
        params_b=r["params_B"],
        **quant_fields(r["scheme"]),
        task=TASKS.get(r["task"], slug(r["task"])),
        task_raw=r["task"],
        metric=METRICS[metric_raw],
        shots=shots,
        value=r["score"],
        unit="percent",
        source=r["source"],
        table="Performance of Quantized Models (Qwen2)",
        notes=join_notes(f"metric_raw={metric_raw}", shots_note),
    )


def _qwen2_instruct(out: Published, file: str, i: int, r: Row) -> None:
    for col in ["avg", "mmlu", "ceval", "ifeval_strict_prompt"]:
        note = "IFEval strict prompt-level accuracy" if col.startswith("ifeval") else ""
        if col == "avg":
            note = "average of MMLU, C-Eval and IFEval as printed"
        out.add(
            file,
            i,
            col,
            model_id=r["model"],
            family="Qwen2",
            params_b=r["params_B_nominal"],
            **quant_fields(r["quant"]),
            task=TASKS[col],
            task_raw=col,
            metric="score" if col == "avg" else "acc",
            value=r[col],
            unit="percent",
            table="Performance of Quantized Models (Qwen2)",
            notes=join_notes("greedy decoding; shots unstated", note),
        )


def _qwen1_chat(out: Published, file: str, i: int, r: Row) -> None:
    quant = quant_fields(r["quant"])
    gptq_note = "Int8/Int4 are GPTQ (AutoGPTQ) per Qwen's README" if r["quant"] != "BF16" else ""
    common = dict(model_id=r["model"], family="Qwen-1.0", params_b=r["params_B_nominal"], **quant)
    for col in ["mmlu", "ceval_val", "gsm8k", "humaneval"]:
        out.add(
            file,
            i,
            col,
            **common,
            task=TASKS[col],
            task_raw=col,
            metric="pass@1" if col == "humaneval" else "acc",
            value=r[col],
            unit="percent",
            table="Quantization (performance)",
            notes=gptq_note,
        )
    two_gpus = r["model"].startswith("Qwen-72B") and r["quant"] in {"BF16", "Int8"}
    multi_gpu = "72B BF16/Int8 run on two A100-80G" if two_gpus else ""
    out.add(
        file,
        i,
        "speed_tok_s_gen2048",
        **common,
        task="speed",
        task_raw="speed_tok_s_gen2048",
        metric="tokens_per_s",
        value=r["speed_tok_s_gen2048"],
        unit="tok/s",
        generated_tokens="2048",
        table="Inference Performance",
        notes=join_notes(gptq_note, "A100-80G, generating 2048 tokens", multi_gpu),
    )
    out.add(
        file,
        i,
        "gpu_mem_GB_gen2048",
        **common,
        task="memory",
        task_raw="gpu_mem_GB_gen2048",
        metric="gpu_mem_gb",
        value=r["gpu_mem_GB_gen2048"],
        unit="GB",
        generated_tokens="2048",
        table="Inference Performance",
        notes=join_notes(
            gptq_note,
            "peak GPU memory as printed in the README header (GB); whether GB or GiB is not "
            "stated by the source",
            "A100-80G, generating 2048 tokens",
            multi_gpu,
        ),
    )


def _qwen25_speed(out: Published, file: str, i: int, r: Row) -> None:
    notes = [f"gpus={r['gpus']}", "A100-80G, batch 1", r["note"]]
    common = dict(
        model_id=r["model"],
        family="Qwen2.5",
        **quant_fields(r["quant"]),
        context_tokens=r["input_len"],
        generated_tokens="2048",
        table="Speed Benchmark (transformers)",
    )
    out.add(
        file,
        i,
        "tokens_per_s",
        **common,
        task="speed",
        task_raw="tokens_per_s",
        metric="tokens_per_s",
        value=r["tokens_per_s"],
        unit="tok/s",
        notes=join_notes(*notes),
    )
    out.add(
        file,
        i,
        "gpu_mem_GB",
        **common,
        task="memory",
        task_raw="gpu_mem_GB",
        metric="gpu_mem_gib",
        value=r["gpu_mem_GB"],
        unit="GiB",
        notes=join_notes(
            *notes,
            "column says GB but is torch.cuda.max_memory_allocated / 1024^3 summed over GPUs "
            "(GiB); excludes CUDA context and allocator slack",
        ),
    )


def _qllm(out: Published, file: str, i: int, r: Row) -> None:
    bits = r["w_bits"]
    if bits == "16":
        quant = {"format": "FP16", "method": "none", "bits": "16", "group_size": ""}
    else:
        quant = {
            "format": f"RTN-W{bits}-g128",
            "method": "rtn",
            "bits": bits,
            "group_size": "128",
        }
    task_raw = r["task"]
    if task_raw.startswith("mtbench"):
        metric, unit = f"{task_raw.split('_')[1]}_score", "score_1_10"
    else:
        metric, unit = "acc", "percent"
    notes = [f"method={r['method']} (weight-only, asymmetric; group 128 is the repo default)"]
    if task_raw == "mmlu-calib":
        notes.append("qllm-eval self-calibration (SC) ability on MMLU; plot floor 50")
    if task_raw.startswith("mtbench"):
        harness, style = "FastChat MT-Bench (GPT-4 judge)", "chat"
    elif task_raw == "lambada":
        harness, style = "lm-eval", "base few-shot"
    else:
        harness = "OpenCompass"
        style = "base few-shot" if variant_of(r["model"]) == "base" else "unknown"
    notes.append("harness inferred from the repository's evaluation folders")
    out.add(
        file,
        i,
        "score",
        model_id=r["model"],
        family=r["family"],
        params_b=r["params_B"],
        **quant,
        task=TASKS.get(task_raw, slug(task_raw)),
        task_raw=task_raw,
        metric=metric,
        harness=harness,
        prompt_style=style,
        value=r["score"],
        unit=unit,
        table="qllm_eval/visualization (weight-only data)",
        notes=join_notes(*notes, r["note"]),
    )


def _gguf(quant: str) -> dict[str, str]:
    fmt = gguf_type(quant)
    method = "none" if fmt in {"F16", "BF16"} else "gguf"
    group = "32" if re.fullmatch(r"Q\d_[01]", fmt) else ""
    return {
        "format": fmt,
        "method": method,
        "bits": gguf_bits(fmt),
        "group_size": group,
    }


def _llamacpp_kld(out: Published, file: str, i: int, r: Row) -> None:
    imatrix = "" if r["imatrix"] == "None" else f"imatrix={r['imatrix']}"
    common = dict(
        calibration="none" if r["imatrix"] == "None" else "imatrix",
        model_id=r["model"],
        family="Llama 3",
        **_gguf(r["quant"]),
        bits_per_weight=r["bpw_derived"],
        table="LLaMA 3 8b Scoreboard",
    )
    spec = [
        ("size_GiB", "file_size", "size_gib", "GiB", ""),
        (
            "bpw_derived",
            "file_size",
            "bits_per_weight",
            "bits",
            "bits/weight derived from the file size and the parameter count",
        ),
        ("ppl_wikitext2", "wikitext2", "ppl", "ppl", ""),
        (
            "delta_ppl",
            "wikitext2",
            "delta_ppl",
            "ppl",
            "PPL minus the BF16 model's PPL",
        ),
        (
            "mean_kld",
            "wikitext2",
            "mean_kld",
            "nats",
            "KL divergence vs the BF16 model",
        ),
        ("mean_delta_p_pct", "wikitext2", "mean_delta_p", "percent", ""),
        ("rms_delta_p_pct", "wikitext2", "rms_delta_p", "percent", ""),
    ]
    for col, task, metric, unit, note in spec:
        out.add(
            file,
            i,
            col,
            **common,
            task=task,
            task_raw=col,
            metric=metric,
            value=r[col],
            unit=unit,
            notes=join_notes(imatrix, note),
        )


def _llamacpp_l2_l3(out: Published, file: str, i: int, r: Row) -> None:
    model = {"L2-7B": "Llama-2-7B", "L3-8B": "Llama-3-8B"}[r["model"]]
    family = {"L2-7B": "Llama 2", "L3-8B": "Llama 3"}[r["model"]]
    spec = [
        ("ppl", "ppl", "ppl", ""),
        ("ppl_ratio_vs_fp16", "ppl_ratio", "ratio", "PPL / 16-bit PPL"),
        ("mean_kld", "mean_kld", "nats", ""),
        ("ppl_correlation_pct", "ppl_correlation", "percent", ""),
        ("same_top_p_pct", "same_top_p", "percent", ""),
    ]
    values = {col: r[col] for col, *_ in spec}
    notes = {col: note for col, _, _, note in spec}
    # The 16-bit PPL each row implies (PPL / ratio) is one number per model; a PPL cell
    # that implies another contradicts its own ratio (and the KLD beside it): the cell is
    # a copy slip, the ratio stands, and the PPL is the model's 16-bit PPL times it.
    implied = [
        float(o["ppl"]) / float(o["ppl_ratio_vs_fp16"])
        for o in out.file_rows
        if o["model"] == r["model"]
    ]
    sixteen = statistics.median(implied)
    if abs(float(r["ppl"]) / float(r["ppl_ratio_vs_fp16"]) / sixteen - 1) > 0.02:
        values["ppl"] = f"{sixteen * float(r['ppl_ratio_vs_fp16']):.6f}"
        notes["ppl"] = (
            f"source's Mean PPL {r['ppl']} contradicts its PPL ratio {r['ppl_ratio_vs_fp16']} "
            f"(and KLD); value = the model's 16-bit PPL {sixteen:.6f} (PPL / ratio of its other "
            "rows) x the ratio"
        )
    for col, metric, unit, _ in spec:
        out.add(
            file,
            i,
            col,
            model_id=r["model"],
            model=model,
            family=family,
            params_b=nominal_params_b(model),
            **_gguf(r["quant"]),
            task="wikitext2",
            task_raw=col,
            metric=metric,
            value=values[col],
            unit=unit,
            table="LLaMA 2 vs. LLaMA 3 Quantization comparison",
            notes=notes[col],
        )


def _llamacpp_70b(out: Published, file: str, i: int, r: Row) -> None:
    spec = [
        ("size_GiB", "file_size", "size_gib", "GiB", ""),
        ("ppl_wikitext2", "wikitext2", "ppl", "ppl", ""),
        (
            "delta_to_fp16_pct",
            "wikitext2",
            "delta_ppl_pct",
            "percent",
            "PPL increase vs fp16 in percent",
        ),
    ]
    for col, task, metric, unit, note in spec:
        out.add(
            file,
            i,
            col,
            model_id=r["model"],
            family="Llama 2",
            **_gguf(r["quant"]),
            task=task,
            task_raw=col,
            metric=metric,
            value=r[col],
            unit=unit,
            table="Llama 2 70B Scoreboard (Old Numbers)",
            calibration="none" if r["quant"].upper() not in {"F16", "FP16"} else "",
            notes=join_notes(note, "numbers from before llama.cpp had importance matrices"),
        )


def _llamacpp_bpw(out: Published, file: str, i: int, r: Row) -> None:
    family = "Llama 3.1" if "3.1" in r["model"] else "Llama 2"
    spec = [
        ("bits_per_weight", "bits_per_weight", "bits"),
        ("size_GiB", "size_gib", "GiB"),
    ]
    for col, metric, unit in spec:
        if col not in r:
            continue
        out.add(
            file,
            i,
            col,
            model_id=r["model"],
            family=family,
            **_gguf(r["quant"]),
            bits_per_weight=r["bits_per_weight"],
            task="file_size",
            task_raw=col,
            metric=metric,
            value=r[col],
            unit=unit,
            table="quantize README (bits/weight)",
            notes="whole-file bits/weight (mixes keep some tensors at higher types)",
        )


def _transformerx(out: Published, file: str, i: int, r: Row) -> None:
    if r["quant"] == "FP16":
        quant = {"format": "FP16", "method": "none", "bits": "16", "group_size": ""}
    else:
        quant = {
            "format": f"RTN-{r['quant']}",
            "method": "rtn",
            "bits": r["approx_bits"],
            "group_size": "32",
        }
    task_raw = r["task"]
    is_ppl = task_raw == "wikitext2_ppl"
    family = "LLaMA-1" if r["model"].startswith("huggyllama") else ""
    family = family or ("Llama 3" if "Llama-3" in r["model"] else "Llama 2")
    out.add(
        file,
        i,
        "score",
        model_id=r["model"],
        family=family,
        params_b=r["params_B"],
        **quant,
        task=TASKS[task_raw],
        task_raw=task_raw,
        metric="ppl" if is_ppl else "acc",
        shots="" if is_ppl else "5",
        value=r["score"],
        unit="ppl" if is_ppl else "percent",
        table="examples/llama README (wikitext2)"
        if is_ppl
        else "examples/mmlu README (macro-average)",
        notes=join_notes(
            "simple round-to-nearest ladder (secondary source)",
            "group 32 assumed from the llama.cpp-style type name"
            if quant["method"] == "rtn"
            else "",
            "" if is_ppl else "MMLU 5-shot macro average",
        ),
    )


NM_METHODS: dict[str, tuple[str, str, str]] = {
    # scheme -> (method, group_size, note)
    "W4A16-INT (GPTQ)": ("gptq", "", ""),
    "W8A16-INT (GPTQ)": ("gptq", "", ""),
    "W8A16-INT": (
        "gptq",
        "",
        "method inferred: Neural Magic w8a16 INT checkpoints use GPTQ",
    ),
    "W4A16-INT (g64)": (
        "gptq",
        "64",
        "method inferred: Neural Magic w4a16 INT checkpoints use GPTQ",
    ),
    "W8A8-FP8": ("fp8", "", ""),
    "W8A8-FP8 (dynamic)": ("fp8", "", ""),
    "W8A8-FP8 (static)": ("fp8", "", ""),
    "W8A8-INT8": (
        "smoothquant",
        "",
        "method inferred: Neural Magic w8a8 INT8 = SmoothQuant + GPTQ",
    ),
}


def _neuralmagic(out: Published, file: str, i: int, r: Row) -> None:
    method, group, note = NM_METHODS[r["scheme"]]
    name = r["model"]
    family = (
        "Qwen2.5" if name.startswith("Qwen2.5") else "Qwen2" if name.startswith("Qwen2") else ""
    )
    family = family or ("Llama 3.1" if "3.1" in name else "Llama 3")
    common = {
        "model_id": name,
        "family": family,
        "task": "openllm_v1_avg",
        "task_raw": "openllm_v1_avg",
        "metric": "score",
        "unit": "percent",
        "source": r["source"],
        "table": "model card evaluation",
    }
    base_note = "compare only with the BF16 figure from the same card (row)"
    out.add(
        file,
        i,
        "openllm_v1_avg_quant",
        **common,
        format=r["scheme"],
        method=method,
        bits=r["weight_bits"],
        group_size=group,
        value=r["openllm_v1_avg_quant"],
        notes=join_notes(note, base_note),
    )
    out.add(
        file,
        i,
        "openllm_v1_avg_bf16",
        **common,
        format="BF16",
        method="none",
        bits="16",
        value=r["openllm_v1_avg_bf16"],
        notes=join_notes(f"BF16 baseline printed beside {r['scheme']}", base_note),
    )


AUTOROUND_TASKS = {
    "avg10": "autoround_avg10",
    "avg5": "autoround_avg5",
    "avg4": "autoround_avg4",
    "lambada_openai": "lambada",
    "if_eval": "ifeval",
}


def _autoround(out: Published, file: str, i: int, r: Row) -> None:
    """Real GGUF files (and MXFP mixes) by llama.cpp / auto-round against BF16, lm-eval."""
    method_raw, gtype = r["method"], r["gguf_type"]
    notes = [f"method_raw={method_raw}", f"label={r['label_in_source']}", r["note"]]
    quant_tool, calibration = "", ""
    if method_raw == "BF16":
        quant = {"format": "BF16", "method": "none", "bits": "16", "group_size": ""}
    elif gtype.lower().startswith("q"):
        quant = _gguf(gtype)
        if method_raw.startswith("llama.cpp"):
            quant_tool, calibration = "llama.cpp", ""
            notes.append("importance matrix not stated by the source")
        elif method_raw == "RTN (optimized)":
            quant_tool, calibration = "auto-round", "optimized-scales"
        else:
            quant_tool, calibration = "auto-round", "autoround"
    elif gtype.startswith("mxfp4/mxfp8"):
        pure = method_raw.startswith("pure")
        found = re.search(r"avg ([\d.]+) bits", gtype)
        avg = r["actual_bits"] if "Table 1" in r["table"] else (found.group(1) if found else "")
        quant = {
            "format": "MXFP4" if pure else "MXFP4/MXFP8 mix",
            "method": "mxfp4",
            "bits": avg or "",
            "group_size": "32",
        }
        quant_tool, calibration = "auto-round", "" if pure else "autoscheme"
        notes.append("fake quantization (weights quantized and dequantized in the model)")
        notes.append("bits = the source's average bits/weight (element bits; scales not counted)")
    else:  # int W2G128/W4G128 mix
        quant = {
            "format": "INT W2G128/W4G128 mix",
            "method": "autoround",
            "bits": "",
            "group_size": "128",
        }
        quant_tool, calibration = "auto-round", "autoscheme"
        notes.append("average bits ambiguous in the source (header 4.5, text 3)")
    task_raw = r["task"]
    task = AUTOROUND_TASKS.get(task_raw, TASKS.get(task_raw, task_raw))
    metric = (
        "mc1"
        if task_raw == "truthfulqa_mc1"
        else (
            "exact_match"
            if task_raw == "gsm8k"
            else ("score" if task_raw.startswith("avg") else "acc")
        )
    )
    value = Decimal(r["score"]) * 100
    if r["pct_of_bf16_in_source"]:
        notes.append(f"printed as {r['pct_of_bf16_in_source']} of BF16")
    out.add(
        file,
        i,
        "score",
        model_id=r["model"],
        family="",
        **quant,
        task=task,
        task_raw=task_raw,
        metric=metric,
        evaluator="Intel (auto-round)",
        harness=f"lm-eval ({r['harness']})",
        prompt_style="base few-shot",
        quant_tool=quant_tool,
        calibration=calibration,
        value=format(value.normalize(), "f"),
        unit="percent",
        source=r["source"],
        table=r["table"],
        notes=join_notes(*notes, f"bf16 reference in the same table: {r['has_bf16_ref']}"),
    )


# Open LLM Leaderboard v2 columns -> (task, metric, shots, chance of the normalisation).
OLL2_TASKS = [
    ("IFEval", "ifeval", "acc", "0", 0.0),
    ("BBH", "bbh", "acc_norm_chance", "3", None),
    ("MATH_Lvl5", "math_lvl5", "exact_match", "4", 0.0),
    ("GPQA", "gpqa", "acc_norm", "0", 0.25),
    ("MUSR", "musr", "acc_norm_chance", "0", None),
    ("MMLU_PRO", "mmlu_pro", "acc", "5", 0.1),
]


def _open_llm_v2(out: Published, file: str, i: int, r: Row) -> None:
    """One harness for every model. Where the normalised score can be inverted the raw
    accuracy is the value (comparable with other sources' accuracies); BBH and MuSR keep the
    leaderboard's normalised score (accuracy above chance, rescaled to 0-100)."""
    common = dict(
        model_id=r["model_id"],
        family="",
        params_b=r["params_b"],
        format="BF16/FP16",
        method="none",
        bits="16",
        evaluator="Hugging Face Open LLM Leaderboard v2",
        harness="lm-eval (Open LLM Leaderboard v2 fork)",
        prompt_style="unknown",
        unit="percent",
        source=r["source"],
        table="Open LLM Leaderboard v2 (contents dataset)",
    )
    style_note = (
        "the leaderboard applied the chat template when the submitter asked for it; this table "
        "does not say whether it did; precision of the run not recorded"
    )
    dup = (
        f"{r['duplicate_name_rows']} rows share this name in the source"
        if r["duplicate_name_rows"]
        else ""
    )
    for col, task, metric, shots, chance in OLL2_TASKS:
        norm = r[f"{col}_norm"]
        if chance is None:
            value = norm
            note = "normalised score as printed (accuracy above chance, rescaled): no raw"
        else:
            value = format((Decimal(r[f"{col}_raw_derived"]) * 100).normalize(), "f")
            note = f"raw accuracy derived from the printed normalised {norm} (chance {chance})"
        out.add(
            file,
            i,
            col,
            **common,
            task=task,
            task_raw=col,
            metric=metric,
            shots=shots,
            value=value,
            notes=join_notes(note, style_note, dup),
        )
    out.add(
        file,
        i,
        "average",
        **common,
        task="open_llm_v2_avg",
        task_raw="average_norm",
        metric="acc_norm_chance",
        value=r["average_norm"],
        notes=join_notes("mean of the six normalised scores, as printed", style_note, dup),
    )


def _llamacpp_speed(out: Published, file: str, i: int, r: Row) -> None:
    test = r["test"]
    depth = r["depth"]
    prompt = re.search(r"pp(\d+)", test)
    gen = re.search(r"tg(\d+)", test)
    metric = (
        "tokens_per_s"
        if test.startswith("tg")
        else ("prompt_tokens_per_s" if test.startswith("pp") else "total_tokens_per_s")
    )
    out.add(
        file,
        i,
        "tokens_per_s",
        model_id=r["model"],
        family="",
        params_b=r["params_b"],
        **_gguf(r["quant"])
        if r["quant"] != "MXFP4"
        else {"format": "MXFP4", "method": "mxfp4", "bits": "4.25", "group_size": "32"},
        bits_per_weight=r["bits_per_weight"],
        task="speed",
        task_raw=test,
        metric=metric,
        evaluator="llama.cpp contributors",
        harness=r["tool"],
        prompt_style="n/a",
        quant_tool="llama.cpp",
        value=r["tokens_per_s"],
        unit="tok/s",
        context_tokens=str(int(depth) + int(prompt.group(1))) if prompt else depth,
        generated_tokens=gen.group(1) if gen else "",
        source=r["source"],
        table=r["source"].rsplit(":", 1)[-1],
        notes=join_notes(
            f"hardware={r['hardware']}",
            f"backend={r['backend']}",
            f"batch={r['batch']}",
            f"depth={depth}",
            f"stdev={r['stdev']}" if r["stdev"] else "",
            f"size_gib={r['size_gib']}" if r["size_gib"] else "",
            r["note"],
        ),
    )


QUANT_SUFFIX = re.compile(
    r"([-_.](gguf|nvfp4|mxfp4|fp8|bf16|fp16|awq|gptq|int4|int8|w4a16|w8a8|mlx|bnb|"
    r"\d+bit|q\d\w*|dynamic|static))+$",
    re.IGNORECASE,
)


def run_model(model: str, base_model: str) -> str:
    """The model a self-reported run measured: the repository itself, or for a quantized
    copy (same name plus a format suffix) the model it was made from. A fine-tune's
    ``base_model`` tag names a different model and is not used."""
    if not base_model:
        return model
    strip = lambda name: QUANT_SUFFIX.sub("", name.split("/")[-1]).lower()  # noqa: E731
    return base_model if strip(model) == strip(base_model) else model


def _localmaxxing(out: Published, file: str, i: int, r: Row) -> None:
    """Self-reported runs: carried as printed with their flags; the speed owner decides what to
    drop (SOURCES.md caveats)."""
    hardware = join_notes(
        f"hardware={r['hardware']}",
        f"hw_class={r['hw_class']}",
        f"gpu_count={r['gpu_count']}",
        f"runtime={r['runtime']} {r['runtime_version']}".strip(),
        f"backend={r['backend']}" if r["backend"] else "",
        f"batch_size={r['batch_size']}" if r["batch_size"] else "",
        f"prompt_tokens={r['prompt_tokens']}" if r["prompt_tokens"] else "",
        f"gpu_layers={r['gpu_layers']}" if r["gpu_layers"] else "",
        f"kv_cache_dtype={r['kv_cache_dtype']}" if r["kv_cache_dtype"] else "",
        f"flash_attn={r['flash_attn']}" if r["flash_attn"] else "",
        f"flags={r['flags']}" if r["flags"] else "",
        f"submitter_verified={r['submitter_verified']}",
        f"localmaxxing_id={r['localmaxxing_id']}",
        "self-reported",
    )
    common = dict(
        model_id=r["model"],
        arch_name=run_model(r["model"], r["base_model"]),
        family="",
        params_b=r["params_b"],
        format=r["quant"] or "unknown",
        method="",
        evaluator="self-reported (localmaxxing.com)",
        harness=r["runtime"],
        prompt_style="n/a",
        context_tokens=r["context"],
        generated_tokens=r["output_tokens"],
        source=r["source"],
        table="benchmark_cache.json",
    )
    spec = [
        ("tokens_per_s", "speed", "tokens_per_s", "tok/s"),
        ("prompt_tokens_per_s", "speed", "prompt_tokens_per_s", "tok/s"),
        ("ttft_ms", "speed", "ttft_ms", "ms"),
        ("peak_vram_gb", "peak_vram_reported", "peak_vram_gb", "GB"),
    ]
    for col, task, metric, unit in spec:
        if not r[col]:
            continue
        out.add(
            file,
            i,
            col,
            **common,
            task=task,
            task_raw=col,
            metric=metric,
            value=r[col],
            unit=unit,
            notes=hardware,
        )


# --------------------------------------------------------------------------------------
# Artifacts: what to download for each (model, format)
# --------------------------------------------------------------------------------------

ARTIFACT_COLUMNS = [
    "model_id",
    "format",
    "rank",
    "repo",
    "file",
    "size_bytes",
    "size_source",
    "size_approx_bytes",
    "size_approx_source",
    "official",
    "maker",
    "imatrix",
    "weights",
    "runtime",
    "source",
    "notes",
    "sha256",
    "evidence_date",
]
# The research table's format labels for checkpoints -> our format names.
ARTIFACT_FORMATS = {
    "BF16 (safetensors)": "bf16",
    "MXFP4 (safetensors)": "mxfp4",
}
# Community makers, best known first (official repositories always come first).
MAKER_ORDER = [
    "ggml-org",  # llama.cpp's own organisation (the reference gpt-oss GGUFs)
    "bartowski",  # every quant made with an importance matrix (his cards say so)
    "unsloth",
    "lmstudio-community",
    "RedHatAI",
    "hugging-quants",
    "MaziyarPanahi",
    "QuantFactory",
    "TheBloke",
]
RUNTIMES = {"llama.cpp", "vllm", "transformers"}
MAKER_DOC_SOURCES = ("QwenLM/",)  # maker repositories whose docs name the quantized repos


def artifact_format(r: Row) -> str | None:
    """Our format name for a research row, or None when the file's mix is not one of ours
    (bartowski's _L, unsloth's UD-* dynamic mixes, ternary types)."""
    label = ARTIFACT_FORMATS.get(r["format"], r["format"])
    if label == "FP8" and r["official"] != "true":
        # Red Hat / Neural Magic: "-FP8-dynamic" is per-channel, plain "-FP8" per-tensor static
        label = "FP8-channel" if r["repo"].lower().endswith("-dynamic") else "FP8-tensor"
    try:
        return _format_table()(label).name
    except KeyError:
        return None


def _format_table() -> Callable[[str], Any]:
    """The package's format lookup (pure Python), imported from this checkout."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from advisor.profiles.formats import get_format

    return get_format


def build_artifacts(arch_rows: list[Row]) -> tuple[list[Row], Counter[str]]:
    """One row per downloadable artifact of a catalogue model in one of our formats, ranked
    per (model, format): official first, then quantization-aware-trained weights, then the
    well-known community makers; exact file names before globs; exact sizes first."""
    ids = {r["model_id"] for r in arch_rows}
    dropped: Counter[str] = Counter()
    merged: dict[tuple[str, str, str, str], Row] = {}
    for r in read_csv(SOURCES_DIR / "artifacts_research.csv"):
        if r["model_id"] not in ids:
            dropped["model not in the catalogue"] += 1
            continue
        # The maker's own documentation naming its repositories ("for each size of Qwen2.5 we
        # provide ... AWQ") is a source too, and a model's own repository exists.
        maker_says = r["official"] == "true" and (
            r["repo"] == r["model_id"] or r["source"].startswith(MAKER_DOC_SOURCES)
        )
        if r["confirmed"] != "true" and not maker_says:
            dropped["not confirmed by a source listing it (naming pattern or template)"] += 1
            continue
        fmt = artifact_format(r)
        if fmt is None:
            dropped[f"format {r['format']} is not one of ours"] += 1
            continue
        runtime = r["runtime"].split("/")[0].strip()
        if runtime not in RUNTIMES:
            raise SystemExit(f"artifacts: unknown runtime {r['runtime']!r}")
        key = (r["model_id"], fmt, r["repo"], r["file"].lower())
        row = {
            "model_id": r["model_id"],
            "format": fmt,
            "rank": "",
            "repo": r["repo"],
            "file": r["file"],
            "size_bytes": r["size_bytes"],
            "size_source": r["size_source"],
            "size_approx_bytes": r["size_approx_bytes"],
            "size_approx_source": r["size_approx_source"],
            "official": r["official"],
            "maker": r["maker"],
            "imatrix": {"true": "yes", "false": "n/a"}.get(r["imatrix"], "unknown"),
            "weights": "qat" if "QAT" in r["variant"] else "",
            "runtime": runtime,
            "source": r["source"],
            "notes": join_notes(
                r["notes"],
                "repository named by the maker's docs or the model's own"
                if r["confirmed"] != "true"
                else "",
            ),
            "sha256": r["sha256"],
            "evidence_date": r["evidence_date"],
        }
        old = merged.get(key)
        if old is None:
            merged[key] = row
            continue
        dropped["duplicate of a listed file (sources merged)"] += 1
        if row["source"] not in old["source"]:
            old["source"] = f"{old['source']} || also: {row['source']}"
        for column in ("size_bytes", "size_source", "sha256", "size_approx_bytes"):
            old[column] = old[column] or row[column]
        old["evidence_date"] = max(old["evidence_date"], row["evidence_date"])

    def order(row: Row) -> tuple[object, ...]:
        maker = row["maker"]
        return (
            row["official"] != "true",
            row["weights"] != "qat",
            MAKER_ORDER.index(maker) if maker in MAKER_ORDER else len(MAKER_ORDER),
            "*" in row["file"],
            not row["size_bytes"],
            "".join(chr(0x10FFFF - ord(c)) for c in row["evidence_date"]),  # newest first
            row["repo"],
            row["file"],
        )

    groups: dict[tuple[str, str], list[Row]] = {}
    for row in merged.values():
        groups.setdefault((row["model_id"], row["format"]), []).append(row)
    out: list[Row] = []
    for key in sorted(groups):
        for rank, row in enumerate(sorted(groups[key], key=order)):
            row["rank"] = str(rank)
            out.append(row)
    return out, dropped


# --------------------------------------------------------------------------------------
# I/O and main
# --------------------------------------------------------------------------------------


def read_csv(path: Path) -> list[Row]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def write_csv(path: Path, columns: list[str], rows: Iterable[Row]) -> int:
    count = 0
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n", extrasaction="raise")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--shared",
        type=Path,
        default=REPO_ROOT.parent / "shared",
        help="folder with architectures.csv, training_tokens.csv and published/ "
        "(default: ../shared relative to the repository root)",
    )
    parser.add_argument("--out", type=Path, default=PROFILES_DIR, help="output folder")
    args = parser.parse_args(argv)
    shared: Path = args.shared.resolve()
    out_dir: Path = args.out

    tokens = build_training_tokens(shared)
    arch, changes = build_architectures(shared, {r["model_id"]: r for r in tokens})
    problems = check_architectures(arch, shared)
    published, manifest, pub = build_published(shared, arch)
    problems += check_published(published)
    artifacts, dropped = build_artifacts(arch)

    print(f"architectures.csv: {write_csv(out_dir / 'architectures.csv', ARCH_COLUMNS, arch)} rows")
    n_tok = write_csv(out_dir / "training_tokens.csv", TOKENS_COLUMNS, tokens)
    print(f"training_tokens.csv: {n_tok} rows")
    n_pub = write_csv(out_dir / "published.csv", PUBLISHED_COLUMNS, published)
    print(f"published.csv: {n_pub} rows")
    write_csv(
        out_dir / "published_manifest.csv",
        ["file", "input_rows", "output_rows", "carried_in"],
        manifest,
    )

    n_art = write_csv(out_dir / "artifacts.csv", ARTIFACT_COLUMNS, artifacts)
    print(f"artifacts.csv: {n_art} rows")

    print("\narchitectures by variant:", dict(sorted(Counter(r["variant"] for r in arch).items())))
    print("catalogue table changed these shared rows:")
    for line in changes:
        print(f"  {line}")
    ids = {r["model_id"] for r in arch}
    absent = sorted({r["base_model_id"] for r in arch if r["base_model_id"]} - ids)
    print(f"base models named but not bundled: {', '.join(absent) or 'none'}")

    print("\npublished rows per file (in -> out):")
    for m in manifest:
        print(f"  {m['file']:42s} {m['input_rows']:>5s} -> {m['output_rows']:>5s}")
    with_arch = sum(1 for r in published if r["arch_id"])
    print(f"\narch_id (exact variant) matched: {with_arch} of {len(published)} published rows")
    print("unmapped model names, the variant is not in the catalogue (rows):")
    for name, n in sorted(pub.matcher.unmatched.items()):
        print(f"  {name} ({n})")
    if pub.variant_conflicts:
        print("\nvariant stated by the source differs from the catalogue row:")
        for line, n in sorted(pub.variant_conflicts.items()):
            print(f"  {line} ({n})")
        problems.append(f"{len(pub.variant_conflicts)} variant conflicts")
    pairs = {(r["model_id"], r["format"]) for r in artifacts}
    print(
        f"\nartifacts: {n_art} files for {len({m for m, _ in pairs})} models, {len(pairs)} "
        f"(model, format) pairs; {sum(1 for r in artifacts if r['size_bytes'])} with exact bytes, "
        f"{sum(1 for r in artifacts if r['official'] == 'true')} official"
    )
    print("research rows left out:")
    for reason, n in sorted(dropped.items(), key=lambda kv: -kv[1]):
        print(f"  {reason}: {n}")
    print("\nevaluators:")
    for name, n in sorted(Counter(r["evaluator"] for r in published).items()):
        print(f"  {name}: {n}")
    print("\ntasks:")
    for task, n in sorted(Counter(r["task"] for r in published).items()):
        print(f"  {task}: {n}")
    if problems:
        print("\ncheck problems:")
        for p in problems:
            print(f"  {p}")
        return 1
    print(
        "\nchecks: OK (required fields present; KV bytes/token match the source; variants, "
        "layer patterns and provenance valid)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
