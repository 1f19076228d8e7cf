"""Snapshots of the main screen at 80×24 and 120×40, on fixed data and fixed hardware.

Update with ``pytest tests/test_tui_snapshots.py --snapshot-update`` after a deliberate
change, and look at the report before committing.
"""

from __future__ import annotations

import pytest

pytest.importorskip("pytest_textual_snapshot")
pytest.importorskip("textual_plotext")

from textual.pilot import Pilot
from textual.widgets import Input

from advisor.tui import create_app
from tests.test_tui_fixtures import HARDWARE, TASKS, fake_recommend


def app():  # type: ignore[no-untyped-def]
    return create_app(
        hardware=HARDWARE,
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

    assert snap_compare(app(), terminal_size=(120, 40), run_before=light, press=["x"])
