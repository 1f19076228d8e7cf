"""One config at a time on this machine, each in its own worker process, isolated.

:func:`run_isolated` is the isolation every executor uses (Ray runs it inside its tasks):

* **Memory limit** from the memory model (``runner.cell_memory_limit``), enforced by the
  kernel: a child memory cgroup (v2 ``memory.max`` when the memory controller is delegated
  to us, else v1 ``memory.limit_in_bytes`` when that hierarchy is writable), which limits
  what the worker really uses and reports an OOM kill. Without one, ``RLIMIT_AS`` for
  llama.cpp workers, set far above the limit (2 x limit + 1 GiB + 128 MiB per thread)
  because llama.cpp maps the model file and every thread reserves malloc arenas and
  stacks, so address space runs well above resident memory. Torch reserves huge virtual
  areas (CUDA), so transformers workers get no RLIMIT_AS. In every case a watchdog polls
  the worker's resident memory and stops it past the limit.
* **Timeout** per task (and for loading the model): past it the worker is killed.
* A crash, an OOM kill or a timeout fails the task in flight (a failed record with the
  reason); a fresh worker takes the tasks not started, so the sweep goes on.
* The worker runs in its own session (Ctrl-C reaches the driver only, which stops it) and
  dies with the driver (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import queue
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Generator, Sequence
from dataclasses import asdict, dataclass
from typing import IO, Any

from advisor.measure.executors import ClaimFn, EndFn, EventFn, Job
from advisor.measure.guard import CellCgroup

GIB = 2**30
POLL_S = 0.25


@dataclass(frozen=True)
class CellLimits:
    """What one config's worker may use."""

    memory_limit_bytes: int | None
    timeout_s: float
    backend: str = "llama.cpp"
    threads: int | None = None

    def address_space_bytes(self) -> int | None:
        """RLIMIT_AS for a worker without a cgroup (see the module notes), or None."""
        if self.memory_limit_bytes is None or self.backend != "llama.cpp":
            return None
        threads = self.threads or os.cpu_count() or 1
        return 2 * self.memory_limit_bytes + GIB + threads * 128 * 2**20


