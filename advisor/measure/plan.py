"""Sweep plans: a TOML file that says what to measure, validated and bounded before
anything runs, with a stable id, and a dry run that lists every cell.

A plan (every key but ``models``, ``formats`` and ``tasks`` optional)::

    models = ["~/models/Qwen2.5-0.5B-Instruct-Q8_0.gguf",   # a file, a folder,
              "Qwen/Qwen2.5-1.5B-Instruct-GGUF:*q8_0.gguf"]  # or an HF repo[:pattern]
    formats = ["Q8_0", "Q4_K_M", "Q2_K"]
    tasks = ["arc_easy", "lambada"]
    limit = 300            # items per task
    seed = 0
    backend = "llama.cpp"  # or "transformers"
    context = 1024         # tokens
    threads = 4            # per cell (a Ray task declares as many CPUs)
    memory_limit = "auto"  # per cell: "auto" (memory model), "none", or a size: "6GiB"
    timeout_s = 3600       # per task, and for loading the model
    gpus_per_cell = 0      # what a Ray task declares
    store = "results.jsonl"  # default: --store, else $ADVISOR_STORE

    [[override]]           # for the configs that match (glob on the file name, format)
    model = "*1.5B*"
    format = "F16"
    memory_limit = "8GiB"
    timeout_s = 7200

The plan id hashes what decides the results (models as written, formats, tasks, limit,
seed, backend, context); a cell's id is the store's identity key, so ``--dry-run`` and the
store agree on what is done. A ladder rung not made yet has no key until it is made (the
key hashes the file): the dry run says so rather than quantizing.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import os
import stat
import statistics
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from advisor.errors import AdvisorError
from advisor.measure.runner import (
    BACKENDS,
    ConfigPlan,
    SweepOptions,
    cell_memory_limit,
    predicted_footprint,
    validate_options,
)
from advisor.measure.store import identity_key, read_store

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

MAX_PLAN_BYTES = 256 * 1024
MAX_MODELS = 1000
MAX_FORMATS = 100
MAX_TASKS = 200
MAX_OVERRIDES = 1000
MAX_CELLS = 100_000
MAX_TEXT = 4096

_KEYS = {
    "models", "formats", "tasks", "limit", "seed", "backend", "context", "threads",
    "memory_limit", "timeout_s", "gpus_per_cell", "store", "override",
}  # fmt: skip
_OVERRIDE_KEYS = {"model", "format", "memory_limit", "timeout_s"}


class PlanError(AdvisorError):
    """A sweep plan that cannot be run as written (one line, exit 2)."""


@dataclass(frozen=True)
class Override:
    """Limits for the configs whose model file name matches ``model`` (a glob) and whose
    format is ``format`` (either may be absent, not both)."""

    model: str | None
    format: str | None
    memory_limit_bytes: int | None = None
    timeout_s: float | None = None

    def matches(self, plan: ConfigPlan) -> bool:
        names = {Path(plan.source).name, plan.model.get("model_name", "")}
        if self.model is not None and not any(
            fnmatch.fnmatch(n.lower(), self.model.lower()) for n in names
        ):
            return False
        return self.format is None or self.format.upper() == plan.format.upper()


@dataclass(frozen=True)
class SweepPlan:
    """A validated plan: what to measure, how, and its stable id."""

    path: Path
    models: tuple[str, ...]
    formats: tuple[str, ...]
    tasks: tuple[str, ...]
    options: SweepOptions
    overrides: tuple[Override, ...] = ()
    store: Path | None = None
    plan_id: str = field(default="")

    def apply_overrides(self, plans: list[ConfigPlan]) -> list[ConfigPlan]:
        """The configs with each matching override's limits (later overrides win)."""
        out = []
        for p in plans:
            for o in self.overrides:
                if o.matches(p):
                    if o.memory_limit_bytes is not None:
                        p = replace(p, memory_limit_bytes=o.memory_limit_bytes)
                    if o.timeout_s is not None:
                        p = replace(p, timeout_s=o.timeout_s)
            out.append(p)
        return out


def _where(path: Path, key: str) -> str:
    return f"{path}: {key}"


