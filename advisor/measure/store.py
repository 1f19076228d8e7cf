"""The measurement store: JSON Lines, one measurement per line, append-only.

* Append: under a file lock (``<store>.lock``), the record is validated, then written with a
  full-write loop (``os.write`` may write less than asked) and ``fsync``\\ ed. A write that
  fails part-way (a full disk) is cut back to the record boundary, so the store never holds
  half a record and takes the next one once space returns.
* A torn or garbage tail (``kill -9`` mid-write, a crash that left NUL bytes) is moved aside
  to ``<store>.corrupt-<timestamp>`` with a one-line warning the next time the store is
  written, instead of blocking later sweeps. Nothing is deleted.
* Load: every line is parsed and validated (types and ranges); a bad record is reported
  once and skipped, so one hand-edited line never breaks ``recommend`` or ``results``.
  Loading never raises on content, and refuses files that are not regular or too large.
* Resume: every record has an identity ``key`` (model file hash, backend, format, task,
  task version, item limit, seed, context); a sweep skips keys already stored as "ok".
* Claims: ``<store>.claims/<key>.json`` says which live sweep is measuring a cell right now,
  so two sweeps with overlapping cells measure each once (:func:`claim_cells`).

Default path: ``ADVISOR_STORE``, else ``user_data_dir("advisor")/measurements.jsonl``.
The measurements this repository publishes live in ``measurements/*.jsonl``.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import math
import os
import socket
import stat
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from advisor.errors import AdvisorError

SCHEMA = 1
# Bounds on what is read: a record is a few KB; a store of 100,000 records is ~300 MB.
MAX_STORE_BYTES = 1 << 30
MAX_LINE_BYTES = 1 << 20
LOCK_TIMEOUT_S = 120.0

# Metrics stored as a fraction 0-1 (accuracy-like); their values are range-checked on read.
FRACTION_METRICS = frozenset(
    {"acc", "acc_norm", "acc_char", "exact_match", "pass@1", "f1", "mc1", "mc2"}
)
PERPLEXITY_METRICS = frozenset({"ppl", "perplexity", "word_perplexity"})


class StoreError(AdvisorError):
    """The store cannot be read or written (not its content: bad lines are skipped)."""


class StoreWriteError(StoreError):
    """A record could not be written (full disk, I/O error): the run failed, exit 1."""

    exit_code = 1


class StoreWarning(UserWarning):
    """A line of the store was skipped, or a torn tail was moved aside."""


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
        return json.dumps(asdict(self), sort_keys=True, ensure_ascii=False, allow_nan=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Measurement:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def validate(self) -> Measurement:
        """Check types and ranges; raises ValueError naming the first bad field."""
        validate_record(asdict(self))
        return self


# -- validation ---------------------------------------------------------------------------
def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _check_value(name: str, metric: str, v: Any) -> None:
    if v is None:
        return
    if not _is_number(v):
        raise ValueError(f"{name} must be a finite number or null, not {v!r:.40}")
    if metric in FRACTION_METRICS and not 0.0 <= v <= 1.0:
        raise ValueError(f"{name} of {metric} must be a fraction 0-1, not {v!r}")
    if metric in PERPLEXITY_METRICS and v <= 0:
        raise ValueError(f"{name} of {metric} must be positive, not {v!r}")


def validate_record(data: Any) -> Measurement:
    """A record read from a store, checked field by field: the types the readers rely on
    and the ranges a measurement can have. Raises ValueError with the first problem."""
    if not isinstance(data, dict):
        raise ValueError(f"not a JSON object but {type(data).__name__}")
    for name in ("key", "status", "model_name", "backend", "format", "task"):
        v = data.get(name)
        if not isinstance(v, str) or not v:
            raise ValueError(f'"{name}" must be a non-empty string, not {v!r:.40}')
    status = data["status"]
    if status not in {"ok", "failed"}:
        raise ValueError(f'"status" must be "ok" or "failed", not {status!r:.40}')
    metric = data.get("metric")
    if not isinstance(metric, str):
        raise ValueError(f'"metric" must be a string, not {metric!r:.40}')
    if not _is_int(data.get("task_version")) or data["task_version"] < 0:
        version = data.get("task_version")
        raise ValueError(f'"task_version" must be an integer >= 0, not {version!r:.40}')
    _check_value('"value"', metric, data.get("value"))
    if status == "ok" and data.get("value") is None:
        raise ValueError('an "ok" record needs a "value"')
    se = data.get("stderr")
    if se is not None and (not _is_number(se) or se < 0):
        raise ValueError(f'"stderr" must be a finite number >= 0 or null, not {se!r:.40}')
    for name in ("n", "params"):
        v = data.get(name, 0)
        if not _is_int(v) or v < 0:
            raise ValueError(f'"{name}" must be an integer >= 0, not {v!r:.40}')
    for name in ("nominal_bits", "bits_per_weight"):
        v = data.get(name)
        if v is not None and (not _is_number(v) or v <= 0):
            raise ValueError(f'"{name}" must be a positive number or null, not {v!r:.40}')
    for name in ("error", "arch_id"):
        v = data.get(name)
        if v is not None and not isinstance(v, str):
            raise ValueError(f'"{name}" must be a string or null, not {v!r:.40}')
    for name in ("family", "model_sha256", "created"):
        if not isinstance(data.get(name, ""), str):
            raise ValueError(f'"{name}" must be a string')
    for name in ("metrics", "footprint", "speed", "hardware", "versions", "config"):
        if not isinstance(data.get(name, {}), dict):
            raise ValueError(f'"{name}" must be an object')
    for mname, entry in data.get("metrics", {}).items():
        if not isinstance(entry, dict):
            raise ValueError(f'"metrics.{mname}" must be an object')
        for k, v in entry.items():
            _check_value(f'"metrics.{mname}.{k}"', mname if k == "value" else "", v)
    for name in ("footprint", "speed"):
        for k, v in data.get(name, {}).items():
            if v is not None and not _is_number(v):
                raise ValueError(f'"{name}.{k}" must be a finite number, not {v!r:.40}')
    prov = data.get("provenance", [])
    if not isinstance(prov, list) or not all(isinstance(x, str) for x in prov):
        raise ValueError('"provenance" must be a list of strings')
    schema = data.get("schema", SCHEMA)
    if not _is_int(schema) or not 1 <= schema <= SCHEMA:
        raise ValueError(f'"schema" {schema!r} is not one this version reads (1..{SCHEMA})')
    return Measurement.from_dict(data)


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

    return FileLock(str(path) + ".lock", timeout=LOCK_TIMEOUT_S)


@contextlib.contextmanager
def store_lock(path: str | os.PathLike[str]) -> Iterator[None]:
    """The store's writer lock (what :func:`append` and claims take)."""
    from filelock import Timeout

    p = Path(path)
    try:
        lock = _lock(p)
        lock.acquire()
    except Timeout as exc:
        raise StoreError(
            f"the store {p} stayed locked for {LOCK_TIMEOUT_S:.0f} s (another writer hung?); "
            f"remove {p}.lock if no advisor process is running"
        ) from exc
    except OSError as exc:
        raise StoreError(f"cannot lock the store {p}: {exc.strerror or exc}") from exc
    try:
        yield
    finally:
        lock.release()


