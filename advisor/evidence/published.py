"""Published evidence: the bundled published scores that match a config (exact model,
matching format, task), each with its source and table."""

from __future__ import annotations

import math
from functools import cache

from advisor import profiles
from advisor.evidence.metrics import metric_info
from advisor.evidence.model import Evidence
from advisor.measure.tasks import task_catalog
from advisor.profiles import Architecture, PublishedPoint
from advisor.profiles.formats import Format, is_sixteen_bit

# Qwen (1.0)'s README calls its GPTQ checkpoints "Int8"/"Int4" (published.csv notes).
PUBLISHED_FORMAT_ALIASES = {"Int8": "GPTQ-Int8", "Int4": "GPTQ-Int4"}


def format_matches_published(fmt: Format, point: PublishedPoint) -> bool:
    """Whether a published row's weights are the config's format."""
    if is_sixteen_bit(point.format):
        return is_sixteen_bit(fmt.name)
    published = PUBLISHED_FORMAT_ALIASES.get(point.format, point.format)
    if fmt.backend == "gguf":
        return published.upper() == fmt.name.upper()  # llama.cpp tables write q4_K_M too
    return published == fmt.name


def published_tasks() -> set[str]:
    return {task for _, task in profiles.published_score_rows()}


@cache
def published_points(arch_id: str, task: str) -> tuple[PublishedPoint, ...]:
    """The published score rows of one model on one task, parsed and validated."""
    rows = profiles.published_score_rows().get((arch_id, task), [])
    return tuple(profiles.parse_published_row(where, row) for where, row in rows)


def published_evidence(arch: Architecture, fmt: Format, task: str) -> list[Evidence]:
    found = []
    for point in published_points(arch.model_id, task):
        if not format_matches_published(fmt, point):
            continue
        variant = f", {point.variant}" if point.variant else ""
        table = (
            f", table {point.table!r}" if point.table and point.table not in point.source else ""
        )
        weights = f" ({point.format} weights)" if point.format != fmt.name else ""
        setting = evaluation_setting(point)
        found.append(
            Evidence(
                kind="published",
                task=task,
                metric=point.metric,
                value=point.value,
                stderr=published_stderr(task, point.value, point.metric),
                source=f"{point.model}{variant}{weights}: {point.source}{table}",
                source_key=source_key(point),
                detail={
                    "id": point.id,
                    "file": point.file,
                    "table": point.table,
                    **setting,
                },
            )
        )
    # Maker tables first; the ranking reorders by how many candidates a source covers.
    found.sort(key=lambda e: (str(e.detail.get("file")) != "base_scores.csv", e.source))
    return found


def evaluation_setting(point: PublishedPoint) -> dict[str, str]:
    """Who evaluated, with which harness, shots and prompt style (empty when unstated)."""
    return {
        "evaluator": str(getattr(point, "evaluator", "") or ""),
        "harness": str(getattr(point, "harness", "") or ""),
        "shots": point.shots,
        "prompt_style": str(getattr(point, "prompt_style", "") or ""),
    }


def source_key(point: PublishedPoint) -> str:
    """Evaluations with the same key compare directly: same table (one evaluator, one
    harness, one setting) — or, across tables, the same evaluator, harness, shots and
    prompt style when all four are stated."""
    s = evaluation_setting(point)
    if s["evaluator"] and s["harness"] and s["prompt_style"]:
        return "|".join((s["evaluator"], s["harness"], s["shots"], s["prompt_style"]))
    return f"{point.file}|{point.table}"


def published_stderr(task: str, value: float, metric: str) -> float | None:
    """The binomial standard error of a published accuracy, from the benchmark's item
    count (the task definition's ``n_items``); None when unknown or not an accuracy."""
    info = task_catalog().get(task)
    n = getattr(info, "n_items", None) if info is not None else None
    if not n or metric_info(metric).quantity != "accuracy" or not 0 <= value <= 100:
        return None
    p = value / 100
    return 100 * math.sqrt(max(p * (1 - p), 1e-4) / n)
