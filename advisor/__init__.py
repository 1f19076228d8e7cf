"""advisor: which LLM, at which bit-width, fits your memory — measured, fitted, recommended.

The public API is light: importing it loads none of torch, transformers, llama_cpp or
textual. Heavy backends load only when a measurement asks for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from advisor.recommender import Recommendation

__all__ = ["__version__", "curves", "memory", "profiles", "quant", "recommend", "units"]


def recommend(*args: Any, **kwargs: Any) -> Recommendation:
    """Rank the configs that fit a memory budget; see :func:`advisor.recommender.recommend`."""
    from advisor.recommender import recommend as _recommend

    return _recommend(*args, **kwargs)


def __getattr__(name: str) -> Any:
    # Submodules on first use (`advisor.memory.footprint(...)`) without importing them up front.
    if name in {"memory", "units", "quant", "profiles", "curves", "store", "hardware"}:
        import importlib

        return importlib.import_module(f"advisor.{name}")
    raise AttributeError(f"module 'advisor' has no attribute {name!r}")
