"""The ranked table: one row per config, non-fitting ones dimmed, cursor kept across
re-rankings. Posts :class:`ConfigSelected` when the cursor lands on a config."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual import on
from textual.widgets import DataTable

from advisor.tui.messages import ConfigSelected
from advisor.tui.model import COLUMNS, Row

# Columns whose values are numbers: right-aligned.
_NUMERIC = {"rank", "params", "bits", "memory", "free", "score", "speed"}
# Theme variable that colours each evidence kind.
EVIDENCE_COLOUR = {"measured": "success", "published": "primary", "predicted": "warning"}


class RankingTable(DataTable[Text]):
    """A DataTable of :class:`Row`; the view model decides order and content."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, id=id)
        self._rows: dict[str, Row] = {}
        self._order: list[str] = []
        self._selected: str | None = None

    def on_mount(self) -> None:
        for label, key, width in COLUMNS:
            self.add_column(label, key=key, width=width)

    @property
    def rows_shown(self) -> list[Row]:
        """The rows in display order."""
        return [self._rows[k] for k in self._order]

    @property
    def selected_row(self) -> Row | None:
        return None if self._selected is None else self._rows.get(self._selected)

    def show(self, rows: Sequence[Row]) -> None:
        """Replace the rows, keeping the cursor on the same config when it is still shown."""
        keep = self._selected
        colours = self.app.theme_variables
        self.clear()
        self._rows = {r.key: r for r in rows}
        self._order = [r.key for r in rows]
        for r in rows:
            self.add_row(*self._cells(r, colours), key=r.key)
        target = self._order.index(keep) if keep in self._rows else 0
        if rows:
            self.move_cursor(row=target, animate=False, scroll=True)
        self._announce(self._order[target] if rows else None, force=True)

    def select_key(self, key: str) -> bool:
        """Move the cursor to a config by its key; False when it is not shown."""
        if key not in self._rows:
            return False
        self.move_cursor(row=self._order.index(key), animate=False, scroll=True)
        self._announce(key)
        return True

    @staticmethod
    def _cells(row: Row, colours: dict[str, str]) -> list[Text]:
        cells = []
        kind = row.candidate.best.kind if row.candidate.best else None
        for (_, key, _), value in zip(COLUMNS, row.cells(), strict=True):
            style = ""
            if key == "evidence" and kind is not None:
                style = colours.get(EVIDENCE_COLOUR.get(kind, ""), "")
            elif key == "free" and not row.fits:
                style = colours.get("error", "")
            text = Text(value, style=style, justify="right" if key in _NUMERIC else "left")
            if not row.fits:
                text.stylize("dim")
            cells.append(text)
        return cells

    def _announce(self, key: str | None, force: bool = False) -> None:
        if key == self._selected and not force:
            return
        self._selected = key
        row = None if key is None else self._rows[key]
        self.post_message(ConfigSelected(None if row is None else row.candidate))

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        key = event.row_key.value
        if key in self._rows:
            self._announce(key)
