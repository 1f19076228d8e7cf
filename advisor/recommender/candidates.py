"""Candidates: every model × format of the catalogue, with its memory footprint and the
evidence for one task (measured, published, predicted)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from advisor.curves import predict_for_config
from advisor.evidence import EVIDENCE_RANK, Evidence, measured_evidence, published_evidence
from advisor.memory import Footprint, footprint
from advisor.profiles import Architecture
from advisor.profiles.formats import BNB_FORMATS, COMMON_GGUF_TYPES, Format, get_format

# Which formats each `--backend` choice offers.
FORMAT_SETS: dict[str, tuple[str, ...]] = {
    "gguf": COMMON_GGUF_TYPES,
    "bnb": BNB_FORMATS,
    # 16-bit once (as GGUF F16): bnb's bf16 holds the same weights in the same bytes.
    "any": (
        *COMMON_GGUF_TYPES,
        *(f for f in BNB_FORMATS if f != "bf16"),
        "GPTQ-Int8",
        "GPTQ-Int4",
        "AWQ",
    ),
}


@dataclass(frozen=True)
class Candidate:
    arch: Architecture
    format: Format
    footprint: Footprint
    budget_bytes: int
    evidence: tuple[Evidence, ...]

    @property
    def best(self) -> Evidence | None:
        """Measured beats published beats predicted."""
        if not self.evidence:
            return None
        return min(self.evidence, key=lambda e: EVIDENCE_RANK[e.kind])

    @property
    def headroom_bytes(self) -> int:
        return self.budget_bytes - self.footprint.total_bytes

    @property
    def disagreement(self) -> str | None:
        """Where evidence of different kinds disagrees by more than its uncertainty."""
        best = self.best
        if best is None:
            return None
        for other in self.evidence:
            if other.kind == best.kind:
                continue
            tolerance = max(2.0, 2 * (other.uncertainty or 0) + 2 * (best.uncertainty or 0))
            if abs(other.value - best.value) > tolerance:
                return f"{other.kind} says {other.value:.1f}, {best.kind} says {best.value:.1f}"
        return None

    @property
    def label(self) -> str:
        return f"{self.arch.name} {self.format.name}"

    def to_dict(self) -> dict[str, Any]:
        best = self.best
        return {
            "model": self.arch.name,
            "model_id": self.arch.model_id,
            "family": self.arch.family,
            "params": self.arch.params_total,
            "params_active": self.arch.params_active,
            "format": self.format.name,
            "backend": self.footprint.backend,
            "nominal_bits": self.format.nominal_bits,
            "footprint": self.footprint.to_dict(),
            "headroom_bytes": self.headroom_bytes,
            "score": None if best is None else best.value,
            "score_uncertainty": None if best is None else best.uncertainty,
            "evidence_kind": None if best is None else best.kind,
            "evidence": [
                {
                    "kind": e.kind,
                    "task": e.task,
                    "metric": e.metric,
                    "value": e.value,
                    "uncertainty": e.uncertainty,
                    "source": e.source,
                    **e.detail,
                }
                for e in self.evidence
            ],
            "disagreement": self.disagreement,
        }


def candidates(
    archs: Iterable[Architecture],
    formats: Sequence[str],
    context_tokens: int,
    kv_cache_type: str,
    device: str,
    budget_bytes: int,
    task: str,
) -> list[Candidate]:
    out = []
    for arch in archs:
        for name in formats:
            fmt = get_format(name)
            fp = footprint(arch, fmt, context_tokens, kv_cache_type, device=device)
            predicted = predict_for_config(arch, fmt, task)
            evidence = (
                measured_evidence(arch, fmt, task)
                + published_evidence(arch, fmt, task)
                + ([] if predicted is None else [predicted])
            )
            out.append(Candidate(arch, fmt, fp, budget_bytes, tuple(evidence)))
    return out
