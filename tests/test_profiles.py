"""The bundled data: validated on load, every published row carried with its source."""

from __future__ import annotations

import csv

import pytest

from advisor import profiles
from tests.conftest import REPO, SHARED

REQUIRED_FAMILIES = {
    "llama2", "llama3", "llama3.1", "llama3.2", "qwen2", "qwen2.5", "qwen3", "qwen3-moe",
    "mistral", "mixtral", "gemma2", "gemma3", "phi3", "phi4", "smollm2", "opt", "bloom", "falcon",
}  # fmt: skip


def test_architectures_cover_the_families() -> None:
    keys = {a.family_key for a in profiles.architectures().values()}
    assert keys >= REQUIRED_FAMILIES, REQUIRED_FAMILIES - keys
    for arch in profiles.architectures().values():
        assert arch.source
        assert arch.body_params > 0


def test_every_published_row_keeps_its_source() -> None:
    points = profiles.published()
    assert len({p.id for p in points}) == len(points)
    assert all(p.source and p.file for p in points)
    manifest = list(csv.DictReader((REPO / "profiles" / "published_manifest.csv").open()))
    by_file: dict[str, int] = {}
    for p in points:
        by_file[p.file] = by_file.get(p.file, 0) + 1
    for row in manifest:
        assert by_file[row["file"]] == int(row["output_rows"]), row


@pytest.mark.skipif(not (SHARED / "published").is_dir(), reason="../shared not beside the checkout")
def test_every_shared_published_file_is_carried() -> None:
    manifest = {
        r["file"]: r for r in csv.DictReader((REPO / "profiles" / "published_manifest.csv").open())
    }
    for path in sorted((SHARED / "published").glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as fh:
            n_rows = sum(1 for _ in csv.DictReader(fh))
        assert int(manifest[path.name]["input_rows"]) == n_rows, path.name


def test_hardware_profiles() -> None:
    hw = profiles.hardware_profiles()
    assert hw["rtx-4090-24gb"].memory_bytes == 24 * 2**30
    assert {h.kind for h in hw.values()} == {"gpu", "unified", "cpu"}
    assert all(h.source for h in hw.values())


def test_find_architecture_by_short_name() -> None:
    assert profiles.find_architecture("llama-3.1-8b").model_id == "meta-llama/Llama-3.1-8B"
