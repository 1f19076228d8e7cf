"""What the TUI needs from the measurement side, as a small protocol.

The screen runs :meth:`Measurer.measure` in a thread worker; the measurer reports progress
through a callback, checks ``cancelled()`` between steps (so a cancel keeps what finished)
and stores results itself. Tests inject a fake; :func:`default_measurer` adapts
:func:`advisor.measure.runner.run_sweep` (the same runner as `advisor measure`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from advisor.recommender import Candidate

ProgressFn = Callable[[float, "float | None", str], None]
CancelledFn = Callable[[], bool]


class Measurer(Protocol):
    """Measures one config on one task, locally."""

    def local_path(self, c: Candidate) -> str | None:
        """The local model file or folder for this config, when there is one."""
        ...

    def unavailable_reason(self, c: Candidate) -> str | None:
        """Why this config cannot be measured here (None when it can)."""
        ...

    def measure(self, c: Candidate, task: str, progress: ProgressFn, cancelled: CancelledFn) -> str:
        """Measure, storing each finished step; return a one-line summary."""
        ...

    def refresh(self) -> None:
        """Make the next ranking see the new measurements."""
        ...


class _Cancelled(Exception):
    """Raised from the sweep's event callback to stop reading the worker."""


def _normalise(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


class LocalMeasurer:
    """Measures a config with :mod:`advisor.measure`, from a GGUF that
    :func:`advisor.measure.sources.discover` finds on this machine.

    The file in the config's format is used when present; otherwise the highest-precision
    file of the same model is the source and ``advisor.measure`` makes the quant (its
    ladder). Results go to the user's store (``advisor.measure.store.default_store_path``).
    Cancelling stops reading the worker: it exits at its next write (its pipe is closed),
    and every task it finished is already in the store.
    """

    def __init__(self, limit: int = 200) -> None:
        self.limit = limit
        self._found: list[tuple[str, float]] | None = None

    def _local_files(self) -> list[tuple[str, float]]:
        """(path, bits/weight) of the GGUF files on this machine, found once."""
        if self._found is None:
            try:
                from advisor.measure.sources import discover

                found = discover()
            except Exception:  # discovery is best effort: a broken cache must not crash the UI
                found = []
            self._found = [
                (str(f.path), float(f.bits_per_weight or 0)) for f in found if f.error is None
            ]
        return self._found

    def _source(self, c: Candidate) -> tuple[str, bool] | None:
        """The file to measure from, and whether it already is in the config's format."""
        model = _normalise(c.arch.model_id.rsplit("/", 1)[-1])
        fmt = _normalise(c.format.name)
        from advisor.profiles.formats import GGUF_FILE_TYPES

        formats = {_normalise(name) for name in GGUF_FILE_TYPES}
        same_model = []  # "<model>[-.]<FORMAT>.gguf", so -Instruct files don't match the base
        for path, bpw in self._local_files():
            name = _normalise(path.rsplit("/", 1)[-1])
            rest = name[len(model) : -len("gguf")] if name.startswith(model) else None
            if rest is not None and (rest in formats or rest == ""):
                same_model.append((path, bpw, rest))
        for path, _, rest in same_model:
            if rest == fmt:
                return path, True
        if not same_model:
            return None
        return max(same_model, key=lambda t: t[1])[0], False

    def local_path(self, c: Candidate) -> str | None:
        if c.format.backend != "gguf":
            return None
        source = self._source(c)
        return source[0] if source and source[1] else None

    def unavailable_reason(self, c: Candidate) -> str | None:
        if c.format.backend != "gguf":
            return "the TUI measures GGUF configs (llama.cpp); use `advisor measure` for others"
        if self._source(c) is None:
            return f"no local GGUF of {c.arch.name} found: see `advisor models`"
        return None

    def measure(self, c: Candidate, task: str, progress: ProgressFn, cancelled: CancelledFn) -> str:
        from advisor.measure.runner import SweepEvent, SweepOptions, run_sweep
        from advisor.measure.store import default_store_path

        source = self._source(c)
        if source is None:
            raise RuntimeError(f"no local GGUF of {c.arch.name}")
        store = default_store_path()
        store.parent.mkdir(parents=True, exist_ok=True)
        opts = SweepOptions(limit=self.limit)
        progress(0, None, f"{c.label}: preparing {c.format.name} from {source[0]}")
        total: list[float | None] = [None]
        refused: list[str] = []

        def on_event(ev: SweepEvent) -> None:
            if cancelled():
                raise _Cancelled
            d = ev.data
            if ev.kind == "refused":
                refused.append(str(d["reason"]))
            elif ev.kind == "task_start":
                total[0] = float(d.get("n") or 0) or None
                progress(0, total[0], f"{c.label} · {d['task']}")
            elif ev.kind == "progress":
                done = float(d.get("done") or 0)
                progress(done, total[0], f"{c.label} · {d['task']} · {done:.0f} items")

        try:
            rows = run_sweep([source[0]], [c.format.name], [task], store, opts, on_event)
        except _Cancelled:
            return "cancelled: the tasks that finished are in the store"
        if refused:
            raise RuntimeError(f"{c.label} would not fit now: {refused[0]}")
        if rows and all(str(r.get("status", "")).startswith("skipped") for r in rows):
            return f"{task} is already in the store for {c.label}"
        done = [r for r in rows if r.get("status") == "ok"]
        if not done:
            errors = [str(r.get("error")) for r in rows if r.get("error")]
            raise RuntimeError(errors[0] if errors else "nothing was measured")
        r = done[0]
        return f"{r.get('task')}: {r.get('metric')} {r.get('value')} (n={r.get('n')})"

    def refresh(self) -> None:
        from advisor.evidence import reload_measurements

        reload_measurements()  # the recommender caches the stores per process


def default_measurer() -> Measurer:
    """The real measurer (it explains itself when measuring is not possible here)."""
    return LocalMeasurer()
