"""The inputs: budget (detected or typed, GPU or system memory), task, context, KV cache,
backend, family and the non-fitting toggle. Posts :class:`QueryChanged` on every change."""

from __future__ import annotations

import math
from collections.abc import Sequence

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Checkbox, Input, Label, Select

from advisor.profiles.detect import Hardware
from advisor.tui.messages import QueryChanged, QueryInvalid
from advisor.tui.model import BACKEND_CHOICES, KV_CACHE_TYPES, Query, QueryError, parse_context

ALL_FAMILIES = "*"


def budget_text(n_bytes: int) -> str:
    """Bytes → the budget box's text, in GiB as cards are sold, rounded down to 0.1."""
    return f"{math.floor(n_bytes / 2**30 * 10) / 10:.1f}GiB"


def detected_budgets(hw: Hardware | None) -> dict[str, int]:
    """Detected memory per source: "gpu" (largest card) and "ram" (system)."""
    if hw is None:
        return {}
    out = {"ram": hw.ram_total_bytes}
    if hw.gpus:
        out["gpu"] = max(g.total_bytes for g in hw.gpus)
    return out


def memory_options(hw: Hardware | None) -> list[tuple[str, str]]:
    """The memory switch: which detected memory the budget is for."""
    if hw is None:
        return [("GPU memory", "gpu"), ("system RAM", "ram")]
    if hw.gpus:
        gpu = max(hw.gpus, key=lambda g: g.total_bytes)
        gpu_label = f"GPU {gpu.name.removeprefix('NVIDIA ')}"
    else:
        gpu_label = "GPU (none detected)"
    ram_label = "unified memory" if hw.unified_memory else "system RAM"
    return [(gpu_label, "gpu"), (ram_label, "ram")]


def task_options(tasks: Sequence[str], groups: Sequence[str]) -> list[tuple[str, str]]:
    """Groups first, then single tasks."""
    return [(f"{g} (group)", g) for g in groups] + [
        (t, t) for t in sorted(tasks) if t not in set(groups)
    ]


