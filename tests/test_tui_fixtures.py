"""Deterministic data for the TUI tests: fixed hardware and a small fixed ranking.

The snapshots must not move when the bundled profiles, the curves, the speed model or this
machine change, so they run on these few hand-made configs (real dataclasses, made-up but
plausible numbers: memory, scores, decode speeds) through the same ``recommend`` signature
the app uses. What to get and how to run each config comes from the real recipe code
(:func:`advisor.profiles.artifacts.make_command`), with the placement flags of a real
:class:`advisor.speed.Placement`.
"""

from __future__ import annotations

from dataclasses import fields

from advisor.evidence import Evidence
from advisor.evidence.model import combine
from advisor.memory import Footprint
from advisor.profiles import Architecture, hardware_profiles
from advisor.profiles.artifacts import make_command
from advisor.profiles.detect import GPU, Hardware
from advisor.profiles.formats import get_format
from advisor.recommender import Budget, Candidate, Recommendation
from advisor.recommender.candidates import Source
from advisor.recommender.placement import Machine
from advisor.speed import Placement, resolve_system
from advisor.speed.estimate import Estimate as SpeedEstimate
from advisor.speed.estimate import Rate, SpeedEvidence
from advisor.units import parse_size

GiB = 2**30

HARDWARE = Hardware(
    cpu="Test CPU 8-core",
    cores=8,
    ram_total_bytes=64 * 10**9,
    ram_available_bytes=48 * 10**9,
    gpus=(GPU(0, "NVIDIA GeForce RTX 4090", 24 * GiB, 23 * GiB),),
)
NO_GPU = Hardware(
    cpu="Test CPU", cores=4, ram_total_bytes=16 * 10**9, ram_available_bytes=12 * 10**9
)
# This development machine as detection sees it: 23.54 GiB of RAM, no GPU (NVML absent).
RAM_ONLY = Hardware(
    cpu="Intel(R) Xeon(R) Processor",
    cores=2,
    ram_total_bytes=25_275_990_016,
    ram_available_bytes=22_396_481_536,
    gpus=(),
    gpu_error="NVML unavailable (NVML Shared Library Not Found)",
)
NOTHING = Hardware(cpu="?", cores=1, ram_total_bytes=0, ram_available_bytes=0, gpu_error="no NVML")


def arch(model_id: str, family: str, family_key: str, params: float) -> Architecture:
    """An Architecture with only the fields the TUI reads set meaningfully."""
    values: dict[str, object] = {f.name: None for f in fields(Architecture)}
    values.update(
        model_id=model_id,
        name=model_id.rsplit("/", 1)[-1],
        family=family,
        family_key=family_key,
        params_total=int(params * 1e9),
        n_layers=32, hidden_size=4096, n_heads=32, n_kv_heads=8, head_dim=128,
        vocab_size=150_000, tied_embeddings=False, attention="full",
        source="test", confidence="high", notes="",
    )  # fmt: skip
    return Architecture(**values)  # type: ignore[arg-type]


ARCHS = {
    "qwen7": arch("Qwen/Qwen2.5-7B", "Qwen2.5", "qwen2.5", 7.6),
    "qwen14": arch("Qwen/Qwen2.5-14B", "Qwen2.5", "qwen2.5", 14.8),
    "qwen3b": arch("Qwen/Qwen2.5-3B", "Qwen2.5", "qwen2.5", 3.1),
    "llama8": arch("meta-llama/Llama-3.1-8B", "Llama 3.1", "llama3.1", 8.0),
    "gemma27": arch("google/gemma-2-27b", "Gemma 2", "gemma2", 27.2),
}
# (arch, format, weights GB, mmlu, evidence kind, gsm8k)
CONFIGS = [
    ("qwen7", "F16", 15.2, 74.2, "published", 85.4),
    ("qwen7", "Q8_0", 8.1, 74.0, "measured", 85.0),
    ("qwen7", "Q4_K_M", 4.7, 72.9, "predicted", 82.1),
    ("qwen7", "nf4", 5.5, 72.1, "published", None),
    ("qwen14", "Q4_K_M", 9.0, 79.3, "predicted", 88.0),
    ("qwen14", "IQ3_M", 6.9, 77.0, "predicted", None),
    ("qwen14", "Q8_0", 15.7, 79.9, "published", 90.2),
    ("qwen3b", "F16", 6.2, 65.6, "published", 79.1),
    ("qwen3b", "Q8_0", 3.3, 65.4, "predicted", 78.8),
    ("llama8", "Q4_K_M", 4.9, 64.8, "predicted", 55.0),
    ("llama8", "F16", 16.1, 66.7, "published", 56.9),
    ("llama8", "Q2_K", 3.2, None, None, None),
    ("gemma27", "Q4_K_M", 16.6, 75.2, "predicted", 74.0),
    ("gemma27", "Q2_K", 10.4, 69.8, "predicted", None),
]


