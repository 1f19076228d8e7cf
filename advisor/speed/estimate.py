"""``advisor.speed.estimate``: decode and prompt tokens/s of one config on one machine, with
a 90 % interval and where the number comes from.

Evidence, best first: "measured here" (a local record of this model and format on this
machine, asked with ``hardware="local"``), "published" (a bundled benchmark row of this
hardware, model and format, ``profiles/speed_benchmarks.csv``), else "predicted" by the
fitted model (``measurements/speed.json``) with its cross-validated error.
"""

from __future__ import annotations

import csv
import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from advisor.locations import profiles_dir
from advisor.profiles import Architecture
from advisor.speed.devices import System, resolve_system
from advisor.speed.model import SpeedModel, load_speed_model
from advisor.speed.placement import (
    Placement,
    place,
    resolve_model,
    token_work,
    with_estimate,
)
from advisor.speed.shape import format_facts

SCHEMA = "advisor.speed-estimate/1"
GENERATED_TOKENS = 128  # KV room kept for the answer when the placement is chosen here
Z90 = 1.645  # a published standard deviation -> 90 % interval


def _num(x: float) -> str:
    """Three significant figures without scientific notation (5,020 not 5.02e+03)."""
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.3g}"


@dataclass(frozen=True)
class Rate:
    """A speed (tokens/s) or a time (s): ``mean`` with a 90 % interval ``[low, high]``;
    ``se`` is set for a measurement's standard error."""

    mean: float
    low: float
    high: float
    unit: str = "tokens/s"
    se: float | None = None
    n: int | None = None

    def __str__(self) -> str:
        if self.se is not None:
            return f"{_num(self.mean)} ± {_num(self.se)} se"
        if self.low == self.high:
            return _num(self.mean)
        return f"{_num(self.mean)} [{_num(self.low)}–{_num(self.high)}]"

    def to_dict(self) -> dict[str, Any]:
        return {
            "mean": self.mean,
            "low": self.low,
            "high": self.high,
            "unit": self.unit,
            "se": self.se,
            "n": self.n,
        }


@dataclass(frozen=True)
class SpeedEvidence:
    kind: str  # "measured here", "published", "predicted"
    source: str
    detail: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "source": self.source, "detail": self.detail}


@dataclass(frozen=True)
class Estimate:
    """Speeds of one config on one machine (see :func:`estimate`)."""

    model: str
    format: str
    hardware: str
    runtime: str
    context_tokens: int
    prompt_tokens: int
    decode: Rate
    prompt: Rate
    time_to_first_token_s: Rate
    evidence: SpeedEvidence  # of the decode speed
    prompt_evidence: SpeedEvidence
    placement: Placement
    regime: str  # which cross-validation band the interval comes from
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def fits(self) -> bool:
        return self.placement.fits

    def to_dict(self, include_placement: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "schema": SCHEMA,
            "model": self.model,
            "format": self.format,
            "hardware": self.hardware,
            "runtime": self.runtime,
            "context_tokens": self.context_tokens,
            "prompt_tokens": self.prompt_tokens,
            "decode": self.decode.to_dict(),
            "prompt": self.prompt.to_dict(),
            "time_to_first_token_s": self.time_to_first_token_s.to_dict(),
            "evidence": self.evidence.to_dict(),
            "prompt_evidence": self.prompt_evidence.to_dict(),
            "regime": self.regime,
            "fits": self.fits,
            "strategy": self.placement.strategy,
            "llama_cpp_flags": self.placement.llama_cpp_flags,
            "notes": list(self.notes),
        }
        if include_placement:
            data["placement"] = self.placement.to_dict()
        return data