def _text_list(path: Path, raw: dict[str, Any], key: str, most: int) -> tuple[str, ...]:
    value = raw.get(key)
    if value is None:
        raise PlanError(f"{_where(path, key)} is missing: list at least one")
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise PlanError(f"{_where(path, key)} must be a non-empty list of strings")
    if len(value) > most:
        raise PlanError(f"{_where(path, key)} has {len(value)} entries; at most {most}")
    out = []
    for v in value:
        if not isinstance(v, str) or not v.strip():
            raise PlanError(f"{_where(path, key)} holds {v!r:.60}: every entry must be a name")
        if len(v) > MAX_TEXT:
            raise PlanError(f"{_where(path, key)} holds a {len(v)}-character entry")
        out.append(v.strip())
    return tuple(dict.fromkeys(out))


def _int(path: Path, raw: dict[str, Any], key: str, default: int | None) -> int | None:
    value = raw.get(key, default)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise PlanError(f"{_where(path, key)} must be a whole number, not {value!r:.60}")
    return value


def _seconds(path: Path, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PlanError(f"{_where(path, key)} must be a number of seconds, not {value!r:.60}")
    return float(value)


def _memory(path: Path, key: str, value: Any) -> str:
    """ "auto" | "none" | bytes as a decimal string."""
    from advisor.units import SizeError, parse_size

    if isinstance(value, str) and value.strip().lower() in ("auto", "none"):
        return value.strip().lower()
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise PlanError(f"{_where(path, key)} must be 'auto', 'none' or a size like '6GiB'")
    if isinstance(value, int):
        size = value
    else:
        try:
            size = parse_size(value)
        except SizeError as exc:
            raise PlanError(f"{_where(path, key)}: {exc}") from exc
    if not 64 * 2**20 <= size <= 2**50:
        raise PlanError(f"{_where(path, key)} must be from 64 MiB to 1 PiB, not {value!r:.60}")
    return str(size)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise PlanError(f"no such plan file: {path}") from None
    except OSError as exc:
        raise PlanError(f"cannot read the plan {path}: {exc.strerror or exc}") from exc
    if stat.S_ISDIR(st.st_mode):
        raise PlanError(f"{path} is a folder, not a plan file")
    if not stat.S_ISREG(st.st_mode):
        raise PlanError(f"{path} is not a regular file")
    if st.st_size > MAX_PLAN_BYTES:
        raise PlanError(f"{path} is {st.st_size} bytes; a plan is at most {MAX_PLAN_BYTES}")
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_PLAN_BYTES + 1)
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise PlanError(f"{path} is not UTF-8 text ({exc.reason})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise PlanError(f"{path} is not valid TOML: {exc}") from exc
    except OSError as exc:
        raise PlanError(f"cannot read the plan {path}: {exc.strerror or exc}") from exc


def plan_id(
    models: tuple[str, ...], formats: tuple[str, ...], tasks: tuple[str, ...], opts: SweepOptions
) -> str:
    """Stable id of what a plan measures (not of how: threads and limits are left out)."""
    ident = {
        "models": list(models),
        "formats": [f.upper() for f in formats],
        "tasks": list(tasks),
        "limit": opts.limit,
        "seed": opts.seed,
        "backend": opts.backend,
        "context_tokens": opts.context_tokens,
    }
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:12]


def load_plan(path: str | os.PathLike[str]) -> SweepPlan:
    """Read and validate a plan file; raises :class:`PlanError` with one line."""
    p = Path(path).expanduser()
    if not str(path).strip():
        raise PlanError("the plan path is empty: give a .toml file")
    raw = _read_toml(p)
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise PlanError(f"{p}: unknown key {unknown[0]!r}; known: {', '.join(sorted(_KEYS))}")
    models = _text_list(p, raw, "models", MAX_MODELS)
    formats = _text_list(p, raw, "formats", MAX_FORMATS)
    tasks = _text_list(p, raw, "tasks", MAX_TASKS)
    if len(models) * len(formats) * len(tasks) > MAX_CELLS:
        raise PlanError(f"{p} asks for more than {MAX_CELLS} cells: split it into several plans")
    backend = raw.get("backend", "llama.cpp")
    if backend not in BACKENDS:
        raise PlanError(f"{_where(p, 'backend')} must be one of {', '.join(BACKENDS)}")
    opts = SweepOptions(
        limit=_int(p, raw, "limit", None),
        seed=_int(p, raw, "seed", 0) or 0,
        context_tokens=_int(p, raw, "context", 1024) or 0,
        threads=_int(p, raw, "threads", None),
        backend=backend,
        memory_limit=_memory(p, "memory_limit", raw.get("memory_limit", "auto")),
        timeout_s=_seconds(p, "timeout_s", raw.get("timeout_s", 6 * 3600.0)),
        gpus_per_cell=_seconds(p, "gpus_per_cell", raw.get("gpus_per_cell", 0)),
    )
    try:
        validate_options(opts)
    except AdvisorError as exc:
        raise PlanError(f"{p}: {exc}".replace("--", "")) from exc
    overrides = _overrides(p, raw.get("override", []))
    store = raw.get("store")
    if store is not None and (not isinstance(store, str) or not store.strip()):
        raise PlanError(f"{_where(p, 'store')} must be a file path")
    pid = plan_id(models, formats, tasks, opts)
    opts = replace(opts, sweep_id=pid)
    return SweepPlan(
        path=p,
        models=models,
        formats=formats,
        tasks=tasks,
        options=opts,
        overrides=overrides,
        store=(p.parent / Path(store).expanduser()) if store else None,
        plan_id=pid,
    )


