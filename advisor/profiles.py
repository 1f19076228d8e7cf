"""Bundled profiles: architectures, published measurements and hardware, validated on load.

The data files live in ``profiles/`` at the top of a checkout and are installed with the
package (see ``pyproject.toml``), so both a checkout and a wheel find them. Set
``ADVISOR_PROFILES`` to use another folder.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TypeVar

from advisor.errors import ProfileError

T = TypeVar("T")


def profiles_dir() -> Path:
    """The folder holding the bundled profile files."""
    override = os.environ.get("ADVISOR_PROFILES")
    if override:
        return Path(override)
    here = Path(__file__).resolve().parent
    for candidate in (here / "_profiles", here.parent / "profiles"):
        if (candidate / "architectures.csv").exists():
            return candidate
    raise ProfileError(
        f"bundled profiles not found next to {here}: reinstall advisor or set ADVISOR_PROFILES"
    )


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


@dataclass(frozen=True)
class PublishedPoint:
    """One published figure, kept with its source."""

    id: str
    model_id: str
    arch_id: str | None
    model: str
    family: str
    params_b: float | None
    variant: str
    format: str
    method: str
    bits: float | None
    bits_per_weight: float | None
    group_size: int | None
    task: str
    task_raw: str
    metric: str
    shots: str
    value: float
    unit: str
    context_tokens: int | None
    generated_tokens: int | None
    source: str
    table: str
    file: str
    notes: str


@dataclass(frozen=True)
class HardwareProfile:
    id: str
    name: str
    kind: str  # "gpu", "unified", "cpu"
    memory_bytes: int
    memory_label: str
    bandwidth_gb_s: float | None
    source: str


def _int(value: str, column: str, where: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    try:
        return int(float(value)) if "e" in value.lower() else int(value)
    except ValueError:
        raise ProfileError(
            f"{where}: column {column!r} should be an integer, got {value!r}"
        ) from None


def _float(value: str, column: str, where: str) -> float | None:
    value = value.strip()
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        raise ProfileError(
            f"{where}: column {column!r} should be a number, got {value!r}"
        ) from None


def _required(value: T | None, column: str, where: str) -> T:
    if value is None or value == "":
        raise ProfileError(f"{where}: column {column!r} is empty")
    return value


def _read_rows(path: Path, required_columns: set[str]) -> Iterator[tuple[str, dict[str, str]]]:
    if not path.exists():
        raise ProfileError(f"profile file missing: {path}")
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader, [])
            missing = required_columns - set(header)
            if missing:
                raise ProfileError(f"{path.name}: missing columns {', '.join(sorted(missing))}")
            width = len(header)
            for line_no, values in enumerate(reader, start=2):
                if len(values) != width:
                    raise ProfileError(f"{path.name}:{line_no}: wrong number of fields")
                yield f"{path.name}:{line_no}", dict(zip(header, values, strict=True))
    except UnicodeDecodeError as exc:
        raise ProfileError(f"{path.name}: not UTF-8 text ({exc.reason})") from None
    except csv.Error as exc:
        raise ProfileError(f"{path.name}: malformed CSV ({exc})") from None


def _load(path: Path, columns: set[str], parse: Callable[[dict[str, str], str], T]) -> list[T]:
    return [parse(row, where) for where, row in _read_rows(path, columns)]


_ARCH_COLUMNS = {
    "model_id", "name", "family", "family_key", "params_total", "params_active", "n_layers",
    "hidden_size", "intermediate_size", "n_heads", "n_kv_heads", "head_dim", "v_head_dim",
    "vocab_size", "tied_embeddings", "max_context", "attention", "sliding_window",
    "global_every", "first_global_layer", "kv_lora_rank", "qk_rope_head_dim", "n_experts",
    "experts_per_token", "dtype", "training_tokens", "source", "confidence", "notes",
}  # fmt: skip
ATTENTION_KINDS = {"full", "swa", "hybrid", "mla"}


def _parse_arch(row: dict[str, str], where: str) -> Architecture:
    def req_int(col: str) -> int:
        return _required(_int(row[col], col, where), col, where)

    attention = row["attention"].strip()
    if attention not in ATTENTION_KINDS:
        raise ProfileError(f"{where}: attention must be one of {sorted(ATTENTION_KINDS)}")
    tied = row["tied_embeddings"].strip().lower()
    if tied not in {"true", "false"}:
        raise ProfileError(f"{where}: tied_embeddings must be true or false, got {tied!r}")
    arch = Architecture(
        model_id=_required(row["model_id"].strip(), "model_id", where),
        name=_required(row["name"].strip(), "name", where),
        family=row["family"].strip(),
        family_key=_required(row["family_key"].strip(), "family_key", where),
        params_total=req_int("params_total"),
        params_active=_int(row["params_active"], "params_active", where),
        n_layers=req_int("n_layers"),
        hidden_size=req_int("hidden_size"),
        intermediate_size=_int(row["intermediate_size"], "intermediate_size", where),
        n_heads=req_int("n_heads"),
        n_kv_heads=req_int("n_kv_heads"),
        head_dim=req_int("head_dim"),
        v_head_dim=_int(row["v_head_dim"], "v_head_dim", where),
        vocab_size=req_int("vocab_size"),
        tied_embeddings=tied == "true",
        max_context=_int(row["max_context"], "max_context", where),
        attention=attention,
        sliding_window=_int(row["sliding_window"], "sliding_window", where),
        global_every=_int(row["global_every"], "global_every", where),
        first_global_layer=_int(row["first_global_layer"], "first_global_layer", where),
        kv_lora_rank=_int(row["kv_lora_rank"], "kv_lora_rank", where),
        qk_rope_head_dim=_int(row["qk_rope_head_dim"], "qk_rope_head_dim", where),
        n_experts=_int(row["n_experts"], "n_experts", where),
        experts_per_token=_int(row["experts_per_token"], "experts_per_token", where),
        dtype=row["dtype"].strip() or None,
        training_tokens=_int(row["training_tokens"], "training_tokens", where),
        source=row["source"],
        confidence=row["confidence"],
        notes=row["notes"],
    )
    if arch.attention in {"swa", "hybrid"} and not arch.sliding_window:
        raise ProfileError(f"{where}: attention {arch.attention!r} needs sliding_window")
    if arch.attention == "hybrid" and not arch.global_every:
        raise ProfileError(f"{where}: attention 'hybrid' needs global_every")
    if arch.attention == "mla" and not (arch.kv_lora_rank and arch.qk_rope_head_dim):
        raise ProfileError(f"{where}: attention 'mla' needs kv_lora_rank and qk_rope_head_dim")
    if arch.body_params <= 0:
        raise ProfileError(f"{where}: params_total is smaller than the embeddings")
    return arch


SCORE_UNITS = {"percent", "ppl"}
_PUBLISHED_COLUMNS = {
    "id", "model_id", "arch_id", "model", "family", "params_b", "variant", "format", "method",
    "bits", "bits_per_weight", "group_size", "task", "task_raw", "metric", "shots", "value",
    "unit", "context_tokens", "generated_tokens", "source", "table", "file", "notes",
}  # fmt: skip


def _parse_published(row: dict[str, str], where: str) -> PublishedPoint:
    return PublishedPoint(
        id=_required(row["id"], "id", where),
        model_id=row["model_id"],
        arch_id=row["arch_id"].strip() or None,
        model=row["model"],
        family=row["family"],
        params_b=_float(row["params_b"], "params_b", where),
        variant=row["variant"],
        format=_required(row["format"].strip(), "format", where),
        method=row["method"],
        bits=_float(row["bits"], "bits", where),
        bits_per_weight=_float(row["bits_per_weight"], "bits_per_weight", where),
        group_size=_int(row["group_size"], "group_size", where),
        task=_required(row["task"].strip(), "task", where),
        task_raw=row["task_raw"],
        metric=row["metric"],
        shots=row["shots"],
        value=_required(_float(row["value"], "value", where), "value", where),
        unit=row["unit"],
        context_tokens=_int(row["context_tokens"], "context_tokens", where),
        generated_tokens=_int(row["generated_tokens"], "generated_tokens", where),
        source=_required(row["source"].strip(), "source", where),
        table=row["table"],
        file=row["file"],
        notes=row["notes"],
    )


_HARDWARE_COLUMNS = {
    "id",
    "name",
    "kind",
    "memory_bytes",
    "memory_label",
    "bandwidth_gb_s",
    "source",
}


def _parse_hardware(row: dict[str, str], where: str) -> HardwareProfile:
    kind = row["kind"].strip()
    if kind not in {"gpu", "unified", "cpu"}:
        raise ProfileError(f"{where}: kind must be gpu, unified or cpu, got {kind!r}")
    return HardwareProfile(
        id=row["id"],
        name=row["name"],
        kind=kind,
        memory_bytes=_required(
            _int(row["memory_bytes"], "memory_bytes", where), "memory_bytes", where
        ),
        memory_label=row["memory_label"],
        bandwidth_gb_s=_float(row["bandwidth_gb_s"], "bandwidth_gb_s", where),
        source=row["source"],
    )


@cache
def architectures() -> dict[str, Architecture]:
    """Architectures by model_id."""
    archs = _load(profiles_dir() / "architectures.csv", _ARCH_COLUMNS, _parse_arch)
    by_id: dict[str, Architecture] = {}
    for arch in archs:
        if arch.model_id in by_id:
            raise ProfileError(f"architectures.csv: duplicate model_id {arch.model_id!r}")
        by_id[arch.model_id] = arch
    return by_id


@cache
def published() -> tuple[PublishedPoint, ...]:
    """Every published point, each row validated."""
    return tuple(_load(profiles_dir() / "published.csv", _PUBLISHED_COLUMNS, _parse_published))


@cache
def published_score_rows() -> dict[tuple[str, str], list[tuple[str, dict[str, str]]]]:
    """Raw rows of the published scores (percent or perplexity) of bundled architectures,
    by ``(arch_id, task)``. Rows are parsed and validated with :func:`parse_published_row`
    when used, which keeps `advisor recommend` fast; :func:`published` validates them all."""
    index: dict[tuple[str, str], list[tuple[str, dict[str, str]]]] = {}
    for where, row in _read_rows(profiles_dir() / "published.csv", _PUBLISHED_COLUMNS):
        if row["arch_id"] and row["unit"] in SCORE_UNITS:
            index.setdefault((row["arch_id"], row["task"]), []).append((where, row))
    return index


def parse_published_row(where: str, row: dict[str, str]) -> PublishedPoint:
    return _parse_published(row, where)


@cache
def hardware_profiles() -> dict[str, HardwareProfile]:
    rows = _load(profiles_dir() / "hardware.csv", _HARDWARE_COLUMNS, _parse_hardware)
    return {h.id: h for h in rows}


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
