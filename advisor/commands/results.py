"""`advisor results`: what has been measured, from the bundled and your own stores."""

from __future__ import annotations

import argparse
from pathlib import Path

from advisor.commands._output import add_json_flag, print_json, text_table


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "results",
        help="list stored measurements (bundled and yours), one row per model × format × task",
    )
    p.add_argument(
        "--store",
        action="append",
        help="store file(s) to read (default: the bundled measurements/ and your store)",
    )
    p.add_argument("--model", help="only models whose name contains this text")
    p.add_argument("--task", help="only this task")
    p.add_argument("--failed", action="store_true", help="include failed cells")
    p.add_argument("--markdown", action="store_true", help="print a Markdown table")
    add_json_flag(p)
    p.set_defaults(func=run)


def _value(m: object) -> str:
    value, stderr, metric = getattr(m, "value", None), getattr(m, "stderr", None), m.metric  # type: ignore[attr-defined]
    if value is None:
        return "-"
    if metric in {"perplexity", "ppl", "bits_per_byte"}:
        return f"{value:.2f}" + (f" ± {stderr:.2f}" if stderr is not None else "")
    return f"{100 * value:.1f}" + (f" ± {100 * stderr:.1f}" if stderr is not None else "")


def run(args: argparse.Namespace) -> int:
    from advisor.errors import AdvisorError
    from advisor.evidence import store_paths
    from advisor.measure.store import load_measurements

    paths = [Path(s) for s in args.store] if args.store else store_paths()
    missing = [str(p) for p in paths if args.store and not p.exists()]
    if missing:
        raise AdvisorError(f"no such store: {', '.join(missing)}")
    records = [
        m
        for m in load_measurements(paths)
        if (args.failed or m.status == "ok")
        and (not args.model or args.model.lower() in m.model_name.lower())
        and (not args.task or m.task == args.task)
    ]
    if args.json:
        from dataclasses import asdict

        print_json([asdict(m) for m in records])
        return 0
    if not records:
        print(f"no measurements in {', '.join(str(p) for p in paths) or 'any store'}")
        return 0
    headers = ["model", "backend", "format", "bits/w", "task", "metric", "value", "n",
               "peak RSS MB", "pp tok/s", "tg tok/s", "date"]  # fmt: skip
    rows = []
    for m in sorted(
        records, key=lambda r: (r.model_name, r.backend, -(r.bits_per_weight or 0), r.task)
    ):
        rss = m.footprint.get("peak_rss_bytes")
        pp, tg = m.speed.get("prompt_tokens_per_s"), m.speed.get("gen_tokens_per_s")
        rows.append([
            m.model_name, m.backend, m.format,
            f"{m.bits_per_weight:.2f}" if m.bits_per_weight else "-",
            m.task, m.metric if m.status == "ok" else f"failed: {m.error}", _value(m), str(m.n),
            f"{rss / 1e6:.0f}" if rss else "-", f"{pp:.0f}" if pp else "-",
            f"{tg:.0f}" if tg else "-", m.created[:10],
        ])  # fmt: skip
    if args.markdown:
        print("| " + " | ".join(headers) + " |")
        print("|" + "---|" * len(headers))
        for r in rows:
            print("| " + " | ".join(r) + " |")
    else:
        right = [False, False, False, True, False, False, True, True, True, True, True, False]
        print(text_table(headers, rows, right, shrink=0))
    hw = {m.hardware.get("cpu", "?") for m in records}
    print(
        f"\n{len(records)} results; accuracy in % (± standard error), perplexity as is; "
        f"measured on {', '.join(sorted(hw))}. MB = 10^6 bytes."
    )
    return 0