def _worker_env() -> dict[str, str]:
    env = dict(os.environ)
    # llama.cpp's OpenMP threads spin while waiting; on a shared machine that turns
    # contention into a 10x slowdown. Passive waiting costs little when idle.
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _child_setup(parent: int, cgroup: CellCgroup | None, as_bytes: int | None) -> None:
    """Runs in the worker between fork and exec."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(Exception):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PDEATHSIG
        if os.getppid() != parent:  # the driver died before prctl took effect
            os._exit(1)
    if cgroup is not None:
        cgroup.enter()
    elif as_bytes is not None:
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        cap = as_bytes if hard == resource.RLIM_INFINITY else min(as_bytes, hard)
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))


def _pump(stream: IO[str], out: queue.Queue[str | None]) -> None:
    try:
        for line in stream:
            out.put(line)
    except (OSError, ValueError):
        pass
    out.put(None)


def _drain(stream: IO[str], tail: list[str]) -> None:
    with contextlib.suppress(OSError, ValueError):
        for line in stream:
            if line.strip():
                tail.append(line.rstrip()[:300])
                del tail[:-20]


def _tree_rss(pid: int) -> int:
    import psutil

    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += int(p.memory_info().rss)
    return total


def _kill(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(30)


def _death_reason(rc: int, cgroup: CellCgroup | None, limit: int | None, tail: list[str]) -> str:
    if cgroup is not None and cgroup.oom_killed():
        at = f" at the cell's limit of {limit / GIB:.2f} GiB" if limit else ""
        return f"out of memory: killed{at} (cgroup)"
    if rc < 0:
        name = signal.Signals(-rc).name if -rc in signal.valid_signals() else str(-rc)
        hint = " (out of memory? the kernel's OOM killer sends SIGKILL)" if rc == -9 else ""
        return f"worker killed by {name}{hint}"
    errors = [x for x in tail if "error" in x.lower()]
    last = errors[-1] if errors else (tail[-1] if tail else "")
    return f"worker exited with code {rc}" + (f": {last}" if last else "")


def run_isolated(spec: dict[str, Any], limits: CellLimits) -> Generator[dict[str, Any], None, None]:
    """Run one config's worker under ``limits``; yield its events, with each task's record
    in its ``task_done``. A dead worker's task in flight becomes a failed ``task_done``
    (its ``record`` built here) and a fresh worker takes the tasks not started. Stopping
    the iteration (Ctrl-C, an error in the consumer) kills the worker."""
    from advisor.measure.runner import ConfigPlan, SweepOptions, failed_record

    plan = ConfigPlan(**spec["plan"])
    opts = SweepOptions(**spec["opts"])
    remaining = list(plan.tasks)
    limit = limits.memory_limit_bytes
    while remaining:
        sub = {**spec, "plan": {**spec["plan"], "tasks": remaining}, "emit_records": True}
        cgroup = CellCgroup.create(limit) if limit is not None else None
        as_bytes = None if cgroup is not None else limits.address_space_bytes()
        enforcement = (
            (
                f"cgroup {cgroup.kind}"
                if cgroup is not None
                else ("RLIMIT_AS + RSS watchdog" if as_bytes else "RSS watchdog")
            )
            if limit is not None
            else "none"
        )
        setup = functools.partial(_child_setup, os.getpid(), cgroup, as_bytes)
        proc = subprocess.Popen(
            [sys.executable, "-m", "advisor.measure.runner", "--worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_worker_env(),
            start_new_session=True,
            preexec_fn=setup,
        )
        assert proc.stdin and proc.stdout and proc.stderr
        lines: queue.Queue[str | None] = queue.Queue()
        tail: list[str] = []
        threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True).start()
        threading.Thread(target=_drain, args=(proc.stderr, tail), daemon=True).start()
        reported: set[str] = set()
        current: str | None = None
        loaded = False
        reason: str | None = None
        try:
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.write(json.dumps(sub))
                proc.stdin.close()
            yield {
                "event": "started",
                "pid": proc.pid,
                "host": socket.gethostname(),
                "memory_limit_bytes": limit,
                "enforcement": enforcement,
                "timeout_s": limits.timeout_s,
            }
            deadline = time.monotonic() + limits.timeout_s
            while True:
                try:
                    line = lines.get(timeout=POLL_S)
                except queue.Empty:
                    line = ""
                if line is None:
                    break
                if line:
                    try:
                        ev = json.loads(line)
                    except json.JSONDecodeError:
                        ev = None
                    if isinstance(ev, dict):
                        kind = ev.get("event")
                        if kind in ("loaded", "task_start"):
                            loaded = True
                            deadline = time.monotonic() + limits.timeout_s
                            current = ev.get("task") if kind == "task_start" else None
                        elif kind == "task_done":
                            reported.add(str(ev.get("task")))
                            current = None
                        yield ev
                if time.monotonic() > deadline:
                    phase = f"task {current}" if current else "loading the model"
                    reason = f"timeout: {phase} ran past {limits.timeout_s:.0f} s"
                    break
                if limit is not None and cgroup is None:
                    rss = _tree_rss(proc.pid)
                    if rss > limit:
                        reason = (
                            f"out of memory: resident {rss / GIB:.2f} GiB passed the cell's "
                            f"limit of {limit / GIB:.2f} GiB (watchdog)"
                        )
                        break
        finally:
            if reason is not None or proc.poll() is None:
                _kill(proc)
            rc = proc.wait()
            if cgroup is not None:
                if reason is None and rc != 0:
                    reason = _death_reason(rc, cgroup, limit, tail)
                cgroup.remove()
        remaining = [t for t in remaining if t["name"] not in reported]
        if not remaining:
            return
        if reason is None:
            time.sleep(0.1)  # let the stderr reader catch the last lines
            reason = _death_reason(rc, None, limit, tail)
        # Before the model loaded, every task shares the failure; after, only the task in
        # flight (or the next one, so each restart makes progress).
        if not loaded:
            failing = remaining
        else:
            failing = [t for t in remaining if t["name"] == current] or remaining[:1]
        for t in failing:
            m = failed_record(plan, t, opts, reason)
            yield {
                "event": "task_done",
                "task": t["name"],
                "status": "failed",
                "error": reason,
                "record": asdict(m),
            }
        remaining = [t for t in remaining if t not in failing]
        if remaining:
            yield {"event": "restarted", "reason": reason, "tasks": [t["name"] for t in remaining]}


class LocalExecutor:
    """One config at a time, each in a fresh isolated worker on this machine."""

    name = "local"

    def run(self, jobs: Sequence[Job], claim: ClaimFn, on_event: EventFn, on_end: EndFn) -> None:
        for job in jobs:
            claimed = claim(job)  # right before it runs: another sweep may have done it
            if claimed is None:
                continue
            events = run_isolated(claimed.spec(), claimed.limits)
            try:
                for ev in events:
                    on_event(claimed, ev)
            finally:
                events.close()  # kills the worker if we stopped early
            on_end(claimed, None)


__all__ = ["CellLimits", "LocalExecutor", "run_isolated"]
