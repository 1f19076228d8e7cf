"""Tasks as ranking sees them: each task's ``[ranking]`` table (kind, floor, quantity,
group), read from its definition in :mod:`advisor.measure.tasks`, and the task groups
(``reasoning``, ``knowledge``, ``math``, ``code``, ``perplexity``) derived from it."""

from __future__ import annotations

from functools import cache

from advisor.errors import AdvisorError
from advisor.evidence.measured import measured_tasks
from advisor.evidence.metrics import metric_info
from advisor.evidence.published import published_tasks
from advisor.measure.tasks import TaskInfo, task_catalog

__all__ = [
    "TaskInfo",
    "UnknownTaskError",
    "curve_kind",
    "known_tasks",
    "resolve_task",
    "task_catalog",
    "task_groups",
    "task_info",
]


def task_info(task: str) -> TaskInfo | None:
    return task_catalog().get(task)


@cache
def task_groups() -> dict[str, tuple[str, ...]]:
    """Group → member tasks, in the order a group resolves them (first with evidence)."""
    members: dict[str, list[tuple[int, str]]] = {}
    for info in task_catalog().values():
        if info.group is not None:
            members.setdefault(info.group, []).append((info.group_rank or 99, info.name))
    return {group: tuple(name for _, name in sorted(found)) for group, found in members.items()}


def curve_kind(task: str, metric: str | None = None) -> tuple[str, float] | None:
    """(kind, floor) of a task the curves model, or None. A perplexity metric makes any
    task a perplexity task; a perplexity *change* is not modelled."""
    if metric is not None:
        quantity = metric_info(metric).quantity
        if quantity == "perplexity":
            return ("ppl", 1.0)
    info = task_catalog().get(task)
    if info is None or info.kind == "other":
        return None
    return (info.kind, info.floor)


class UnknownTaskError(AdvisorError):
    """A task or group name no definition, published table or measurement knows."""


def known_tasks() -> set[str]:
    """Every task name ranking accepts: defined, published or measured, and the groups."""
    return set(task_catalog()) | published_tasks() | measured_tasks() | set(task_groups())


def resolve_task(task: str) -> str:
    """A task key or group name → the task to rank on. A group resolves to its first
    member any evidence exists for, so every candidate is ranked on the same task."""
    key = task.strip().lower()
    groups = task_groups()
    if key in groups:
        have = measured_tasks() | published_tasks()
        for member in groups[key]:
            if member in have:
                return member
        return groups[key][0]
    if key not in known_tasks():
        examples = "mmlu, arc_challenge, hellaswag, gsm8k, lambada, wikitext2"
        raise UnknownTaskError(
            f"unknown task {task!r}: try one of {examples}, or a group: {', '.join(groups)}"
        )
    return key
