"""Median wall time of `advisor recommend --vram 24GB` as a fresh process.

Goal: under 2 s on a 2-core machine (it ranks ~1,700 configs and, for the default 5 tok/s
floor, places and times every one that fits). The baseline, measured in the same run, is a
bare Python interpreter start (`python -c pass`): the ratio shows what advisor adds to it.

    python benchmarks/recommend_latency.py [--runs 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

GOAL_S = 2.0


def wall_times(cmd: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    cases = {
        "python -c pass (baseline)": [sys.executable, "-c", "pass"],
        "advisor recommend --vram 24GB": [
            sys.executable, "-m", "advisor", "recommend", "--vram", "24GB",
        ],
        "advisor recommend --vram 24GB --json": [
            sys.executable, "-m", "advisor", "recommend", "--vram", "24GB", "--json",
        ],
    }  # fmt: skip
    medians = {}
    for name, cmd in cases.items():
        wall_times(cmd, 2)  # warm the page cache
        medians[name] = statistics.median(wall_times(cmd, args.runs))
    base = medians["python -c pass (baseline)"]
    for name, median in medians.items():
        print(f"{name:<40} median {median * 1000:7.1f} ms  ({median / base:4.1f}x baseline)")
    target = medians["advisor recommend --vram 24GB"]
    verdict = "meets" if target < GOAL_S else "misses"
    print(f"\nadvisor recommend --vram 24GB: {target:.3f} s median — {verdict} the {GOAL_S} s goal")
    return 0


if __name__ == "__main__":
    sys.exit(main())
