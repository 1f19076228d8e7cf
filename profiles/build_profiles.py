"""Build the bundled profile tables in ``profiles/`` from the curated source material.

Reads ``architectures.csv``, ``training_tokens.csv`` and ``published/*.csv`` from the shared
folder and writes ``architectures.csv``, ``training_tokens.csv``, ``published.csv`` and
``published_manifest.csv`` next to this script. ``hardware.csv`` is hand-curated data and is
not built here. Deterministic: the same inputs always give byte-identical outputs. Run from the repository root::

    python profiles/build_profiles.py --shared ../shared
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from collections import Counter
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path

PROFILES_DIR = Path(__file__).resolve().parent
REPO_ROOT = PROFILES_DIR.parent

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
]

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
            "attention parsed: config sliding_window 2047 treated as full attention (window >= "
            "4k context in practice)"
        ),
    ),
    "microsoft/Phi-3-medium-4k-instruct": (
        "full",
        "",
        "",
        "",
        (
            "attention parsed: config sliding_window 2047 treated as full attention (window >= "
            "4k context in practice)"
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


def build_architectures(shared: Path, tokens: dict[str, Row]) -> list[Row]:
    rows = read_csv(shared / "architectures.csv")
    by_id = {r["model_id"]: r for r in rows}
    out: list[Row] = []
    sources: list[tuple[Row, str, str, str]] = [(r, r["model_id"], r["family"], "") for r in rows]
    for new_id, base_id, family, note in EXTRA_ARCH_ROWS:
        if new_id not in by_id:
            sources.append((by_id[base_id], new_id, family, note))
    for src, model_id, family, extra_note in sources:
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
        out.append(
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
                "notes": join_notes(
                    extra_note,
                    src["notes"],
                    attn_note,
                    dtype_note,
                    expert_note,
                    tok_note,
                ),
            }
        )
    out.extend(qwen1_rows())
    out.sort(key=lambda r: (r["family_key"], int(r["params_total"]), r["model_id"]))
    return out


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
        rows.append(
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
            }
        )
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

# Published model names -> architectures.csv model_id, after normalize_name(). Names whose
# normalized key equals an architecture row's key match automatically; this table holds the
# rest (explicit None = known to have no same-architecture row).
ARCH_ALIASES: dict[str, str | None] = {
    "qwen-1.8b": "Qwen/Qwen-1_8B-Chat",
    "qwen-7b": "Qwen/Qwen-7B-Chat",
    "qwen-14b": "Qwen/Qwen-14B-Chat",
    "qwen-72b": "Qwen/Qwen-72B-Chat",
    "l2-7b": "meta-llama/Llama-2-7b-hf",
    "l3-8b": "meta-llama/Meta-Llama-3-8B",
    "llama-2-7b": "meta-llama/Llama-2-7b-hf",
    "llama-2-13b": "meta-llama/Llama-2-13b-hf",
    "llama-2-70b": "meta-llama/Llama-2-70b-hf",
    "bloom-175b": "bigscience/bloom",
    "bloom-176b": "bigscience/bloom",
    # qllm-eval names; the base Mistral-7B then was v0.1. The instruct version is not stated;
    # v0.1 and v0.2 instruct share tensor shapes with v0.1.
    "mistral-7b": "mistralai/Mistral-7B-v0.1",
    "mixtral-8x7b": "mistralai/Mixtral-8x7B-v0.1",
    # DeepSeek distills of Llama: same architecture as their bases.
    "deepseek-r1-distill-llama-8b": "meta-llama/Llama-3.1-8B",
    "deepseek-r1-distill-llama-70b": "meta-llama/Llama-3.3-70B-Instruct",
    # Phi-3 128k variants: same tensor shapes as the 4k rows (longrope; max_context differs).
    "phi-3-mini-128k": "microsoft/Phi-3-mini-4k-instruct",
    "phi-3-medium-128k": "microsoft/Phi-3-medium-4k-instruct",
    # Known without a same-architecture row.
    "mixtral-8x22b-v0.1": None,  # base v0.1 vocab not checked against the Instruct row
    "phi-3-small-8k": None,
    "phi-3-small-128k": None,
    "mistral-large-2407": None,
}
VARIANT_TOKENS = {"instruct", "chat", "it", "pt", "hf", "base", "deduped"}


def normalize_name(name: str) -> str:
    """Reduce a model name to a family-size key: no org, no variant suffixes, '-' separators."""
    key = name.strip().lower().split("/")[-1]
    key = key.replace("(base)", "").strip().replace("_", "-").replace(" ", "-")
    key = re.sub(r"^meta-llama", "llama", key)
    key = re.sub(r"^llama2", "llama-2", key)
    key = re.sub(r"^bloomz", "bloom", key)  # BLOOMZ = fine-tuned BLOOM, same architecture
    key = re.sub(r"(?<=-)(\d+)b(\d+)$", r"\1.\2b", key)  # OPT_1B3 -> opt-1.3b, bloom-7b1
    parts = [p for p in key.split("-") if p and p not in VARIANT_TOKENS]
    return "-".join(parts)


class ArchMatcher:
    """Map published model names to architecture rows; records what it could not match."""

    def __init__(self, arch_rows: list[Row]) -> None:
        self.exact: dict[str, str] = {}
        self.by_key: dict[str, str] = {}
        # Base rows first so that e.g. SmolLM2-135M wins the shared key over its -Instruct copy.
        for row in sorted(arch_rows, key=lambda r: (len(r["model_id"]), r["model_id"])):
            mid = row["model_id"]
            self.exact[mid.lower()] = mid
            self.exact[mid.split("/")[-1].lower()] = mid
            self.by_key.setdefault(normalize_name(mid), mid)
        self.unmatched: Counter[str] = Counter()

    def match(self, name: str) -> str:
        low = name.strip().lower()
        if low in self.exact:
            return self.exact[low]
        key = normalize_name(name)
        found = ARCH_ALIASES[key] if key in ARCH_ALIASES else self.by_key.get(key)
        if not found:
            self.unmatched[name] += 1
            return ""
        return found


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
    low = name.lower()
    if "(base)" in low:
        return "base"
    if low.startswith("bloomz"):
        return "instruct"  # BLOOMZ = BLOOM fine-tuned on xP3 prompts
    if re.search(r"(^|[-_ ])(instruct|it)($|[-_ ])", low):
        return "instruct"
    if re.search(r"(^|[-_ ])chat($|[-_ ])", low):
        return "chat"
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


class Published:
    """Accumulates long-format rows plus the per-file manifest."""

    def __init__(self, matcher: ArchMatcher, sources: dict[str, str]) -> None:
        self.matcher = matcher
        self.sources = sources
        self.rows: list[Row] = []
        self.manifest: list[Row] = []

    def add(self, file: str, row_no: int, column: str, **fields: str) -> None:
        model_id = fields["model_id"]
        row = {c: "" for c in PUBLISHED_COLUMNS}
        row.update(
            id=f"{Path(file).stem}:{row_no}:{column}",
            arch_id=self.matcher.match(model_id),
            model=display_name(model_id),
            variant=variant_of(model_id),
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


def build_published(
    shared: Path, arch_rows: list[Row]
) -> tuple[list[Row], list[Row], Counter[str]]:
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
    }
    files = sorted(p.name for p in pub_dir.glob("*.csv"))
    missing = set(files) - set(handlers)
    if missing:
        raise SystemExit(f"no handler for published files: {sorted(missing)}")
    for name in files:
        rows = read_csv(pub_dir / name)
        before = len(out.rows)
        for i, row in enumerate(rows, start=1):
            handlers[name](out, name, i, row)
        produced = len(out.rows) - before
        rows_out = {r["id"].split(":")[1] for r in out.rows[before:]}
        if len(rows_out) != len(rows):
            raise SystemExit(f"{name}: {len(rows)} input rows but {len(rows_out)} carried")
        out.manifest.append(
            {"file": name, "input_rows": str(len(rows)), "output_rows": str(produced)}
        )
    out.rows.sort(key=lambda r: (r["file"], int(r["id"].split(":")[1]), r["id"]))
    return out.rows, out.manifest, out.matcher.unmatched


def _scores(out: Published, file: str, i: int, r: Row) -> None:
    shots, shots_note = parse_shots(r["shots"])
    metric_raw = r["metric"].strip()
    notes = [f"metric_raw={metric_raw}", shots_note, f"confidence={r['confidence']}"]
    if r.get("evaluator"):
        notes.append(f"evaluator={r['evaluator']}")
    task_raw = r["task"].strip()
    out.add(
        file,
        i,
        "score",
        model_id=r["model_id"],
        family=r["family"],
        params_b=r["params_B"],
        variant=r["variant"],
        format="BF16/FP16",
        method="none",
        bits="16",
        task=TASKS.get(task_raw.lower(), slug(task_raw)),
        task_raw=task_raw,
        metric=METRICS.get(metric_raw, slug(metric_raw)),
        shots=shots,
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
    for col, metric, unit, note in spec:
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
            value=r[col],
            unit=unit,
            table="LLaMA 2 vs. LLaMA 3 Quantization comparison",
            notes=note,
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
            notes=note,
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
    arch = build_architectures(shared, {r["model_id"]: r for r in tokens})
    problems = check_architectures(arch, shared)
    published, manifest, unmatched = build_published(shared, arch)

    print(f"architectures.csv: {write_csv(out_dir / 'architectures.csv', ARCH_COLUMNS, arch)} rows")
    n_tok = write_csv(out_dir / "training_tokens.csv", TOKENS_COLUMNS, tokens)
    print(f"training_tokens.csv: {n_tok} rows")
    n_pub = write_csv(out_dir / "published.csv", PUBLISHED_COLUMNS, published)
    print(f"published.csv: {n_pub} rows")
    write_csv(
        out_dir / "published_manifest.csv",
        ["file", "input_rows", "output_rows"],
        manifest,
    )

    print("\npublished rows per file (in -> out):")
    for m in manifest:
        print(f"  {m['file']:42s} {m['input_rows']:>5s} -> {m['output_rows']:>5s}")
    with_arch = sum(1 for r in published if r["arch_id"])
    print(f"\narch_id matched: {with_arch} of {len(published)} published rows")
    print("unmatched model names (rows):")
    for name, n in sorted(unmatched.items()):
        print(f"  {name} ({n})")
    print("\ntasks:")
    for task, n in sorted(Counter(r["task"] for r in published).items()):
        print(f"  {task}: {n}")
    if problems:
        print("\narchitecture check problems:")
        for p in problems:
            print(f"  {p}")
        return 1
    print("\narchitecture checks: OK (required fields present; KV bytes/token match the source)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
