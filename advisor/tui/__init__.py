"""advisor's terminal UI (Textual). Imported only by ``advisor tui``: the core never
imports textual."""

from __future__ import annotations

from advisor.tui.app import AdvisorApp, create_app

__all__ = ["AdvisorApp", "create_app"]
