"""The main screen: inputs on top, the ranked table, the chart and the detail pane.

Every input change re-ranks in a thread worker (exclusive: a newer query wins); results
come back as :class:`Ranked` messages and are shown by the UI thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widgets import Checkbox, DataTable, Footer, Header, Input, Static
from textual.worker import get_current_worker

from advisor.errors import AdvisorError
from advisor.profiles.detect import Hardware
from advisor.recommender import Candidate, Recommendation
from advisor.tui.measuring import Measurer
from advisor.tui.messages import (
    ConfigSelected,
    MeasureFinished,
    MeasureProgress,
    QueryChanged,
    QueryInvalid,
    Ranked,
)
from advisor.tui.model import (
    CHART_AXES,
    GROUPINGS,
    SORT_KEYS,
    ChartData,
    Query,
    Ranker,
    Row,
    budget_heading,
    candidate_key,
    chart_data,
    families,
    rows,
)
from advisor.tui.widgets.chart import TradeoffChart
from advisor.tui.widgets.detail import DetailPane
from advisor.tui.widgets.measure import MeasureStrip
from advisor.tui.widgets.query import QueryPanel
from advisor.tui.widgets.ranking import RankingTable

# Rows put in the table: past a few hundred, DataTable's per-row cost makes re-ranking
# visibly slow, and the rows beyond are reached by sorting and filtering.
TABLE_ROW_LIMIT = 100


class MainScreen(Screen[None]):
    """Inputs → ranking → table, chart, detail."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "copy_command", "Copy cmd", id="main.copy"),
        Binding("s", "cycle_sort", "Sort", id="main.sort"),
        Binding("x", "toggle_excluded", "Non-fit", id="main.excluded"),
        Binding("g", "cycle_group", "Group", id="main.group"),
        Binding("c", "toggle_chart", "Chart", id="main.chart"),
        Binding("v", "toggle_axis", "vs memory/speed", id="main.axis"),
        Binding("m", "measure", "Measure", id="main.measure"),
        Binding("b", "focus_input('budget')", "Edit budget", id="main.budget", show=False),
        Binding("t", "focus_input('task')", "Choose task", id="main.task", show=False),
        Binding("f", "focus_input('family')", "Filter family", id="main.family", show=False),
        Binding("d", "detected_budget", "Detected budget", id="main.detected"),
        Binding("escape", "escape", "Back to table / cancel", id="main.escape", show=False),
    ]

    def __init__(
        self,
        query: Query,
        ranker: Ranker,
        tasks: Sequence[str],
        groups: Sequence[str],
        hardware: Hardware | None,
        detect_hardware: Callable[[], Hardware] | None,
        measurer: Measurer | None,
        typed_budget: bool,
        show_timings: bool = True,
        detection_note: str | None = None,
    ) -> None:
        super().__init__()
        # Said on the status line after every ranking: why the budget is not a detected one.
        self.detection_note = detection_note
        self.show_timings = show_timings
        self.query_state = query
        self.ranker = ranker
        self._tasks = tasks
        self._groups = groups
        self._hardware = hardware
        self._detect = detect_hardware
        self._typed = typed_budget
        self.measurer = measurer
        self.rec: Recommendation | None = None
        self.chart: ChartData | None = None
        self.selected: Candidate | None = None
        self.last_update_ms: float = 0.0
        self._ranked_query: Query | None = None
        self.all_rows: list[Row] = []
        self._chart_key: tuple[object, ...] | None = None
        self._detail_shown: tuple[object, ...] | None = None

    # --- layout -----------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        yield QueryPanel(
            self.query_state, self._hardware, self._tasks, self._groups,
            typed_budget=self._typed, detecting=self._detecting, id="query",
        )  # fmt: skip
        with Horizontal(id="body"):
            yield RankingTable(id="ranking")
            with Vertical(id="side"):
                yield TradeoffChart(id="chart")
                yield DetailPane(id="detail")
        yield MeasureStrip(id="measure")
        yield Static("", id="status")
        yield Footer(compact=True, show_command_palette=False)

    @property
    def _detecting(self) -> bool:
        return self._hardware is None and self._detect is not None and not self._typed

    def on_mount(self) -> None:
        self.query_one(MeasureStrip).display = False
        self.query_one(RankingTable).focus()
        if self._hardware is None and self._detect is not None:
            if self._detecting:
                self._status("detecting this machine's memory…")
            self.call_after_refresh(self._detect_hardware)

    @work(thread=True, exclusive=True, group="hardware")
    def _detect_hardware(self) -> None:
        assert self._detect is not None
        try:
            hw = self._detect()
        except Exception as exc:  # NVML/psutil failures must not take the app down
            self.app.call_from_thread(self._detection_failed, f"{type(exc).__name__}: {exc}")
            return
        self.app.call_from_thread(self._hardware_ready, hw)

    def _hardware_ready(self, hw: Hardware) -> None:
        self._hardware = hw
        if not self.query_one(QueryPanel).set_hardware(hw) and not self._typed:
            reason = hw.gpu_error or "no GPU and no RAM reading"
            self._detection_failed(reason)

    def _detection_failed(self, reason: str) -> None:
        q = self.query_state
        self.detection_note = (
            f"nothing detected ({reason}): starting from {q.budget} typed; type your budget"
        )
        self._status(self.detection_note)
        self.query_one(QueryPanel).detection_failed()

    # --- ranking ------------------------------------------------------------------------

    @on(QueryChanged)
    def _query_changed(self, event: QueryChanged) -> None:
        q = event.query
        self.query_state = q.with_(
            sort=self.query_state.sort,
            sort_reverse=self.query_state.sort_reverse,
            group_by=self.query_state.group_by,
            chart_axis=self.query_state.chart_axis,
        )
        if q.detected:
            self.detection_note = None
        if self.rec is not None and self._same_ranking(self.query_state):
            self._show()  # a view-only change: family, non-fitting, sort, grouping
        else:
            self._rank(self.query_state)

    def _same_ranking(self, q: Query) -> bool:
        shown = self._ranked_query
        return shown is not None and shown.rank_key == q.rank_key

    @on(QueryInvalid)
    def _query_invalid(self, event: QueryInvalid) -> None:
        self._status(event.reason, error=True)

    @work(thread=True, exclusive=True, group="rank")
    def _rank(self, query: Query) -> None:
        """Rank in a thread; a newer query cancels this one's result."""
        worker = get_current_worker()
        try:
            rec = self.ranker.rank(query)
        except AdvisorError as exc:
            if not worker.is_cancelled:
                self.app.call_from_thread(self._status, str(exc), True)
            return
        if not worker.is_cancelled:
            self.post_message(Ranked(query, rec, self.ranker.last_ms))

    @on(Ranked)
    def _ranked(self, event: Ranked) -> None:
        if event.query.rank_key != self.query_state.rank_key:
            return  # stale: the inputs moved on while this was computed
        self.rec = event.rec
        self._ranked_query = event.query
        self.query_one(QueryPanel).set_families(families(event.rec))
        self._show(event.rank_ms)

    def _show(self, rank_ms: float | None = None) -> None:
        """Apply the current ranking and view options to table, chart and detail."""
        rec = self.rec
        if rec is None:
            return
        start = time.perf_counter()
        q = self.query_state
        every = rows(rec, q)
        self.all_rows = every
        # The table announces its selection (ConfigSelected), which redraws chart and detail.
        self.query_one(RankingTable).show(every[:TABLE_ROW_LIMIT])
        self.last_update_ms = (time.perf_counter() - start) * 1000
        fitting = sum(1 for r in every if r.fits)
        heading = budget_heading(self._ranked_query or q)
        self.app.sub_title = heading
        parts = [
            f"{heading}: {fitting}/{rec.considered} fit in {rec.usable_bytes / 1e9:.1f} GB usable"
        ]
        if self.detection_note and not (self._ranked_query or q).detected:
            parts.insert(0, self.detection_note)
        if rank_ms is not None and self.show_timings:
            parts.append(f"ranked {rank_ms:.0f}+{self.last_update_ms:.0f} ms")
        parts.append(f"sort {q.sort}{' ↑' if q.sort_reverse else ''}")
        if len(every) > TABLE_ROW_LIMIT:
            parts.append(f"top {TABLE_ROW_LIMIT} of {len(every)} shown (s sorts, f filters)")
        parts += list(rec.notes)
        self._status(" · ".join(parts))

    def _update_chart(self) -> None:
        """Chart data for the current ranking and view; a new selection only moves the marker."""
        if self.rec is None:
            return
        q = self.query_state
        base_key = (id(self.rec), q.family, q.group_by, q.chart_axis)
        if self._chart_key != base_key or self.chart is None:
            self.chart = chart_data(self.rec, q)
            self._chart_key = base_key
        key = None if self.selected is None else candidate_key(self.selected)
        picked = next((p for p in self.chart.points if p.key == key), None)
        self.chart = replace(self.chart, selected=picked)
        self.query_one(TradeoffChart).show(self.chart)

    @on(ConfigSelected)
    def _selected(self, event: ConfigSelected) -> None:
        shown = (event.candidate, id(self.rec), self.query_state.family, self.query_state.group_by)
        if shown == self._detail_shown:
            return  # the same config of the same ranking: nothing to redraw
        self._detail_shown = shown
        self.selected = event.candidate
        local = None
        if event.candidate is not None and self.measurer is not None:
            local = self.measurer.local_path(event.candidate)
        self.query_one(DetailPane).show(event.candidate, self.rec, local)
        self._update_chart()

    def _status(self, text: str, error: bool = False) -> None:
        status = self.query_one("#status", Static)
        status.update(text)
        status.set_class(error, "-error")

    # --- actions ------------------------------------------------------------------------

    @property
    def table_rows(self) -> list[Row]:
        """The rows the table shows, in order (for tests and the help text)."""
        return self.query_one(RankingTable).rows_shown

    def action_copy_command(self) -> None:
        pane = self.query_one(DetailPane)
        command = pane.command
        if command is None:
            message = (
                "Select a config first."
                if pane.candidate is None
                else "No way to get this config is known: no artifact and no recipe."
            )
            self.notify(message, severity="warning")
            return
        self.app.copy_to_clipboard(command)
        self.notify(command, title="Copied to the clipboard")

    def action_cycle_sort(self) -> None:
        i = SORT_KEYS.index(self.query_state.sort) if self.query_state.sort in SORT_KEYS else -1
        self._set_sort(SORT_KEYS[(i + 1) % len(SORT_KEYS)], False)

    @on(DataTable.HeaderSelected, "#ranking")
    def _header_clicked(self, event: DataTable.HeaderSelected) -> None:
        key = str(event.column_key.value)
        reverse = self.query_state.sort == key and not self.query_state.sort_reverse
        self._set_sort(key, reverse)

    def _set_sort(self, key: str, reverse: bool) -> None:
        self.query_state = self.query_state.with_(sort=key, sort_reverse=reverse)
        if self._same_ranking(self.query_state):
            self._show()
        else:
            self._rank(self.query_state)  # sorting by speed: every config's speed

    def action_toggle_excluded(self) -> None:
        box = self.query_one("#show-excluded", Checkbox)
        box.value = not box.value  # the panel posts QueryChanged

    def action_cycle_group(self) -> None:
        i = GROUPINGS.index(self.query_state.group_by)
        self.query_state = self.query_state.with_(group_by=GROUPINGS[(i + 1) % len(GROUPINGS)])
        self._update_chart()

    def action_toggle_chart(self) -> None:
        self.toggle_class("-show-chart")

    def action_toggle_axis(self) -> None:
        """The chart's x axis: memory (with the budget line) or decode speed."""
        i = CHART_AXES.index(self.query_state.chart_axis)
        axis = CHART_AXES[(i + 1) % len(CHART_AXES)]
        self.query_state = self.query_state.with_(chart_axis=axis)
        if self._same_ranking(self.query_state):
            self._update_chart()
        else:
            self._rank(self.query_state)  # charting against speed: every config's speed

    def action_focus_input(self, widget_id: str) -> None:
        self.query_one(f"#{widget_id}").focus()

    def action_detected_budget(self) -> None:
        if not self.query_one(QueryPanel).use_detected():
            why = "detection is still running" if self._detecting else "nothing was detected"
            self.notify(f"No detected memory: {why}. Type a budget.", severity="warning")

    def action_escape(self) -> None:
        if self.workers_running("measure"):
            self.workers.cancel_group(self, "measure")
            self._status("cancelling the measurement after the current step…")
            return
        self.query_one(RankingTable).focus()

    def workers_running(self, group: str) -> bool:
        return any(w.group == group and w.is_running for w in self.workers)

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.query_one(RankingTable).focus()

    # --- measuring ------------------------------------------------------------------------

    def action_measure(self) -> None:
        c = self.selected
        if c is None or self.rec is None:
            self.notify("Select a config to measure.", severity="warning")
            return
        if self.measurer is None:
            self.notify("Measuring needs the measurement module of this build.", severity="error")
            return
        reason = self.measurer.unavailable_reason(c)
        if reason:
            self.notify(reason, title="Cannot measure", severity="warning", timeout=8)
            return
        if self.workers_running("measure"):
            self.notify("A measurement is already running (esc cancels it).", severity="warning")
            return
        self.query_one(MeasureStrip).start(c.label)
        self._measure(c, self.rec.task)

    @work(thread=True, exclusive=True, group="measure")
    def _measure(self, c: Candidate, task: str) -> None:
        """Run the measurement in a thread; finished steps are stored as they complete."""
        assert self.measurer is not None
        worker = get_current_worker()

        def progress(done: float, total: float | None, text: str) -> None:
            self.post_message(MeasureProgress(done, total, text))

        try:
            summary = self.measurer.measure(c, task, progress, lambda: worker.is_cancelled)
        except Exception as exc:  # the backend's failure is reported, not raised into the UI
            self.post_message(MeasureFinished(c.label, "failed", f"{type(exc).__name__}: {exc}"))
            return
        status = "cancelled" if worker.is_cancelled else "ok"
        self.post_message(MeasureFinished(c.label, status, summary))

    @on(MeasureProgress)
    def _measure_progress(self, event: MeasureProgress) -> None:
        self.query_one(MeasureStrip).advance(event.done, event.total, event.text)

    @on(MeasureFinished)
    def _measure_finished(self, event: MeasureFinished) -> None:
        self.query_one(MeasureStrip).stop()
        severities: dict[str, SeverityLevel] = {"ok": "information", "cancelled": "warning"}
        severity = severities.get(event.status, "error")
        self.notify(
            event.text, title=f"Measurement {event.status}: {event.label}", severity=severity
        )
        if event.status != "failed" and self.measurer is not None:
            self.measurer.refresh()
            self.ranker.clear()
            self._rank(self.query_state)
