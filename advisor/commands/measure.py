"""`advisor measure`: run a quantization-ladder sweep and store every result."""

from __future__ import annotations

import argparse
import json
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
            "it is scored, and a rerun skips what is already stored."
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
        help="items per task (perplexity tasks use their byte budget)",
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
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)


def _fmt_value(row: dict[str, Any]) -> str:
    v, se = row.get("value"), row.get("stderr")
    if v is None:
        return "-"
    if row.get("metric") in {"perplexity", "word_perplexity"}:
        return f"{v:.2f}" + (f" ± {se:.2f}" if se is not None else "")
    return f"{v:.3f}" + (f" ± {se:.3f}" if se is not None else "")


class SweepRenderer:
    """Draws a sweep's events on stderr: a progress bar per task, one line per result."""

    def __init__(self, quiet: bool = False) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.console = Console(stderr=True, quiet=quiet)
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self.bars: dict[tuple[str, str], Any] = {}
        self.started: dict[tuple[str, str], float] = {}

    def __enter__(self) -> SweepRenderer:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, ev: SweepEvent) -> None:
        import time

        say = self.progress.console.print
        d = ev.data
        if ev.kind == "skipped":
            say(f"[dim]{ev.label}: all tasks already stored, skipped[/dim]")
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
        elif ev.kind == "task_done" and d.get("status") == "failed":
            say(f"[red]failed[/red] {ev.label} {d['task']}: {d.get('error')}")
        elif ev.kind == "task_done":
            se = d.get("stderr")
            say(
                f"{ev.label} {d['task']}: {d['metric']} = {d['value']:.4g}"
                + (f" ± {se:.2g}" if se is not None else "")
                + f" (n={d['n']}, {d['seconds']:.0f} s)"
            )


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from advisor.measure.runner import SweepOptions, run_sweep
    from advisor.measure.sources import resolve_sources
    from advisor.measure.store import default_store_path

    store = Path(args.store).expanduser() if args.store else default_store_path()
    sources = resolve_sources(args.models)
    opts = SweepOptions(
        limit=args.limit,
        seed=args.seed,
        context_tokens=args.context,
        threads=args.threads,
        force=args.force,
        speed=not args.no_speed,
        backend=args.backend,
    )
    quants = args.quants or (DEFAULT_LINEAR if args.backend == "transformers" else DEFAULT_QUANTS)
    renderer = SweepRenderer(quiet=args.json)
    with renderer:
        rows = run_sweep(
            [str(s) for s in sources],
            quants.split(","),
            args.tasks.split(","),
            store,
            opts,
            on_event=renderer,
        )
    if args.json:
        print(json.dumps({"store": str(store), "rows": rows}, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"advisor measure -> {store}")
    for col in (
        "model",
        "format",
        "bits/w",
        "task",
        "metric",
        "value ± stderr",
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
    Console().print(table)
    return 1 if any(r.get("status") == "failed" for r in rows) else 0
