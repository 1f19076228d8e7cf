"""Backends by name, imported only when chosen (torch never loads for a llama.cpp user).

The table maps a registry name to ``"module:Class"``; :func:`get_backend` imports the
module on first use and turns a missing optional dependency into a one-line error.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING

from advisor.errors import AdvisorError, MissingDependencyError

if TYPE_CHECKING:
    from advisor.measure.backends.base import Backend

BACKENDS: dict[str, str] = {
    "llama.cpp": "advisor.measure.backends.llama_cpp:LlamaCppBackend",
    "transformers": "advisor.measure.backends.transformers_bnb:TransformersBackend",
}

# What each backend needs, for the install hint: (import name, distribution, extra).
_REQUIREMENTS: dict[str, tuple[str, str, str]] = {
    "llama.cpp": ("llama_cpp", "llama-cpp-python", "gguf"),
    "transformers": ("torch", "torch + transformers + bitsandbytes", "cuda"),
}


class UnknownBackendError(AdvisorError):
    """A backend name that is not in :data:`BACKENDS`."""


def get_backend(name: str) -> type[Backend]:
    """The backend class registered as ``name``."""
    try:
        target = BACKENDS[name]
    except KeyError:
        raise UnknownBackendError(
            f"unknown backend {name!r}; known: {', '.join(BACKENDS)}"
        ) from None
    module_name, _, cls_name = target.partition(":")
    need = _REQUIREMENTS.get(name)
    if need is not None and importlib.util.find_spec(need[0]) is None:
        raise MissingDependencyError(need[1], need[2], f"the {name} backend")
    module = importlib.import_module(module_name)
    cls: type[Backend] = getattr(module, cls_name)
    return cls


__all__ = ["BACKENDS", "UnknownBackendError", "get_backend"]
