"""Where a sweep's configs run: one local worker at a time (:mod:`.local`) or Ray tasks on
a cluster (:mod:`.ray`). An executor only runs jobs and passes their events back; the
driver (:func:`advisor.measure.runner.execute`) claims cells, writes the store and draws
nothing. Ray is imported by :mod:`.ray` alone, and only when that executor is chosen.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from advisor.measure.executors.local import CellLimits
    from advisor.measure.runner import ConfigPlan, SweepOptions

# The driver's callbacks: claim right before a job runs (None: nothing left to do), each
# worker event as it arrives, and the end of a job (with why, when its worker was lost).
ClaimFn = Callable[["Job"], "Job | None"]
EventFn = Callable[["Job", dict[str, Any]], None]
EndFn = Callable[["Job", "str | None"], None]


@dataclass(frozen=True)
class Job:
    """One config (model x format) and its cells, with the limits its worker runs under."""

    plan: ConfigPlan
    opts: SweepOptions
    limits: CellLimits

    def spec(self) -> dict[str, Any]:
        """What the worker reads on stdin; records come back as events (one writer)."""
        return {
            "plan": asdict(self.plan),
            "opts": asdict(self.opts),
            "store": "",
            "emit_records": True,
        }


class Executor(Protocol):
    """Runs jobs and reports their events; never writes the store."""

    name: str

    def run(self, jobs: Sequence[Job], claim: ClaimFn, on_event: EventFn, on_end: EndFn) -> None:
        """Run every job (claimed first), calling ``on_event`` for each worker event and
        ``on_end`` once per job that ran."""
        ...


def get_executor(name: str, address: str | None = None) -> Executor:
    """``"local"`` or ``"ray"`` (``address``: ``auto``, ``ray://host:10001``, or None to
    start a local Ray instance)."""
    if name == "local":
        if address:
            raise ValueError("--address is for the ray executor")
        from advisor.measure.executors.local import LocalExecutor

        return LocalExecutor()
    if name == "ray":
        from advisor.measure.executors.ray import RayExecutor

        return RayExecutor(address)
    raise ValueError(f"unknown executor {name!r}; known: local, ray")


__all__ = ["ClaimFn", "EndFn", "EventFn", "Executor", "Job", "get_executor"]
