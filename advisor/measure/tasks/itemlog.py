"""Per-item scores beside the store, for paired comparisons (two files on the same items).

A record in the store holds a task's mean and standard error; a paired test of two
configs needs each item's score. :func:`append_item_scores` writes one JSON line per
(file, task) to a sidecar JSONL file: the file's sha256, backend, format, task and
version, the item ids' digest and the scores in item order (a string of ``0``/``1`` when
every score is binary, else a list of numbers). The sweep writes it when
``ADVISOR_ITEM_SCORES`` names the sidecar; the committed ones are
``measurements/items/*.jsonl`` (a subfolder, so nothing takes them for a store). Lines
are joined to records by (model_sha256, backend, format, task, task_version, n).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from advisor.measure.backends.base import Backend
    from advisor.measure.tasks import Task, TaskResult

ENV = "ADVISOR_ITEM_SCORES"
SCHEMA = "advisor.item_scores/1"
MAX_SIDECAR_BYTES = 512 << 20


@dataclass(frozen=True)
class ItemScores:
    model_sha256: str
    backend: str
    format: str
    task: str
    task_version: int
    items_sha256: str
    scores: tuple[float, ...]
    created: str = ""

    @property
    def n(self) -> int:
        return len(self.scores)

    @property
    def key(self) -> tuple[str, str, str, str, int, int]:
        return (self.model_sha256, self.backend, self.format, self.task, self.task_version, self.n)


def items_digest(item_ids: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(item_ids).encode("utf-8")).hexdigest()[:16]


def _encode(scores: Sequence[float]) -> str | list[float]:
    if all(s in (0.0, 1.0) for s in scores):
        return "".join("1" if s else "0" for s in scores)
    return [round(float(s), 6) for s in scores]


def append_item_scores(path: str | os.PathLike[str], task: Task, backend: Backend,
                       result: TaskResult) -> None:  # fmt: skip
    """Append one line for ``result`` (lock, one write, fsync)."""
    from filelock import FileLock

    from advisor.measure.files import file_sha256
    from advisor.measure.store import now_iso

    if not result.item_scores:
        return
    cfg = backend.config
    row = {
        "schema": SCHEMA,
        "model_sha256": file_sha256(cfg.model_path),
        "model_file": Path(cfg.model_path).name,
        "backend": backend.name,
        "format": cfg.format,
        "task": task.name,
        "task_version": task.version,
        "metric": task.primary_metric,
        "n": len(result.item_scores),
        "items_sha256": items_digest(result.item_ids),
        "scores": _encode(result.item_scores),
        "created": now_iso(),
    }
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(row, sort_keys=True) + "\n").encode("utf-8")
    with FileLock(str(p) + ".lock", timeout=60):
        fd = os.open(p, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            view = memoryview(line)
            while view:  # a short write (full disk) must not leave half a line unnoticed
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)


def record_from_env(task: Task, backend: Backend, result: TaskResult) -> None:
    """Append to the sidecar named by ``ADVISOR_ITEM_SCORES``, if it is set."""
    target = os.environ.get(ENV)
    if target:
        append_item_scores(target, task, backend, result)


def _decode(raw: Any) -> tuple[float, ...]:
    if isinstance(raw, str):
        if set(raw) - {"0", "1"}:
            raise ValueError("a score string holds only 0 and 1")
        return tuple(1.0 if ch == "1" else 0.0 for ch in raw)
    if isinstance(raw, list) and all(isinstance(x, (int, float)) for x in raw):
        return tuple(float(x) for x in raw)
    raise ValueError("scores must be a 0/1 string or a list of numbers")


def read_item_scores(paths: Iterable[str | os.PathLike[str]]) -> list[ItemScores]:
    """Every readable line of the sidecars; damaged lines are skipped (they only
    remove a paired test, never a measurement)."""
    out: list[ItemScores] = []
    for path in paths:
        p = Path(path)
        if not p.is_file() or p.stat().st_size > MAX_SIDECAR_BYTES:
            continue
        with p.open("rb") as fh:
            for raw in fh:
                try:
                    row = json.loads(raw.decode("utf-8"))
                    scores = _decode(row["scores"])
                    if len(scores) != int(row["n"]):
                        continue
                    out.append(
                        ItemScores(
                            str(row["model_sha256"]), str(row["backend"]), str(row["format"]),
                            str(row["task"]), int(row["task_version"]),
                            str(row["items_sha256"]), scores, str(row.get("created", "")),
                        )
                    )  # fmt: skip
                except (ValueError, KeyError, TypeError, UnicodeDecodeError):
                    continue
    return out


def sidecar_paths() -> list[Path]:
    """The committed sidecars and the one ``ADVISOR_ITEM_SCORES`` names, if any."""
    from advisor.locations import measurements_dir

    folder = measurements_dir() / "items"
    paths = sorted(folder.glob("*.jsonl")) if folder.is_dir() else []
    own = os.environ.get(ENV)
    if own and Path(own).expanduser() not in paths:
        paths.append(Path(own).expanduser())
    return paths