def _evidence(kind: str, task: str, value: float) -> Evidence:
    source = {
        "measured": "measured 2026-01-05 on NVIDIA GeForce RTX 4090, llama.cpp, n=500",
        "published": "model card, table 'Base models'",
        "predicted": "curve fitted on 212 points; LOCO CV MAE 1.2",
    }[kind]
    detail = {"cv_mae": 1.2} if kind == "predicted" else {}
    if kind == "predicted":
        return Evidence(kind, task, "acc", value, low=value - 1.6, high=value + 1.6,
                        source=source, detail=detail)  # fmt: skip
    stderr = 0.9 if kind == "measured" else None
    return Evidence(kind, task, "acc", value, stderr=stderr, source=source, detail=detail)


# Decode tokens/s on a 24 GiB card (RAM: a tenth of it), and whether it is measured here.
DECODE_TOK_S = {"F16": 60.0, "Q8_0": 95.0, "Q4_K_M": 140.0, "IQ3_M": 120.0, "Q2_K": 160.0,
                "nf4": 40.0}  # fmt: skip
MACHINES = {
    "cuda": {"kind": "gpu", "memory_gb": 24, "memory_bandwidth_gbs": 1008.0,
             "fp16_tflops": 165.0, "name": "Test GPU"},
    "cpu": {"kind": "cpu", "memory_gb": 64, "memory_bandwidth_gbs": 89.6,
            "fp16_tflops": 1.3, "name": "system RAM"},
    "apple": {"kind": "apple", "memory_gb": 64, "memory_bandwidth_gbs": 273.0,
              "fp16_tflops": 17.0, "name": "Test Apple chip"},
}  # fmt: skip


def machine(device: str) -> Machine:
    system = resolve_system(dict(MACHINES[device]))
    return Machine(system, 1 if device == "cuda" else 0, False, None)


def _placement(a: Architecture, fmt_name: str, m: Machine, context: int, kv: str) -> Placement:
    on_gpu = bool(m.system.accelerators)
    return Placement(
        model=a.name, format=fmt_name, runtime="llama.cpp", system=m.system,
        strategy="gpu" if on_gpu else "cpu", shares=(), n_layers=a.n_layers,
        n_gpu_layers=a.n_layers + 1 if on_gpu else 0, n_cpu_moe=0, tensor_split=None,
        kv_on_host=False, context_tokens=context, kv_cache_type=kv, fits=True,
    )  # fmt: skip


def _speed(a: Architecture, fmt_name: str, placed: Placement, device: str) -> SpeedEstimate:
    scale = 7.6e9 / a.params_total * (1.0 if device == "cuda" else 0.1)
    mean = DECODE_TOK_S[fmt_name] * scale
    measured = fmt_name == "Q8_0" and a.name == "Qwen2.5-7B"
    evidence = SpeedEvidence(
        "measured here" if measured else "predicted",
        "measured here 2026-01-05 on Test GPU, n=3" if measured else "test speed model",
    )
    prompt = Rate(mean * 40, mean * 30, mean * 50)
    first = Rate(placed.context_tokens / prompt.mean, 0.8 * placed.context_tokens / prompt.mean,
                 1.3 * placed.context_tokens / prompt.mean, unit="s")  # fmt: skip
    decode = (
        Rate(mean, mean, mean, se=mean * 0.02, n=3) if measured
        else Rate(mean, mean * 0.7, mean * 1.2)
    )  # fmt: skip
    return SpeedEstimate(
        model=a.name, format=fmt_name, hardware=placed.system.label, runtime="llama.cpp",
        context_tokens=placed.context_tokens, prompt_tokens=placed.context_tokens,
        decode=decode, prompt=prompt, time_to_first_token_s=first, evidence=evidence,
        prompt_evidence=evidence, placement=placed, regime="test",
    )  # fmt: skip


