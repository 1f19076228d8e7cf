"""Snapshots of the main screen at 80×24 and 120×40, on fixed data and fixed hardware:
a 24 GiB GPU, and this development machine as detection sees it (23.54 GiB of RAM, no GPU).

Update with ``pytest tests/test_tui_snapshots.py --snapshot-update`` after a deliberate
change, and look at the report before committing.
"""

from __future__ import annotations

import pytest

pytest.importorskip("pytest_textual_snapshot")
pytest.importorskip("textual_plotext")

from textual.pilot import Pilot
from textual.widgets import Input

from advisor.profiles.detect import Hardware
from advisor.tui import create_app
from tests.test_tui_fixtures import HARDWARE, RAM_ONLY, TASKS, fake_recommend


def app(hardware: Hardware = HARDWARE, budget: str | None = None):  # type: ignore[no-untyped-def]
    return create_app(
        budget=budget,
        hardware=hardware,
        recommend=fake_recommend,
        tasks=TASKS,
        theme="textual-dark",
        show_timings=False,
    )


async def ready(pilot: Pilot) -> None:  # type: ignore[type-arg]
    """No blinking cursors; rankings and the lazily mounted chart are done."""
    for widget in pilot.app.query(Input):
        widget.cursor_blink = False
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
    await pilot.wait_for_scheduled_animations()


def test_main_80x24(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(app(), terminal_size=(80, 24), run_before=ready)


def test_main_80x24_chart(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(app(), terminal_size=(80, 24), run_before=ready, press=["c"])


def test_main_120x40(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(app(), terminal_size=(120, 40), run_before=ready, press=["down"])


def test_main_120x40_light_non_fitting(snap_compare) -> None:  # type: ignore[no-untyped-def]
    async def light(pilot: Pilot) -> None:  # type: ignore[type-arg]
        pilot.app.theme = "textual-light"
        await ready(pilot)

    assert snap_compare(app(budget="12GB"), terminal_size=(120, 40), run_before=light, press=["x"])


def test_first_screen_no_gpu_80x24(snap_compare) -> None:  # type: ignore[no-untyped-def]
    """The first screen on a machine without a GPU: system RAM, detected, said once."""
    assert snap_compare(app(RAM_ONLY), terminal_size=(80, 24), run_before=ready)


def test_first_screen_no_gpu_120x40(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(app(RAM_ONLY), terminal_size=(120, 40), run_before=ready)


def test_chart_against_speed_120x40(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(app(), terminal_size=(120, 40), run_before=ready, press=["v"])
