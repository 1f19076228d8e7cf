"""Published evidence: the bundled published scores that match a config (exact model,
matching format, task), each with its source and table."""

from __future__ import annotations

from functools import cache

from advisor import profiles
from advisor.evidence.model import Evidence
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
        found.append(
            Evidence(
                kind="published",
                task=task,
                metric=point.metric,
                value=point.value,
                uncertainty=None,
                source=f"{point.model}{variant}{weights}: {point.source}{table}",
                detail={"id": point.id, "shots": point.shots, "file": point.file},
            )
        )
    # One figure per source is enough; several evaluators may have scored the same model.
    found.sort(key=lambda e: (str(e.detail.get("file")) != "base_scores.csv", e.source))
    return found
