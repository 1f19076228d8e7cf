"""User-facing errors: the CLI prints their message as one line and exits 2."""

from __future__ import annotations

from advisor._version import install_hint


class AdvisorError(Exception):
    """A problem with the user's input or environment, explained in one line."""

    exit_code = 2


class ProfileError(AdvisorError):
    """A bundled or user-supplied profile file is missing or malformed."""


class MissingDependencyError(AdvisorError):
    """An optional backend is needed but not installed."""

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        super().__init__(f"{purpose} needs {package}: install it with `{install_hint(extra)}`")
        self.package = package
        self.extra = extra
