"""Check the memory model against what runtimes really allocate.

Two sets, each printed beside baselines computed in the same run:

1. Conformance vectors (tests/data/memory_vectors.csv): llama-server / llama-cli log lines
   (KV "size = ... MiB", compute buffers, model buffers), real GGUF file sizes, vLLM logs and
   transformers peaks, each with its public source. Columns: vector, source, expected, ours,
   error, verdict, and the same quantity from the old model (advisor 0.x: bits/weight
   weights, window-only SWA, logits-only compute) and from a peer formula (llmfit
   3f44fd30 `models.rs`: params x bytes/param, full-context KV on every layer, q8_0 = 1 byte,
   no compute buffer).
2. Published transformers peaks (Qwen2.5 speed benchmark, Qwen-1 chat;
   torch.cuda.max_memory_allocated) against "weights only at nominal bits".

    python benchmarks/memory_validation.py [--json] [--calibrate]

Goal (issue 17): >= 95 % of vectors within 2 % (compute buffers within 20 %), and no total
under-estimated by more than the recommender's margin.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from advisor import profiles
from advisor.memory import (
    LlamaCppSettings,
    attention_layout,
    footprint,
    kv_bytes_per_layer,
    vllm_kv_cache_tokens,
    weight_breakdown,
)
from advisor.memory import llama_cpp as lc
from advisor.memory.footprint import UPPER_BOUND_FACTOR, calibration_key
from advisor.memory.tensors import bits_per_weight, gguf_weight_bytes
from advisor.profiles import Architecture
from advisor.profiles.formats import get_format

REPO = Path(__file__).resolve().parents[1]
VECTORS = REPO / "tests" / "data" / "memory_vectors.csv"
GiB = 2**30
MiB = 2**20
UNITS = {"MiB": MiB, "GiB": GiB, "bytes": 1, "tokens": 1, "bits/weight": 1}
COMPUTE_QUANTITIES = {"compute_device", "compute_host", "compute_cpu"}
GOAL_PCT = 2.0
GOAL_COMPUTE_PCT = 20.0

# Published format name -> our format. Qwen-1's Int8/Int4 are GPTQ (Qwen README, "Quantization").
FORMATS = {"BF16": "bf16", "GPTQ-Int8": "GPTQ-Int8", "GPTQ-Int4": "GPTQ-Int4", "AWQ": "AWQ",
           "Int8": "GPTQ-Int8", "Int4": "GPTQ-Int4"}  # fmt: skip


# -- conformance vectors -----------------------------------------------------------------
@dataclass(frozen=True)
class Vector:
    id: str
    kind: str
    backend: str
    model: str
    arch: Architecture
    format: str
    quantity: str
    context_tokens: int | None
    kv_cache_type: str
    device: str
    settings: dict[str, Any]
    expected: float
    unit: str
    tolerance_pct: float
    source: str
    quote: str
    peer_value: str
    note: str

    @property
    def goal_pct(self) -> float:
        return GOAL_COMPUTE_PCT if self.quantity in COMPUTE_QUANTITIES else GOAL_PCT


def _arch_from_json(text: str) -> Architecture:
    data = json.loads(text)
    defaults: dict[str, Any] = {
        "params_active": None, "v_head_dim": None, "max_context": None, "sliding_window": None,
        "global_every": None, "first_global_layer": None, "kv_lora_rank": None,
        "qk_rope_head_dim": None, "n_experts": None, "experts_per_token": None, "dtype": None,
        "training_tokens": None, "source": "tests/data/memory_vectors.csv (arch_json)",
        "confidence": "from the vector's source", "notes": "",
    }  # fmt: skip
    return Architecture(**{**defaults, **data})


def load_vectors(path: Path = VECTORS) -> list[Vector]:
    archs = profiles.architectures()
    out = []
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            arch = archs[row["arch_id"]] if row["arch_id"] else _arch_from_json(row["arch_json"])
            out.append(
                Vector(
                    id=row["id"], kind=row["kind"], backend=row["backend"], model=row["model"],
                    arch=arch, format=row["format"], quantity=row["quantity"],
                    context_tokens=int(row["context_tokens"]) if row["context_tokens"] else None,
                    kv_cache_type=row["kv_cache_type"] or "f16", device=row["device"] or "cuda",
                    settings=json.loads(row["settings_json"]) if row["settings_json"] else {},
                    expected=float(row["expected_value"]), unit=row["expected_unit"],
                    tolerance_pct=float(row["tolerance_pct"]), source=row["source"],
                    quote=row["quote"], peer_value=row["peer_value"], note=row["verdict_note"],
                )
            )  # fmt: skip
    return out


def _llama_settings(v: Vector) -> LlamaCppSettings:
    keys = ("era", "flash_attn", "n_ubatch", "n_gpu_layers", "kv_unified", "n_outputs")
    options: dict[str, Any] = {k: v.settings[k] for k in keys if k in v.settings}
    if "parallel" in v.settings:
        options["n_parallel"] = v.settings["parallel"]
    return LlamaCppSettings(**options)


def predict(v: Vector) -> float:
    """Our value for the vector's quantity, in its unit."""
    unit = UNITS[v.unit]
    ctx = v.context_tokens or 4096
    if v.quantity == "bits_per_weight":
        return bits_per_weight(v.arch, v.format, bool(v.settings.get("imatrix")))
    if v.quantity == "vllm_kv_tokens":
        avail = int(v.settings["available_kv_gib"] * GiB)
        return vllm_kv_cache_tokens(
            v.arch, avail, tensor_parallel=v.settings.get("tensor_parallel", 1),
            layers_on_rank=v.settings.get("layers_on_rank"),
        )  # fmt: skip
    if v.quantity == "weights":
        if v.backend == "vllm":
            return weight_breakdown(v.arch, v.format, "vllm").total_bytes / unit
        return gguf_weight_bytes(v.arch, v.format, bool(v.settings.get("imatrix"))) / unit
    if v.backend == "torch-allocated":
        prompt = int(v.settings.get("prompt_tokens", ctx))
        fp = footprint(
            v.arch, v.format, ctx, device="cuda", backend="torch-allocated", prompt_tokens=prompt
        )
        return fp.total_bytes / unit
    settings = _llama_settings(v)
    if v.quantity in ("kv", "kv_full", "kv_swa", "kv_device", "state"):
        fp = footprint(
            v.arch, v.format, ctx, v.kv_cache_type, v.device, "llama.cpp", llama_cpp=settings
        )
        if v.quantity == "kv":
            return fp.kv_bytes / unit
        if v.quantity == "state":
            return fp.state_bytes / unit
        per_layer = kv_bytes_per_layer(v.arch, ctx, v.kv_cache_type, "llama.cpp", settings=settings)
        layout = attention_layout(v.arch, "llama.cpp", settings.rules.mla_v_cache)
        if v.quantity == "kv_device":
            first = v.arch.n_layers - min(settings.n_gpu_layers or v.arch.n_layers, v.arch.n_layers)
            return sum(per_layer[first:]) / unit
        kinds = ("full",) if v.quantity == "kv_full" else ("sliding", "chunked")
        return (
            sum(b for b, layer in zip(per_layer, layout.layers, strict=True) if layer.kind in kinds)
            / unit
        )
    if v.quantity in COMPUTE_QUANTITIES:
        on_gpu = v.quantity != "compute_cpu"
        result = lc.compute_buffer(v.arch, ctx, settings, on_gpu)
        return (result.host_bytes if v.quantity == "compute_host" else result.device_bytes) / unit
    if v.quantity == "device_weights":
        fp = footprint(
            v.arch, v.format, ctx, v.kv_cache_type, "cuda", "llama.cpp", llama_cpp=settings
        )
        return next(t.bytes for t in fp.terms if t.name == "weights on the device") / unit
    raise ValueError(f"{v.id}: unknown quantity {v.quantity!r}")