def _overrides(p: Path, raw: Any) -> tuple[Override, ...]:
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list):
        raise PlanError(f"{_where(p, 'override')} must be [[override]] tables")
    if len(raw) > MAX_OVERRIDES:
        raise PlanError(f"{_where(p, 'override')}: at most {MAX_OVERRIDES} overrides")
    out = []
    for i, o in enumerate(raw, 1):
        where = f"override {i}"
        if not isinstance(o, dict):
            raise PlanError(f"{_where(p, where)} must be a table")
        unknown = sorted(set(o) - _OVERRIDE_KEYS)
        if unknown:
            raise PlanError(
                f"{_where(p, where)}: unknown key {unknown[0]!r}; known: "
                f"{', '.join(sorted(_OVERRIDE_KEYS))}"
            )
        for k in ("model", "format"):
            if k in o and (not isinstance(o[k], str) or not o[k].strip()):
                raise PlanError(f"{_where(p, where)}: {k} must be a non-empty string")
        if "model" not in o and "format" not in o:
            raise PlanError(f"{_where(p, where)} must say which configs: model and/or format")
        if "memory_limit" not in o and "timeout_s" not in o:
            raise PlanError(f"{_where(p, where)} sets nothing: memory_limit and/or timeout_s")
        mem = (
            _memory(p, f"{where}.memory_limit", o["memory_limit"]) if "memory_limit" in o else None
        )
        timeout = _seconds(p, f"{where}.timeout_s", o["timeout_s"]) if "timeout_s" in o else None
        if timeout is not None and not 1 <= timeout <= 7 * 24 * 3600:
            raise PlanError(f"{_where(p, where)}: timeout_s must be from 1 s to 7 days")
        if mem == "auto":
            mem = None
        if mem == "none":
            raise PlanError(f"{_where(p, where)}: memory_limit 'none' is a sweep-wide setting")
        out.append(
            Override(
                model=o.get("model"),
                format=o.get("format"),
                memory_limit_bytes=int(mem) if mem is not None else None,
                timeout_s=timeout,
            )
        )
    return tuple(out)


# -- dry run --------------------------------------------------------------------------------
@dataclass(frozen=True)
class CellRow:
    """One cell of a plan as the dry run shows it."""

    cell_id: str | None  # the store's identity key; None while the rung is not made
    model: str
    format: str
    task: str
    stored: str  # "yes", "no", "unknown (rung not made yet)"
    predicted_memory_bytes: int
    predicted_seconds: float | None
    time_basis: str
    memory_limit_bytes: int | None
    timeout_s: float
    predicted_load_seconds: float | None = None  # the config's model load, once per config

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def load_seconds_of(clock: TimeModel, weight_bytes: int) -> float | None:
    """Predicted seconds to load a model of ``weight_bytes`` (None without records)."""
    return statistics.median(clock.load) * weight_bytes / 1e9 if clock.load else None


def _cpu_model(name: Any) -> str:
    return str(name or "").split("@")[0].strip().lower()  # the clock suffix comes and goes


def _same_machine(hw: dict[str, Any], here: dict[str, Any]) -> bool:
    """The same kind of machine: CPU model, cores, GPUs and RAM within 2%."""
    ram, ram_here = hw.get("ram_bytes") or 0, here.get("ram_bytes") or 0
    return (
        _cpu_model(hw.get("cpu")) == _cpu_model(here.get("cpu"))
        and hw.get("cores") == here.get("cores")
        and [g.get("name") for g in hw.get("gpus") or []]
        == [g.get("name") for g in here.get("gpus") or []]
        and abs(ram - ram_here) <= 0.02 * max(ram, ram_here, 1)
    )


