"""What is known before anything is measured: bundled model architectures, published
figures, hardware, quantization formats, and the facts read from a GGUF file's header.

The data files live in ``profiles/`` at the top of a checkout and are installed with the
package as ``advisor/_profiles`` (see ``pyproject.toml``); ``ADVISOR_PROFILES`` points at
another folder. Every file is validated on load: a bad row is a :class:`ProfileError`
naming the file and line.
"""

from __future__ import annotations

from advisor.errors import ProfileError
from advisor.profiles._csv import profiles_dir
from advisor.profiles.architectures import Architecture, architectures, find_architecture
from advisor.profiles.hardware import HardwareProfile, hardware_profiles
from advisor.profiles.published import (
    SCORE_UNITS,
    PublishedPoint,
    parse_published_row,
    published,
    published_score_rows,
)

__all__ = [
    "SCORE_UNITS",
    "Architecture",
    "HardwareProfile",
    "ProfileError",
    "PublishedPoint",
    "architectures",
    "find_architecture",
    "hardware_profiles",
    "parse_published_row",
    "profiles_dir",
    "published",
    "published_score_rows",
]
