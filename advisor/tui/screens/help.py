"""`?`: the key bindings (read from the bindings themselves) and how to read the screen."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

HOW_TO_READ = """\
The table lists the model × format configs that fit the usable budget (budget minus a 10% \
safety margin), best evidence first: measured here > published > predicted by the curves. \
The chart plots score against memory for every config with evidence; the line is the \
usable budget, the braille line the Pareto frontier (nothing is both smaller and better). \
"At equal memory" in the detail pane answers the question this tool exists for: a bigger \
model at fewer bits, or a smaller one at more? Sizes are GB = 10^9 bytes; type 24GiB for \
binary units."""


def bindings_table(bindings: Iterable[BindingType]) -> Table:
    """Key → what it does, one row per binding with a description."""
    table = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
    table.add_column(style="bold")
    table.add_column()
    seen: set[str] = set()
    for b in bindings:
        if not isinstance(b, Binding) or not b.description or b.key in seen:
            continue
        seen.add(b.key)
        key = {"question_mark": "?", "escape": "esc"}.get(b.key, b.key)
        table.add_row(key, b.description)
    return table


class HelpScreen(ModalScreen[None]):
    """A modal listing the bindings; any of esc, q or ? closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "Close", id="help.close"),
    ]

    def __init__(self, bindings: Iterable[BindingType]) -> None:
        super().__init__()
        self._help_bindings = list(bindings)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body"):
            yield Static(Text("advisor — keys", style="bold"))
            yield Static(bindings_table(self._help_bindings))
            yield Static(Text(HOW_TO_READ), id="help-text")

    def on_mount(self) -> None:
        self.query_one("#help-body").border_title = "help · esc closes"
