"""The speed model: fitted coefficients (``measurements/speed.json``) and the two formulas.

Decode, per generated token, summed over the devices that hold a part of the model::

    t = Σ_device [ weight_bytes / (bandwidth × e(backend, family))
                   + kv_bytes / (bandwidth × e(backend) × e_kv)
                   + layers × t_layer(backend) + moe_layers × t_moe(backend) ]

Prefill, per prompt token::

    t = Σ_device [ 2 × active_params / (tflops × g(backend, family))
                   + attention_flops / (tflops × g(backend) × g_attn)
                   + layers × t_layer_prompt(backend) ]
        + weights streamed to the GPU once per micro-batch (partial offload)

``e`` and ``g`` are efficiencies (a share of the bandwidth or of the dense FP16 peak) per
backend × format family, the per-layer times are fixed costs (kernel launches, syncs,
Python in transformers). All are fitted on the named-hardware rows of
``profiles/speed_benchmarks.csv`` (:mod:`advisor.speed.fitting`); none is hand-set. This
module only evaluates them: pure Python, no numpy.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from advisor.errors import AdvisorError
from advisor.locations import measurements_dir

SCHEMA = "advisor.speed-model/1"
SPEED_FILE = "speed.json"
LLAMA_CPP_UBATCH = 512  # prompt micro-batch: CPU-resident weights cross PCIe once per batch
# A backend without fitted figures for a stage borrows these (and says so): no public
# transformers prefill measurements on CUDA were found; its GEMMs run in cuBLAS as
# llama.cpp's F16 prefill does.
STAND_INS = {"transformers/cuda": "llama.cpp/cuda", "transformers/cpu": "llama.cpp/cpu"}


class SpeedModelError(AdvisorError):
    """The committed speed coefficients are missing or malformed."""


@dataclass(frozen=True)
class Work:
    """What one device does for one token (decode) or one prompt token (prefill)."""

    backend: str  # coefficient key: "llama.cpp/cuda", "transformers/cpu", ...
    family: str  # format family (advisor.speed.shape.FAMILIES)
    bandwidth_gbs: float
    tflops: float
    weight_bytes: float  # read per decoded token
    kv_bytes: float  # read per decoded token at the context
    layers: int  # repeating layers processed here
    moe_layers: int  # MoE layers whose experts are processed here
    weight_flops: float  # per prompt token: 2 x parameters processed here
    attention_flops: float  # per prompt token at the prompt's mean context


@dataclass(frozen=True)
class StageCoefficients:
    """One stage's (decode or prefill) fitted coefficients."""

    efficiency: dict[str, float]  # backend -> share of bandwidth (decode) or FLOPS (prefill)
    layer_seconds: dict[str, float]  # backend -> fixed time per layer per token
    moe_layer_seconds: dict[str, float]  # backend -> extra time per MoE layer per token
    family_factor: dict[str, float]  # format family -> multiplier on the efficiency
    backend_family_factor: dict[str, float]  # "backend|family" -> multiplier (shrunk to 1)
    kv_factor: float  # KV (decode) / attention (prefill) efficiency relative to weights

    def key_for(self, backend: str) -> str:
        """``backend`` if fitted, else its stand-in (:data:`STAND_INS`)."""
        if backend in self.efficiency:
            return backend
        return STAND_INS.get(backend, backend)

    def efficiency_of(self, backend: str, family: str) -> float:
        backend = self.key_for(backend)
        try:
            base = self.efficiency[backend]
        except KeyError:
            raise SpeedModelError(
                f"no fitted efficiency for backend {backend!r}: one of {', '.join(self.efficiency)}"
            ) from None
        return (
            base
            * self.family_factor.get(family, 1.0)
            * self.backend_family_factor.get(f"{backend}|{family}", 1.0)
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StageCoefficients:
        try:
            return cls(
                efficiency={k: float(v) for k, v in data["efficiency"].items()},
                layer_seconds={k: float(v) for k, v in data["layer_seconds"].items()},
                moe_layer_seconds={k: float(v) for k, v in data["moe_layer_seconds"].items()},
                family_factor={k: float(v) for k, v in data["family_factor"].items()},
                backend_family_factor={
                    k: float(v) for k, v in data["backend_family_factor"].items()
                },
                kv_factor=float(data["kv_factor"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SpeedModelError(f"{SPEED_FILE}: malformed stage coefficients ({exc})") from None

    def to_dict(self) -> dict[str, Any]:
        return {
            "efficiency": self.efficiency,
            "layer_seconds": self.layer_seconds,
            "moe_layer_seconds": self.moe_layer_seconds,
            "family_factor": self.family_factor,
            "backend_family_factor": self.backend_family_factor,
            "kv_factor": self.kv_factor,
        }


@dataclass(frozen=True)
class SpeedModel:
    """Fitted coefficients plus the cross-validated error bands that give the intervals."""

    decode: StageCoefficients
    prompt: StageCoefficients
    # regime -> (low, high) multipliers on the predicted speed for a 90 % interval, from the
    # 5th/95th percentiles of leave-one-hardware-out log errors.
    decode_band: dict[str, tuple[float, float]]
    prompt_band: dict[str, tuple[float, float]]
    cv: dict[str, Any]
    meta: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.meta.get("name", "advisor speed model"))

    def decode_seconds(self, works: Sequence[Work]) -> float:
        c = self.decode
        total = 0.0
        for w in works:
            bandwidth = w.bandwidth_gbs * 1e9
            if w.weight_bytes:
                total += w.weight_bytes / (bandwidth * c.efficiency_of(w.backend, w.family))
            key = c.key_for(w.backend)
            if w.kv_bytes:
                total += w.kv_bytes / (bandwidth * c.efficiency[key] * c.kv_factor)
            total += w.layers * c.layer_seconds.get(key, 0.0)
            total += w.moe_layers * c.moe_layer_seconds.get(key, 0.0)
        return total

    def prompt_seconds_per_token(
        self,
        works: Sequence[Work],
        streamed_bytes: float = 0.0,
        pcie_gbs: float = 0.0,
        prompt_tokens: int = 512,
        pipeline_stages: int = 1,
    ) -> float:
        """Seconds per prompt token. With a layer split over ``pipeline_stages`` GPUs,
        llama.cpp pipelines the prompt's micro-batches: n batches take n + S - 1 stage
        times instead of n x S."""
        c = self.prompt
        total = 0.0
        for w in works:
            flops = w.tflops * 1e12
            if w.weight_flops:
                total += w.weight_flops / (flops * c.efficiency_of(w.backend, w.family))
            key = c.key_for(w.backend)
            if w.attention_flops:
                total += w.attention_flops / (flops * c.efficiency[key] * c.kv_factor)
            total += w.layers * c.layer_seconds.get(key, 0.0)
            total += w.moe_layers * c.moe_layer_seconds.get(key, 0.0)
        if pipeline_stages > 1:
            batches = math.ceil(prompt_tokens / LLAMA_CPP_UBATCH)
            total *= (batches + pipeline_stages - 1) / (batches * pipeline_stages)
        if streamed_bytes and pcie_gbs:
            batch = max(1, min(prompt_tokens, LLAMA_CPP_UBATCH))
            total += streamed_bytes / (pcie_gbs * 1e9) / batch
        return total

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SpeedModel:
        if data.get("schema") != SCHEMA:
            raise SpeedModelError(
                f"{SPEED_FILE}: schema must be {SCHEMA!r}, got {data.get('schema')!r}"
            )
        try:
            bands = data["intervals"]
            model = cls(
                decode=StageCoefficients.from_dict(data["decode"]),
                prompt=StageCoefficients.from_dict(data["prompt"]),
                decode_band={k: (float(v[0]), float(v[1])) for k, v in bands["decode"].items()},
                prompt_band={k: (float(v[0]), float(v[1])) for k, v in bands["prompt"].items()},
                cv=dict(data.get("cv", {})),
                meta={
                    k: v
                    for k, v in data.items()
                    if k not in {"decode", "prompt", "intervals", "cv"}
                },
            )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise SpeedModelError(f"{SPEED_FILE}: malformed ({exc})") from None
        for stage in (model.decode, model.prompt):
            values = [
                *stage.efficiency.values(),
                *stage.layer_seconds.values(),
                *stage.family_factor.values(),
                stage.kv_factor,
            ]
            if not all(math.isfinite(v) and v >= 0 for v in values):
                raise SpeedModelError(f"{SPEED_FILE}: coefficients must be finite and >= 0")
        return model

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.meta,
            "schema": SCHEMA,
            "decode": self.decode.to_dict(),
            "prompt": self.prompt.to_dict(),
            "intervals": {
                "decode": {k: list(v) for k, v in self.decode_band.items()},
                "prompt": {k: list(v) for k, v in self.prompt_band.items()},
            },
            "cv": self.cv,
        }


def speed_file() -> Path:
    return measurements_dir() / SPEED_FILE


@cache
def load_speed_model(path: str | None = None) -> SpeedModel:
    """The committed coefficients (cached per process)."""
    file = Path(path) if path else speed_file()
    if not file.exists():
        raise SpeedModelError(
            f"speed coefficients missing: {file} (refit with `python -m advisor.speed.fitting`)"
        )
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SpeedModelError(f"{file.name}: not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise SpeedModelError(f"{file.name}: expected a JSON object")
    return SpeedModel.from_dict(data)
