"""Published scores, memory and speed figures (``profiles/published.csv``), each row with
its source."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from advisor.errors import ProfileError
from advisor.profiles._csv import (
    check_range,
    load_rows,
    parse_float,
    parse_int,
    profiles_dir,
    read_rows,
    required,
)


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
    # Comparable evidence: who ran it, with which harness and prompting (PROMPT_STYLES), and
    # for quantized weights which tool made them with what calibration (CALIBRATIONS).
    evaluator: str = ""
    harness: str = ""
    prompt_style: str = ""
    quant_tool: str = ""
    calibration: str = ""


SCORE_UNITS = {"percent", "ppl"}
# How the model was prompted: completion-style (the base-model protocol, any variant), a
# post-trained model given k > 0 examples, zero-shot chat, chain of thought, a reasoning
# model's thinking mode, an agent scaffold; "n/a" for perplexity, size, speed and memory rows.
PROMPT_STYLES = {
    "base few-shot", "few-shot", "chat", "CoT", "thinking", "agentic", "unknown", "n/a",
}  # fmt: skip
# What a quantizer used beyond plain rounding: an importance matrix (llama.cpp), optimized
# scales (auto-round's RTN), AutoRound, GPTQ/AWQ calibration, an automatic mix; "none" for
# plain round-to-nearest; "" when the source does not say.
CALIBRATIONS = {
    "", "none", "imatrix", "optimized-scales", "autoround", "autoscheme", "gptq", "awq",
}  # fmt: skip
_PUBLISHED_COLUMNS = {
    "id", "model_id", "arch_id", "model", "family", "params_b", "variant", "format", "method",
    "bits", "bits_per_weight", "group_size", "task", "task_raw", "metric", "shots", "value",
    "unit", "context_tokens", "generated_tokens", "source", "table", "file", "notes",
    "evaluator", "harness", "prompt_style", "quant_tool", "calibration",
}  # fmt: skip


def _parse_published(row: dict[str, str], where: str) -> PublishedPoint:
    point = PublishedPoint(
        id=required(row["id"], "id", where),
        model_id=row["model_id"],
        arch_id=row["arch_id"].strip() or None,
        model=row["model"],
        family=row["family"],
        params_b=parse_float(row["params_b"], "params_b", where),
        variant=row["variant"],
        format=required(row["format"].strip(), "format", where),
        method=row["method"],
        bits=parse_float(row["bits"], "bits", where),
        bits_per_weight=parse_float(row["bits_per_weight"], "bits_per_weight", where),
        group_size=parse_int(row["group_size"], "group_size", where),
        task=required(row["task"].strip(), "task", where),
        task_raw=row["task_raw"],
        metric=row["metric"],
        shots=row["shots"],
        value=required(parse_float(row["value"], "value", where), "value", where),
        unit=row["unit"],
        context_tokens=parse_int(row["context_tokens"], "context_tokens", where),
        generated_tokens=parse_int(row["generated_tokens"], "generated_tokens", where),
        source=required(row["source"].strip(), "source", where),
        table=row["table"],
        file=row["file"],
        notes=row["notes"],
        evaluator=row["evaluator"],
        harness=row["harness"],
        prompt_style=_vocabulary(row["prompt_style"], PROMPT_STYLES, "prompt_style", where),
        quant_tool=row["quant_tool"],
        calibration=_vocabulary(row["calibration"], CALIBRATIONS, "calibration", where),
    )
    _check_values(point, where)
    return point


# Value bounds by unit (parse_float already refuses nan, inf and 1e400). Percentages may
# be changes (mean_delta_p), so -100..100; perplexities are positive unless a difference.
_VALUE_BOUNDS: dict[str, tuple[float | None, float | None]] = {
    "percent": (-100.0, 100.0),
    "ppl": (0.0, None),
    "nats": (0.0, None),
    "tok/s": (0.0, None),
    "ms": (0.0, None),
    "GB": (0.0, None),
    "GiB": (0.0, None),
    "bits": (0.0, 64.0),
    "ratio": (0.0, None),
    "score_1_10": (0.0, 10.0),
}


def _check_values(point: PublishedPoint, where: str) -> None:
    low, high = _VALUE_BOUNDS.get(point.unit, (None, None))
    if "delta" in point.metric and point.unit == "ppl":
        low = None  # a difference of perplexities may be negative
    check_range(point.value, "value", where, low, high)
    for column, (low, high) in {"bits": (0.5, 64.0), "bits_per_weight": (0.5, 64.0)}.items():
        value = getattr(point, column)
        if value is not None:
            check_range(value, column, where, low, high)
    for column in ("group_size", "context_tokens", "generated_tokens"):
        value = getattr(point, column)
        if value is not None:
            check_range(value, column, where, 0, 2**31)


def _vocabulary(value: str, allowed: set[str], column: str, where: str) -> str:
    if value not in allowed:
        raise ProfileError(f"{where}: column {column!r} must be one of {sorted(allowed)}")
    return value


@cache
def published() -> tuple[PublishedPoint, ...]:
    """Every published point, each row validated."""
    return tuple(load_rows(profiles_dir() / "published.csv", _PUBLISHED_COLUMNS, _parse_published))


@cache
def published_score_rows() -> dict[tuple[str, str], list[tuple[str, dict[str, str]]]]:
    """Raw rows of the published scores (percent or perplexity) of bundled architectures,
    by ``(arch_id, task)``. Rows are parsed and validated with :func:`parse_published_row`
    when used, which keeps `advisor recommend` fast; :func:`published` validates them all."""
    index: dict[tuple[str, str], list[tuple[str, dict[str, str]]]] = {}
    for where, row in read_rows(profiles_dir() / "published.csv", _PUBLISHED_COLUMNS):
        if row["arch_id"] and row["unit"] in SCORE_UNITS:
            index.setdefault((row["arch_id"], row["task"]), []).append((where, row))
    return index


def parse_published_row(where: str, row: dict[str, str]) -> PublishedPoint:
    return _parse_published(row, where)
