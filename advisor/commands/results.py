"""`advisor results`: what has been measured, from the bundled and your own stores."""

from __future__ import annotations

import argparse
from pathlib import Path

from advisor.commands._output import add_json_flag, add_wide_flag, print_json, text_table


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "results",
        help="list stored measurements (bundled and yours), one row per model × format × task",
        description="List the measurements in the stores: model, backend, format, task, the "
        "value with its standard error and n, peak memory, prompt and decode speed, date. "
        "Accuracy in percent. Example: advisor results --store ~/runs.jsonl --task arc_easy",
    )
    p.add_argument(
        "--store",
        action="append",
        metavar="PATH",
        help="store file(s) to read, ~ expanded; a missing file is an error (repeatable; "
        "default: the bundled measurements/ and your store)",
    )
    p.add_argument(
        "--model", help="only models whose name contains this text (default: every model)"
    )
    p.add_argument("--task", help="only this task (default: every task)")
    p.add_argument("--failed", action="store_true", help="include failed cells")
    p.add_argument("--markdown", action="store_true", help="print a Markdown table")
    add_wide_flag(p)
    add_json_flag(p, "results", version=2)
    p.set_defaults(func=run)


def _value(m: object) -> str:
    """The primary value in the unit the metric table gives it: accuracy in percent
    (stored as a fraction), perplexity as is; the standard error marked ``se``."""
    from advisor.evidence.metrics import metric_info

    value, stderr, metric = getattr(m, "value", None), getattr(m, "stderr", None), m.metric  # type: ignore[attr-defined]
    if value is None:
        return "-"
    info = metric_info(metric)
    scale = info.stored_scale
    digits = 1 if info.unit == "percent" else (4 if info.quantity == "divergence" else 2)
    text = f"{value * scale:.{digits}f}"
    return text + (f" ± {stderr * scale:.{digits}f} se" if stderr is not None else "")


def _kld(m: object) -> tuple[str, str]:
    """(mean KLD, same top token %) of the record's file against its ladder's top rung."""
    metrics = getattr(m, "metrics", {}) or {}
    kl, same = metrics.get("mean_kld", {}), metrics.get("same_top_p", {})
    kl_v, same_v = kl.get("value"), same.get("value")
    return (
        f"{kl_v:.4f}" if isinstance(kl_v, (int, float)) else "-",
        f"{same_v:.1f}" if isinstance(same_v, (int, float)) else "-",
    )


def _store_paths(given: list[str]) -> list[Path]:
    """The stores named with --store: existing regular files (a folder or a FIFO would
    fail or block later)."""
    from advisor.errors import AdvisorError

    paths = []
    for raw in given:
        if not raw.strip():
            raise AdvisorError("--store is empty: give the path of a .jsonl store")
        path = Path(raw).expanduser()
        if not path.exists():
            raise AdvisorError(f"no such store: {path}")
        if path.is_dir():
            raise AdvisorError(f"the store {path} is a folder, not a .jsonl file")
        if not path.is_file():
            raise AdvisorError(f"the store {path} is not a regular file")
        paths.append(path)
    return paths


def _task(raw: str) -> str:
    from advisor.errors import AdvisorError
    from advisor.evidence.tasks import known_tasks

    task = raw.strip()
    if not task:
        raise AdvisorError("--task is empty: give a task name, e.g. --task mmlu")
    if task not in known_tasks():
        raise AdvisorError(f"unknown task {raw!r}: try mmlu, arc_easy, humaneval or kld")
    return task


def run(args: argparse.Namespace) -> int:
    from advisor.errors import AdvisorError
    from advisor.evidence import store_paths
    from advisor.measure.store import load_measurements

    paths = _store_paths(args.store) if args.store is not None else store_paths()
    if args.task is not None:
        args.task = _task(args.task)
    if args.model is not None and not args.model.strip():
        raise AdvisorError("--model is empty: give part of a model name, e.g. --model qwen")
    records = [
        m
        for m in load_measurements(paths)
        if (args.failed or m.status == "ok")
        and (not args.model or args.model.lower() in m.model_name.lower())
        and (not args.task or m.task == args.task)
    ]
    if args.json:
        from dataclasses import asdict

        from advisor.evidence.metrics import in_shown_units

        shown = [in_shown_units(asdict(m)) for m in records]
        print_json({"results": shown}, command="results", version=2)
        return 0
    if not records:
        print(f"no measurements in {', '.join(str(p) for p in paths) or 'any store'}")
        return 0
    with_kld = any("mean_kld" in (m.metrics or {}) for m in records)
    headers = ["model", "backend", "format", "bits/w", "task", "metric", "value", "n",
               "peak RSS MB", "pp tok/s", "tg tok/s", "date"]  # fmt: skip
    if with_kld:
        headers[8:8] = ["KLD", "same top %"]
    rows = []
    for m in sorted(
        records, key=lambda r: (r.model_name, r.backend, -(r.bits_per_weight or 0), r.task)
    ):
        rss = m.footprint.get("peak_rss_bytes")
        pp, tg = m.speed.get("prompt_tokens_per_s"), m.speed.get("gen_tokens_per_s")
        row = [
            m.model_name, m.backend, m.format,
            f"{m.bits_per_weight:.2f}" if m.bits_per_weight else "-",
            m.task, m.metric if m.status == "ok" else f"failed: {m.error}", _value(m), str(m.n),
            f"{rss / 1e6:.0f}" if rss else "-", f"{pp:.0f}" if pp else "-",
            f"{tg:.0f}" if tg else "-", m.created[:10],
        ]  # fmt: skip
        if with_kld:
            row[8:8] = list(_kld(m))
        rows.append(row)
    if args.markdown:
        print("| " + " | ".join(headers) + " |")
        print("|" + "---|" * len(headers))
        for r in rows:
            print("| " + " | ".join(r) + " |")
    else:
        right = [False, False, False, True, False, False, True, True, True, True, True, False]
        if with_kld:
            right[8:8] = [True, True]
        print(text_table(headers, rows, right, shrink=0))
    hw = {m.hardware.get("cpu", "?") for m in records}
    print(
        f"\n{len(records)} results; accuracy in % (± standard error), perplexity as is; "
        f"measured on {', '.join(sorted(hw))}. MB = 10^6 bytes."
    )
    if with_kld:
        print(
            "KLD: mean KL divergence (nats/token) of the file's next-token distribution from "
            "its ladder's top rung (the `kld` task; for a 4-bit-sourced ladder that rung is "
            "the dequantized base); same top %: tokens where both pick the same top token."
        )
    return 0
