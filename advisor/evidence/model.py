"""The evidence model: one score for one config on one task, and where it came from.

Three kinds, in the order the recommender trusts them: *measured* here (hardware,
versions, n, stderr), *published* (source, table, harness), *predicted* (which curve,
its interval).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from advisor.evidence.metrics import metric_info

EVIDENCE_RANK: dict[str, int] = {"measured": 0, "published": 1, "predicted": 2}


@dataclass(frozen=True)
class Evidence:
    """One score for one config on one task, and where it came from."""

    kind: str  # "measured", "published" or "predicted"
    task: str
    metric: str
    value: float  # accuracy in percent (0-100); perplexity as is
    uncertainty: float | None  # stderr (measured), None (published), ± (predicted)
    source: str  # one line: who/where/when
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def higher_is_better(self) -> bool:
        return metric_info(self.metric).higher_is_better

    def describe(self) -> str:
        value = f"{self.value:.1f}" if self.higher_is_better else f"{self.value:.2f}"
        unc = f" ± {self.uncertainty:.1f}" if self.uncertainty is not None else ""
        return f"{self.kind} {value}{unc} ({self.metric}): {self.source}"
