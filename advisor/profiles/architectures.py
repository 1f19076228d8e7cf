"""Architecture facts of the bundled models (``profiles/architectures.csv``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from advisor.errors import ProfileError
from advisor.profiles._csv import at, check_range, load_rows, parse_int, profiles_dir, required

_INSTRUCT_MARKERS = re.compile(r"(instruct|chat|-it\b|-it-|reasoning|thinking|distill)", re.I)


@dataclass(frozen=True)
class Architecture:
    """Config facts of one model, as needed by the memory model."""

    model_id: str
    name: str
    family: str
    family_key: str
    params_total: int
    params_active: int | None
    n_layers: int
    hidden_size: int
    intermediate_size: int | None
    n_heads: int
    n_kv_heads: int
    head_dim: int
    v_head_dim: int | None
    vocab_size: int
    tied_embeddings: bool
    max_context: int | None
    attention: str  # "full", "swa", "hybrid", "mla"
    sliding_window: int | None
    global_every: int | None
    first_global_layer: int | None
    kv_lora_rank: int | None
    qk_rope_head_dim: int | None
    n_experts: int | None
    experts_per_token: int | None
    dtype: str | None
    training_tokens: int | None
    source: str
    confidence: str
    notes: str
    # Added for today's models; optional columns (empty = not applicable / unknown).
    variant: str = ""  # "base", "instruct" or "reasoning": evidence never crosses it
    base_model_id: str | None = None  # the base this variant was trained from
    layer_types: str | None = None  # repeating per-layer pattern, see LAYER_KINDS
    recurrent_state_elements: int | None = None  # per linear/SSM layer and sequence
    global_n_kv_heads: int | None = None  # full-attention layers, when they differ
    global_head_dim: int | None = None
    expert_intermediate_size: int | None = None
    n_shared_experts: int | None = None
    n_dense_layers: int | None = None  # leading dense FFN layers of a MoE model
    # The format the official weights ship in when it is not the 16-bit dtype: "MXFP4"
    # (gpt-oss: experts MXFP4, the rest BF16), "FP8" (DeepSeek-V3, block 128x128 scales).
    shipped_format: str = ""
    release_date: str = ""
    licence: str = ""

    @property
    def layer_kinds(self) -> tuple[str, ...]:
        """The kind of every layer: ``layer_types`` repeated over ``n_layers`` when given,
        else derived from ``attention`` (Gemma-style ``hybrid``: a full layer every
        ``global_every`` layers from ``first_global_layer``)."""
        if self.layer_types:
            pattern = self.layer_types.split()
            return tuple(pattern[i % len(pattern)] for i in range(self.n_layers))
        if self.attention == "swa":
            return ("sliding",) * self.n_layers
        if self.attention == "hybrid":
            every = self.global_every or 1
            first = self.first_global_layer if self.first_global_layer is not None else every - 1
            return tuple(
                "full" if i >= first and (i - first) % every == 0 else "sliding"
                for i in range(self.n_layers)
            )
        return ("full",) * self.n_layers

    @property
    def deploy_variant(self) -> str:
        """ "base" or "instruct" (chat, it, reasoning and distilled models are deployed the
        same way): the ``variant`` column, else read from the model id."""
        if self.variant:
            return "base" if self.variant == "base" else "instruct"
        return "instruct" if _INSTRUCT_MARKERS.search(self.model_id) else "base"

    @property
    def embed_params(self) -> int:
        return self.vocab_size * self.hidden_size

    @property
    def output_params(self) -> int:
        """Parameters of a separate output head (0 when tied to the embedding)."""
        return 0 if self.tied_embeddings else self.vocab_size * self.hidden_size

    @property
    def body_params(self) -> int:
        return self.params_total - self.embed_params - self.output_params

    @property
    def is_moe(self) -> bool:
        return bool(self.params_active)


_ARCH_COLUMNS = {
    "model_id", "name", "family", "family_key", "params_total", "params_active", "n_layers",
    "hidden_size", "intermediate_size", "n_heads", "n_kv_heads", "head_dim", "v_head_dim",
    "vocab_size", "tied_embeddings", "max_context", "attention", "sliding_window",
    "global_every", "first_global_layer", "kv_lora_rank", "qk_rope_head_dim", "n_experts",
    "experts_per_token", "dtype", "training_tokens", "source", "confidence", "notes",
}  # fmt: skip
ATTENTION_KINDS = {"full", "swa", "hybrid", "mla", "linear_hybrid", "ssm_hybrid"}
# Tokens of ``layer_types``: full attention, sliding-window, chunked (Llama 4's local
# layers), linear attention (Gated DeltaNet), state-space (Mamba), or none (no mixer).
LAYER_KINDS = {"full", "sliding", "chunked", "linear", "mamba", "none"}
# Base (pretrained only), instruct (post-trained chat, incl. hybrid-thinking models such as
# Qwen3), reasoning (thinking-only or reasoning fine-tunes: R1 distills, gpt-oss, Phi-4-reasoning).
VARIANTS = {"base", "instruct", "reasoning"}


def _parse_arch(row: dict[str, str], where: str) -> Architecture:
    def req_int(col: str) -> int:
        return required(parse_int(row[col], col, where), col, where)

    def opt_int(col: str) -> int | None:
        return parse_int(row.get(col, ""), col, where)

    attention = row["attention"].strip()
    if attention not in ATTENTION_KINDS:
        raise ProfileError(f"{where}: attention must be one of {sorted(ATTENTION_KINDS)}")
    tied = row["tied_embeddings"].strip().lower()
    if tied not in {"true", "false"}:
        raise ProfileError(f"{where}: tied_embeddings must be true or false, got {tied!r}")
    arch = Architecture(
        model_id=required(row["model_id"].strip(), "model_id", where),
        name=required(row["name"].strip(), "name", where),
        family=row["family"].strip(),
        family_key=required(row["family_key"].strip(), "family_key", where),
        params_total=req_int("params_total"),
        params_active=parse_int(row["params_active"], "params_active", where),
        n_layers=req_int("n_layers"),
        hidden_size=req_int("hidden_size"),
        intermediate_size=parse_int(row["intermediate_size"], "intermediate_size", where),
        n_heads=req_int("n_heads"),
        n_kv_heads=req_int("n_kv_heads"),
        head_dim=req_int("head_dim"),
        v_head_dim=parse_int(row["v_head_dim"], "v_head_dim", where),
        vocab_size=req_int("vocab_size"),
        tied_embeddings=tied == "true",
        max_context=parse_int(row["max_context"], "max_context", where),
        attention=attention,
        sliding_window=parse_int(row["sliding_window"], "sliding_window", where),
        global_every=parse_int(row["global_every"], "global_every", where),
        first_global_layer=parse_int(row["first_global_layer"], "first_global_layer", where),
        kv_lora_rank=parse_int(row["kv_lora_rank"], "kv_lora_rank", where),
        qk_rope_head_dim=parse_int(row["qk_rope_head_dim"], "qk_rope_head_dim", where),
        n_experts=parse_int(row["n_experts"], "n_experts", where),
        experts_per_token=parse_int(row["experts_per_token"], "experts_per_token", where),
        dtype=row["dtype"].strip() or None,
        training_tokens=parse_int(row["training_tokens"], "training_tokens", where),
        source=row["source"],
        confidence=row["confidence"],
        notes=row["notes"],
        variant=row.get("variant", "").strip(),
        base_model_id=row.get("base_model_id", "").strip() or None,
        layer_types=row.get("layer_types", "").strip() or None,
        recurrent_state_elements=opt_int("recurrent_state_elements"),
        global_n_kv_heads=opt_int("global_n_kv_heads"),
        global_head_dim=opt_int("global_head_dim"),
        expert_intermediate_size=opt_int("expert_intermediate_size"),
        n_shared_experts=opt_int("n_shared_experts"),
        n_dense_layers=opt_int("n_dense_layers"),
        shipped_format=row.get("shipped_format", "").strip(),
        release_date=row.get("release_date", "").strip(),
        licence=row.get("licence", "").strip(),
    )
    _check_values(arch, where)
    if arch.variant and arch.variant not in VARIANTS:
        raise ProfileError(f"{where}: variant must be one of {sorted(VARIANTS)}")
    if arch.layer_types and not set(arch.layer_types.split()) <= LAYER_KINDS:
        raise ProfileError(f"{where}: layer_types tokens must be among {sorted(LAYER_KINDS)}")
    if arch.attention in {"swa", "hybrid"} and not arch.sliding_window:
        raise ProfileError(f"{where}: attention {arch.attention!r} needs sliding_window")
    if arch.attention == "hybrid" and not arch.global_every:
        raise ProfileError(f"{where}: attention 'hybrid' needs global_every")
    if arch.attention == "mla" and not (arch.kv_lora_rank and arch.qk_rope_head_dim):
        raise ProfileError(f"{where}: attention 'mla' needs kv_lora_rank and qk_rope_head_dim")
    if arch.body_params <= 0:
        raise ProfileError(f"{where}: params_total is smaller than the embeddings")
    return arch


# Sane bounds of every count, far outside any real model, so a bad row (a negative layer
# count, an extra digit, 1e400) is one line naming file:line:column, not negative memory.
_INT_BOUNDS: dict[str, tuple[int, int]] = {
    "params_total": (10_000, 10**14),
    "params_active": (1, 10**14),
    "n_layers": (1, 10_000),
    "hidden_size": (1, 2**20),
    "intermediate_size": (1, 2**22),
    "n_heads": (1, 65_536),
    "n_kv_heads": (1, 65_536),
    "head_dim": (1, 65_536),
    "v_head_dim": (1, 65_536),
    "vocab_size": (1, 2**24),
    "max_context": (1, 2**31),
    "sliding_window": (1, 2**31),
    "global_every": (1, 10_000),
    "first_global_layer": (0, 10_000),
    "kv_lora_rank": (1, 65_536),
    "qk_rope_head_dim": (1, 65_536),
    "n_experts": (1, 65_536),
    "experts_per_token": (1, 65_536),
    "training_tokens": (1, 10**16),
    "recurrent_state_elements": (1, 2**40),
    "global_n_kv_heads": (1, 65_536),
    "global_head_dim": (1, 65_536),
    "expert_intermediate_size": (1, 2**22),
    "n_shared_experts": (0, 65_536),
    "n_dense_layers": (0, 10_000),
}


def _check_values(arch: Architecture, where: str) -> None:
    """Every count in range, and the counts consistent with one another."""
    for column, (low, high) in _INT_BOUNDS.items():
        value = getattr(arch, column)
        if value is not None:
            check_range(value, column, where, low, high)

    def inconsistent(column: str, what: str) -> ProfileError:
        return ProfileError(f"{at(where, column)}: {what}")

    if arch.n_kv_heads > arch.n_heads or arch.n_heads % arch.n_kv_heads:
        raise inconsistent(
            "n_kv_heads",
            f"n_heads {arch.n_heads} must be a multiple of n_kv_heads {arch.n_kv_heads}",
        )
    if arch.params_active is not None and arch.params_active > arch.params_total:
        raise inconsistent("params_active", "params_active is larger than params_total")
    if arch.experts_per_token is not None and arch.experts_per_token > (arch.n_experts or 0):
        raise inconsistent("experts_per_token", "experts_per_token is more than n_experts")
    if arch.global_every is not None and arch.global_every > arch.n_layers:
        raise inconsistent("global_every", "global_every is more than n_layers")
    if arch.first_global_layer is not None and arch.first_global_layer >= arch.n_layers:
        raise inconsistent("first_global_layer", "first_global_layer is not below n_layers")
    if arch.n_dense_layers is not None and arch.n_dense_layers > arch.n_layers:
        raise inconsistent("n_dense_layers", "n_dense_layers is more than n_layers")


@cache
def architectures() -> dict[str, Architecture]:
    """Architectures by model_id."""
    archs = load_rows(profiles_dir() / "architectures.csv", _ARCH_COLUMNS, _parse_arch)
    by_id: dict[str, Architecture] = {}
    for arch in archs:
        if arch.model_id in by_id:
            raise ProfileError(f"architectures.csv: duplicate model_id {arch.model_id!r}")
        by_id[arch.model_id] = arch
    return by_id


def find_architecture(name: str) -> Architecture:
    """Look an architecture up by model_id, or by its short name, case-insensitively."""
    archs = architectures()
    if name in archs:
        return archs[name]
    lowered = name.lower()
    for arch in archs.values():
        if lowered in {arch.model_id.lower(), arch.name.lower()}:
            return arch
    raise ProfileError(f"unknown model {name!r}: see `advisor profiles` for the bundled ones")
