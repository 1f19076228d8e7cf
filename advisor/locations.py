"""Where the bundled data lives: beside the package when installed from a wheel
(``advisor/_profiles``, ``advisor/_measurements``), else at the top of a checkout
(``profiles/``, ``measurements/``). One place answers this for every room."""

from __future__ import annotations

import os
from pathlib import Path

from advisor.errors import ProfileError

PACKAGE_DIR = Path(__file__).resolve().parent


def _bundled(installed: str, checkout: str, marker: str) -> Path | None:
    for candidate in (PACKAGE_DIR / installed, PACKAGE_DIR.parent / checkout):
        if (candidate / marker).exists():
            return candidate
    return None


def profiles_dir() -> Path:
    """The folder holding the bundled profile files (``ADVISOR_PROFILES`` overrides)."""
    override = os.environ.get("ADVISOR_PROFILES")
    if override:
        return Path(override).expanduser()
    found = _bundled("_profiles", "profiles", "architectures.csv")
    if found is None:
        raise ProfileError(
            f"bundled profiles not found next to {PACKAGE_DIR}: reinstall advisor or set "
            "ADVISOR_PROFILES"
        )
    return found


def measurements_dir() -> Path:
    """The folder of committed measurements and fitted coefficients (may not exist in a
    partial checkout; callers treat a missing folder as "nothing committed")."""
    found = _bundled("_measurements", "measurements", "README.md")
    return found if found is not None else PACKAGE_DIR.parent / "measurements"
