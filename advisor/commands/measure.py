"""`advisor measure`: run a quantization-ladder sweep and store every result."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from advisor.measure.runner import SweepEvent

DEFAULT_QUANTS = "Q8_0,Q6_K,Q4_K_M,Q4_0,Q2_K"
DEFAULT_TASKS = "arc_easy,lambada,lambada_ppl,arithmetic"
DEFAULT_LINEAR = "bf16,int8,nf4,fp4"  # --backend transformers


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "measure",
        help="measure models x quant formats x tasks on this machine (llama.cpp)",
        description=(
            "Quantize MODEL.gguf to each --quants type (cached), then measure every task in "
            "a fresh process per format; each result is appended to the store as soon as "
            "it is scored, and a rerun skips what is already stored. Example: advisor "
            "measure ~/models/Qwen2.5-0.5B-Instruct-F16.gguf --quants Q8_0,Q4_K_M --tasks "
            "arc_easy --limit 200"
        ),
    )
    p.add_argument(
        "models", nargs="+", metavar="MODEL", help="GGUF file(s), folder or HF repo[:pattern]"
    )
    p.add_argument(
        "--backend",
        choices=["llama.cpp", "transformers"],
        default="llama.cpp",
        help="llama.cpp (GGUF types) or transformers (load-time bitsandbytes formats)",
    )
    p.add_argument(
        "--quants",
        default=None,
        help=f"comma-separated formats (default {DEFAULT_QUANTS}; transformers {DEFAULT_LINEAR})",
    )
    p.add_argument(
        "--tasks",
        default=DEFAULT_TASKS,
        help=f"comma-separated task names or .toml paths (default {DEFAULT_TASKS})",
    )
    p.add_argument(
        "--limit",
        type=int,
        default=None,
        help="items per task; perplexity tasks use their byte budget (default: every item)",
    )
    p.add_argument("--seed", type=int, default=0, help="item selection seed (default 0)")
    p.add_argument(
        "--context", type=int, default=1024, help="context tokens per sequence (default 1024)"
    )
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: all available)")
    p.add_argument(
        "--store", default=None, help="JSONL store (default $ADVISOR_STORE or the user data dir)"
    )
    p.add_argument(
        "--force", action="store_true", help="measure configs the memory model says will not fit"
    )
    p.add_argument("--no-speed", action="store_true", help="skip the pp512/tg128 speed probe")
    p.add_argument(
        "--timeout",
        type=float,
        default=6 * 3600.0,
        help="seconds a task (or loading the model) may take before its worker is stopped "
        "and the task recorded as failed (default 21600)",
    )
    p.add_argument(
        "--memory-limit",
        default="auto",
        help="per config: auto (memory model with headroom), none, or a size like 6GiB",
    )
    from advisor.commands._output import add_json_flag, add_wide_flag

    add_wide_flag(p)
    add_json_flag(p, "measure", version=2)
    p.set_defaults(func=run)


def measured_text(metric: str, value: float | None, stderr: float | None) -> str:
    """A measurement as shown everywhere: ``49.7 ± 2.9 se %`` (accuracy in percent; the
    store keeps a fraction), ``45.40 ± 2.40 se`` (perplexity)."""
    from advisor.evidence.metrics import metric_info

    if value is None:
        return "-"
    info = metric_info(metric)
    percent = info.unit == "percent"
    scale = info.stored_scale
    digits = 1 if percent else 2
    text = f"{value * scale:.{digits}f}"
    if stderr is not None:
        text += f" ± {stderr * scale:.{digits}f} se"
    return text + (" %" if percent else "")


def _fmt_value(row: dict[str, Any]) -> str:
    return measured_text(str(row.get("metric") or ""), row.get("value"), row.get("stderr"))


class SweepRenderer:
    """Draws a sweep's events on stderr: a progress bar per task, one line per result."""

    def __init__(self, quiet: bool = False) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        from advisor.commands._output import progress_display, stderr_console

        self.console = stderr_console(quiet)
        # Bars on a terminal; on a log or a pipe, a plain line per task now and then.
        self.progress = progress_display(
            self.console,
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
        )
        self.bars: dict[tuple[str, str], Any] = {}
        self.started: dict[tuple[str, str], float] = {}
        self.overall: Any = None  # one bar for the whole sweep: cells done of cells queued
        self.cells_total = 0

    def __enter__(self) -> SweepRenderer:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, ev: SweepEvent) -> None:
        import time

        say = self.progress.console.print
        d = ev.data
        if ev.kind == "queued":
            self.cells_total += int(d.get("tasks") or 0)
            if self.overall is None:
                self.overall = self.progress.add_task("sweep", total=self.cells_total, rate="")
            self.progress.update(self.overall, total=self.cells_total)
        elif ev.kind == "skipped" and d.get("reason"):
            say(f"[dim]{ev.label}: skipped ({d['reason']})[/dim]")
        elif ev.kind == "skipped":
            say(f"[dim]{ev.label}: all tasks already stored, skipped[/dim]")
        elif ev.kind == "restarted":
            say(f"[yellow]restarted[/yellow] {ev.label}: {d.get('reason')}")
        elif ev.kind == "started":
            limit = d.get("memory_limit_bytes")
            held = (
                f"memory limit {limit / 2**30:.2f} GiB ({d.get('enforcement')})"
                if limit
                else "no memory limit"
            )
            say(
                f"[dim]{ev.label}: worker {d.get('pid')} on {d.get('host')}, {held}, "
                f"timeout {d.get('timeout_s', 0):.0f} s per task[/dim]"
            )
        elif ev.kind == "refused":
            say(f"[yellow]refused[/yellow] {ev.label}: {d['reason']} (--force to try anyway)")
        elif ev.kind == "loaded":
            sp = d.get("speed") or {}
            speed = (
                f", pp {sp['prompt_tokens_per_s']:.0f} tok/s, tg {sp['gen_tokens_per_s']:.0f} tok/s"
                if sp.get("prompt_tokens_per_s")
                else ""
            )
            say(f"{ev.label}: loaded in {d['load_s']:.1f} s{speed}")
        elif ev.kind == "task_start":
            key = (ev.label, d["task"])
            self.bars[key] = self.progress.add_task(
                f"{ev.label} {d['task']}", total=d["n"], rate=""
            )
            self.started[key] = time.perf_counter()
        elif ev.kind == "progress":
            key = (ev.label, d["task"])
            dt = time.perf_counter() - self.started[key]
            rate = f"{d['done'] / dt:.1f} items/s" if dt > 0 else ""
            self.progress.update(self.bars[key], completed=d["done"], rate=rate)
        if ev.kind == "task_done" and self.overall is not None:
            self.progress.advance(self.overall)
        if ev.kind == "task_done" and d.get("status") == "failed":
            say(f"[red]failed[/red] {ev.label} {d['task']}: {d.get('error')}")
        elif ev.kind == "task_done":
            shown = measured_text(str(d.get("metric") or ""), d.get("value"), d.get("stderr"))
            say(
                f"{ev.label} {d['task']}: {d['metric']} = {shown} "
                f"(n={d['n']}, {d.get('seconds') or 0:.0f} s)"
            )


