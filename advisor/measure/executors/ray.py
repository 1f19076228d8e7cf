"""Configs as Ray tasks: Ray places them on the cluster's nodes by their declared resources
(CPUs = threads, GPUs, memory = the memory model's footprint), each task runs the same
isolated worker as the local executor (:func:`~advisor.measure.executors.local.run_isolated`)
and streams its events back (a Ray streaming generator, collected with ``ray.wait``). The
driver is the one writer of the store and draws one progress display for the sweep.

Ray is the engine: it queues, places and runs the tasks; nothing here schedules. A task
whose Ray worker dies (a node lost, a ``kill -9``) fails its unreported cells with the
reason; Ray does not retry it (``max_retries=0``): a resumed sweep does.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from typing import Any

from advisor.errors import AdvisorError, MissingDependencyError
from advisor.measure.executors import ClaimFn, EndFn, EventFn, Job
from advisor.measure.executors.local import CellLimits


class RayExecutorError(AdvisorError):
    """The Ray cluster cannot be reached or cannot run a cell."""


def _cell_events(spec: dict[str, Any], limits: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The body of one Ray task (runs on a cluster node): the isolated worker's events."""
    from advisor.measure.executors.local import run_isolated

    yield from run_isolated(spec, CellLimits(**limits))


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise MissingDependencyError("ray", "ray", "the ray executor") from exc
    return ray


class RayExecutor:
    """Run jobs as Ray tasks on the cluster at ``address`` (``auto``: the one started with
    ``ray start`` on this machine; ``ray://host:10001``: a remote head via Ray Client;
    None: a Ray instance started here for this sweep, or the one this process already
    initialised)."""

    name = "ray"

    def __init__(self, address: str | None = None) -> None:
        if address is not None and (not isinstance(address, str) or not address.strip()):
            raise ValueError("address must be 'auto', 'ray://host:port' or 'host:port'")
        self.address = address

    def _connect(self, ray: Any) -> bool:
        """Connect (or reuse this process's connection); True when we must shut down."""
        if ray.is_initialized():
            return False
        try:
            ray.init(
                address=self.address,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
            )
        except Exception as exc:  # ConnectionError, RuntimeError, ValueError...
            where = self.address or "a local Ray instance"
            raise RayExecutorError(
                f"cannot start or reach {where}: {type(exc).__name__}: {str(exc)[:200]}"
            ) from exc
        return True

    @staticmethod
    def _largest_node_memory(ray: Any) -> float:
        sizes = [
            float(n.get("Resources", {}).get("memory", 0))
            for n in ray.nodes()
            if n.get("Alive", False)
        ]
        return max(sizes, default=0.0)

    def run(self, jobs: Sequence[Job], claim: ClaimFn, on_event: EventFn, on_end: EndFn) -> None:
        ray = _import_ray()
        owned = self._connect(ray)
        task = ray.remote(max_retries=0)(_cell_events)
        pending: dict[Any, Job] = {}
        try:
            largest = self._largest_node_memory(ray)
            for job in jobs:
                memory = max(1, int(job.plan.predicted_bytes))
                if largest and memory > largest:
                    # Ray would queue it forever: no node could ever take it.
                    claimed = claim(job)
                    if claimed is not None:
                        on_end(
                            claimed,
                            f"no node of the Ray cluster has {memory / 2**30:.2f} GiB of "
                            f"memory to give (largest: {largest / 2**30:.2f} GiB)",
                        )
                    continue
                claimed = claim(job)  # the cells are this sweep's while Ray holds them
                if claimed is None:
                    continue
                gen = task.options(
                    num_cpus=claimed.opts.threads or 1,
                    num_gpus=claimed.opts.gpus_per_cell,
                    memory=memory,
                    name=f"advisor-cell {claimed.plan.model['model_name']} {claimed.plan.format}",
                ).remote(claimed.spec(), asdict(claimed.limits))
                pending[gen] = claimed
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
                for gen in ready:
                    job = pending[gen]
                    try:
                        ev = ray.get(next(gen))
                    except StopIteration:
                        pending.pop(gen)
                        on_end(job, None)
                        continue
                    except Exception as exc:  # the Ray worker or its node died
                        pending.pop(gen)
                        on_end(job, f"ray task lost: {type(exc).__name__}: {str(exc)[:200]}")
                        continue
                    on_event(job, ev)
        finally:
            for gen in pending:  # stopped early (Ctrl-C, a full disk): cancel what runs
                with contextlib.suppress(Exception):
                    ray.cancel(gen, force=True)
            if owned:
                with contextlib.suppress(Exception):
                    ray.shutdown()


def ray_address_from_env() -> str | None:
    """``RAY_ADDRESS`` when set (Ray's own convention)."""
    return os.environ.get("RAY_ADDRESS") or None


__all__ = ["RayExecutor", "RayExecutorError"]
