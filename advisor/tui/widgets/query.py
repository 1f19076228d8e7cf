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
from advisor.tui.model import (
    BACKEND_CHOICES,
    KV_CACHE_TYPES,
    MEMORY_SOURCES,
    Query,
    QueryError,
    parse_context,
)

SOURCE_OF_DEVICE = {device: source for source, device in MEMORY_SOURCES.items()}

ALL_FAMILIES = "*"


def budget_text(n_bytes: int) -> str:
    """Bytes → the budget box's text, in GiB as cards are sold, rounded down to 0.01 GiB
    (23.54GiB for 23.54 GiB of RAM: never more than was detected)."""
    return f"{math.floor(n_bytes / 2**30 * 100) / 100:.2f}GiB"


def detected_budgets(hw: Hardware | None) -> dict[str, int]:
    """Detected memory per source: "gpu" (the largest card's free memory), "ram" (system
    RAM; the recommender keeps 10% of it for the OS) and "unified" (Apple's unified memory;
    the recommender keeps to Metal's working set)."""
    if hw is None:
        return {}
    out: dict[str, int] = {}
    if hw.gpus:
        largest = max(hw.gpus, key=lambda g: g.total_bytes)
        if largest.free_bytes > 0:
            out["gpu"] = largest.free_bytes
    if hw.ram_total_bytes > 0:
        out["unified" if hw.unified_memory else "ram"] = hw.ram_total_bytes
    return out


def detected_source(hw: Hardware | None) -> str | None:
    """Which detected memory the budget starts from: the largest GPU's free memory, else
    Apple unified memory, else system RAM; None when nothing was detected."""
    found = detected_budgets(hw)
    return next((s for s in ("gpu", "unified", "ram") if s in found), None)


def detected_profile(hw: Hardware | None, source: str) -> str | None:
    """The bundled hardware profile of the detected GPU ("gpu") or Apple chip ("unified"),
    when there is one: placement and speed then follow this machine."""
    if hw is None:
        return None
    from advisor.profiles.detect import apple_profile_for, gpu_profile_for

    if source == "gpu" and hw.gpus:
        largest = max(hw.gpus, key=lambda g: g.total_bytes)
        found = gpu_profile_for(largest.name, largest.total_bytes)
    elif source == "unified" and hw.unified_memory:
        found = apple_profile_for(hw.cpu, hw.ram_total_bytes)
    else:
        found = None
    return None if found is None else found.id


def memory_options(hw: Hardware | None) -> list[tuple[str, str]]:
    """The memory switch: which memory the budget is for (named after what was found)."""
    gpu_label, ram_label = "GPU memory", "system RAM"
    if hw is not None and hw.gpus:
        gpu = max(hw.gpus, key=lambda g: g.total_bytes)
        gpu_label = f"GPU {gpu.name.removeprefix('NVIDIA ').removeprefix('GeForce ')} free"
    elif hw is not None:
        gpu_label = "GPU (none detected)"
    options = [(gpu_label, "gpu"), (ram_label, "ram"), ("unified memory (Apple)", "unified")]
    return options


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
        detecting: bool = False,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self._query = query
        self._hardware = hardware
        self._tasks = tasks
        self._groups = groups
        self._typed = typed_budget
        # Detection still running: nothing is ranked until it answers (or fails), so the
        # first ranking is of the detected memory, not of a placeholder.
        self._detecting = detecting and not typed_budget
        self._last_posted: Query | None = None
        self._family_options: list[tuple[str, str]] = []

    @property
    def current(self) -> Query:
        """What the inputs said at the last change that could be read."""
        return self._query

    def compose(self) -> ComposeResult:
        q = self._query
        memory = SOURCE_OF_DEVICE.get(q.device, "gpu")
        mode = "detecting…" if self._detecting else ("detected" if q.detected else "typed")
        with Horizontal(classes="query-row"):
            yield Label("Budget", classes="query-label")
            yield Input(q.budget, placeholder="24GB", id="budget", compact=True)
            yield Label(mode, id="budget-mode")
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
        if self._detecting:
            return  # set_hardware or detection_failed posts the first query
        # The first ranking starts after the first paint, so it never delays it.
        self.call_after_refresh(self._post)

    # --- hardware and families arrive after mount --------------------------------------

    def set_hardware(self, hw: Hardware) -> bool:
        """Detected hardware arrived: offer it, and start from it unless a size was typed;
        returns False when it offers no memory at all (then the typed default stays)."""
        self._hardware = hw
        self._detecting = False
        memory = self.query_one("#memory", Select)
        current = memory.value
        memory.set_options(memory_options(hw))
        source = detected_source(hw)
        memory.value = source if source is not None and not self._typed else current
        if not self._typed and source is not None:
            self._fill_detected()
        elif not self._typed:
            self.query_one("#budget-mode", Label).update("typed")
        self._post()
        return source is not None

    def detection_failed(self) -> None:
        """Nothing detected: the typed default stays, and is ranked."""
        self._detecting = False
        self._typed = True
        self.query_one("#budget-mode", Label).update("typed")
        self._post()

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
        """Back to the detected budget (and its memory); False when nothing was detected."""
        source = detected_source(self._hardware)
        if source is None:
            return False
        memory = self.query_one("#memory", Select)
        if str(memory.value) not in detected_budgets(self._hardware):
            memory.value = source  # its Changed event refills the budget
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
        if self._detecting:
            if event.value == self._query.budget:
                return  # the placeholder being shown, not typed
            self._detecting = False  # typed before detection answered: the typed size wins
        source = self.query_one("#memory", Select).value
        detected = detected_budgets(self._hardware).get(str(source))
        self._typed = detected is None or event.value != budget_text(detected)
        self.query_one("#budget-mode", Label).update("typed" if self._typed else "detected")
        self._post()

    @on(Select.Changed, "#memory")
    def _memory_switched(self) -> None:
        if self._detecting:
            return  # set_hardware decides once detection answers
        if not self._typed and not self._fill_detected():
            # Nothing detected of this kind: the size in the box is now a typed one.
            self._typed = True
            self.query_one("#budget-mode", Label).update("typed")
        self._post()

    @on(Input.Changed, "#context")
    @on(Select.Changed, "#task, #kv-cache, #backend, #family")
    @on(Checkbox.Changed, "#show-excluded")
    def _changed(self) -> None:
        self._post()

    def _read(self) -> Query:
        """What the inputs say now; raises :class:`QueryError` for unreadable text."""
        family = self.query_one("#family", Select).value
        source = str(self.query_one("#memory", Select).value)
        budget = self.query_one("#budget", Input).value.strip()
        detected = detected_budgets(self._hardware).get(source)
        is_detected = detected is not None and budget == budget_text(detected)
        query = self._query.with_(
            budget=budget,
            device=MEMORY_SOURCES.get(source, "cuda"),
            detected=is_detected,
            hardware_id=detected_profile(self._hardware, source) if is_detected else None,
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
        if self._detecting:
            return
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
