"""The Textual app and the factory the CLI and the tests share.

``create_app`` takes everything the app depends on as arguments (hardware, the ranking
function, the measurer, the theme), so tests run it on fixed data and the CLI on the real
machine.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import ClassVar

from textual.app import App
from textual.binding import Binding, BindingType
from textual.screen import Screen

from advisor.profiles.detect import Hardware
from advisor.tui.measuring import Measurer
from advisor.tui.model import Query, Ranker, RecommendFn
from advisor.tui.screens.help import HelpScreen
from advisor.tui.screens.main import MainScreen

THEMES = {"dark": "textual-dark", "light": "textual-light", "ansi": "textual-ansi"}
# The budget when nothing was detected and none was typed: a common GPU size, said so.
DEFAULT_BUDGET = "24GB"


def terminal_theme(environ: dict[str, str] | None = None) -> str:
    """Light or dark from the terminal's ``COLORFGBG`` ("fg;bg"); dark when unknown."""
    env = os.environ if environ is None else environ
    value = env.get("COLORFGBG", "")
    try:
        background = int(value.split(";")[-1])
    except ValueError:
        return "textual-dark"
    return "textual-light" if background in (7, 15) else "textual-dark"


class AdvisorApp(App[None]):
    """advisor's TUI: inputs, ranked table, trade-off chart, detail."""

    CSS_PATH = "advisor.tcss"
    TITLE = "advisor"
    SUB_TITLE = "which LLM, at which bit-width, fits your memory"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]  # noqa: RUF012
    VERTICAL_BREAKPOINTS = [(0, "-short"), (30, "-tall")]  # noqa: RUF012
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("question_mark", "help", "Help", id="app.help"),
        Binding("ctrl+t", "toggle_theme", "Light/dark", id="app.theme", show=False),
    ]

    def __init__(
        self,
        *,
        query: Query,
        ranker: Ranker,
        tasks: Sequence[str],
        groups: Sequence[str],
        hardware: Hardware | None,
        detect_hardware: Callable[[], Hardware] | None,
        measurer: Measurer | None,
        typed_budget: bool,
        theme: str,
        show_timings: bool = True,
        detection_note: str | None = None,
    ) -> None:
        super().__init__()
        self._main_args = (query, ranker, tasks, groups, hardware, detect_hardware, measurer)
        self._typed_budget = typed_budget
        self._show_timings = show_timings
        self._detection_note = detection_note
        self.theme = theme

    def get_default_screen(self) -> Screen[None]:
        return MainScreen(
            *self._main_args,
            typed_budget=self._typed_budget,
            show_timings=self._show_timings,
            detection_note=self._detection_note,
        )

    @property
    def main(self) -> MainScreen:
        """The main screen, whatever is pushed on top of it."""
        screen = self.screen_stack[0]
        assert isinstance(screen, MainScreen)
        return screen

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen([*self.BINDINGS, *MainScreen.BINDINGS]))

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.current_theme.dark else "textual-dark"


def create_app(
    *,
    budget: str | None = None,
    device: str | None = None,
    task: str = "mmlu",
    context_tokens: int | None = None,
    kv_cache: str = "f16",
    backend: str = "any",
    hardware: Hardware | None = None,
    detect_hardware: Callable[[], Hardware] | None = None,
    recommend: RecommendFn | None = None,
    tasks: Sequence[str] | None = None,
    measurer: Measurer | None = None,
    theme: str | None = None,
    show_timings: bool = True,
) -> AdvisorApp:
    """Build the app. Anything left out comes from the real machine and data.

    ``budget``/``device`` given → a typed budget ("cuda", "cpu" or "apple"); otherwise the
    detected memory fills it: the largest GPU's free memory, else Apple unified memory,
    else system RAM (``hardware`` if given, else ``detect_hardware`` — by default
    :func:`advisor.profiles.detect.detect` — runs in a worker after the first paint, and
    nothing is ranked before it answers). With nothing detected the app says so and
    starts from a typed 24GB of GPU memory. ``show_timings=False`` keeps the status line
    free of milliseconds, for snapshots.
    """
    from advisor.evidence import known_tasks, task_groups
    from advisor.memory import DEFAULT_CONTEXT_TOKENS
    from advisor.recommender import recommend as real_recommend
    from advisor.tui.model import MEMORY_SOURCES
    from advisor.tui.widgets.query import (
        budget_text,
        detected_budgets,
        detected_profile,
        detected_source,
    )

    if hardware is None and detect_hardware is None:
        from advisor.profiles.detect import detect

        detect_hardware = detect
    detected = False
    note = None
    hardware_id = None
    if budget is None and hardware is not None:
        source = detected_source(hardware)
        if source is not None:
            budget = budget_text(detected_budgets(hardware)[source])
            device = MEMORY_SOURCES[source]
            detected = True
            hardware_id = detected_profile(hardware, source)
        else:
            note = (
                f"nothing detected ({hardware.gpu_error or 'no GPU and no RAM reading'}): "
                f"starting from {DEFAULT_BUDGET} typed; type your budget"
            )
    typed = budget is not None and not detected
    if device is None:
        device = "cuda"
    query = Query(
        budget=budget or DEFAULT_BUDGET,
        detected=detected,
        hardware_id=hardware_id,
        device=device,
        task=task,
        context_tokens=context_tokens or DEFAULT_CONTEXT_TOKENS,
        kv_cache=kv_cache,
        backend=backend,
    )
    if tasks is None:
        tasks = sorted(known_tasks())
    return AdvisorApp(
        query=query,
        ranker=Ranker(recommend or real_recommend),
        tasks=tasks,
        groups=list(task_groups()),
        hardware=hardware,
        detect_hardware=detect_hardware,
        measurer=measurer,
        typed_budget=typed or note is not None,
        theme=THEMES.get(theme or "", theme or terminal_theme()),
        show_timings=show_timings,
        detection_note=note,
    )
