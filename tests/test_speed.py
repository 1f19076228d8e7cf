"""advisor.speed.estimate: the contract the held-out check calls, input validation, evidence
labels, and that importing it loads nothing heavy."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from advisor import speed
from advisor.profiles import find_architecture
from advisor.speed.shape import SpeedInputError, format_facts, model_shape

RTX_4090 = {"kind": "gpu", "memory_gb": 24, "memory_bandwidth_gbs": 1008, "fp16_tflops": 165}


def _rate_ok(rate: speed.Rate) -> None:
    assert math.isfinite(rate.mean) and rate.mean > 0
    assert rate.low <= rate.mean <= rate.high


def test_estimate_contract_with_a_hardware_dict() -> None:
    est = speed.estimate("Meta-Llama-3-8B", "Q4_K_M", {**RTX_4090, "count": 1})
    for rate in (est.decode, est.prompt, est.time_to_first_token_s):
        _rate_ok(rate)
    assert est.evidence.kind == "predicted" and "leave-one-hardware-out" in est.evidence.source
    assert est.decode.low < est.decode.high  # a prediction carries an interval
    assert est.placement.strategy == "gpu" and est.fits
    data = est.to_dict()
    assert data["schema"] == "advisor.speed-estimate/1"
    assert data["decode"]["mean"] == est.decode.mean
    assert data["evidence"]["kind"] == "predicted"
    # a 4090-class card decodes an 8B Q4_K_M at 100-170 tokens/s in every public table
    assert 80 < est.decode.mean < 200
    assert 2000 < est.prompt.mean < 20000


def test_positional_signature_and_defaults() -> None:
    est = speed.estimate("Meta-Llama-3-8B", "F16", "rtx-4090-24gb", 0, 512, None)
    assert est.context_tokens == 0 and est.prompt_tokens == 512
    # time to first token = the prompt at the prompt speed plus one decoded token
    expected = 512 / est.prompt.mean + 1 / est.decode.mean
    assert est.time_to_first_token_s.mean == pytest.approx(expected)


def test_decode_slows_with_context_and_bytes() -> None:
    short = speed.estimate("Meta-Llama-3-8B", "Q4_K_M", RTX_4090, context_tokens=0)
    long = speed.estimate("Meta-Llama-3-8B", "Q4_K_M", RTX_4090, context_tokens=32768)
    f16 = speed.estimate("Meta-Llama-3-8B", "F16", RTX_4090)
    assert long.decode.mean < short.decode.mean
    assert f16.decode.mean < short.decode.mean
    slower = speed.estimate("Meta-Llama-3-8B", "Q4_K_M", {**RTX_4090, "memory_bandwidth_gbs": 504})
    assert slower.decode.mean < short.decode.mean


def test_moe_decodes_by_its_active_weights() -> None:
    dense = speed.estimate("Qwen3-32B", "Q4_K_M", "a100-80gb")
    moe = speed.estimate("Qwen3-30B-A3B", "Q4_K_M", "a100-80gb")
    assert moe.decode.mean > 2.5 * dense.decode.mean  # 3.3B of 30.5B active per token


def test_published_row_is_used_for_bundled_hardware() -> None:
    est = speed.estimate("Llama-2-7b-hf", "Q4_0", "rtx-4090-24gb")
    assert est.evidence.kind == "published"
    assert "speed_benchmarks.csv" in est.evidence.source
    assert est.prompt_evidence.kind == "published"


def test_a_dict_never_claims_published_evidence() -> None:
    est = speed.estimate("Llama-2-7b-hf", "Q4_0", RTX_4090)
    assert est.evidence.kind == "predicted"


def test_transformers_formats_estimate_on_cuda() -> None:
    est = speed.estimate("Llama-3.1-8B", "nf4", "rtx-3090-24gb")
    assert est.runtime == "transformers" and est.regime == "transformers"
    _rate_ok(est.decode)
    with pytest.raises(SpeedInputError, match="CUDA"):
        speed.estimate("Llama-3.1-8B", "nf4", "apple-m4-pro-48gb")


@pytest.mark.parametrize(
    ("hardware", "error", "match"),
    [
        (
            {"kind": "tpu", "memory_gb": 16, "memory_bandwidth_gbs": 800, "fp16_tflops": 100},
            ValueError,
            "kind",
        ),
        ({"kind": "gpu", "memory_bandwidth_gbs": 800, "fp16_tflops": 100}, ValueError, "memory_gb"),
        ({"kind": "gpu", "memory_gb": 16, "fp16_tflops": 100}, ValueError, "memory_bandwidth_gbs"),
        ({"kind": "gpu", "memory_gb": 16, "memory_bandwidth_gbs": 800}, ValueError, "fp16_tflops"),
        ({**RTX_4090, "memory_bandwidth_gbs": -5}, ValueError, "between"),
        ({**RTX_4090, "memory_bandwidth_gbs": float("nan")}, ValueError, "between"),
        ({**RTX_4090, "memory_gb": "24"}, TypeError, "number"),
        ({**RTX_4090, "count": 0}, ValueError, "count"),
        ({**RTX_4090, "count": 1.5}, ValueError, "count"),
        ({**RTX_4090, "vram": 24}, ValueError, "unknown hardware keys"),
        ({**RTX_4090, "memory_gib": 24}, ValueError, "one of"),
        ({**RTX_4090, "ram_gb": 64}, ValueError, "ram_bandwidth_gbs"),
        ("no-such-gpu", SpeedInputError, "unknown hardware"),
        (42, TypeError, "profile id"),
    ],
)
def test_bad_hardware_is_a_clear_error(hardware: object, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        speed.estimate("Meta-Llama-3-8B", "Q4_K_M", hardware)


def test_bad_model_format_and_tokens_are_clear_errors() -> None:
    with pytest.raises(SpeedInputError, match="unknown model"):
        speed.estimate("Not-A-Model-7B", "Q4_K_M", RTX_4090)
    with pytest.raises(TypeError, match="catalogue name"):
        speed.estimate(7, "Q4_K_M", RTX_4090)
    with pytest.raises(SpeedInputError, match="unknown format"):
        speed.estimate("Meta-Llama-3-8B", "Q4_K_X", RTX_4090)
    with pytest.raises(ValueError, match="context_tokens"):
        speed.estimate("Meta-Llama-3-8B", "Q4_K_M", RTX_4090, context_tokens=-1)
    with pytest.raises(TypeError, match="prompt_tokens"):
        speed.estimate("Meta-Llama-3-8B", "Q4_K_M", RTX_4090, prompt_tokens=51.2)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="placement keys"):
        speed.estimate("Meta-Llama-3-8B", "Q4_K_M", RTX_4090, placement={"layers": 3})
    # an AdvisorError subclass: the CLI prints it as one line and exits 2
    from advisor.errors import AdvisorError

    assert issubclass(SpeedInputError, AdvisorError)


def test_gib_and_gb_memory_are_both_accepted() -> None:
    gb = speed.resolve_system({**RTX_4090})
    gib = speed.resolve_system(
        {**{k: v for k, v in RTX_4090.items() if k != "memory_gb"}, "memory_gib": 24}
    )
    assert gb.accelerators[0].memory_bytes == 24 * 10**9
    assert gib.accelerators[0].memory_bytes == 24 * 2**30


def test_mxfp4_gpt_oss_sizes_match_the_published_files() -> None:
    # llama-bench prints gpt-oss 20B MXFP4 MoE as 11.27 GiB and 120B as 59.02 GiB
    small = model_shape(find_architecture("gpt-oss-20b"), "MXFP4").resident_bytes / 2**30
    big = model_shape(find_architecture("gpt-oss-120b"), "MXFP4").resident_bytes / 2**30
    assert small == pytest.approx(11.27, rel=0.02)
    assert big == pytest.approx(59.02, rel=0.02)
    assert format_facts("MXFP4_MOE").family == "mxfp4"


def test_moe_active_bytes_follow_the_active_parameters() -> None:
    arch = find_architecture("Qwen3-30B-A3B")
    shape = model_shape(arch, "Q8_0")
    # everything a token reads except the embedding: ~3.0B of the 3.35B active parameters
    assert shape.active_params == pytest.approx(arch.params_active - arch.embed_params, rel=0.01)
    assert shape.read_bytes < 0.15 * shape.resident_bytes


def test_import_loads_no_heavy_modules() -> None:
    code = (
        "import sys, advisor; advisor.speed; "
        "from advisor import speed; speed.estimate('Meta-Llama-3-8B', 'Q4_K_M', 'rtx-4090-24gb'); "
        "heavy = ('torch', 'transformers', 'llama_cpp', 'textual', 'ray', 'numpy', 'scipy'); "
        "print(','.join(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_a_local_record_on_this_machine_is_measured_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """The committed CPU sweep ran on a VM; pretend this machine has its fingerprint."""
    import json
    from pathlib import Path

    from advisor.profiles import detect

    path = Path(__file__).resolve().parents[1] / "measurements" / "gguf_cpu.jsonl"
    record = next(
        r
        for r in map(json.loads, path.read_text(encoding="utf-8").splitlines())
        if r["model_name"] == "SmolLM2-135M-Instruct" and r["format"] == "Q4_0"
    )
    monkeypatch.setattr(detect, "fingerprint", lambda: record["hardware"])
    probe = detect.BandwidthProbe(gbs=10.0, bytes_moved=2**28, seconds=0.03, threads=1)
    monkeypatch.setattr(detect, "memory_bandwidth_probe", lambda: probe)
    est = speed.estimate("SmolLM2-135M-Instruct", "Q4_0", "local", context_tokens=576)
    assert est.evidence.kind == "measured here"
    assert est.decode.mean == pytest.approx(record["speed"]["gen_tokens_per_s"], rel=1e-6)
    assert est.prompt_evidence.kind == "measured here"
    assert est.prompt.mean == pytest.approx(record["speed"]["prompt_tokens_per_s"], rel=1e-6)
    other = speed.estimate("SmolLM2-135M-Instruct", "Q8_0", "rtx-4090-24gb")
    assert other.evidence.kind != "measured here"  # another machine


def test_rates_print_as_the_project_prints_numbers() -> None:
    assert str(speed.Rate(73.4, 69.2, 76.0)) == "73.4 [69.2–76.0]"
    assert str(speed.Rate(49.7, 44.9, 54.5, se=2.9, n=3)) == "49.7 ± 2.9 se"
    assert str(speed.Rate(5020.4, 2786.0, 8283.0)) == "5,020 [2,786–8,283]"


def test_a_named_gpu_dict_gets_its_vendors_backend() -> None:
    amd = speed.resolve_system({**RTX_4090, "name": "AMD Radeon RX 7900 XTX"})
    assert amd.accelerators[0].backend == "rocm" and "rocm" in amd.notes[0]
    vulkan = speed.resolve_system(
        {**RTX_4090, "name": "AMD Radeon RX 7900 XTX", "backend": "vulkan"}
    )
    assert vulkan.accelerators[0].backend == "vulkan" and not vulkan.notes
    assert speed.resolve_system(RTX_4090).accelerators[0].backend == "cuda"
    apple = {"kind": "apple", "memory_gb": 64, "memory_bandwidth_gbs": 400, "fp16_tflops": 14}
    assert speed.resolve_system(apple).accelerators[0].backend == "metal"
    with pytest.raises(ValueError, match="count"):
        speed.resolve_system({**apple, "count": 2})
    with pytest.raises(ValueError, match="backend"):
        speed.resolve_system({**RTX_4090, "backend": "tpu"})