# -- the old model (advisor before issue 17), kept here to show what changed ---------------
def old_model(v: Vector) -> float | None:
    """The same quantity from the pre-issue-17 memory model, where it had one."""
    arch, unit, ctx = v.arch, UNITS[v.unit], v.context_tokens or 4096
    try:
        fmt = get_format(v.format)
    except KeyError:
        return None
    if v.quantity in ("weights", "bits_per_weight", "device_weights"):
        embed_bpw = (
            fmt.output_bpw if (arch.tied_embeddings and fmt.backend == "gguf") else fmt.embed_bpw
        )
        bits = (
            arch.body_params * fmt.body_bpw
            + arch.embed_params * embed_bpw
            + arch.output_params * fmt.output_bpw
        )
        if v.quantity == "bits_per_weight":
            return bits / arch.params_total
        return bits / 8 / unit
    if v.quantity in ("kv", "kv_full", "kv_swa", "kv_device"):
        elt = {"f16": 2.0, "q8_0": 34 / 32, "q4_0": 18 / 32}.get(v.kv_cache_type, 2.0)
        window = arch.sliding_window or ctx
        if arch.attention == "mla":
            width = (arch.kv_lora_rank or 0) + (arch.qk_rope_head_dim or 0)
        else:
            width = arch.n_kv_heads * (arch.head_dim + (arch.v_head_dim or arch.head_dim))
        kinds = arch.layer_kinds
        full = sum(1 for k in kinds if k == "full")
        local = sum(1 for k in kinds if k in ("sliding", "chunked"))
        if arch.attention not in ("swa", "hybrid"):
            full, local = arch.n_layers, 0
        tokens = {"kv": full * ctx + local * min(ctx, window), "kv_full": full * ctx,
                  "kv_swa": local * min(ctx, window)}.get(v.quantity, 0)  # fmt: skip
        if v.quantity == "kv_device":
            tokens = (v.settings.get("n_gpu_layers") or arch.n_layers) * ctx
        return tokens * width * elt / unit
    if v.quantity in COMPUTE_QUANTITIES:
        ubatch = min(512, ctx)
        n_ff = arch.intermediate_size or 4 * arch.hidden_size
        return ubatch * (arch.vocab_size + 4 * arch.hidden_size + 2 * n_ff) * 4 / unit
    return None


