"""Measured evidence: the stores this process reads, their records, and the records that
match a config (exact model, format and task)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from advisor.evidence.metrics import metric_info
from advisor.evidence.model import Evidence
from advisor.locations import measurements_dir
from advisor.measure.store import Measurement, default_store_path, load_measurements
from advisor.profiles import Architecture
from advisor.profiles.formats import Format


def store_paths() -> list[Path]:
    """Measurement stores read by the recommender: the bundled ones, then the user's
    (``ADVISOR_STORE`` with ``~`` expanded, else the default store when it exists)."""
    folder = measurements_dir()
    paths: list[Path] = sorted(folder.glob("*.jsonl")) if folder.is_dir() else []
    user = default_store_path()
    if os.environ.get("ADVISOR_STORE") or user.exists():
        paths.append(user)
    return paths


@cache
def measurements() -> tuple[Measurement, ...]:
    """Every successful record of every store read (cached for the process)."""
    return tuple(m for m in load_measurements(store_paths()) if m.status == "ok")


@cache
def _index() -> dict[tuple[str, str, str], list[Measurement]]:
    index: dict[tuple[str, str, str], list[Measurement]] = {}
    for m in measurements():
        index.setdefault((m.arch_id or "", m.task, m.format.upper()), []).append(m)
    return index


def reload_measurements() -> None:
    """Forget the measurements read so far: the next ranking reads the stores again
    (after `advisor measure` appended to them in this process, e.g. from the TUI)."""
    measurements.cache_clear()
    _index.cache_clear()


def measured_tasks() -> set[str]:
    return {m.task for m in measurements()}


def measured_evidence(arch: Architecture, fmt: Format, task: str) -> list[Evidence]:
    found = []
    for m in _index().get((arch.model_id, task, fmt.name.upper()), []):
        if m.value is None:
            continue
        scale = metric_info(m.metric).stored_scale
        hw = m.hardware or {}
        gpus = hw.get("gpus") or []
        where = gpus[0]["name"] if gpus else hw.get("cpu", "unknown CPU")
        versions = m.versions or {}
        engine = versions.get("llama_cpp_python") or versions.get("transformers") or "?"
        found.append(
            Evidence(
                kind="measured",
                task=task,
                metric=m.metric,
                value=m.value * scale,
                stderr=None if m.stderr is None else m.stderr * scale,
                n=m.n,
                source=(
                    f"measured here {str(m.created)[:10]} on {where}, {m.backend} {engine}, n={m.n}"
                    + _made_from(m.provenance)
                ),
                source_key=f"measured:{m.backend}:{m.task}:{m.task_version}",
                detail={
                    "bits_per_weight": m.bits_per_weight,
                    "provenance": list(m.provenance),
                    "hardware": where,
                    "versions": dict(versions),
                    "created": m.created,
                },
            )
        )
    return found


def dequantized_from(provenance: Sequence[str]) -> str | None:
    """The file type a measured 16-bit base was dequantized from (its provenance line, as
    the ladder writes it), or None for real 16-bit weights."""
    for line in provenance:
        if line.startswith("base dequantized from "):
            return line.removeprefix("base dequantized from ").split(" ", 1)[0]
    return None


def _made_from(provenance: Sequence[str]) -> str:
    """What the measured file really was, when not the real thing: a 16-bit file dequantized
    from a quantized source holds that source's information, and a rung re-quantized from
    one carries its error on top (the published file of that type is made from 16 bits)."""
    source = dequantized_from(provenance)
    if source is not None:
        return f"; a base dequantized from {source}, not the original 16-bit weights"
    for line in provenance:
        if line.startswith("requantized "):
            source = line.removeprefix("requantized ").split(" ", 1)[0]
            return f"; re-quantized from {source}, not the published file (made from 16 bits)"
    return ""
