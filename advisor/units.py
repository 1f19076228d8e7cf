"""Parse and format memory sizes.

GB means 10**9 bytes and GiB means 2**30 bytes, always. Output says which one it uses.
"""

from __future__ import annotations

import re

from advisor.errors import AdvisorError

DECIMAL_UNITS: dict[str, int] = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}
BINARY_UNITS: dict[str, int] = {"KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}
UNIT_BYTES: dict[str, int] = {**DECIMAL_UNITS, **BINARY_UNITS}

_SIZE_RE = re.compile(r"^\s*([-+]?\d+(?:\.\d+)?|[-+]?\.\d+)\s*([A-Za-z]*)\s*$")


class SizeError(AdvisorError):
    """A memory size that cannot be parsed, or is not positive."""


def parse_size(text: str | int | float, default_unit: str = "GB") -> int:
    """Parse "24GB", "16 GiB", "512MiB", "24" (in ``default_unit``) into bytes.

    Units are case-insensitive; "G" and "GiB" are not the same: bare "G"/"M"/"T"
    are taken as decimal like "GB", following the SI prefixes.
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        number, unit = float(text), default_unit
    else:
        match = _SIZE_RE.match(str(text))
        if not match:
            raise SizeError(
                f"cannot read memory size {text!r}: write a number and a unit, e.g. 24GB or 16GiB"
            )
        number, unit = float(match.group(1)), match.group(2) or default_unit
    key = unit.upper()
    if key in {"K", "M", "G", "T"}:
        key += "B"
    if key not in UNIT_BYTES:
        known = ", ".join(["GB", "GiB", "MB", "MiB", "TB", "TiB"])
        raise SizeError(f"unknown memory unit {unit!r} in {text!r}: use one of {known}")
    size = number * UNIT_BYTES[key]
    if size <= 0:
        raise SizeError(f"memory size must be positive, got {text!r}")
    return int(round(size))


def format_bytes(n_bytes: float, unit: str = "GB", digits: int = 2) -> str:
    """Format bytes in a named unit, e.g. ``format_bytes(25769803776, "GiB") == "24.00 GiB"``."""
    key = unit.upper()
    if key not in UNIT_BYTES:
        raise ValueError(f"unknown unit {unit!r}")
    label = next(
        name
        for name in ("B", "KB", "MB", "GB", "TB", "KiB", "MiB", "GiB", "TiB")
        if name.upper() == key
    )
    return f"{n_bytes / UNIT_BYTES[key]:.{digits}f} {label}"


def to_unit(n_bytes: float, unit: str) -> float:
    """Bytes expressed in ``unit`` (GB, GiB, ...)."""
    return n_bytes / UNIT_BYTES[unit.upper()]
