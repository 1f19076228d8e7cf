"""What is known about a config's quality, and from where: measured here, published, or
predicted (:mod:`advisor.curves` adds predictions on top of this room).

* :mod:`~advisor.evidence.metrics` — the one table of metrics (direction, unit, label);
* :mod:`~advisor.evidence.tasks` — tasks as ranking sees them (kind, floor, group);
* :mod:`~advisor.evidence.model` — the :class:`Evidence` record;
* :mod:`~advisor.evidence.measured` / :mod:`~advisor.evidence.published` — the records
  that match a config, from the measurement stores and the bundled published tables.
"""

from __future__ import annotations

from advisor.evidence.measured import (
    measured_evidence,
    measured_tasks,
    measurements,
    reload_measurements,
    store_paths,
)
from advisor.evidence.metrics import METRICS, Metric, higher_is_better, metric_info
from advisor.evidence.model import EVIDENCE_RANK, Evidence
from advisor.evidence.published import published_evidence, published_tasks
from advisor.evidence.tasks import (
    UnknownTaskError,
    curve_kind,
    known_tasks,
    resolve_task,
    task_groups,
    task_info,
)

__all__ = [
    "EVIDENCE_RANK",
    "METRICS",
    "Evidence",
    "Metric",
    "UnknownTaskError",
    "curve_kind",
    "higher_is_better",
    "known_tasks",
    "measured_evidence",
    "measured_tasks",
    "measurements",
    "metric_info",
    "published_evidence",
    "published_tasks",
    "reload_measurements",
    "resolve_task",
    "store_paths",
    "task_groups",
    "task_info",
]