def candidates(
    budget_bytes: int, task: str, context: int, kv_cache: str, device: str
) -> list[Candidate]:
    kv_scale = {"f16": 1.0, "q8_0": 0.53, "q4_0": 0.28}[kv_cache] * context / 4096
    m = machine(device)
    out = []
    for key, fmt_name, weights_gb, mmlu, kind, gsm8k in CONFIGS:
        a = ARCHS[key]
        fmt = get_format(fmt_name)
        fp = Footprint(
            weight_bytes=int(weights_gb * 1e9),
            kv_bytes=int(0.5e9 * kv_scale * a.params_total / 8e9),
            compute_bytes=int(0.3e9),
            overhead_bytes=int(0.4e9),
            context_tokens=context,
            kv_cache_type=kv_cache,
            backend="llama.cpp" if fmt.backend == "gguf" else "transformers",
            device="cpu" if device == "cpu" else "cuda",
        )
        value = {"mmlu": mmlu, "gsm8k": gsm8k}.get(task)
        evidence = () if value is None or kind is None else (_evidence(kind, task, value),)
        placed = _placement(a, fmt_name, m, context, kv_cache)
        extras = {
            "source": Source(None, make_command(a, fmt)),
            "machine": m,
            "placement": placed,
            "speed": _speed(a, fmt_name, placed, device),
        }
        out.append(Candidate(a, fmt, fp, budget_bytes, evidence, combine(evidence), extras))
    return out


def fake_recommend(
    budget: str | int | None = None,
    task: str = "mmlu",
    context: int = 4096,
    kv_cache: str = "f16",
    backend: str = "any",
    device: str | None = None,
    safety_margin: float | None = None,
    families: object = None,
    **options: object,
) -> Recommendation:
    """``recommend`` over the fixed configs above: same signature, same fit rule (the
    calibrated upper bound, ``memory_bytes``, within the usable budget)."""
    hardware = options.get("hardware")
    if hardware is not None:  # a detected GPU or Apple chip, by its bundled profile
        profile = hardware_profiles()[str(hardware)]
        budget_bytes = profile.memory_bytes
        device = {"gpu": "cuda", "unified": "apple"}.get(profile.kind, "cpu")
    else:
        budget_bytes = parse_size(budget if budget is not None else "24GiB")
    device = device or "cuda"
    safety_margin = 0.10 if safety_margin is None else safety_margin
    cands = candidates(budget_bytes, task, context, kv_cache, device)
    if backend != "any":
        cands = [c for c in cands if c.format.backend == backend]
    usable = int(budget_bytes * (1 - safety_margin))
    fits = [c for c in cands if c.memory_bytes <= usable]
    fits.sort(key=lambda c: (c.best is None, -(c.best.value if c.best else 0)))
    excluded = sorted((c for c in cands if c not in fits), key=lambda c: c.memory_bytes)
    plan = Budget(budget_bytes, device, str(budget), budget_bytes)
    return Recommendation(
        budget=plan, task=task, requested_task=task, context_tokens=context,
        kv_cache_type=kv_cache, backend=backend, variant="any", risk="neutral",
        safety_margin=safety_margin, ranked=tuple(fits), excluded=tuple(excluded),
        considered=len(cands), smallest=min(cands, key=lambda c: c.memory_bytes),
        notes=(f"speeds assume a test {device} machine",),
    )  # fmt: skip


TASKS = ["mmlu", "gsm8k", "arc_challenge"]
