"""The package version and distribution name, in a module of their own so every room can
read them without importing the package's public API."""

__version__ = "0.1.0"
# `advisor` on the package index is an unrelated project: ours installs as advisor-llm and
# still imports as `advisor` and runs as the `advisor` command.
DISTRIBUTION = "advisor-llm"


def install_hint(extra: str) -> str:
    """The pip command that installs an optional part, e.g. ``pip install 'advisor-llm[tui]'``."""
    return f"pip install '{DISTRIBUTION}[{extra}]'"