class QueryPanel(Widget):
    """Two compact rows of inputs above the table."""

    def __init__(
        self,
        query: Query,
        hardware: Hardware | None,
        tasks: Sequence[str],
        groups: Sequence[str],
        *,
        typed_budget: bool = False,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self._query = query
        self._hardware = hardware
        self._tasks = tasks
        self._groups = groups
        self._typed = typed_budget
        self._last_posted: Query | None = None
        self._family_options: list[tuple[str, str]] = []

    @property
    def current(self) -> Query:
        """What the inputs said at the last change that could be read."""
        return self._query

    def compose(self) -> ComposeResult:
        q = self._query
        memory = "gpu" if q.device == "cuda" else "ram"
        with Horizontal(classes="query-row"):
            yield Label("Budget", classes="query-label")
            yield Input(q.budget, placeholder="24GB", id="budget", compact=True)
            yield Label("typed" if self._typed else "detected", id="budget-mode")
            yield Select(
                memory_options(self._hardware), value=memory, allow_blank=False,
                id="memory", compact=True,
            )  # fmt: skip
            yield Label("Task", classes="query-label")
            options = task_options(self._tasks, self._groups)
            if q.task not in {v for _, v in options}:
                options.append((q.task, q.task))
            yield Select(options, value=q.task, allow_blank=False, id="task", compact=True)
        with Horizontal(classes="query-row"):
            yield Label("Context", classes="query-label")
            yield Input(str(q.context_tokens), restrict=r"[0-9kK]*", id="context", compact=True)
            yield Label("KV", classes="query-label")
            yield Select(
                [(k, k) for k in KV_CACHE_TYPES], value=q.kv_cache, allow_blank=False,
                id="kv-cache", compact=True,
            )  # fmt: skip
            yield Label("Backend", classes="query-label")
            yield Select(
                [(b, b) for b in BACKEND_CHOICES], value=q.backend, allow_blank=False,
                id="backend", compact=True,
            )  # fmt: skip
            yield Label("Family", classes="query-label")
            yield Select(
                [("all", ALL_FAMILIES)], value=ALL_FAMILIES, allow_blank=False,
                id="family", compact=True,
            )  # fmt: skip
            yield Checkbox("non-fitting", q.show_excluded, id="show-excluded", compact=True)

    def on_mount(self) -> None:
        if not self._typed and self._hardware is not None:
            self._fill_detected()
        # The first ranking starts after the first paint, so it never delays it.
        self.call_after_refresh(self._post)

    # --- hardware and families arrive after mount --------------------------------------

    def set_hardware(self, hw: Hardware) -> None:
        """Detected hardware arrived: offer it, and pre-fill the budget unless typed."""
        self._hardware = hw
        memory = self.query_one("#memory", Select)
        current = memory.value
        memory.set_options(memory_options(hw))
        if not hw.gpus and not self._typed:
            current = "ram"
        memory.value = current
        if not self._typed:
            self._fill_detected()

    def set_families(self, families: Sequence[tuple[str, str]]) -> None:
        """Offer these (name, family_key) pairs, keeping the current choice if still there."""
        select = self.query_one("#family", Select)
        current = select.value
        options = [("all", ALL_FAMILIES), *families]
        if options == self._family_options:
            return
        self._family_options = options
        select.set_options(options)
        select.value = current if current in {v for _, v in options} else ALL_FAMILIES

    def use_detected(self) -> bool:
        """Reset the budget to the detected memory; False when nothing was detected."""
        self._typed = False
        return self._fill_detected()

    def _fill_detected(self) -> bool:
        source = self.query_one("#memory", Select).value
        detected = detected_budgets(self._hardware).get(str(source))
        if detected is None:
            return False
        self.query_one("#budget", Input).value = budget_text(detected)
        self.query_one("#budget-mode", Label).update("detected")
        return True

    # --- events ---------------------------------------------------------------------------

    @on(Input.Changed, "#budget")
    def _budget_typed(self, event: Input.Changed) -> None:
        source = self.query_one("#memory", Select).value
        detected = detected_budgets(self._hardware).get(str(source))
        self._typed = detected is None or event.value != budget_text(detected)
        self.query_one("#budget-mode", Label).update("typed" if self._typed else "detected")
        self._post()

    @on(Select.Changed, "#memory")
    def _memory_switched(self) -> None:
        if not self._typed:
            self._fill_detected()
        self._post()

    @on(Input.Changed, "#context")
    @on(Select.Changed, "#task, #kv-cache, #backend, #family")
    @on(Checkbox.Changed, "#show-excluded")
    def _changed(self) -> None:
        self._post()

    def _read(self) -> Query:
        """What the inputs say now; raises :class:`QueryError` for unreadable text."""
        family = self.query_one("#family", Select).value
        query = self._query.with_(
            budget=self.query_one("#budget", Input).value.strip(),
            device="cuda" if self.query_one("#memory", Select).value == "gpu" else "cpu",
            task=str(self.query_one("#task", Select).value),
            context_tokens=parse_context(self.query_one("#context", Input).value),
            kv_cache=str(self.query_one("#kv-cache", Select).value),
            backend=str(self.query_one("#backend", Select).value),
            family=None if family == ALL_FAMILIES else str(family),
            show_excluded=self.query_one("#show-excluded", Checkbox).value,
        )
        query.budget_bytes  # noqa: B018 - validates the budget text
        return query

    def _post(self) -> None:
        budget = self.query_one("#budget", Input)
        context = self.query_one("#context", Input)
        try:
            query = self._read()
        except QueryError as exc:
            budget.set_class(exc.field == "budget", "-invalid")
            context.set_class(exc.field == "context", "-invalid")
            self.post_message(QueryInvalid(str(exc)))
            return
        budget.remove_class("-invalid")
        context.remove_class("-invalid")
        self._query = query
        if query != self._last_posted:
            self._last_posted = query
            self.post_message(QueryChanged(query))
