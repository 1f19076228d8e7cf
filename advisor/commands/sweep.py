"""`advisor sweep PLAN.toml`: run a sweep plan here (one isolated worker at a time) or on a
Ray cluster (``--executor ray``); ``--dry-run`` lists every cell first."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from advisor.commands.measure import SweepRenderer, print_rows, sigterm_as_interrupt


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "sweep",
        help="run a sweep plan (TOML): models x formats x tasks, locally or on Ray",
        description=(
            "Measure every cell of PLAN.toml (models x formats x tasks; see docs/sweeps.md) "
            "that the store does not hold yet. Each config runs in its own worker with a "
            "memory limit and a timeout; a crash, OOM or timeout is a failed record and the "
            "sweep goes on. Cells another running sweep is measuring are left to it. "
            "Example: advisor sweep plan.toml --dry-run"
        ),
    )
    p.add_argument("plan", metavar="PLAN.toml", help="the sweep plan")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="list every cell (id, stored or not, predicted memory and time); run nothing",
    )
    p.add_argument(
        "--executor",
        choices=["local", "ray"],
        default="local",
        help="local: one worker at a time on this machine; ray: Ray tasks on a cluster "
        "(default local)",
    )
    p.add_argument(
        "--address",
        default=None,
        help="Ray cluster: auto (started with `ray start` here) or ray://host:10001 "
        "(default: $RAY_ADDRESS, else a Ray instance started for this sweep)",
    )
    p.add_argument(
        "--store", default=None, help="JSONL store (default: the plan's, else $ADVISOR_STORE)"
    )
    p.add_argument(
        "--force", action="store_true", help="measure configs the memory guard says will not fit"
    )
    p.add_argument("--no-speed", action="store_true", help="skip the pp512/tg128 speed probe")
    from advisor.commands._output import add_json_flag, add_wide_flag

    add_wide_flag(p)
    add_json_flag(p, "sweep", version=2)
    p.set_defaults(func=run)


def _sources(models: tuple[str, ...], plan_dir: Path) -> list[str]:
    """Model specs with relative paths read from the plan's folder when they are there."""
    from advisor.measure.sources import resolve_sources

    specs = []
    for m in models:
        p = Path(m).expanduser()
        specs.append(str(plan_dir / p) if not p.is_absolute() and (plan_dir / p).exists() else m)
    return [str(s) for s in resolve_sources(specs)]


def _counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    out = {"ok": 0, "failed": 0, "refused": 0, "skipped": 0}
    for r in rows:
        status = str(r.get("status", ""))
        for k in out:
            if status.startswith(k):
                out[k] += 1
    return out


def _seconds(s: float | None) -> str:
    if s is None:
        return "unknown"
    if s < 10:
        return f"{s:.1f} s"
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min"


def run(args: argparse.Namespace) -> int:
    import importlib.util
    import os
    from dataclasses import replace

    from advisor.commands._output import print_json
    from advisor.errors import MissingDependencyError
    from advisor.evidence.metrics import in_shown_units
    from advisor.measure.plan import PlanError, dry_run_rows, load_plan
    from advisor.measure.runner import execute, plan_sweep, sweep_exit_code
    from advisor.measure.store import check_writable, default_store_path
    from advisor.measure.tasks import parse_tasks

    plan = load_plan(args.plan)
    address = args.address
    if address is not None and not address.strip():
        raise PlanError("--address is empty: give auto or ray://host:10001")
    if address is not None and args.executor != "ray":
        raise PlanError("--address is for --executor ray")
    if args.executor == "ray":
        address = address or os.environ.get("RAY_ADDRESS") or None
        if importlib.util.find_spec("ray") is None:
            raise MissingDependencyError("ray", "ray", "--executor ray")
    if args.store is not None and not args.store.strip():
        raise PlanError("--store is empty: give a file path")
    store = Path(args.store).expanduser() if args.store else plan.store or default_store_path()
    if not args.dry_run:
        check_writable(store)
    opts = replace(plan.options, force=args.force, speed=not args.no_speed)
    sources = _sources(plan.models, plan.path.parent)
    configs = plan_sweep(
        sources, list(plan.formats), list(plan.tasks), store, opts, dry_run=args.dry_run
    )
    configs = plan.apply_overrides(configs)
    head = {"plan_id": plan.plan_id, "plan": str(plan.path), "store": str(store)}

    if args.dry_run:
        tasks = {t.name: (t.version, t.kind) for t in parse_tasks(list(plan.tasks))}
        cells = dry_run_rows(configs, opts, store, tasks)
        if args.json:
            print_json({**head, "dry_run": True, "cells": [c.to_dict() for c in cells]}, "sweep", 2)
            return 0
        _print_cells(cells, plan.plan_id, store)
        return 0

    from advisor.measure.executors import get_executor

    executor = get_executor(args.executor, address)
    renderer = SweepRenderer(quiet=args.json)
    with renderer, sigterm_as_interrupt():
        rows = execute(configs, store, opts, renderer, executor)
    code = sweep_exit_code(rows)
    if args.json:
        print_json(
            {
                **head,
                "dry_run": False,
                "executor": args.executor,
                "exit_code": code,
                "counts": _counts(rows),
                "rows": [in_shown_units(r) for r in rows],
            },
            "sweep",
            2,
        )
        return code
    print_rows(rows, f"advisor sweep {plan.plan_id} ({args.executor}) -> {store}")
    return code


def _print_cells(cells: list[Any], plan_id: str, store: Path) -> None:
    from rich.table import Table

    from advisor.commands._output import console

    table = Table(title=f"advisor sweep --dry-run: plan {plan_id}, store {store}")
    for col in ("cell id", "model", "format", "task", "stored", "memory (GiB)", "limit", "time"):
        table.add_column(col, justify="right" if col in {"memory (GiB)", "limit"} else "left")
    for c in cells:
        table.add_row(
            c.cell_id or "(rung not made)",
            c.model,
            c.format,
            c.task,
            c.stored,
            f"{c.predicted_memory_bytes / 2**30:.2f}",
            f"{c.memory_limit_bytes / 2**30:.2f}" if c.memory_limit_bytes else "none",
            _seconds(c.predicted_seconds),
        )
    con = console()
    con.print(table)
    todo = [c for c in cells if c.stored != "yes"]
    known = [c.predicted_seconds for c in todo if c.predicted_seconds is not None]
    loads = {(c.model, c.format): c.predicted_load_seconds for c in todo}
    known += [s for s in loads.values() if s is not None and known]
    timing = (
        f"predicted time: {_seconds(sum(known))} with {len(loads)} model loads (median s/item "
        "and load s per GB of weights of stored records of this backend on this machine; "
        f"{sum(c.predicted_seconds is None for c in todo)} cells unknown)"
        if known
        else "predicted time unknown: no stored records of these tasks and backend here"
    )
    con.print(
        f"{len(cells)} cells, {len(todo)} to measure; predicted memory from the memory model "
        f"(GiB = 2^30 bytes); {timing}"
    )
