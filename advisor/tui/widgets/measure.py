"""The measurement strip: what is being measured, a progress bar, how to cancel."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, ProgressBar


class MeasureStrip(Horizontal):
    """Hidden until a measurement starts; ``escape`` cancels it (the screen binds that)."""

    def compose(self) -> ComposeResult:
        yield Label("", id="measure-label")
        yield ProgressBar(total=None, show_eta=False, id="measure-progress")
        yield Label("esc cancels", id="measure-hint")

    def start(self, label: str) -> None:
        self.query_one("#measure-label", Label).update(f"measuring {label}")
        self.query_one(ProgressBar).update(total=None, progress=0)
        self.display = True

    def advance(self, done: float, total: float | None, text: str) -> None:
        self.query_one(ProgressBar).update(total=total, progress=done)
        self.query_one("#measure-label", Label).update(text)

    def stop(self) -> None:
        self.display = False
