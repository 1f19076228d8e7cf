"""The measurement store: JSON Lines, one measurement per line, append-only.

* Append: under a file lock (``<store>.lock``), one ``write`` of one line, then ``fsync``;
  two sweeps writing at once interleave whole lines, never bytes.
* Load: a torn last line (a ``kill -9`` mid-write) or a corrupt line elsewhere is skipped
  with a warning and counted; loading never raises on content. Before appending after a
  torn tail, a newline is written first so the new record starts on its own line.
* Resume: every record has an identity ``key`` (model file hash, backend, format, task,
  task version, item limit, seed, context); a sweep skips keys already stored as "ok".

Default path: ``ADVISOR_STORE``, else ``user_data_dir("advisor")/measurements.jsonl``.
The measurements this repository publishes live in ``measurements/*.jsonl``.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from advisor.errors import AdvisorError

SCHEMA = 1


class StoreError(AdvisorError):
    """The store cannot be read or written (not its content: bad lines are skipped)."""


class StoreWarning(UserWarning):
    """A line of the store was skipped."""


@dataclass
class Measurement:
    """One (model, format, backend, task) result. Attribute names are read by the
    recommender, the TUI and the curves: keep them stable (bump ``schema`` otherwise)."""

    key: str
    status: str  # "ok" | "failed"
    model_name: str
    backend: str  # "llama.cpp" | "transformers"
    format: str
    task: str
    task_version: int
    metric: str  # primary metric name
    value: float | None  # accuracy as a fraction 0-1; perplexity as perplexity
    stderr: float | None = None
    n: int = 0
    error: str | None = None
    family: str = ""
    arch_id: str | None = None  # model_id in profiles/architectures.csv when known
    params: int = 0
    model_sha256: str = ""
    nominal_bits: float | None = None
    bits_per_weight: float | None = None  # actual, from the file's tensors
    metrics: dict[str, dict[str, float | None]] = field(default_factory=dict)
    footprint: dict[str, int] = field(default_factory=dict)
    speed: dict[str, float] = field(default_factory=dict)
    hardware: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    created: str = ""
    provenance: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    schema: int = SCHEMA

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Measurement:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def identity_key(
    model_sha256: str,
    backend: str,
    fmt: str,
    task: str,
    task_version: int,
    config: dict[str, Any],
) -> str:
    """Hash of what makes two measurements the same cell (hardware excluded: a rerun
    on the same machine with the same items is a duplicate)."""
    ident = {
        "model_sha256": model_sha256,
        "backend": backend,
        "format": fmt,
        "task": task,
        "task_version": task_version,
        "limit": config.get("limit"),
        "seed": config.get("seed"),
        "context_tokens": config.get("context_tokens"),
    }
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:20]


def now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def default_store_path() -> Path:
    env = os.environ.get("ADVISOR_STORE")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("advisor")) / "measurements.jsonl"


def _lock(path: Path) -> Any:
    from filelock import FileLock

    return FileLock(str(path) + ".lock", timeout=60)


@dataclass
class LoadReport:
    """What :func:`read_store` found besides the records."""

    skipped: int = 0
    torn_tail: bool = False
    problems: list[str] = field(default_factory=list)


def read_store(path: str | os.PathLike[str]) -> tuple[list[Measurement], LoadReport]:
    """Records of one store file, skipping (and reporting) lines that do not parse."""
    p = Path(path)
    report = LoadReport()
    if not p.exists():
        return [], report
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise StoreError(f"cannot read the store {p}: {exc}") from exc
    lines = raw.split(b"\n")
    # A file that does not end in a newline has a torn last line, unless it parses.
    out: list[Measurement] = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        is_last = n == len(lines)
        try:
            data = json.loads(line.decode("utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            out.append(Measurement.from_dict(data))
        except (ValueError, TypeError, UnicodeDecodeError) as exc:
            report.skipped += 1
            if is_last:
                report.torn_tail = True
                msg = f"{p}:{n}: torn last line skipped (an interrupted write)"
            else:
                msg = f"{p}:{n}: corrupt line skipped ({str(exc)[:80]})"
            report.problems.append(msg)
    return out, report


def load_measurements(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], warn: bool = True
) -> list[Measurement]:
    """All records of one or more store files; bad lines are skipped with a warning."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out: list[Measurement] = []
    for path in paths:
        records, report = read_store(path)
        out.extend(records)
        if warn:
            for msg in report.problems:
                warnings.warn(msg, StoreWarning, stacklevel=2)
    return out


def append(path: str | os.PathLike[str], m: Measurement) -> None:
    """Append one record durably (lock, one write, fsync)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    line = m.to_json().encode("utf-8") + b"\n"
    with _lock(p):
        # O_APPEND: every write lands at the end even if another writer ignored the lock.
        fd = os.open(p, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size:
                with p.open("rb") as fh:
                    fh.seek(size - 1)
                    if fh.read(1) != b"\n":  # torn tail: start our record on a new line
                        line = b"\n" + line
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)


def done_keys(path: str | os.PathLike[str]) -> set[str]:
    """Keys already measured successfully (what a resumed sweep skips)."""
    records, _ = read_store(path)
    return {m.key for m in records if m.status == "ok"}


__all__ = [
    "SCHEMA",
    "LoadReport",
    "Measurement",
    "StoreError",
    "StoreWarning",
    "append",
    "default_store_path",
    "done_keys",
    "identity_key",
    "load_measurements",
    "now_iso",
    "read_store",
]