# -- a peer formula: llmfit (AlexsJones/llmfit@3f44fd30, llmfit-core/src/models.rs) --------
LLMFIT_BYTES_PER_PARAM = {
    "F16": 2.0, "BF16": 2.0, "bf16": 2.0, "fp16": 2.0, "Q8_0": 1.05, "Q6_K": 0.80, "Q5_K_M": 0.68,
    "Q4_K_M": 0.58, "Q4_0": 0.58, "Q3_K_M": 0.48, "Q2_K": 0.37, "IQ4_XS": 0.55,
}  # fmt: skip
LLMFIT_KV_BYTES = {"f16": 2.0, "q8_0": 1.0, "q4_0": 0.5}


def peer_formula(v: Vector) -> float | None:
    """llmfit's estimate of the same quantity (quant_bpp l.14-38, kv_cache_gb l.905-965)."""
    arch, unit, ctx = v.arch, UNITS[v.unit], v.context_tokens or 4096
    if v.quantity in ("weights", "device_weights"):
        bpp = LLMFIT_BYTES_PER_PARAM.get(v.format)
        return None if bpp is None else arch.params_total * bpp / unit
    if v.quantity == "bits_per_weight":
        bpp = LLMFIT_BYTES_PER_PARAM.get(v.format)
        return None if bpp is None else bpp * 8
    if v.quantity in ("kv", "kv_full", "kv_swa", "kv_device"):
        layers = v.settings.get("n_gpu_layers") if v.quantity == "kv_device" else arch.n_layers
        width = arch.n_kv_heads * arch.head_dim * 2
        if v.quantity == "kv_swa":
            layers = sum(1 for k in arch.layer_kinds if k != "full")
        elif v.quantity == "kv_full":
            layers = sum(1 for k in arch.layer_kinds if k == "full")
        return (
            (layers or arch.n_layers)
            * ctx
            * width
            * LLMFIT_KV_BYTES.get(v.kv_cache_type, 2.0)
            / unit
        )
    if v.quantity in COMPUTE_QUANTITIES or v.quantity == "state":
        return 0.0  # no compute buffer, no recurrent state
    return None


