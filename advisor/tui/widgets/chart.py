"""The trade-off chart: score against memory, or against decode speed (``v`` switches),
log scale, for the chosen task.

Drawn with textual-plotext, imported after the first paint so it stays off the startup
path. Why plotext: axes, ticks, braille lines and per-point markers come for free, and
its "auto" theme follows the app's light/dark theme; the data it draws is a plain
:class:`ChartData`, so the tests check the data, not the pixels.
"""

from __future__ import annotations

import math
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.color import Color
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Static

from advisor._version import install_hint
from advisor.tui.model import EVIDENCE_GLYPH, ChartData

# Tableau-like colours that read on light and dark backgrounds; red is kept for the budget.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (148, 103, 189),
    (23, 190, 207),
    (227, 119, 194),
    (140, 86, 75),
    (188, 189, 34),
    (127, 127, 127),
)
SELECTED_MARKER = "◎"
X_TICKS_GB = (0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
X_TICKS_TOK_S = (0.5, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)


def series_colour(index: int) -> tuple[int, int, int]:
    return PALETTE[index % len(PALETTE)]


def _x(value: float) -> float:
    """GB or tokens/s on a log2 scale (plotext has no log axis of its own)."""
    return math.log2(max(value, 1e-3))


def _rgb(colour: str, fallback: tuple[int, int, int]) -> tuple[int, int, int]:
    try:
        return Color.parse(colour).rgb
    except Exception:
        return fallback


def axis_label(data: ChartData) -> str:
    if data.axis == "speed":
        return "decode tokens/s at the full context (log)"
    return "memory, GB (calibrated upper bound, log)"


def score_label(data: ChartData) -> str:
    """The y axis: the metric's own label (accuracy %, perplexity), not its key."""
    arrow = "↑ better" if data.higher_is_better else "↓ better"
    return f"{data.metric_label or data.metric} {arrow}"


def draw(plt: Any, data: ChartData, theme: dict[str, str]) -> None:
    """Draw ``data`` on a plotext figure: frontier, series, selection, and on the memory
    axis the usable budget line."""
    plt.clear_data()
    plt.clear_color()
    xs = [_x(data.x(p)) for p in data.points]
    ticks_at = X_TICKS_TOK_S if data.axis == "speed" else X_TICKS_GB
    if data.axis == "speed":
        lo = min(xs) - 0.3 if xs else 0.0
        hi = max(xs) + 0.3 if xs else 7.0
    else:
        budget_x = _x(data.usable_gb)
        lo = min([*xs, budget_x]) - 0.3 if xs else budget_x - 3
        hi = max([*xs, budget_x]) + 0.3 if xs else budget_x + 1
    plt.xlim(lo, hi)
    ticks = [t for t in ticks_at if lo <= _x(t) <= hi]
    plt.xticks([_x(t) for t in ticks], [f"{t:g}" for t in ticks])
    plt.xlabel(axis_label(data))
    plt.ylabel(score_label(data))
    fg = _rgb(theme.get("foreground", "#888888"), (136, 136, 136))
    if len(data.frontier) > 1:
        plt.plot(
            [_x(data.x(p)) for p in data.frontier],
            [p.score for p in data.frontier],
            marker="braille",
            color=fg,
        )
    for i, series in enumerate(data.series):
        colour = series_colour(i)
        if series.predicted:
            plt.scatter(
                [_x(data.x(p)) for p in series.predicted],
                [p.score for p in series.predicted],
                marker=EVIDENCE_GLYPH["predicted"],
                color=colour,
            )
        if series.solid:
            plt.scatter(
                [_x(data.x(p)) for p in series.solid],
                [p.score for p in series.solid],
                marker=EVIDENCE_GLYPH["published"],
                color=colour,
            )
    if data.selected is not None:
        plt.scatter(
            [_x(data.x(data.selected))],
            [data.selected.score],
            marker=SELECTED_MARKER,
            color=_rgb(theme.get("accent", "#ffa62b"), (255, 166, 43)),
        )
    if data.axis == "memory":
        plt.vline(_x(data.usable_gb), _rgb(theme.get("error", "#ba3c5b"), (214, 39, 40)))


def legend(data: ChartData, theme: dict[str, str]) -> Text:
    """One wrapped line: the series colours, the markers, the budget line, the other axis."""
    text = Text()
    text.append(f"{EVIDENCE_GLYPH['published']} measured/published ", style="bold")
    text.append(f"{EVIDENCE_GLYPH['predicted']} predicted ", style="bold")
    text.append("⠒ Pareto ", style="bold")
    text.append(f"{SELECTED_MARKER} selected ", style="bold")
    if data.axis == "memory":
        text.append(
            f"│ usable {data.usable_gb:.1f} GB  ", style=f"bold {theme.get('error', 'red')}"
        )
    for i, series in enumerate(data.series):
        r, g, b = series_colour(i)
        text.append("■ ", style=f"rgb({r},{g},{b})")
        text.append(f"{series.name}  ")
    other = "speed" if data.axis == "memory" else "memory"
    text.append(f"v: vs {other}", style="dim")
    return text


class TradeoffChart(Vertical):
    """Chart plus legend; shows a note instead when there is nothing to draw."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.data: ChartData | None = None
        self._plot: Widget | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="chart-note")
        yield Static("", id="chart-legend")

    def on_mount(self) -> None:
        self.border_title = "trade-off"
        self.call_after_refresh(self._mount_plot)

    async def _mount_plot(self) -> None:
        try:
            from textual_plotext import PlotextPlot
        except ImportError:
            self.query_one("#chart-note", Static).update(
                f"The chart needs textual-plotext: {install_hint('tui')}"
            )
            return
        if not self.is_attached:
            return  # the app closed before the first refresh
        self._plot = PlotextPlot(id="plot")
        await self.mount(self._plot, before="#chart-legend")
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._redraw())
        self._redraw()

    def show(self, data: ChartData) -> None:
        """Replace the data and redraw."""
        self.data = data
        self._redraw()

    def _redraw(self) -> None:
        data = self.data
        if data is None:
            return
        note = self.query_one("#chart-note", Static)
        n = len(data.points)
        versus = "speed" if data.axis == "speed" else "memory"
        self.border_title = f"score vs {versus} · {data.task} · {n} configs"
        if n == 0:
            note.update(
                f"No configs with a speed estimate and a score for {data.task}."
                if data.axis == "speed"
                else f"No measured, published or predicted scores for {data.task} yet."
            )
            note.display = True
        else:
            note.display = False
        self.query_one("#chart-legend", Static).update(legend(data, self.app.theme_variables))
        if self._plot is not None:
            self._plot.display = n > 0
            draw(self._plot.plt, data, self.app.theme_variables)  # type: ignore[attr-defined]
            self._plot.refresh()
