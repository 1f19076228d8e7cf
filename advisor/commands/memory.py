"""`advisor memory`: the memory of one config, term by term."""

from __future__ import annotations

import argparse
from pathlib import Path

from advisor.commands._output import add_json_flag, console, gb, print_json
from advisor.memory import DEFAULT_CONTEXT_TOKENS


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "memory",
        help="predict the memory of one model in one format (or of a GGUF file)",
        description="Predict weights + KV cache + compute buffer + runtime overhead for a "
        "bundled model in a format, or exactly from a GGUF file's tensors.",
    )
    p.add_argument(
        "model", help="bundled model (id or name, see `advisor profiles`) or a .gguf path"
    )
    p.add_argument("--format", default=None, help="format, e.g. Q4_K_M, Q8_0, nf4 (not for .gguf)")
    p.add_argument("--context", type=int, default=DEFAULT_CONTEXT_TOKENS, help="context tokens")
    p.add_argument("--kv-cache", default="f16", choices=["f16", "q8_0", "q4_0"])
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from advisor.errors import AdvisorError
    from advisor.memory import footprint, gguf_footprint
    from advisor.profiles import find_architecture
    from advisor.profiles.formats import all_format_names, get_format

    if args.model.lower().endswith(".gguf") or Path(args.model).exists():
        if args.format:
            raise AdvisorError("--format does not apply to a GGUF file: its tensors decide")
        fp = gguf_footprint(args.model, args.context, args.kv_cache, device=args.device)
        label = Path(args.model).name
    else:
        arch = find_architecture(args.model)
        name = args.format or "Q4_K_M"
        try:
            fmt = get_format(name)
        except KeyError:
            known = ", ".join(all_format_names())
            raise AdvisorError(f"unknown format {name!r}: one of {known}") from None
        fp = footprint(arch, fmt, args.context, args.kv_cache, device=args.device)
        label = f"{arch.name} {fmt.name}"
    if args.json:
        print_json({"config": label, **fp.to_dict()})
        return 0
    out = console()
    out.print(
        f"[bold]{label}[/] on {fp.backend}/{fp.device}, {fp.context_tokens} tokens of context"
    )
    for name, value in [
        ("weights", fp.weight_bytes),
        (f"KV cache ({fp.kv_cache_type})", fp.kv_bytes),
        ("compute buffer", fp.compute_bytes),
        ("runtime overhead", fp.overhead_bytes),
        ("total", fp.total_bytes),
    ]:
        out.print(f"  {name:<18} {gb(value):>10}  {gb(value, 'GiB'):>11}")
    for note in fp.notes:
        out.print(f"  [dim]note: {note}[/]")
    return 0