@dataclass
class Result:
    vector: Vector
    ours: float
    old: float | None
    peer: float | None
    error_pct: float = field(init=False)

    def __post_init__(self) -> None:
        self.error_pct = (self.ours - self.vector.expected) / self.vector.expected * 100

    @property
    def within_tolerance(self) -> bool:
        return abs(self.error_pct) <= max(self.vector.tolerance_pct, 1e-9) + 1e-9

    @property
    def within_goal(self) -> bool:
        return abs(self.error_pct) <= self.vector.goal_pct

    @property
    def verdict(self) -> str:
        if self.within_tolerance:
            return "exact"
        if self.within_goal:
            return "within goal"
        return "under" if self.error_pct < 0 else "over"

    def other_error(self, value: float | None) -> float | None:
        if value is None:
            return None
        return (value - self.vector.expected) / self.vector.expected * 100


def conformance() -> list[Result]:
    return [Result(v, predict(v), old_model(v), peer_formula(v)) for v in load_vectors()]


def conformance_summary(results: list[Result]) -> dict[str, Any]:
    n = len(results)
    within = sum(r.within_goal for r in results)
    old = [r.other_error(r.old) for r in results]
    peer = [r.other_error(r.peer) for r in results]
    old_within = sum(
        1
        for r, e in zip(results, old, strict=True)
        if e is not None and abs(e) <= r.vector.goal_pct
    )
    peer_within = sum(
        1
        for r, e in zip(results, peer, strict=True)
        if e is not None and abs(e) <= r.vector.goal_pct
    )
    return {
        "vectors": n,
        "within_goal": within,
        "share_within_goal": within / n,
        "exact": sum(r.within_tolerance for r in results),
        "worst_under_pct": min(r.error_pct for r in results),
        "old_model_within_goal": old_within,
        "peer_within_goal": peer_within,
        "median_abs_error_pct": statistics.median(abs(r.error_pct) for r in results),
    }


# -- published transformers peaks ----------------------------------------------------------
@dataclass(frozen=True)
class Row:
    id: str
    model: str
    format: str
    prompt_tokens: int
    generated_tokens: int
    measured_bytes: float
    predicted_bytes: int
    baseline_bytes: float

    @property
    def error(self) -> float:
        return (self.predicted_bytes - self.measured_bytes) / self.measured_bytes

    @property
    def baseline_error(self) -> float:
        return (self.baseline_bytes - self.measured_bytes) / self.measured_bytes


def validation_rows() -> list[Row]:
    rows = []
    archs = profiles.architectures()
    for p in profiles.published():
        if p.task != "memory" or not p.arch_id or p.format not in FORMATS:
            continue
        arch = archs[p.arch_id]
        fmt = get_format(FORMATS[p.format])
        generated = p.generated_tokens or 2048
        prompt = p.context_tokens or 1
        # Both tables report memory with the model's weights sharded over GPUs where needed;
        # a multi-GPU row counts the sum, as the single-GPU formula does.
        fp = footprint(
            arch, fmt, context_tokens=prompt + generated, device="cuda",
            backend="torch-allocated", prompt_tokens=prompt,
        )  # fmt: skip
        unit = GiB if p.unit == "GiB" else 10**9
        rows.append(
            Row(
                id=p.id, model=p.model, format=p.format, prompt_tokens=prompt,
                generated_tokens=generated, measured_bytes=p.value * unit,
                predicted_bytes=fp.total_bytes,
                baseline_bytes=arch.params_total * fmt.nominal_bits / 8,
            )
        )  # fmt: skip
    return rows


def summary(rows: list[Row]) -> dict[str, float]:
    errors = [abs(r.error) for r in rows]
    base = [abs(r.baseline_error) for r in rows]
    return {
        "rows": len(rows),
        "median_abs_error": statistics.median(errors),
        "worst_abs_error": max(errors),
        "baseline_median_abs_error": statistics.median(base),
        "ratio_baseline_over_ours": statistics.median(base) / statistics.median(errors),
    }


