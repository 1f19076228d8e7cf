"""Candidates: the model × format configs worth ranking for a question, each with its
memory footprint, every piece of evidence for the task (measured, published, predicted),
and the estimate it is ranked by.

Which configs are candidates: models of the asked variant (instruct/chat by default —
what people deploy) that accept the context, in formats that run on the platform
(GGUF everywhere; bitsandbytes, GPTQ and AWQ on CUDA only; Apple and CPU budgets: GGUF,
bitsandbytes on CPU only when asked for with ``backend="bnb"``).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from advisor.curves import predict_for_config
from advisor.curves.predict import Anchor
from advisor.evidence import Evidence, measured_evidence, published_evidence
from advisor.evidence.model import Estimate, combine
from advisor.memory import Footprint, footprint
from advisor.profiles import Architecture, architectures
from advisor.profiles.artifacts import (
    Artifact,
    MakeRecipe,
    artifacts_for,
    make_command,
    run_command,
)
from advisor.profiles.formats import BNB_FORMATS, COMMON_GGUF_TYPES, Format, get_format
from advisor.recommender.budget import RecommendError

# Which formats each `backend` choice offers.
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
# Runtimes per platform: llama.cpp runs everywhere; the others need CUDA kernels.
CUDA_ONLY_BACKENDS = {"bnb", "gptq", "awq", "vllm"}
VARIANTS = ("instruct", "base", "any")


def variant_of(arch: Architecture) -> str:
    """ "base" or "instruct" (see :attr:`Architecture.deploy_variant`)."""
    return arch.deploy_variant


@dataclass(frozen=True)
class Candidate:
    arch: Architecture
    format: Format
    footprint: Footprint
    budget_bytes: int
    evidence: tuple[Evidence, ...]
    estimate: Estimate | None = None
    extras: dict[str, Any] = field(default_factory=dict)  # artifact, speed, placement

    @property
    def best(self) -> Estimate | None:
        """The estimate the config is ranked by (its evidence combined)."""
        return self.estimate

    @property
    def memory_bytes(self) -> int:
        """What the config is budgeted at on its device: the memory model's calibrated
        upper bound (its validation residuals per backend), not the point estimate."""
        return self.footprint.upper_bytes

    @property
    def headroom_bytes(self) -> int:
        return self.budget_bytes - self.memory_bytes

    @property
    def disagreement(self) -> str | None:
        return None if self.estimate is None else self.estimate.disagreement

    @property
    def label(self) -> str:
        return f"{self.arch.name} {self.format.name}"

    @property
    def bits_per_weight(self) -> float:
        return self.footprint.weight_bytes * 8 / self.arch.params_total

    def to_dict(self) -> dict[str, Any]:
        memory = self.footprint.to_dict()
        return {
            "model": self.arch.name,
            "model_id": self.arch.model_id,
            "family": self.arch.family_key,
            "variant": variant_of(self.arch),
            "params": self.arch.params_total,
            "params_active": self.arch.params_active,
            "max_context": self.arch.max_context,
            "format": self.format.name,
            "backend": self.footprint.backend,
            "nominal_bits": self.format.nominal_bits,
            "bits_per_weight": round(self.bits_per_weight, 4),
            "memory": memory,
            "memory_bytes": self.memory_bytes,
            "headroom_bytes": self.headroom_bytes,
            "score": None if self.estimate is None else self.estimate.to_dict(),
            "evidence": [e.to_dict() for e in self.evidence],
            "disagreement": self.disagreement,
            **self._placement_dict(),
            **self._source_dict(),
        }

    def _placement_dict(self) -> dict[str, Any]:
        from advisor.recommender.placement import placement_dict, placement_label

        machine = self.extras.get("machine")
        speed = self.speed
        return {
            "where": None
            if machine is None
            else placement_label(self.placement, self.format, machine),
            "placement": placement_dict(self.placement),
            "speed": None if speed is None else speed.to_dict(include_placement=False),
        }

    @property
    def source(self) -> Source | None:
        found = self.extras.get("source")
        return found if isinstance(found, Source) else None

    @property
    def placement(self) -> Any:
        """Where it runs (:class:`advisor.speed.Placement`), when the ranking placed it."""
        return self.extras.get("placement")

    @property
    def speed(self) -> Any:
        """Its speed (:class:`advisor.speed.Estimate`), when the ranking estimated it."""
        return self.extras.get("speed")

    def run_flags(self) -> tuple[str, ...]:
        """Placement flags for the run command: the placement's llama.cpp split, else all
        layers on the GPU (or none on a CPU)."""
        from advisor.recommender.placement import run_flags

        placed = self.placement
        if placed is not None:
            return run_flags(placed)
        if self.format.backend == "gguf":
            return ("-ngl", "99") if self.footprint.device == "cuda" else ()
        return ()

    def _source_dict(self) -> dict[str, Any]:
        src = self.source
        if src is None:
            return {"get": None, "artifact": None, "make": None, "run": None}
        body = src.to_dict(self.footprint.context_tokens, self.run_flags())
        return {
            "get": body["label"],
            "artifact": body["artifact"],
            "make": body["make"],
            "run": body["run"],
        }


def formats_for(backend: str, device: str) -> tuple[str, ...]:
    """The formats a question considers: the backend's set, less what cannot run on the
    device (CUDA-only kernels on a CPU or a Mac; bitsandbytes on CPU only when asked)."""
    if backend not in FORMAT_SETS:
        raise RecommendError(f"unknown backend {backend!r}: use one of {', '.join(FORMAT_SETS)}")
    names = FORMAT_SETS[backend]
    if device == "cuda":
        return names
    if device == "cpu" and backend == "bnb":
        return names  # bitsandbytes on CPU: slow, but asked for explicitly
    return tuple(n for n in names if get_format(n).backend not in CUDA_ONLY_BACKENDS)


def resolve_models(names: Sequence[str]) -> list[Architecture]:
    """Catalogue architectures by name or model id (case-insensitive), in the given order."""
    archs = architectures()
    by_key = {
        **{a.name.lower(): a for a in archs.values()},
        **{k.lower(): a for k, a in archs.items()},
    }
    found = []
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise TypeError(f"models must be model names or ids (strings), got {name!r}")
        arch = by_key.get(name.strip().lower())
        if arch is None:
            close = difflib.get_close_matches(name.lower(), list(by_key), n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise RecommendError(f"unknown model {name!r}{hint} (see `advisor profiles`)")
        found.append(arch)
    return found


def select_families(
    archs: Iterable[Architecture], families: Sequence[str], notes: list[str]
) -> list[Architecture]:
    """Keep the named families. A name that is also the start of other families (``qwen``
    is Qwen 1; ``qwen2``, ``qwen2.5``, ``qwen3`` exist) keeps the exact one and says which
    others it did not mean; an unknown name is an error with the closest names."""
    pool = list(archs)
    keys = sorted({a.family_key for a in pool} | {a.family.lower() for a in pool if a.family})
    wanted: set[str] = set()
    for raw in families:
        if not isinstance(raw, str) or not raw.strip():
            raise TypeError(f"families must be family names (strings), got {raw!r}")
        name = raw.strip().lower()
        if name not in keys:
            close = difflib.get_close_matches(name, keys, n=4, cutoff=0.5)
            longer = [k for k in keys if k.startswith(name)]
            hint = ", ".join(dict.fromkeys(longer + close)) or "see `advisor profiles`"
            raise RecommendError(f"unknown family {raw!r}: did you mean {hint}?")
        wanted.add(name)
        others = [k for k in keys if k != name and k.startswith(name)]
        if others:
            notes.append(
                f"family {name!r} is exactly that family; {', '.join(others)} are others "
                f"(name them to include them)"
            )
    return [a for a in pool if a.family_key in wanted or a.family.lower() in wanted]


@dataclass(frozen=True)
class Source:
    """Where a config comes from: a published artifact, or a recipe that makes it."""

    artifact: Artifact | None
    recipe: MakeRecipe | None

    @property
    def obtainable(self) -> bool:
        return self.artifact is not None or (self.recipe is not None and self.recipe.kind != "none")

    @property
    def tool(self) -> str | None:
        """How the GGUF file is made, for the curves: with an importance matrix (the
        artifact says so), plain (made here with llama-quantize at 3+ bits), or unknown."""
        if self.artifact is not None:
            return "imatrix" if self.artifact.imatrix == "yes" else None
        if self.recipe is not None and self.recipe.kind == "llama-quantize":
            return (
                "imatrix" if any("llama-imatrix" in step for step in self.recipe.steps) else "plain"
            )
        return None

    def label(self) -> str:
        """What to get, in a few words: ``repo:file`` or ``make: llama-quantize``."""
        if self.artifact is not None:
            a = self.artifact
            return f"{a.repo}:{a.file}" if a.file else a.repo
        if self.recipe is not None:
            return f"make: {self.recipe.kind}" if self.recipe.kind != "none" else "none"
        return "none"

    def run(self, context_tokens: int, flags: Sequence[str] = ()) -> str | None:
        target = self.artifact if self.artifact is not None else self.recipe
        if target is None or not self.obtainable:
            return None
        return run_command(target, context_tokens, flags)

    def to_dict(self, context_tokens: int, flags: Sequence[str] = ()) -> dict[str, Any]:
        return {
            "label": self.label(),
            "artifact": None if self.artifact is None else self.artifact.to_dict(),
            "make": None if self.recipe is None else self.recipe.to_dict(),
            "run": self.run(context_tokens, flags),
        }


_SOURCES: dict[tuple[str, str], Source] = {}


def source_of(arch: Architecture, fmt: Format) -> Source:
    """The preferred artifact of a config, else the recipe that makes it (cached)."""
    key = (arch.model_id, fmt.name)
    found = _SOURCES.get(key)
    if found is None:
        # A caller's fine-tune has no catalogue artifacts: the recipe makes its formats from
        # its own weights (its model id is the caller's).
        listed = artifacts_for(arch, fmt) if arch.model_id in architectures() else []
        found = Source(listed[0], None) if listed else Source(None, make_command(arch, fmt))
        _SOURCES[key] = found
    return found


# A file whose exact size differs from the memory model's weights by more than this keeps
# its own size: its maker chose other tensor types (e.g. Q8_0 embeddings in Qwen's files).
FILE_SIZE_TOLERANCE = 0.03


def with_file_weights(fp: Footprint, artifact: Artifact | None) -> Footprint:
    """The footprint with the file's exact byte count as its weights, when the catalogue
    knows it for the one GGUF file to download and the memory model is off by more than
    :data:`FILE_SIZE_TOLERANCE` (the header's tokenizer bytes ride along: a little high,
    never low)."""
    if (
        artifact is None
        or artifact.size_bytes is None
        or artifact.is_pattern
        or artifact.runtime != "llama.cpp"
        or fp.weight_bytes <= 0
    ):
        return fp
    gap = (artifact.size_bytes - fp.weight_bytes) / fp.weight_bytes
    if abs(gap) <= FILE_SIZE_TOLERANCE:
        return fp
    note = (
        f"weights: {artifact.repo}/{artifact.file} is {artifact.size_bytes / 1e9:.2f} GB "
        f"(its exact size in profiles/artifacts.csv); the memory model's tensor types gave "
        f"{fp.weight_bytes / 1e9:.2f} GB"
    )
    return replace(fp, weight_bytes=artifact.size_bytes, notes=(*fp.notes, note))


def _shipped_format(
    arch: Architecture, formats: Sequence[str], runtimes: set[str]
) -> tuple[str, ...]:
    """The model's own release format, when a runtime of the question runs it and the
    question does not already offer it."""
    if not arch.shipped_format:
        return ()
    own = get_format(arch.shipped_format)
    return (own.name,) if own.backend in runtimes and own.name not in formats else ()


def build_candidates(
    archs: Iterable[Architecture],
    formats: Sequence[str],
    context_tokens: int,
    kv_cache_type: str,
    device: str,
    budget_bytes: int,
    task: str,
    *,
    caller_evidence: Mapping[tuple[str, str], Sequence[Evidence]] | None = None,
    anchors: Mapping[str, Anchor] | None = None,
    curve_data: Mapping[str, Any] | None = None,
    published: bool = True,
    shipped: bool = False,
) -> list[Candidate]:
    """Every (model, format) with its footprint and evidence; the estimate is set by the
    ranking, which knows which published sources compare across the candidates.
    ``published=False`` leaves the bundled published scores out (the curves' view);
    ``shipped=True`` adds each model's own release format (gpt-oss: MXFP4) where a
    runtime of the question's formats runs it."""
    memory_device = "cuda" if device == "cuda" else "cpu"
    runtimes = {get_format(n).backend for n in formats}
    out = []
    for arch in archs:
        extra = _shipped_format(arch, formats, runtimes) if shipped else ()
        for name in (*formats, *extra):
            fmt = get_format(name)
            fp = footprint(arch, fmt, context_tokens, kv_cache_type, device=memory_device)
            mine = list((caller_evidence or {}).get((arch.model_id, fmt.name), ()))
            anchor = (anchors or {}).get(arch.model_id)
            source = source_of(arch, fmt)
            fp = with_file_weights(fp, source.artifact)
            predicted = predict_for_config(
                arch, fmt, task, anchor=anchor, data=curve_data, tool=source.tool
            )
            evidence = (
                mine
                + measured_evidence(arch, fmt, task)
                + (published_evidence(arch, fmt, task) if published else [])
                + ([] if predicted is None else [predicted])
            )
            out.append(
                Candidate(arch, fmt, fp, budget_bytes, tuple(evidence), extras={"source": source})
            )
    return out


def candidates(
    archs: Iterable[Architecture],
    formats: Sequence[str],
    context_tokens: int,
    kv_cache_type: str,
    device: str,
    budget_bytes: int,
    task: str,
) -> list[Candidate]:
    """Candidates with their estimates (each on its own evidence; see :func:`rank_evidence`
    for the ranking's cross-candidate choice of published sources)."""
    built = build_candidates(
        archs, formats, context_tokens, kv_cache_type, device, budget_bytes, task
    )
    return [replace(c, estimate=combine(c.evidence)) for c in built]
