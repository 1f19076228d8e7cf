"""advisor: which LLM, at which bit-width, fits your memory — measured, fitted, recommended.

The public API is light: importing it loads none of torch, transformers, llama_cpp,
textual or ray. Heavy backends load only when a measurement asks for them.

* :func:`recommend` — rank the configs that fit a budget (:mod:`advisor.recommender`);
* :mod:`advisor.curves` — the scale–precision curves (``curves.fit(points).predict(...)``);
* :mod:`advisor.memory` — the memory model (``memory.footprint(arch, "Q4_K_M")``);
* :mod:`advisor.profiles` — the bundled catalogue (``profiles.find_architecture(...)``);
* :mod:`advisor.speed` — tokens/s and placement (``speed.estimate(name, "Q4_K_M", hardware)``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from advisor._version import __version__

if TYPE_CHECKING:
    from advisor.recommender import Recommendation

__all__ = [
    "__version__",
    "curves",
    "evidence",
    "memory",
    "profiles",
    "recommend",
    "speed",
    "units",
]

# Public submodules, imported on first attribute access (`advisor.memory.footprint(...)`);
# "quant", "store" and "hardware" are the names these rooms had before the package layout.
_SUBMODULES = {
    "curves": "advisor.curves",
    "evidence": "advisor.evidence",
    "memory": "advisor.memory",
    "profiles": "advisor.profiles",
    "speed": "advisor.speed",
    "units": "advisor.units",
    "quant": "advisor.profiles.formats",
    "store": "advisor.measure.store",
    "hardware": "advisor.profiles.detect",
}


def recommend(*args: Any, **kwargs: Any) -> Recommendation:
    """Rank the configs that fit a memory budget; see :func:`advisor.recommender.recommend`."""
    from advisor.recommender import recommend as _recommend

    return _recommend(*args, **kwargs)


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(_SUBMODULES[name])
    raise AttributeError(f"module 'advisor' has no attribute {name!r}")
