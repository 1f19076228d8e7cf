"""`advisor memory`: the memory of one config, term by term, with the rule behind each term."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from advisor.commands._output import add_json_flag, gb, print_json

DEFAULT_CONTEXT = (
    4096  # advisor.memory.DEFAULT_CONTEXT_TOKENS (kept literal: no import at parse time)
)


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "memory",
        help="predict the memory of one model in one format (or of a GGUF file), term by term",
        description="Predict weights + KV cache + recurrent state + compute buffer + runtime "
        "overhead for a bundled model in a format, or from a GGUF file's tensors, as the chosen "
        "runtime allocates it. Each term prints the rule behind it. GB = 10^9 bytes, GiB = "
        "2^30. Example: advisor memory Qwen2.5-7B-Instruct --format Q4_K_M --context 32768",
    )
    p.add_argument(
        "model", help="bundled model (id or name, see `advisor profiles`) or a .gguf path"
    )
    p.add_argument(
        "--format",
        default=None,
        help="format, e.g. Q4_K_M, Q8_0, nf4, GPTQ-Int4; not for a .gguf file, whose tensors "
        "decide (default: Q4_K_M)",
    )
    p.add_argument(
        "--context",
        type=int,
        default=DEFAULT_CONTEXT,
        help="context tokens held in the KV cache",
    )
    p.add_argument(
        "--backend",
        choices=["auto", "llama.cpp", "gguf", "transformers", "vllm"],
        default="auto",
        help="runtime ('gguf' = llama.cpp; auto: the format's own runtime)",
    )
    p.add_argument(
        "--kv-cache",
        default="f16",
        choices=["f16", "q8_0", "q5_1", "q5_0", "q4_1", "q4_0"],
        help="KV cache type (llama.cpp -ctk/-ctv)",
    )
    p.add_argument(
        "--device",
        default="cuda",
        choices=["cuda", "metal", "cpu"],
        help="where the layers run: an NVIDIA GPU, Apple Metal or the CPU",
    )
    p.add_argument(
        "--flash-attn",
        default="auto",
        choices=["auto", "on", "off"],
        help="flash attention (llama.cpp -fa; transformers: on = flash_attention_2)",
    )
    p.add_argument("--parallel", type=int, default=1, help="llama.cpp slots / sequences (-np)")
    p.add_argument("--ubatch", type=int, default=512, help="llama.cpp micro-batch (-ub)")
    p.add_argument(
        "--n-gpu-layers",
        type=int,
        default=None,
        help="llama.cpp -ngl (default: every layer and the output on the GPU)",
    )
    p.add_argument(
        "--swa-full",
        action="store_true",
        help="llama.cpp --swa-full: full-size sliding-window cache",
    )
    p.add_argument(
        "--attn-implementation",
        default=None,
        choices=["sdpa", "eager", "flash_attention_2"],
        help="transformers attention (default: sdpa; flash_attention_2 with --flash-attn on)",
    )
    p.add_argument(
        "--prompt",
        type=int,
        default=None,
        help="transformers: longest prompt processed in one pass (default: the whole context)",
    )
    p.add_argument(
        "--gpu-memory-utilization",
        type=float,
        default=0.9,
        help="vLLM share of the GPU it may use",
    )
    add_json_flag(p, "memory")
    p.set_defaults(func=run)


# Longer than any model's trained context; bounds the KV arithmetic of a typo.
MAX_CONTEXT_TOKENS = 2**24


def _check_int(value: int | None, flag: str, minimum: int = 1) -> None:
    from advisor.errors import AdvisorError

    if value is not None and value < minimum:
        raise AdvisorError(f"{flag} must be at least {minimum}, got {value}")


def run(args: argparse.Namespace) -> int:
    from advisor.errors import AdvisorError
    from advisor.memory import LlamaCppSettings, footprint, gguf_footprint
    from advisor.profiles import find_architecture
    from advisor.profiles.formats import all_format_names, get_format

    if not args.model:
        raise AdvisorError(
            "empty path or model name: name a bundled model (`advisor profiles`) or a .gguf file"
        )
    if args.format is not None and not args.format.strip():
        raise AdvisorError("--format is empty: name a format, e.g. --format Q4_K_M")
    _check_int(args.context, "--context")
    if args.context > MAX_CONTEXT_TOKENS:
        raise AdvisorError(
            f"--context {args.context:,} is beyond {MAX_CONTEXT_TOKENS:,} tokens (2^24)"
        )
    if not 0 < args.gpu_memory_utilization <= 1:  # also refuses nan
        raise AdvisorError(
            "--gpu-memory-utilization is vLLM's share of the GPU: a number in (0, 1], got "
            f"{args.gpu_memory_utilization}"
        )
    _check_int(args.parallel, "--parallel")
    _check_int(args.ubatch, "--ubatch")
    _check_int(args.n_gpu_layers, "--n-gpu-layers", 0)
    _check_int(args.prompt, "--prompt")
    backend = None if args.backend == "auto" else args.backend
    settings = LlamaCppSettings(
        n_parallel=args.parallel,
        n_ubatch=args.ubatch,
        flash_attn=args.flash_attn,
        swa_full=args.swa_full,
        n_gpu_layers=args.n_gpu_layers,
    )
    if args.model.lower().endswith(".gguf") or Path(args.model).exists():
        if args.format:
            raise AdvisorError("--format does not apply to a GGUF file: its tensors decide")
        if backend not in (None, "llama.cpp", "gguf"):
            raise AdvisorError(
                "a GGUF file runs on llama.cpp: drop --backend or use --backend llama.cpp"
            )
        fp = gguf_footprint(
            args.model, args.context, args.kv_cache, device=args.device, settings=settings
        )
        label = Path(args.model).name
    else:
        arch = find_architecture(args.model)
        name = args.format or "Q4_K_M"
        try:
            fmt: Any = get_format(name)
        except KeyError:
            if name.upper().startswith("MXFP4"):
                fmt = name  # llama.cpp's MXFP4_MOE file type: the memory model knows its recipe
            else:
                known = ", ".join(all_format_names())
                raise AdvisorError(f"unknown format {name!r}: one of {known}") from None
        fp = footprint(
            arch, fmt, args.context, args.kv_cache, device=args.device, backend=backend,
            prompt_tokens=args.prompt, llama_cpp=settings,
            attn_implementation=args.attn_implementation,
            flash_attn=None if args.flash_attn == "auto" else args.flash_attn,
            gpu_memory_utilization=args.gpu_memory_utilization,
        )  # fmt: skip
        label = f"{arch.name} {fp.format or name}"
    if args.json:
        print_json({"config": label, **fp.to_dict()}, command="memory")
        return 0
    print(render(label, fp))
    return 0


def _line(name: str, n_bytes: int) -> str:
    return f"  {name:<28} {gb(n_bytes):>10}  {gb(n_bytes, 'GiB'):>11}"


def render(label: str, fp: Any) -> str:
    """Plain text: one line per term with GB, GiB and its rule; then the totals."""
    settings = dict(fp.settings)
    head = f"{label} on {fp.backend}/{fp.device}, {fp.context_tokens:,} tokens of context"
    if fp.backend == "llama.cpp":
        head += (
            f" (llama-server: -np {settings.get('n_parallel')}, -ub {settings.get('n_ubatch')}, "
            f"-fa {settings.get('flash_attn')}"
            + (", --swa-full" if settings.get("swa_full") else "")
            + (
                f", -ngl {settings['n_gpu_layers']}"
                if settings.get("n_gpu_layers") is not None
                else ""
            )
            + ")"
        )
    elif fp.backend in ("transformers", "torch-allocated"):
        head += f" (attn_implementation {settings.get('attn_implementation')})"
    elif fp.backend == "vllm":
        head += f" (gpu_memory_utilization {settings.get('gpu_memory_utilization')})"
    lines = [head, "sizes: GB = 10^9 bytes, GiB = 2^30 bytes"]
    for term in fp.terms:
        where = " [host]" if term.where == "host" and fp.device != "cpu" else ""
        lines.append(f"  {term.name + where:<28} {gb(term.bytes):>10}  {gb(term.bytes, 'GiB'):>11}")
        lines.append(f"      {term.rule}")
    lines.append(f"  {'total':<28} {gb(fp.total_bytes):>10}  {gb(fp.total_bytes, 'GiB'):>11}")
    if fp.device != "cpu":
        lines.append(_line(f"on the {fp.device} device", fp.device_bytes))
        if fp.host_bytes:
            lines.append(
                f"  {'in host memory':<28} {gb(fp.host_bytes):>10}  {gb(fp.host_bytes, 'GiB'):>11}"
            )
    lines.append(_line("upper bound (fit test)", fp.upper_bytes))
    lines.append("      predicted memory x the backend's calibrated factor (docs/memory.md)")
    for note in fp.notes:
        lines.append(f"  note: {note}")
    return "\n".join(lines)