def _check_tokens(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if not minimum <= value <= 10_000_000:
        raise ValueError(f"{name} must be between {minimum} and 10,000,000, got {value}")
    return value


_PLACEMENT_KEYS = {
    "n_gpu_layers": "n_gpu_layers",
    "ngl": "n_gpu_layers",
    "n_cpu_moe": "n_cpu_moe",
    "tensor_split": "tensor_split",
    "kv_on_host": "kv_on_host",
    "nkvo": "kv_on_host",
    "context_tokens": "context_tokens",
}


def _placement(
    arch: Architecture,
    fmt: str,
    system: System,
    given: object,
    alloc_tokens: int,
    kv_cache_type: str,
) -> Placement:
    if given is None or given == "auto":
        return place(arch, fmt, system, alloc_tokens, kv_cache_type)
    if isinstance(given, Placement):
        return given
    if given in ("gpu", "cpu"):
        layers = arch.n_layers + 1 if given == "gpu" else 0
        return place(arch, fmt, system, alloc_tokens, kv_cache_type, n_gpu_layers=layers)
    if isinstance(given, Mapping):
        unknown = sorted(str(k) for k in given if k not in _PLACEMENT_KEYS)
        if unknown:
            raise ValueError(
                f"unknown placement keys {', '.join(unknown)}: use {', '.join(_PLACEMENT_KEYS)}"
            )
        kwargs = {_PLACEMENT_KEYS[k]: v for k, v in given.items()}
        kwargs.setdefault("context_tokens", alloc_tokens)
        return place(arch, fmt, system, kv_cache_type=kv_cache_type, **kwargs)
    raise TypeError(
        "placement must be None ('auto'), 'gpu', 'cpu', a Placement from advisor.speed.place, "
        "or a dict like {'n_gpu_layers': 20} / {'n_cpu_moe': 12}"
    )


def _regime(p: Placement, moe: bool) -> str:
    if p.runtime == "transformers":
        return "transformers"
    host = p.host_share
    if not p.system.accelerators:
        return "cpu"
    if host.layers or host.expert_layers:
        return "offload"
    if moe:
        return "moe"
    if p.strategy == "multi-gpu":
        return "multi-gpu"
    return "single"


def _band(bands: dict[str, tuple[float, float]], regime: str) -> tuple[float, float]:
    for key in (regime, "single", "all"):
        if key in bands:
            return bands[key]
    return (1.0, 1.0)


def estimate(
    model: object,
    fmt: str,
    hardware: object,
    context_tokens: int = 0,
    prompt_tokens: int = 512,
    placement: object = None,
    kv_cache_type: str = "f16",
) -> Estimate:
    """Decode and prompt speed of ``model`` in ``fmt`` on ``hardware``.

    ``model``: a catalogue name ("Meta-Llama-3-8B") or an Architecture. ``fmt``: a format
    name ("Q4_K_M", "F16", "nf4", "MXFP4" ...). ``hardware``: a bundled profile id
    ("rtx-4090-24gb", "2x rtx-3090-24gb"), "local" (this machine, detected and probed), or
    a dict ``{"kind": "gpu"|"cpu"|"apple", "memory_gb": 24, "memory_bandwidth_gbs": 1008,
    "fp16_tflops": 165, "count": 1}`` (dense FP16 TFLOPS, no sparsity; optional
    ``ram_gb``/``ram_bandwidth_gbs`` for the system RAM a GPU offloads to,
    ``working_set_fraction`` for Apple, ``backend``). ``context_tokens``: tokens already in
    the KV cache while decoding. ``prompt_tokens``: prompt length for the prompt speed and
    the time to first token. ``placement``: None to choose, a :class:`Placement`, or a dict
    of llama.cpp split settings ({"n_gpu_layers": 20}, {"n_cpu_moe": 12}).
    """
    arch = resolve_model(model)
    if not isinstance(fmt, str):
        raise TypeError(f"fmt must be a format name such as 'Q4_K_M', got {type(fmt).__name__}")
    facts = format_facts(fmt)
    system = resolve_system(hardware)
    _check_tokens(context_tokens, "context_tokens", 0)
    _check_tokens(prompt_tokens, "prompt_tokens", 1)
    if not isinstance(kv_cache_type, str):
        raise TypeError(f"kv_cache_type must be a string such as 'f16', got {kv_cache_type!r}")
    alloc = max(context_tokens, prompt_tokens) + GENERATED_TOKENS
    chosen = _placement(arch, fmt, system, placement, alloc, kv_cache_type.lower())
    if chosen.format != facts.name or chosen.model != arch.name:
        raise ValueError("the placement given is for another model or format")
    speed_model = load_speed_model()
    work = token_work(chosen, arch, context_tokens, prompt_tokens)
    decode_s = speed_model.decode_seconds(work.decode)
    prompt_s = speed_model.prompt_seconds_per_token(
        work.prompt, work.streamed_bytes, work.pcie_gbs, prompt_tokens, work.pipeline_stages
    )
    moe = arch.is_moe and bool(arch.n_experts)
    regime = _regime(chosen, moe)
    d_lo, d_hi = _band(speed_model.decode_band, regime)
    p_lo, p_hi = _band(speed_model.prompt_band, regime)
    decode_rate = Rate(1 / decode_s, d_lo / decode_s, d_hi / decode_s)
    prompt_rate = Rate(1 / prompt_s, p_lo / prompt_s, p_hi / prompt_s)
    cv = speed_model.cv
    decode_ev = SpeedEvidence(
        "predicted",
        f"{speed_model.name}: {regime} decode, {_cv_text(cv, 'decode', regime)}",
        _detail(speed_model, work.decode, "decode"),
    )
    prompt_ev = SpeedEvidence(
        "predicted",
        f"{speed_model.name}: {regime} prompt, {_cv_text(cv, 'prompt', regime)}",
        _detail(speed_model, work.prompt, "prompt"),
    )
    notes = list(chosen.notes)
    for w in work.prompt:
        stand_in = speed_model.prompt.key_for(w.backend)
        if stand_in != w.backend:
            # the borrowed backend's own single-device band, not this regime's
            p_lo, p_hi = _band(speed_model.prompt_band, "single")
            prompt_rate = Rate(1 / prompt_s, p_lo / prompt_s, p_hi / prompt_s)
            notes.append(
                f"prompt speed: no {w.backend} prefill measurements; {stand_in}'s "
                "fitted prefill efficiency stands in"
            )
            prompt_ev = SpeedEvidence(
                prompt_ev.kind, prompt_ev.source + f" ({stand_in} stands in)", prompt_ev.detail
            )
    if not chosen.fits:
        notes.append("does not fit this hardware as placed: the speeds are for the split shown")
    found = _measured_here(arch, facts.name, facts.runtime, system) if system.local else None
    if found is None:
        found = _published(arch, facts.name, facts.runtime, system, chosen)
    if found is not None:
        decode_rate, decode_ev, prompt_found = _adjusted(
            found, speed_model, chosen, arch, context_tokens, prompt_tokens, decode_rate, decode_ev
        )
        if prompt_found is not None:
            prompt_rate, prompt_ev = prompt_found
    ttft = Rate(
        prompt_tokens / prompt_rate.mean + 1 / decode_rate.mean,
        prompt_tokens / prompt_rate.high + 1 / decode_rate.high,
        prompt_tokens / prompt_rate.low + 1 / decode_rate.low,
        unit="s",
    )
    return Estimate(
        model=arch.name,
        format=facts.name,
        hardware=system.label,
        runtime=facts.runtime,
        context_tokens=context_tokens,
        prompt_tokens=prompt_tokens,
        decode=decode_rate,
        prompt=prompt_rate,
        time_to_first_token_s=ttft,
        evidence=decode_ev,
        prompt_evidence=prompt_ev,
        placement=chosen,
        regime=regime,
        notes=tuple(notes),
    )


def plan(
    model: object,
    fmt: str,
    hardware: object,
    context_tokens: int = 4096,
    prompt_tokens: int = 512,
    kv_cache_type: str = "f16",
) -> Placement:
    """The chosen placement for ``context_tokens`` of KV cache, with its speed estimate
    (decoding at a full context, prompt of ``prompt_tokens``) in ``.estimate``."""
    arch = resolve_model(model)
    p = place(arch, fmt, hardware, context_tokens, kv_cache_type)
    est = estimate(
        arch, fmt, p.system, context_tokens, prompt_tokens, placement=p, kv_cache_type=kv_cache_type
    )
    return with_estimate(p, est)


def _cv_text(cv: dict[str, Any], stage: str, regime: str) -> str:
    row = cv.get(stage, {}).get(regime)
    if row:
        return (
            f"leave-one-hardware-out median |error| {100 * row['median_abs_error']:.0f} % "
            f"(n={row['n']})"
        )
    row = cv.get(f"{stage}_check_rows", {}).get(regime)
    if row:
        return (
            f"median |error| {100 * row['median_abs_error']:.0f} % on {row['n']} {regime} "
            "rows the fit never saw"
        )
    row = cv.get(stage, {}).get("single")
    if row:
        return (
            f"no {regime} rows to check; single-device leave-one-hardware-out median "
            f"|error| {100 * row['median_abs_error']:.0f} % (n={row['n']})"
        )
    return "no cross-validation figures"


def _detail(model: SpeedModel, works: tuple[Any, ...], stage: str) -> str:
    coeffs = model.decode if stage == "decode" else model.prompt
    parts = []
    for w in works:
        e = coeffs.efficiency_of(w.backend, w.family)
        what = f"{w.bandwidth_gbs:g} GB/s" if stage == "decode" else f"{w.tflops:g} TFLOPS"
        parts.append(f"{w.backend} {w.family}: efficiency {e:.2f} of {what}, {w.layers} layers")
    return "; ".join(parts)


# ---------------------------------------------------------------- evidence lookups


@dataclass(frozen=True)
class _Found:
    kind: str
    source: str
    decode: list[tuple[float, float, float | None]]  # (context, tokens/s, stdev)
    prompt: list[tuple[int, float, float | None]]  # (prompt tokens, tokens/s, stdev)
    n: int = 0
    se: float | None = None


def _adjusted(
    found: _Found,
    model: SpeedModel,
    placement: Placement,
    arch: Architecture,
    context_tokens: int,
    prompt_tokens: int,
    decode_rate: Rate,
    decode_ev: SpeedEvidence,
) -> tuple[Rate, SpeedEvidence, tuple[Rate, SpeedEvidence] | None]:
    """The found figure nearest in context, moved to the asked context by the model's own
    ratio (a published tg128 read at 4096 tokens of context keeps its KV slope)."""
    rate, ev = decode_rate, decode_ev
    if found.decode:
        ctx, value, sd = min(found.decode, key=lambda d: abs(d[0] - context_tokens))
        near = [v for c, v, _ in found.decode if c == ctx]
        value = statistics.median(near)
        scale = _decode_at(model, placement, arch, context_tokens) / _decode_at(
            model, placement, arch, ctx
        )
        mean = value * scale
        if found.se is not None:
            rate = Rate(mean, mean - Z90 * found.se, mean + Z90 * found.se, se=found.se, n=found.n)
        elif sd:
            rate = Rate(mean, mean - Z90 * sd * scale, mean + Z90 * sd * scale, n=len(near))
        else:
            rate = Rate(mean, mean, mean, n=len(near))
        moved = "" if ctx == context_tokens else f", moved from context {ctx:.0f} by the model"
        ev = SpeedEvidence(found.kind, found.source, f"decode at context {ctx:.0f}{moved}")
    prompt = None
    if found.prompt:
        n_tok, value, sd = min(found.prompt, key=lambda d: abs(d[0] - prompt_tokens))
        near = [v for t, v, _ in found.prompt if t == n_tok]
        value = statistics.median(near)
        low, high = (value - Z90 * sd, value + Z90 * sd) if sd else (value, value)
        prompt = (
            Rate(value, low, high, n=len(near)),
            SpeedEvidence(found.kind, found.source, f"prompt of {n_tok} tokens"),
        )
    return rate, ev, prompt


def _decode_at(model: SpeedModel, placement: Placement, arch: Architecture, ctx: float) -> float:
    work = token_work(placement, arch, ctx, 1)
    return 1 / model.decode_seconds(work.decode)


@cache
def _benchmark_rows() -> tuple[dict[str, str], ...]:
    path = profiles_dir() / "speed_benchmarks.csv"
    if not path.exists():
        return ()
    with path.open(newline="", encoding="utf-8") as fh:
        return tuple(csv.DictReader(fh))


EVIDENCE_PLACEMENTS = {"gpu", "multi-gpu", "cpu"}
EVIDENCE_KINDS_LEFT_OUT = {"self-reported", "community (PR description)"}


def _published(
    arch: Architecture, fmt: str, runtime: str, system: System, p: Placement
) -> _Found | None:
    if system.profile_id is None or p.strategy not in {"gpu", "multi-gpu", "cpu"}:
        return None
    count = len(system.accelerators)
    rows = [
        r
        for r in _benchmark_rows()
        if r["hardware"] == system.profile_id
        and r["model"] == arch.model_id
        and r["format"].upper() == fmt.upper()
        and r["runtime"] == runtime
        and r["placement"] in EVIDENCE_PLACEMENTS
        and int(r["gpu_count"] or 0) == count
        and r["source_kind"] not in EVIDENCE_KINDS_LEFT_OUT
        and (
            r["backend"] == (system.accelerators[0].backend if count else "cpu")
            or runtime == "transformers"
        )
    ]
    if not rows:
        return None
    decode = [
        (
            int(r["depth_tokens"] or 0) + int(r["gen_tokens"] or 0) / 2,
            float(r["tokens_per_s"]),
            float(r["stdev"]) if r["stdev"] else None,
        )
        for r in rows
        if r["test"] == "tg"
    ]
    prompt = [
        (
            int(r["prompt_tokens"]),
            float(r["tokens_per_s"]),
            float(r["stdev"]) if r["stdev"] else None,
        )
        for r in rows
        if r["test"] == "pp" and int(r["depth_tokens"] or 0) == 0
    ]
    sources = sorted({r["source"] for r in rows})
    source = "; ".join(sources[:2]) + (f" (+{len(sources) - 2} more)" if len(sources) > 2 else "")
    return _Found("published", f"profiles/speed_benchmarks.csv: {source}", decode, prompt)


def _measured_here(arch: Architecture, fmt: str, runtime: str, system: System) -> _Found | None:
    from advisor.evidence.measured import measurements
    from advisor.profiles.detect import fingerprint

    here = fingerprint()
    gpus_here = sorted(g["name"] for g in here.get("gpus", []))
    decode: list[float] = []
    prompt: dict[int, list[float]] = {}
    context = 0.0
    for m in measurements():
        hw = m.hardware or {}
        if (
            m.arch_id != arch.model_id
            or m.format.upper() != fmt.upper()
            or m.backend != runtime
            or hw.get("cpu") != here.get("cpu")
            or hw.get("ram_bytes") != here.get("ram_bytes")
            or sorted(g.get("name", "") for g in hw.get("gpus", [])) != gpus_here
        ):
            continue
        s = m.speed or {}
        if s.get("gen_tokens_per_s"):
            value = float(s["gen_tokens_per_s"])
            if all(not math.isclose(value, v, rel_tol=1e-9) for v in decode):
                decode.append(value)  # one speed per run, copied onto each task's record
                context = float(s.get("prompt_tokens", 0)) + float(s.get("gen_tokens", 0)) / 2
        if s.get("prompt_tokens_per_s") and s.get("prompt_tokens"):
            prompt.setdefault(int(s["prompt_tokens"]), []).append(float(s["prompt_tokens_per_s"]))
    if not decode:
        return None
    se = statistics.stdev(decode) / math.sqrt(len(decode)) if len(decode) > 1 else None
    return _Found(
        "measured here",
        f"{len(decode)} local run(s) on this machine ({here.get('cpu')})",
        [(context, statistics.fmean(decode), None)],
        [(n, statistics.median(v), None) for n, v in prompt.items()],
        n=len(decode),
        se=se,
    )