# -- calibration of the upper bound ----------------------------------------------------------
def calibrate(results: list[Result], rows: list[Row]) -> dict[str, float]:
    """The 95th percentile of measured/predicted per calibration group (never below 1), over
    the vectors (each a memory quantity) and the published transformers peaks."""
    ratios: dict[str, list[float]] = {}
    for r in results:
        if r.vector.quantity in ("bits_per_weight", "vllm_kv_tokens") or r.ours <= 0:
            continue
        try:
            method = get_format(r.vector.format).method
        except KeyError:
            method = "gguf"
        key = calibration_key(r.vector.backend, method)
        ratios.setdefault(key, []).append(r.vector.expected / r.ours)
    for row in rows:
        key = calibration_key("transformers", get_format(FORMATS[row.format]).method)
        ratios.setdefault(key, []).append(row.measured_bytes / row.predicted_bytes)
    out = {}
    for key, values in sorted(ratios.items()):
        values.sort()
        q = values[min(len(values) - 1, math.ceil(0.95 * len(values)) - 1)]
        out[key] = round(max(1.0, q), 3)
    return out


# -- output ------------------------------------------------------------------------------------
def _fmt_err(value: float | None) -> str:
    return "    n/a" if value is None else f"{value:+7.1f}%"


def _fmt_value(value: float, unit: str) -> str:
    if unit == "bytes":
        return f"{value / MiB:,.1f} MiB"
    if unit in ("tokens",):
        return f"{value:,.0f}"
    return f"{value:,.2f} {unit}" if unit != "bits/weight" else f"{value:.4f} bpw"


def markdown_table(results: list[Result]) -> str:
    lines = [
        "| vector | source | expected | ours | error | verdict | old model | peer (llmfit) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        v = r.vector
        src = v.source.split(" (")[0].split(";")[0]
        lines.append(
            f"| {v.id} | {src} | {_fmt_value(v.expected, v.unit)} | {_fmt_value(r.ours, v.unit)} | "
            f"{r.error_pct:+.2f}% | {r.verdict} | {_fmt_err(r.other_error(r.old)).strip()} | "
            f"{_fmt_err(r.other_error(r.peer)).strip()} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument(
        "--markdown", action="store_true", help="print the conformance table as markdown"
    )
    parser.add_argument("--calibrate", action="store_true", help="print the upper-bound factors")
    args = parser.parse_args()
    results = conformance()
    rows = validation_rows()
    csum, psum = conformance_summary(results), summary(rows)
    factors = calibrate(results, rows)
    if args.json:
        print(json.dumps({
            "conformance": csum, "published": psum, "upper_bound_factors": factors,
            "vectors": [{"id": r.vector.id, "expected": r.vector.expected, "unit": r.vector.unit,
                         "ours": r.ours, "error_pct": r.error_pct, "verdict": r.verdict,
                         "old_error_pct": r.other_error(r.old),
                         "peer_error_pct": r.other_error(r.peer)}
                        for r in results],
        }, indent=2))  # fmt: skip
        return 0
    if args.markdown:
        print(markdown_table(results))
        return 0
    head = f"{'vector':<36}{'expected':>16}{'ours':>16}{'error':>9}  {'verdict':<12}"
    print(f"{head}{'old':>9}{'peer':>9}")
    for r in results:
        v = r.vector
        print(
            f"{v.id:<36}{_fmt_value(v.expected, v.unit):>16}{_fmt_value(r.ours, v.unit):>16}"
            f"{r.error_pct:>+8.2f}%  {r.verdict:<12}{_fmt_err(r.other_error(r.old)):>9}"
            f"{_fmt_err(r.other_error(r.peer)):>9}"
        )
    print(
        f"\n{csum['vectors']} vectors: {csum['within_goal']} "
        f"({csum['share_within_goal']:.0%}) within "
        f"the goal (2 %, compute buffers 20 %), {csum['exact']} within their source's precision; "
        f"worst under-estimate {csum['worst_under_pct']:+.1f}%. Same run: old model "
        f"{csum['old_model_within_goal']}, llmfit formula {csum['peer_within_goal']} "
        "within the goal."
    )
    print(
        f"Published transformers peaks, {psum['rows']} rows (GiB = 2^30 bytes): median |error| "
        f"{psum['median_abs_error']:.1%}, worst {psum['worst_abs_error']:.1%}; weights-only "
        f"baseline median {psum['baseline_median_abs_error']:.1%} (ratio baseline/ours "
        f"{psum['ratio_baseline_over_ours']:.1f}x)"
    )
    if args.calibrate:
        print(f"Upper-bound factors (95th percentile of measured/predicted, >= 1): {factors}")
        print(f"Committed in advisor/memory/footprint.py:  {UPPER_BOUND_FACTOR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
