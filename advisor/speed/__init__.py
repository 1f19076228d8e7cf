"""How fast a config runs and where it runs: decode and prompt tokens/s with an interval
and its evidence, and the placement over GPUs, system RAM or Apple unified memory.

* :func:`estimate` — ``estimate("Meta-Llama-3-8B", "Q4_K_M", "rtx-4090-24gb")`` returns
  ``.decode`` / ``.prompt`` (tokens/s: ``mean``, ``low``, ``high``), the time to first token,
  ``.evidence`` (measured here / published / predicted) and the placement;
* :func:`place` — the split alone (per-device bytes, fits, llama.cpp flags);
* :func:`plan` — the chosen split with its estimate in ``.estimate``.

The coefficients are fitted on named-hardware benchmarks (``profiles/speed_benchmarks.csv``)
and committed as data (``measurements/speed.json``); evaluating them is pure Python. The
fitting itself (numpy/scipy) lives in :mod:`advisor.speed.fitting` and is imported only
when refitting. See docs/speed.md.
"""

from __future__ import annotations

from advisor.speed.devices import Device, System, resolve_system
from advisor.speed.estimate import Estimate, Rate, SpeedEvidence, estimate, plan
from advisor.speed.model import SpeedModel, SpeedModelError, load_speed_model
from advisor.speed.placement import DeviceShare, Placement, place
from advisor.speed.shape import SpeedInputError

__all__ = [
    "Device",
    "DeviceShare",
    "Estimate",
    "Placement",
    "Rate",
    "SpeedEvidence",
    "SpeedInputError",
    "SpeedModel",
    "SpeedModelError",
    "System",
    "estimate",
    "load_speed_model",
    "place",
    "plan",
    "resolve_system",
]
