"""Time from `advisor tui` process start to the first paint, median of several runs.

Each run is a fresh interpreter (imports included, as a user sees it) running the app
headless at 80×24; the child prints a line when Textual's ``Ready`` event arrives (it is
posted right after the first frame is composited) and another when the first ranking is
in the table. The baseline, measured in the same run, is a bare Textual app (Header,
Static, Footer) timed the same way: the ratio is what advisor adds to Textual itself.
Also reported: live re-ranking latency (recommend + table/chart/detail update) for budget
changes typed into a running app. Goal: first paint under 1 s.

    python benchmarks/tui_startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

CHILD = r"""
import sys, time
from textual.app import App

mode = sys.argv[1]


def on_ready(self):
    print("painted", flush=True)
    if mode == "bare":
        self.exit()
        return

    def check():
        if self.main.rec is not None:
            print("ranked", flush=True)
            self.exit()

    self.set_interval(0.005, check)


if mode == "bare":
    from textual.widgets import Footer, Header, Static

    class Bare(App):
        def compose(self):
            yield Header()
            yield Static("hello")
            yield Footer()

    app = Bare()
else:
    from advisor.tui import create_app

    app = create_app(theme="dark")
app.__class__ = type("Bench", (type(app),), {"on_ready": on_ready})
app.run(headless=True, size=(80, 24))
"""


def one_run(mode: str) -> tuple[float, float | None]:
    """Seconds to first paint (and to the first ranking shown, for advisor)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, mode], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    assert proc.stdout is not None
    painted = ranked = None
    for line in proc.stdout:
        now = time.perf_counter() - start
        if line.startswith("painted"):
            painted = now
        elif line.startswith("ranked"):
            ranked = now
    if proc.wait(timeout=60) != 0 or painted is None:
        raise SystemExit(f"{mode} run failed (exit {proc.returncode})")
    return painted, ranked


async def rerank_latency(budgets: list[str]) -> list[float]:
    """Milliseconds from a budget change to the ranking shown, in a running app."""
    from advisor.tui import create_app
    from advisor.units import parse_size

    app = create_app(theme="dark", budget="24GB")
    out = []
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        budget = app.main.query_one("#budget")
        for text in budgets:
            start = time.perf_counter()
            budget.value = text  # type: ignore[attr-defined]
            while app.main.rec is None or app.main.rec.budget_bytes != parse_size(text):
                await asyncio.sleep(0.001)
                if time.perf_counter() - start > 5:
                    break
            await pilot.pause()
            out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    one_run("bare")  # warm the file cache once
    bare: list[float] = []
    paint: list[float] = []
    ranked: list[float] = []
    for _ in range(args.runs):  # interleaved, so load changes hit both alike
        bare.append(one_run("bare")[0])
        p, r = one_run("advisor")
        paint.append(p)
        if r is not None:
            ranked.append(r)
    b, a = statistics.median(bare), statistics.median(paint)
    print(f"runs: {args.runs} each, fresh interpreter per run, headless 80x24")
    print(f"bare Textual app, first paint   median {b * 1000:6.0f} ms")
    print(f"advisor tui, first paint        median {a * 1000:6.0f} ms  ({a / b:.2f}x bare)")
    if ranked:
        r = statistics.median(ranked)
        print(f"advisor tui, first ranking shown median {r * 1000:6.0f} ms")
    latencies = asyncio.run(rerank_latency(["8.0GB", "12.0GB", "16.0GB", "20.0GB", "32.0GB"]))
    print(
        f"live re-rank (budget typed -> table, chart, detail updated): median "
        f"{statistics.median(latencies):.0f} ms, max {max(latencies):.0f} ms"
    )
    print(f"goal: first paint < 1000 ms -> {'met' if a < 1.0 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
