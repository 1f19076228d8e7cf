"""The evidence model: one score for one config on one task, where it came from, and how
sure it is; and the estimate the recommender ranks, which combines them.

Three kinds, in the order the recommender trusts them: *measured* here (hardware,
versions, n, stderr), *published* (source, table, harness), *predicted* (which curve, its
interval). Two notations for two things: a measurement prints as ``49.7 ± 2.9 se`` (a
standard error), a prediction as ``73.4 [69.2–76.0]`` (a 90 % interval).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from advisor.evidence.metrics import metric_info

EVIDENCE_RANK: dict[str, int] = {"measured": 0, "published": 1, "predicted": 2}
INTERVAL = 0.90
Z90 = 1.6448536269514722  # two-sided 90 %: mean ± Z90 · sd


def format_value(value: float, higher_is_better: bool = True) -> str:
    """Accuracy to one decimal, perplexity to two."""
    return f"{value:.1f}" if higher_is_better else f"{value:.2f}"


def interval_text(mean: float, low: float, high: float, higher_is_better: bool = True) -> str:
    """``73.4 [69.2–76.0]``: a mean and its 90 % interval."""
    f = format_value
    return f"{f(mean, higher_is_better)} [{f(low, higher_is_better)}–{f(high, higher_is_better)}]"


def stderr_text(mean: float, stderr: float, higher_is_better: bool = True) -> str:
    """``49.7 ± 2.9 se``: a measured mean and its standard error."""
    return f"{format_value(mean, higher_is_better)} ± {format_value(stderr, higher_is_better)} se"


@dataclass(frozen=True)
class Evidence:
    """One score for one config on one task, and where it came from.

    ``value`` is the mean in display units (accuracy in percent, perplexity as is).
    ``stderr`` is a sampling standard error (measured: from the items scored; published:
    from the benchmark's item count, when known). ``low``/``high`` bound a 90 % interval
    (predicted: the curve's calibrated interval; otherwise ± 1.645 stderr).
    ``source_key`` says which evaluations compare directly: the same key means the same
    evaluator, harness, shots and prompt style.
    """

    kind: str  # "measured", "published" or "predicted"
    task: str
    metric: str
    value: float
    low: float | None = None
    high: float | None = None
    stderr: float | None = None
    n: int | None = None
    source: str = ""  # one line: who/where/when
    source_key: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def higher_is_better(self) -> bool:
        return metric_info(self.metric).higher_is_better

    @property
    def uncertainty(self) -> float | None:
        """Half the 90 % interval (predicted) or the standard error (measured/published)."""
        if self.kind == "predicted" and self.low is not None and self.high is not None:
            return (self.high - self.low) / 2
        return self.stderr

    @property
    def sd(self) -> float | None:
        """The evidence's standard deviation as a Gaussian (for combining)."""
        if self.kind == "predicted" and self.low is not None and self.high is not None:
            return max((self.high - self.low) / (2 * Z90), 1e-9)
        return self.stderr

    def interval(self) -> tuple[float, float]:
        if self.low is not None and self.high is not None:
            return self.low, self.high
        if self.stderr is not None:
            return self.value - Z90 * self.stderr, self.value + Z90 * self.stderr
        return self.value, self.value

    def notation(self) -> str:
        """How the number prints: ``49.7 ± 2.9 se`` measured, ``73.4 [69.2–76.0]``
        predicted, the bare figure published (its source says where)."""
        hib = self.higher_is_better
        if self.kind == "predicted" and self.low is not None and self.high is not None:
            return interval_text(self.value, self.low, self.high, hib)
        if self.kind == "measured" and self.stderr is not None:
            return stderr_text(self.value, self.stderr, hib)
        return format_value(self.value, hib)

    def describe(self) -> str:
        return f"{self.kind} {self.notation()} ({self.metric}): {self.source}"

    def to_dict(self) -> dict[str, Any]:
        low, high = self.interval()
        return {
            "kind": self.kind,
            "task": self.task,
            "metric": self.metric,
            "mean": self.value,
            "low": low,
            "high": high,
            "stderr": self.stderr,
            "n": self.n,
            "text": self.notation(),
            "source": self.source,
            "source_key": self.source_key,
            **self.detail,
        }


@dataclass(frozen=True)
class Estimate:
    """The score the recommender ranks a config by: its evidence combined.

    Measurements of the config (and a prediction on the same scale, i.e. anchored on a
    measurement here) combine by precision, so a small-n measurement moves the estimate a
    little and a large-n one a lot. Otherwise the strongest kind decides: a published
    figure for this exact config, else the prediction. A disagreement beyond the combined
    uncertainty (z > 1.645) is named, never silently overridden.
    """

    kind: str  # the strongest kind of evidence behind it
    task: str
    metric: str
    value: float  # mean
    low: float
    high: float
    basis: tuple[Evidence, ...]  # the evidence combined into it
    disagreement: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def higher_is_better(self) -> bool:
        return metric_info(self.metric).higher_is_better

    @property
    def uncertainty(self) -> float:
        return (self.high - self.low) / 2

    @property
    def source(self) -> str:
        return "; ".join(e.source for e in self.basis)

    def risk_value(self, risk: str) -> float:
        """What ranking compares: the pessimistic end of the 90 % interval (``averse``,
        the default) or the mean (``neutral``), signed so that larger is better."""
        hib = self.higher_is_better
        value = self.value if risk == "neutral" else (self.low if hib else self.high)
        return value if hib else -value

    def notation(self) -> str:
        hib = self.higher_is_better
        if len(self.basis) == 1:
            return self.basis[0].notation()
        if self.kind == "measured" and all(e.kind == "measured" for e in self.basis):
            sd = (self.high - self.low) / (2 * Z90)
            return stderr_text(self.value, sd, hib)
        return interval_text(self.value, self.low, self.high, hib)

    def describe(self) -> str:
        combined = " + ".join(e.kind for e in self.basis)
        how = f"{self.kind}" if len(self.basis) == 1 else f"{self.kind} ({combined} combined)"
        return f"{how} {self.notation()} ({self.metric}): {self.source}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "mean": self.value,
            "low": self.low,
            "high": self.high,
            "interval": INTERVAL,
            "kind": self.kind,
            "metric": self.metric,
            "higher_is_better": self.higher_is_better,
            "text": self.notation(),
            "basis": [e.kind for e in self.basis],
            "disagreement": self.disagreement,
            "notes": list(self.notes),
        }


def _from_single(e: Evidence, notes: Sequence[str] = ()) -> Estimate:
    low, high = e.interval()
    return Estimate(e.kind, e.task, e.metric, e.value, low, high, (e,), notes=tuple(notes))


def _precision_mean(items: Sequence[Evidence]) -> tuple[float, float]:
    weights = [1 / max(e.sd or 0.0, 1e-6) ** 2 for e in items]
    total = sum(weights)
    mean = sum(w * e.value for w, e in zip(weights, items, strict=True)) / total
    return mean, math.sqrt(1 / total)


def _disagreement(items: Sequence[Evidence]) -> str | None:
    """The first pair whose gap exceeds 1.645 times their combined standard deviation."""
    for i, a in enumerate(items):
        for b in items[i + 1 :]:
            if a.sd is None or b.sd is None:
                continue
            scale = math.hypot(a.sd, b.sd)
            if scale > 0 and abs(a.value - b.value) > Z90 * scale:
                return (
                    f"{a.kind} {a.notation()} and {b.kind} {b.notation()} differ by "
                    f"{abs(a.value - b.value):.1f}, beyond their combined uncertainty "
                    f"({Z90 * scale:.1f})"
                )
    return None


def combine(evidence: Sequence[Evidence]) -> Estimate | None:
    """The estimate a config is ranked by (see :class:`Estimate`)."""
    if not evidence:
        return None
    measured = [e for e in evidence if e.kind == "measured" and e.sd]
    predicted = [e for e in evidence if e.kind == "predicted"]
    published = [e for e in evidence if e.kind == "published"]
    if measured:
        # A prediction anchored on a measurement here is on the same scale: it joins.
        same_scale = [p for p in predicted if p.detail.get("anchor_kind") == "measured"]
        pool = measured + same_scale
        if len(pool) == 1:
            return _from_single(pool[0])
        mean, sd = _precision_mean(pool)
        return Estimate(
            "measured",
            pool[0].task,
            pool[0].metric,
            mean,
            mean - Z90 * sd,
            mean + Z90 * sd,
            tuple(pool),
            disagreement=_disagreement(pool),
        )
    unsized = [e for e in evidence if e.kind == "measured" and not e.sd]
    if unsized:  # a measurement without a stderr (e.g. a perplexity over one text)
        return _from_single(unsized[0])
    if published:
        best = published[0]  # the caller orders published evidence by preference
        estimate = _from_single(best)
        if predicted and best.sd:
            gap = _disagreement([best, predicted[0]])
            if gap:
                return replace(estimate, disagreement=gap)
        return estimate
    return _from_single(predicted[0])