# -- reading ------------------------------------------------------------------------------
@dataclass
class LoadReport:
    """What :func:`read_store` found besides the records."""

    skipped: int = 0
    torn_tail: bool = False
    problems: list[str] = field(default_factory=list)


def _check_regular(p: Path, st: os.stat_result) -> None:
    if stat.S_ISDIR(st.st_mode):
        raise StoreError(f"the store {p} is a folder, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise StoreError(f"the store {p} is not a regular file (a FIFO or device?)")
    if st.st_size > MAX_STORE_BYTES:
        raise StoreError(
            f"the store {p} is {st.st_size / 2**30:.1f} GiB, over the "
            f"{MAX_STORE_BYTES / 2**30:.0f} GiB a store may hold: split it"
        )


def read_store(path: str | os.PathLike[str]) -> tuple[list[Measurement], LoadReport]:
    """Records of one store file; lines that do not parse or validate are skipped and
    reported. Raises :class:`StoreError` only for a file that is not a readable store."""
    p = Path(path)
    report = LoadReport()
    try:
        st = p.stat()
    except FileNotFoundError:
        return [], report
    except OSError as exc:
        raise StoreError(f"cannot read the store {p}: {exc.strerror or exc}") from exc
    _check_regular(p, st)
    out: list[Measurement] = []
    try:
        # O_NONBLOCK: a FIFO swapped in after the stat cannot hang the open.
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise StoreError(f"cannot read the store {p}: {exc.strerror or exc}") from exc
    with os.fdopen(fd, "rb") as fh:
        _check_regular(p, os.fstat(fh.fileno()))
        n = 0
        while True:
            line = fh.readline(MAX_LINE_BYTES + 1)
            if not line:
                break
            n += 1
            complete = line.endswith(b"\n")
            if len(line) > MAX_LINE_BYTES and not complete:
                while line and not line.endswith(b"\n"):  # skip the rest of the long line
                    line = fh.readline(MAX_LINE_BYTES)
                report.skipped += 1
                report.problems.append(f"{p}:{n}: line over {MAX_LINE_BYTES} bytes skipped")
                continue
            if not line.strip():
                continue
            try:
                text = line.decode("utf-8")
                data = json.loads(text)
            except (ValueError, UnicodeDecodeError) as exc:
                report.skipped += 1
                if not complete:
                    report.torn_tail = True
                    report.problems.append(
                        f"{p}:{n}: torn last line skipped (an interrupted write)"
                    )
                else:
                    report.problems.append(f"{p}:{n}: corrupt line skipped ({str(exc)[:80]})")
                continue
            try:
                out.append(validate_record(data))
            except (ValueError, TypeError) as exc:
                report.skipped += 1
                report.problems.append(f"{p}:{n}: invalid record skipped ({str(exc)[:120]})")
    return out, report


_REPORTED: set[str] = set()


def load_measurements(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], warn: bool = True
) -> list[Measurement]:
    """All valid records of one or more store files; bad lines are skipped with a warning,
    once per process for each problem. A store that cannot be read at all is skipped with
    a warning too: the records of the others still count."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out: list[Measurement] = []
    for path in paths:
        try:
            records, report = read_store(path)
        except StoreError as exc:
            records, report = [], LoadReport(problems=[str(exc)])
        out.extend(records)
        if warn:
            for msg in report.problems:
                if msg not in _REPORTED:
                    _REPORTED.add(msg)
                    warnings.warn(msg, StoreWarning, stacklevel=2)
    return out


def done_keys(path: str | os.PathLike[str]) -> set[str]:
    """Keys already measured successfully (what a resumed sweep skips)."""
    records, _ = read_store(path)
    return {m.key for m in records if m.status == "ok"}


# -- writing ------------------------------------------------------------------------------
def write_all(fd: int, data: bytes, write: Callable[[int, memoryview], int] = os.write) -> None:
    """Write every byte of ``data``: ``os.write`` may write fewer bytes than asked (a
    signal, a nearly full disk). Raises OSError when nothing more can be written."""
    view = memoryview(data)
    while view:
        written = write(fd, view)
        if written <= 0:
            raise OSError(errno.ENOSPC, "no byte written (disk full?)")
        view = view[written:]


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM until a record is whole: Python raises KeyboardInterrupt
    between bytecodes, which could fall between two writes of one record. In the main
    thread only (where Python runs signal handlers)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    held = [s for s in (signal.SIGINT, signal.SIGTERM) if signal.getsignal(s) is not None]
    previous = {s: signal.signal(s, lambda n, _f: pending.append(n)) for s in held}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if pending:
            signal.raise_signal(pending[0])


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a folder be fsynced
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _parses(line: bytes) -> bool:
    try:
        json.loads(line.decode("utf-8"))
        return True
    except (ValueError, UnicodeDecodeError):
        return False


def _tail_start(fd: int, size: int) -> tuple[int, bool]:
    """Where the store's garbage tail begins (``size`` when there is none) and whether a
    whole last record only lacks its newline. Garbage: the bytes after the last newline
    unless they parse, and the whole lines before them that are not JSON (NUL bytes, a
    torn record), back to the last line that parses. Whole lines that parse but do not
    validate stay: they are skipped on read, never moved."""
    if size == 0:
        return 0, False
    chunk = min(size, 4 * MAX_LINE_BYTES)
    base = size - chunk
    data = os.pread(fd, chunk, base)
    lines = data.splitlines(keepends=True)
    offsets, pos = [], base
    for line in lines:
        offsets.append(pos)
        pos += len(line)
    start, needs_newline = size, False
    for i in range(len(lines) - 1, -1, -1):
        line = lines[i]
        if i == 0 and base > 0:
            break  # may be the middle of a line the chunk cut: leave it
        whole = line.endswith(b"\n")
        if not line.strip():
            continue  # blank: neither a record nor garbage
        if _parses(line):
            needs_newline = not whole and start == size
            break
        start = offsets[i]
    return start, needs_newline


def quarantine_tail(path: str | os.PathLike[str]) -> Path | None:
    """Move a torn or garbage tail aside to ``<store>.corrupt-<timestamp>`` and cut the
    store back to its last whole record; call under :func:`store_lock`. Returns the
    quarantine file, or None when the tail was clean."""
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDWR | os.O_APPEND)
    except FileNotFoundError:
        return None
    try:
        size = os.fstat(fd).st_size
        start, needs_newline = _tail_start(fd, size)
        if start >= size:
            if needs_newline:  # a whole record that lost only its newline
                write_all(fd, b"\n")
                os.fsync(fd)
            return None
        tail = os.pread(fd, size - start, start)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
        dest = p.with_name(f"{p.name}.corrupt-{stamp}")
        qfd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            write_all(qfd, tail)
            os.fsync(qfd)
        finally:
            os.close(qfd)
        _fsync_dir(p.parent)
        os.ftruncate(fd, start)
        os.fsync(fd)
    finally:
        os.close(fd)
    what = "NUL bytes" if tail.strip(b"\0\n") == b"" else "a torn or garbage tail"
    warnings.warn(
        f"store {p}: {what} ({len(tail)} bytes, an interrupted write) moved to {dest.name}",
        StoreWarning,
        stacklevel=2,
    )
    return dest


def check_writable(path: str | os.PathLike[str]) -> Path:
    """Refuse a store that cannot be written, before anything is measured: a folder, a
    FIFO, a read-only file or folder, a parent that is a file. A new store's folder is
    created (and a probe file created and removed in it); the store file itself is not."""
    p = Path(path).expanduser()
    if str(path).strip() == "":
        raise StoreError("the store path is empty: give a file path, e.g. --store results.jsonl")
    try:
        st = p.stat()
    except FileNotFoundError:
        st = None
    except NotADirectoryError:
        raise StoreError(f"cannot create the store {p}: a parent is a file, not a folder") from None
    except OSError as exc:
        raise StoreError(f"cannot use the store {p}: {exc.strerror or exc}") from exc
    if st is not None:
        _check_regular(p, st)
        try:
            fd = os.open(p, os.O_WRONLY | os.O_APPEND | getattr(os, "O_NONBLOCK", 0))
            os.close(fd)
        except OSError as exc:
            raise StoreError(f"the store {p} is not writable: {exc.strerror or exc}") from exc
        return p
    try:  # the folder must be creatable, and a file creatable in it: try both for real
        p.parent.mkdir(parents=True, exist_ok=True)
        probe = p.parent / f".{p.name}.probe-{os.getpid()}"
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        probe.unlink()
    except OSError as exc:
        raise StoreError(f"cannot create the store {p}: {exc.strerror or exc}") from exc
    return p


def prepare_store(path: str | os.PathLike[str]) -> Path:
    """Everything a sweep checks before it measures into ``path``: writable, a regular
    file, readable, and any torn tail moved aside. Returns the path."""
    p = check_writable(path)
    if p.exists():
        with store_lock(p):
            quarantine_tail(p)
        read_store(p)  # unreadable -> StoreError now, not after measuring
    return p


def append(path: str | os.PathLike[str], m: Measurement) -> None:
    """Append one validated record durably: under the lock, a torn tail moved aside, the
    whole line written, fsync. On a failed write (full disk) the store is cut back to
    where it was, so it never holds half a record; raises :class:`StoreWriteError`."""
    m.validate()
    p = Path(path)
    line = m.to_json().encode("utf-8") + b"\n"
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreWriteError(f"cannot create {p.parent}: {exc.strerror or exc}") from exc
    with store_lock(p):
        created = not p.exists()
        try:
            fd = os.open(p, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreWriteError(f"cannot open the store {p}: {exc.strerror or exc}") from exc
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":  # a torn tail: move it aside
                quarantine_tail(p)
                size = os.fstat(fd).st_size
            failed: OSError | None = None
            with _signals_deferred():  # the record, or the cut back, is whole
                try:
                    write_all(fd, line)
                    os.fsync(fd)
                except OSError as exc:
                    failed = exc
                    with contextlib.suppress(OSError):  # never leave half a record behind
                        os.ftruncate(fd, size)
                        os.fsync(fd)
            if failed is not None:
                raise StoreWriteError(
                    f"could not write a record to {p}: {failed.strerror or failed}; the store "
                    "is unchanged and takes new records once that is fixed"
                ) from failed
        finally:
            os.close(fd)
        if created:
            _fsync_dir(p.parent)


# -- claims -------------------------------------------------------------------------------
def claims_dir(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    return p.with_name(p.name + ".claims")


def _boot_id() -> str:
    with contextlib.suppress(OSError):
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    return ""


def _process_start(pid: int) -> float | None:
    try:
        import psutil

        return float(psutil.Process(pid).create_time())
    except Exception:
        return None


@dataclass(frozen=True)
class Claimant:
    """Who holds a claim: a sweep process, on a host, since when."""

    pid: int
    host: str
    boot_id: str
    started: float  # the claimant process's start time (pid reuse guard)
    sweep: str  # plan or sweep id, for the message
    expires: float  # epoch seconds after which any host may take the claim over

    @classmethod
    def me(cls, sweep: str, ttl_s: float) -> Claimant:
        pid = os.getpid()
        return cls(
            pid,
            socket.gethostname(),
            _boot_id(),
            _process_start(pid) or 0.0,
            sweep,
            time.time() + ttl_s,
        )

    def alive(self) -> bool:
        """Whether the claim still holds: a live process on this host (same boot, same
        start time), or, for another host we cannot see, a claim not yet expired."""
        if self.host != socket.gethostname() or self.boot_id != _boot_id():
            return time.time() < self.expires
        start = _process_start(self.pid)
        return start is not None and abs(start - self.started) < 1.0

    def describe(self) -> str:
        return f"sweep {self.sweep} (pid {self.pid} on {self.host})"


def _read_claim(path: Path) -> Claimant | None:
    try:
        data = json.loads(path.read_bytes()[:4096])
        return Claimant(
            int(data["pid"]),
            str(data["host"]),
            str(data["boot_id"]),
            float(data["started"]),
            str(data["sweep"]),
            float(data["expires"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None  # a half-written claim is a dead claimant's


def claim_cells(
    path: str | os.PathLike[str], keys: Iterable[str], me: Claimant
) -> tuple[list[str], dict[str, str]]:
    """Under the store lock, re-read what is stored and claim each key that is neither
    stored as "ok" nor claimed by a live sweep. Returns (claimed keys, {key: why not})."""
    p = Path(path)
    folder = claims_dir(p)
    claimed: list[str] = []
    refused: dict[str, str] = {}
    with store_lock(p):
        done = done_keys(p)
        folder.mkdir(parents=True, exist_ok=True)
        for key in keys:
            if key in done:
                refused[key] = "already stored"
                continue
            entry = folder / f"{key}.json"
            holder = _read_claim(entry) if entry.exists() else None
            if holder is not None and holder.alive() and holder != me:
                refused[key] = f"being measured by {holder.describe()}"
                continue
            tmp = folder / f".{key}.{os.getpid()}.tmp"
            tmp.write_text(json.dumps(asdict(me)))
            os.replace(tmp, entry)
            claimed.append(key)
    return claimed, refused


def release_claims(path: str | os.PathLike[str], keys: Iterable[str], me: Claimant) -> None:
    """Drop our claims on ``keys`` (finished or abandoned cells); others' are left."""
    folder = claims_dir(path)
    for key in keys:
        entry = folder / f"{key}.json"
        if _read_claim(entry) == me:
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()


__all__ = [
    "FRACTION_METRICS",
    "SCHEMA",
    "Claimant",
    "LoadReport",
    "Measurement",
    "StoreError",
    "StoreWarning",
    "StoreWriteError",
    "append",
    "check_writable",
    "claim_cells",
    "claims_dir",
    "default_store_path",
    "done_keys",
    "identity_key",
    "load_measurements",
    "now_iso",
    "prepare_store",
    "quarantine_tail",
    "read_store",
    "release_claims",
    "store_lock",
    "validate_record",
    "write_all",
]