class TimeModel:
    """Seconds per item per GB of weights, per task, from stored records of one backend
    on this machine (median); "unknown" where there are none."""

    def __init__(self, store: Path, backend: str) -> None:
        from advisor.locations import measurements_dir
        from advisor.profiles.detect import fingerprint

        here = fingerprint()
        paths = [store]
        with contextlib.suppress(Exception):
            paths += sorted(measurements_dir().glob("*.jsonl"))
        self.rates: dict[str, list[float]] = {}
        self.items: dict[str, list[int]] = {}
        self.load: list[float] = []
        for path in paths:
            try:
                records, _ = read_store(path)
            except AdvisorError:
                continue
            for m in records:
                if m.status != "ok" or m.backend != backend or not _same_machine(m.hardware, here):
                    continue
                weight_gb = (m.footprint.get("weight_bytes") or 0) / 1e9
                secs, items = m.config.get("task_seconds"), m.config.get("items")
                if weight_gb <= 0 or not isinstance(secs, (int, float)) or not items:
                    continue
                self.rates.setdefault(m.task, []).append(float(secs) / int(items) / weight_gb)
                self.items.setdefault(m.task, []).append(int(items))
                load = m.config.get("load_seconds")
                if isinstance(load, (int, float)):
                    self.load.append(float(load) / weight_gb)

    def predict(self, task: str, items: int | None, weight_bytes: int) -> tuple[float | None, str]:
        """``items``: how many the cell scores (None: as many as stored records did, for
        tasks whose size is their data's, e.g. perplexity over a byte budget)."""
        rates = self.rates.get(task)
        if not rates:
            return None, "unknown: no stored record of this task and backend on this machine"
        n = items if items is not None else int(statistics.median(self.items[task]))
        seconds = statistics.median(rates) * n * weight_bytes / 1e9
        return seconds, f"median s/item per GB of weights of {len(rates)} stored records here"


UNLIMITED_KINDS = ("rolling_perplexity", "kl_divergence")  # sized by their data, not --limit


def dry_run_rows(
    plans: list[ConfigPlan], opts: SweepOptions, store: Path, tasks: dict[str, tuple[int, str]]
) -> list[CellRow]:
    """Every cell of the planned configs: id, stored or not, predicted memory and time.
    ``tasks``: name -> (version, kind), in the plan's order."""
    """Every cell of the planned configs: id, stored or not, predicted memory and time."""
    from advisor.measure.store import done_keys

    done = done_keys(store)
    clock = TimeModel(store, opts.backend)
    cfg = {"limit": opts.limit, "seed": opts.seed, "context_tokens": opts.context_tokens}
    rows: list[CellRow] = []
    for plan in plans:
        predicted = plan.predicted_bytes or predicted_footprint(
            plan, opts.context_tokens, opts.backend
        )
        plan.predicted_bytes = predicted
        weight = int(plan.model.get("params", 0) * plan.bits_per_weight / 8)
        limit = cell_memory_limit(plan, opts)
        names = [t["name"] for t in plan.tasks] + list(plan.skipped_tasks)
        load_s = load_seconds_of(clock, weight)
        order = list(tasks)
        for name in sorted(names, key=order.index):
            version, kind = tasks[name]
            key = (
                identity_key(plan.sha256, opts.backend, plan.format, name, version, cfg)
                if plan.sha256
                else None
            )
            stored = "unknown (rung not made yet)" if key is None else (
                "yes" if key in done else "no"
            )  # fmt: skip
            items = None if kind in UNLIMITED_KINDS else opts.limit
            seconds, basis = clock.predict(name, items, weight)
            rows.append(
                CellRow(
                    cell_id=key,
                    model=plan.model["model_name"],
                    format=plan.format,
                    task=name,
                    stored=stored,
                    predicted_memory_bytes=predicted,
                    predicted_seconds=seconds,
                    time_basis=basis,
                    memory_limit_bytes=limit,
                    timeout_s=float(plan.timeout_s or opts.timeout_s),
                    predicted_load_seconds=load_s,
                )
            )
    return rows


__all__ = [
    "CellRow",
    "Override",
    "PlanError",
    "SweepPlan",
    "TimeModel",
    "dry_run_rows",
    "load_plan",
    "plan_id",
]