def split_list(value: str, flag: str) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``; an empty list is bad input, not the default."""
    from advisor.measure.runner import SweepError

    items = [x.strip() for x in value.split(",") if x.strip()]
    if not items:
        raise SweepError(f"{flag} is empty: name at least one, or leave {flag} out")
    return items


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM stops a sweep as Ctrl-C does: the worker is killed, whole records stay,
    claims are released, temporary ladder files are removed."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def memory_limit_option(text: str) -> str:
    """``auto`` | ``none`` | a size (``6GiB``, ``8GB``) -> the option's string form."""
    from advisor.measure.runner import SweepError
    from advisor.units import parse_size

    t = text.strip().lower()
    if t in ("auto", "none"):
        return t
    if not t:
        raise SweepError("--memory-limit is empty: give auto, none or a size like 6GiB")
    return str(parse_size(text))


def build_options(args: argparse.Namespace) -> tuple[list[str], list[str], Any]:
    """Formats, tasks and options from the command line, all validated (exit 2) before
    any file is read or written."""
    from advisor.measure.runner import SweepError, SweepOptions, validate_options

    if args.quants is not None:
        quants = split_list(args.quants, "--quants")
    else:
        quants = (DEFAULT_LINEAR if args.backend == "transformers" else DEFAULT_QUANTS).split(",")
    tasks = split_list(args.tasks, "--tasks")
    if any(not str(m).strip() for m in args.models):
        raise SweepError("a MODEL argument is empty: give a GGUF path, folder or HF repo id")
    opts = SweepOptions(
        limit=args.limit,
        seed=args.seed,
        context_tokens=args.context,
        threads=args.threads,
        force=args.force,
        speed=not args.no_speed,
        backend=args.backend,
        memory_limit=memory_limit_option(args.memory_limit),
        timeout_s=args.timeout,
    )
    validate_options(opts)
    return quants, tasks, opts


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from advisor.commands._output import print_json
    from advisor.measure.runner import SweepError, run_sweep, sweep_exit_code
    from advisor.measure.sources import resolve_sources
    from advisor.measure.store import check_writable, default_store_path

    quants, tasks, opts = build_options(args)
    if args.store is not None and not args.store.strip():
        raise SweepError("--store is empty: give a file path")
    store = Path(args.store).expanduser() if args.store else default_store_path()
    check_writable(store)
    sources = resolve_sources(args.models)
    renderer = SweepRenderer(quiet=args.json)
    with renderer, sigterm_as_interrupt():
        rows = run_sweep([str(s) for s in sources], quants, tasks, store, opts, on_event=renderer)
    code = sweep_exit_code(rows)
    if args.json:
        from advisor.evidence.metrics import in_shown_units

        shown = [in_shown_units(r) for r in rows]
        print_json({"store": str(store), "exit_code": code, "rows": shown}, "measure", 2)
        return code
    print_rows(rows, f"advisor measure -> {store}")
    return code


def print_rows(rows: list[dict[str, Any]], title: str) -> None:
    """The summary table of a sweep: one line per cell (whole cells when piped or --wide)."""
    from rich.table import Table

    from advisor.commands._output import console

    table = Table(title=title)
    for col in (
        "model",
        "format",
        "bits/w",
        "task",
        "metric",
        "measured ± se",
        "n",
        "peak RSS",
        "pp tok/s",
        "tg tok/s",
        "status",
    ):
        table.add_column(
            col,
            justify="right"
            if col in {"bits/w", "n", "peak RSS", "pp tok/s", "tg tok/s"}
            else "left",
        )
    for r in rows:
        rss = r.get("peak_rss_bytes")
        table.add_row(
            str(r["model"]),
            str(r["format"]),
            f"{r['bits_per_weight']:.2f}" if r.get("bits_per_weight") else "",
            str(r.get("task", "")),
            str(r.get("metric") or ""),
            _fmt_value(r),
            str(r.get("n") or ""),
            f"{rss / 2**20:.0f} MiB" if rss else "",
            f"{r['prompt_tokens_per_s']:.0f}" if r.get("prompt_tokens_per_s") else "",
            f"{r['gen_tokens_per_s']:.0f}" if r.get("gen_tokens_per_s") else "",
            str(r.get("status")) + (f": {r['error']}" if r.get("error") else ""),
        )
    console().print(table)
