"""Compare llama.cpp (GGUF) and transformers (bitsandbytes) measurements at matching bit-widths.

    python benchmarks/backend_compare.py measurements/gguf_cpu.jsonl \
        measurements/transformers_cpu.jsonl [--json]

For each model and task it pairs F16 with bf16, Q8_0 with int8 and the 4-bit GGUF types
with nf4/fp4, and prints value ± stderr, n, weight bytes, peak RSS and pp/tg tokens/s of
both sides. Items are drawn in the same seeded order by both sweeps, so a ``--limit 50``
run scores the first 50 items of a ``--limit 300`` run: compare the values with their
standard errors when the limits differ.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from advisor.measure.store import Measurement, read_store

PAIRS: list[tuple[str, str]] = [
    ("F16", "bf16"),
    ("Q8_0", "int8"),
    ("Q4_0", "nf4"),
    ("Q4_0", "fp4"),
    ("Q4_K_M", "nf4"),
    ("Q4_K_M", "fp4"),
]


def _latest(records: list[Measurement]) -> dict[tuple[str, str, str], Measurement]:
    """The newest ok record per (model, format, task)."""
    out: dict[tuple[str, str, str], Measurement] = {}
    for m in sorted(records, key=lambda r: r.created):
        if m.status == "ok":
            out[(m.model_name, m.format, m.task)] = m
    return out


def _side(m: Measurement | None) -> dict[str, Any]:
    if m is None:
        return {}
    return {
        "value": m.value,
        "stderr": m.stderr,
        "n": m.n,
        "metric": m.metric,
        "bits_per_weight": m.bits_per_weight,
        "weight_bytes": m.footprint.get("weight_bytes"),
        "peak_rss_bytes": m.footprint.get("peak_rss_bytes"),
        "pp_tok_s": m.speed.get("prompt_tokens_per_s"),
        "tg_tok_s": m.speed.get("gen_tokens_per_s"),
        "n_threads": m.config.get("n_threads"),
    }


def compare(gguf_store: Path, hf_store: Path) -> list[dict[str, Any]]:
    """Rows pairing the two backends' measurements at matching bit-widths."""
    gguf = _latest(read_store(gguf_store)[0])
    hf = _latest(read_store(hf_store)[0])
    models = sorted({k[0] for k in gguf} | {k[0] for k in hf})
    tasks = sorted({k[2] for k in gguf} | {k[2] for k in hf})
    rows = []
    for model in models:
        for task in tasks:
            for g, h in PAIRS:
                a, b = gguf.get((model, g, task)), hf.get((model, h, task))
                if a is None and b is None:
                    continue
                rows.append(
                    {
                        "model": model,
                        "task": task,
                        "gguf": g,
                        "hf": h,
                        "gguf_side": _side(a),
                        "hf_side": _side(b),
                    }
                )
    return rows


def _cell(side: dict[str, Any]) -> str:
    if not side:
        return "-"
    v, se = side["value"], side["stderr"]
    text = f"{v:.2f}" if side["metric"] in {"perplexity", "word_perplexity"} else f"{v:.3f}"
    return text + (f"±{se:.3f}" if se is not None and v < 10 else "") + f" n={side['n']}"


def _mem(side: dict[str, Any]) -> str:
    if not side or not side.get("weight_bytes"):
        return "-"
    return f"{side['weight_bytes'] / 2**20:.0f}/{side['peak_rss_bytes'] / 2**20:.0f}"


def _spd(side: dict[str, Any]) -> str:
    if not side or side.get("pp_tok_s") is None:
        return "-"
    return f"{side['pp_tok_s']:.0f}/{side['tg_tok_s']:.1f}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("gguf_store", type=Path)
    p.add_argument("hf_store", type=Path)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    rows = compare(args.gguf_store, args.hf_store)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    head = (
        "model",
        "task",
        "pair",
        "llama.cpp",
        "transformers",
        "weights/RSS MiB (gguf | hf)",
        "pp/tg tok/s (gguf | hf)",
    )
    print(" | ".join(head))
    for r in rows:
        a, b = r["gguf_side"], r["hf_side"]
        print(
            " | ".join(
                [
                    r["model"],
                    r["task"],
                    f"{r['gguf']} vs {r['hf']}",
                    _cell(a),
                    _cell(b),
                    f"{_mem(a)} | {_mem(b)}",
                    f"{_spd(a)} | {_spd(b)}",
                ]
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
