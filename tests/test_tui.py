"""The TUI: view model (pure), pilot tests of the app, the import boundary, the CLI hook."""

from __future__ import annotations

import asyncio
import functools
import subprocess
import sys
import threading
import time

import pytest

pytest.importorskip("textual")

from textual.widgets import Checkbox, Input, Select

from advisor.tui import create_app
from advisor.tui.messages import ConfigSelected, MeasureFinished, Ranked
from advisor.tui.model import (
    COLUMNS,
    SPEED_FOR_ALL,
    SPEED_FOR_TOP,
    ChartPoint,
    Query,
    QueryError,
    Ranker,
    alternatives,
    chart_data,
    memory_segments,
    pareto_frontier,
    parse_context,
    rows,
    run_command,
)
from advisor.tui.screens.help import HelpScreen
from advisor.tui.widgets.detail import DetailPane
from advisor.tui.widgets.query import budget_text, detected_budgets, detected_source
from advisor.units import parse_size
from tests.test_tui_fixtures import (
    HARDWARE,
    NOTHING,
    RAM_ONLY,
    TASKS,
    fake_recommend,
)

# --- the view model, without a terminal ---------------------------------------------------


def _by_label(rec, label):  # type: ignore[no-untyped-def]
    return next(c for c in (*rec.ranked, *rec.excluded) if c.label == label)


def test_pareto_frontier_keeps_only_undominated_points() -> None:
    pts = [
        ChartPoint("a", "a", 4.0, 60.0, "published", True),
        ChartPoint("b", "b", 8.0, 70.0, "published", True),
        ChartPoint("c", "c", 9.0, 65.0, "predicted", True),  # bigger and worse than b
        ChartPoint("d", "d", 16.0, 75.0, "measured", False),
        ChartPoint("e", "e", 4.0, 55.0, "published", True),  # same size as a, worse
    ]
    assert [p.key for p in pareto_frontier(pts)] == ["a", "b", "d"]
    # perplexity: lower is better
    assert [p.key for p in pareto_frontier(pts, higher_is_better=False)] == ["e"]


def test_rows_rank_filter_sort_and_excluded() -> None:
    rec = fake_recommend("12GB")
    q = Query(budget="12GB")
    shown = rows(rec, q)
    assert [r.rank for r in shown] == list(range(1, len(rec.ranked) + 1))
    assert all(r.candidate.memory_bytes <= rec.usable_bytes for r in shown)
    assert all(r.free_bytes == rec.usable_bytes - r.candidate.memory_bytes for r in shown)
    with_excluded = rows(rec, q.with_(show_excluded=True))
    assert len(with_excluded) == rec.considered
    assert [r.fits for r in with_excluded[len(shown) :]] == [False] * len(rec.excluded)
    qwen = rows(rec, q.with_(family="qwen2.5"))
    assert qwen and {r.candidate.arch.family_key for r in qwen} == {"qwen2.5"}
    by_memory = rows(rec, q.with_(sort="memory"))
    totals = [r.candidate.memory_bytes for r in by_memory]
    assert totals == sorted(totals)
    by_speed = [r.candidate.speed.decode.mean for r in rows(rec, q.with_(sort="speed"))]
    assert by_speed == sorted(by_speed, reverse=True)
    assert [r.key for r in rows(rec, q.with_(sort="memory", sort_reverse=True))] == [
        r.key for r in reversed(by_memory)
    ]


def test_chart_data_series_kinds_and_budget_line() -> None:
    rec = fake_recommend("12GB")
    data = chart_data(rec, Query(budget="12GB"), selected="Qwen/Qwen2.5-7B|Q8_0")
    assert data.budget_gb == pytest.approx(12.0)
    assert data.usable_gb == pytest.approx(10.8)
    assert [s.name for s in data.series] == ["Gemma 2", "Llama 3.1", "Qwen2.5"]
    kinds = {p.kind for s in data.series for p in s.predicted}
    assert kinds == {"predicted"}
    assert all(p.kind != "predicted" for s in data.series for p in s.solid)
    # Llama Q2_K has no evidence: it is not a point
    assert all("Q2_K" not in p.label or "gemma" in p.label for p in data.points)
    assert data.selected is not None and data.selected.label == "Qwen2.5-7B Q8_0"
    assert data.metric_label == "accuracy %"  # the metric table's label, not "acc"
    assert all(p.memory_gb * 1e9 == _by_label(rec, p.label).memory_bytes for p in data.points)
    by_bits = chart_data(rec, Query(budget="12GB", group_by="bits"))
    assert [s.name for s in by_bits.series] == ["2-bit", "3-bit", "4-bit", "8-bit", "16-bit"]


def test_chart_data_against_speed() -> None:
    rec = fake_recommend("12GB")
    data = chart_data(rec, Query(budget="12GB", chart_axis="speed"))
    assert data.axis == "speed" and data.points
    assert all(p.decode_tok_s and data.x(p) == p.decode_tok_s for p in data.points)
    # the frontier: nothing both faster and better-scoring than a frontier point
    for f in data.frontier:
        assert not any(p.decode_tok_s > f.decode_tok_s and p.score > f.score for p in data.points)
    speeds = [p.decode_tok_s for p in data.frontier]
    assert speeds == sorted(speeds, reverse=True)


def test_alternatives_at_equal_memory() -> None:
    rec = fake_recommend("24GiB")
    q8 = _by_label(rec, "Qwen2.5-7B Q8_0")  # 8.1 GB of weights
    alts = {a.kind: a for a in alternatives(q8, (*rec.ranked, *rec.excluded))}
    bigger = alts["bigger, lower-bit"]
    assert bigger.candidate.label == "Qwen2.5-14B Q4_K_M"
    assert bigger.score_delta == pytest.approx(79.3 - 74.0)
    small = _by_label(rec, "Qwen2.5-14B IQ3_M")
    alts = {a.kind: a for a in alternatives(small, (*rec.ranked, *rec.excluded))}
    assert alts["smaller, higher-bit"].candidate.label == "Qwen2.5-7B Q8_0"


def test_memory_segments_add_up_to_the_budget() -> None:
    rec = fake_recommend("12GB")
    c = rec.ranked[0]
    segs = memory_segments(c, rec)
    assert [s.role for s in segs] == ["weights", "kv", "other", "bound", "free", "margin"]
    assert sum(s.n_bytes for s in segs) == rec.budget_bytes
    # the bar is budgeted as the fit test is: the calibrated upper bound, then what is free
    assert sum(s.n_bytes for s in segs[:4]) == c.memory_bytes
    assert segs[4].n_bytes == rec.usable_bytes - c.memory_bytes
    over = memory_segments(rec.excluded[-1], rec)
    assert over[-1].role == "over"


def test_run_commands_are_the_rankings_own() -> None:
    """The command shown and copied is ``c.to_dict()["run"]`` (placement flags included);
    with a local file of the config, llama-server runs that file with the same flags."""
    import shlex

    rec = fake_recommend("24GiB", kv_cache="q8_0", context=8192)
    q4 = _by_label(rec, "Qwen2.5-7B Q4_K_M")
    gguf = run_command(q4, rec)
    assert gguf == q4.to_dict()["run"]
    assert gguf == (
        "llama-server -m Qwen2.5-7B-Q4_K_M.gguf -c 8192 -ngl 99 -ctk q8_0 -ctv q8_0 -fa on"
    )
    local = run_command(q4, rec, "/m/my models/x.gguf")
    assert (
        local == "llama-server -m '/m/my models/x.gguf' -c 8192 -ngl 99 -ctk q8_0 -ctv q8_0 -fa on"
    )
    assert shlex.split(local)[2] == "/m/my models/x.gguf"
    bnb = run_command(_by_label(rec, "Qwen2.5-7B nf4"), rec)
    assert bnb is not None and bnb.startswith("python -c ")
    snippet = shlex.split(bnb)[2]
    assert "BitsAndBytesConfig(load_in_4bit=True" in snippet
    assert 'bnb_4bit_quant_type="nf4"' in snippet
    compile(snippet, "<snippet>", "exec")  # the snippet is valid Python


def test_parse_context_and_bad_budget() -> None:
    assert parse_context("8k") == 8192
    assert parse_context("4096") == 4096
    for bad in ("0", "99999999999999999999", "20000k"):
        with pytest.raises(QueryError) as err:
            parse_context(bad)
        assert err.value.field == "context"
    for bad in ("lots", "99999999999999999999GB", "200TB"):
        with pytest.raises(QueryError) as err:
            Query(budget=bad).budget_bytes  # noqa: B018
        assert err.value.field == "budget"


def test_detected_budgets_prefer_gpu_free_then_unified_then_ram() -> None:
    from dataclasses import replace

    assert detected_source(HARDWARE) == "gpu"
    assert detected_budgets(HARDWARE)["gpu"] == 23 * 2**30  # the card's free memory
    assert detected_source(RAM_ONLY) == "ram"
    assert budget_text(detected_budgets(RAM_ONLY)["ram"]) == "23.54GiB"
    mac = replace(RAM_ONLY, unified_memory=True, gpu_error=None)
    assert detected_source(mac) == "unified"
    assert detected_source(NOTHING) is None and detected_budgets(None) == {}


def test_ranker_caches_by_ranking_inputs() -> None:
    calls = []

    def counting(**kwargs):  # type: ignore[no-untyped-def]
        calls.append(kwargs)
        return fake_recommend(**kwargs)

    ranker = Ranker(counting)
    q = Query(budget="12GB")
    ranker.rank(q)
    ranker.rank(q.with_(family="qwen2.5", sort="memory"))  # view-only change: cached
    assert len(calls) == 1
    ranker.rank(q.with_(budget="16GB"))
    assert len(calls) == 2
    ranker.clear()
    ranker.rank(q)
    assert len(calls) == 3
    # the table's rows get speeds; sorting or charting by speed asks for every config's
    assert calls[-1]["speed_top"] == SPEED_FOR_TOP
    ranker.rank(q.with_(sort="speed"))
    ranker.rank(q.with_(chart_axis="speed"))
    assert [c["speed_top"] for c in calls[3:]] == [SPEED_FOR_ALL]  # one ranking serves both


# --- the app, driven by a pilot -------------------------------------------------------------


def run_async(test):  # type: ignore[no-untyped-def]
    """Run an async pilot test with asyncio.run (no pytest async plugin needed)."""

    @functools.wraps(test)
    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        return asyncio.run(test(*args, **kwargs))

    return wrapper


def make_app(**kwargs):  # type: ignore[no-untyped-def]
    options = {
        "hardware": HARDWARE,
        "recommend": fake_recommend,
        "tasks": TASKS,
        "theme": "dark",
        "show_timings": False,
    }
    options.update(kwargs)
    return create_app(**options)


def posted(seen: list[object], kind: type) -> list:  # type: ignore[type-arg]
    """Messages of ``kind`` seen by the hook, once each (bubbling shows them again)."""
    out: dict[int, object] = {}
    for m in seen:
        if isinstance(m, kind):
            out.setdefault(id(m), m)
    return list(out.values())


async def settle(pilot) -> None:  # type: ignore[no-untyped-def]
    """Let ranking workers finish and their messages be handled."""
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


@run_async
async def test_type_budget_change_task_select_row() -> None:
    seen: list[object] = []
    app = make_app()
    async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
        await settle(pilot)
        main = app.main
        # pre-filled from the (injected) detected GPU: its 23 GiB free of 24; ranked on the
        # card's own profile (its bandwidth sets the speeds), the GiB in use kept out
        assert main.query_one("#budget", Input).value == "23.00GiB"
        assert main.query_one("#budget-mode").render().plain == "detected"
        assert main.query_state.hardware_id == "rtx-4090-24gb"
        assert main.rec is not None and main.rec.budget_bytes == 24 * 2**30
        assert main.rec.usable_bytes == pytest.approx(23 * 2**30, rel=1e-5)
        assert app.sub_title == "Budget 23.00 GiB GPU memory (detected)"
        first = len(main.table_rows)

        await pilot.press("b", *"12GB")
        await settle(pilot)
        assert main.query_one("#budget-mode").render().plain == "typed"
        assert main.rec.budget_bytes == 12 * 10**9
        assert 0 < len(main.table_rows) < first
        assert all(r.candidate.memory_bytes <= 10.8e9 for r in main.table_rows)
        assert app.sub_title == "Budget 12.00 GB GPU memory (typed)"
        assert main.chart is not None and main.chart.usable_gb == pytest.approx(10.8)
        assert any(isinstance(m, Ranked) for m in seen)

        main.query_one("#task", Select).value = "gsm8k"
        await settle(pilot)
        assert main.rec.task == "gsm8k"
        assert main.chart.task == "gsm8k"
        assert main.table_rows[0].candidate.best.task == "gsm8k"

        main.query_one("#ranking").focus()
        await pilot.press("down")
        await pilot.pause()
        second = main.table_rows[1].candidate
        assert main.selected is second
        assert main.query_one(DetailPane).candidate is second
        assert main.chart.selected is not None and main.chart.selected.label == second.label
        assert any(isinstance(m, ConfigSelected) and m.candidate is second for m in seen)

        await pilot.press("y")
        assert app.clipboard == main.query_one(DetailPane).command == second.to_dict()["run"]
        assert second.arch.model_id.rsplit("/")[-1] in app.clipboard


@run_async
async def test_detected_budget_switch_gpu_and_system() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        main = app.main
        main.query_one("#memory", Select).value = "ram"
        await settle(pilot)
        assert main.query_one("#budget", Input).value == "59.60GiB"  # 64 GB of RAM
        assert main.rec.device == "cpu"
        await pilot.press("b", *"8GB")
        await settle(pilot)
        assert main.query_one("#budget-mode").render().plain == "typed"
        main.query_one("#ranking").focus()
        await pilot.press("d")  # back to the detected size
        await settle(pilot)
        assert main.query_one("#budget", Input).value == "59.60GiB"
        assert main.query_one("#budget-mode").render().plain == "detected"
        main.query_one("#memory", Select).value = "unified"  # nothing of that kind here
        await settle(pilot)
        assert main.query_one("#budget-mode").render().plain == "typed"
        assert main.rec.device == "apple"
        main.query_one("#ranking").focus()
        await pilot.press("d")  # back to what was detected first: the GPU's free memory
        await settle(pilot)
        assert main.query_one("#memory", Select).value == "gpu"
        assert main.query_one("#budget", Input).value == "23.00GiB"
        assert main.rec.device == "cuda"


@run_async
async def test_invalid_budget_keeps_the_last_ranking() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        main = app.main
        before = [r.key for r in main.table_rows]
        await pilot.press("b", *"lots")
        await settle(pilot)
        assert main.query_one("#budget", Input).has_class("-invalid")
        assert main.query_one("#status").has_class("-error")
        assert [r.key for r in main.table_rows] == before


@run_async
async def test_view_toggles_sort_family_group_excluded() -> None:
    app = make_app(budget="12GB")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        main = app.main
        fitting = len(main.table_rows)
        await pilot.press("x")
        await settle(pilot)
        assert main.query_one("#show-excluded", Checkbox).value
        assert len(main.table_rows) > fitting
        assert not main.table_rows[-1].fits
        await pilot.press("s")  # rank -> score
        assert main.query_state.sort == "score"
        await pilot.press("s")  # score -> speed: every config's speed, so a new ranking
        await settle(pilot)
        assert main.query_state.sort == "speed"
        fast = [r.candidate.speed.decode.mean for r in main.table_rows]
        assert fast == sorted(fast, reverse=True)
        await pilot.press("v")  # the chart against decode speed
        await settle(pilot)
        assert main.chart.axis == "speed"
        assert all(p.decode_tok_s for p in main.chart.points)
        await pilot.press("v")
        await settle(pilot)
        assert main.chart.axis == "memory"
        await pilot.press("g")
        assert main.chart.series[0].name.endswith("-bit")
        main.query_one("#family", Select).value = "gemma2"
        await settle(pilot)
        assert {r.candidate.arch.family_key for r in main.table_rows} == {"gemma2"}
        assert {p.label.split()[0] for p in main.chart.points} == {"gemma-2-27b"}


@run_async
async def test_narrow_layout_help_and_theme() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        main = app.main
        assert main.has_class("-narrow")
        assert not main.query_one("#chart").display or not main.query_one("#chart").visible
        await pilot.press("c")
        await pilot.pause()
        assert main.has_class("-show-chart")
        assert main.query_one("#chart").styles.display == "block"
        assert main.query_one("#detail").styles.display == "none"
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is main
        dark = app.current_theme.dark
        await pilot.press("ctrl+t")
        assert app.current_theme.dark is not dark
        await pilot.press("q")
    assert app.return_code == 0


@run_async
async def test_starts_from_detected_system_ram_without_a_gpu() -> None:
    """This machine: no GPU, 23.54 GiB of RAM. The app starts there, says so once, and
    the table shows decode speed with its evidence mark and where each config runs."""
    app = make_app(hardware=RAM_ONLY)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        main = app.main
        assert main.query_one("#budget", Input).value == "23.54GiB"
        assert main.query_one("#budget-mode").render().plain == "detected"
        assert main.query_one("#memory", Select).value == "ram"
        assert main.rec.device == "cpu" and main.rec.budget_bytes == parse_size("23.54GiB")
        heading = "Budget 23.54 GiB system RAM (detected)"
        assert app.sub_title == heading
        status = str(main.query_one("#status").render())
        assert status.startswith(heading + ":")
        assert "of system RAM" not in status
        cells = dict(zip([k for _, k, _ in COLUMNS], main.table_rows[0].cells(), strict=True))
        assert cells["where"] == "cpu"
        assert cells["speed"].endswith(("○", "●", "◆"))


@run_async
async def test_first_ranking_waits_for_detection() -> None:
    """Detection runs in a worker after the first paint; nothing is ranked before it
    answers, so the placeholder budget is never ranked."""
    asked: list[tuple[object, object]] = []

    def counting(**kwargs):  # type: ignore[no-untyped-def]
        asked.append((kwargs["budget"], kwargs["device"]))
        return fake_recommend(**kwargs)

    release = threading.Event()

    def slow_detect():  # type: ignore[no-untyped-def]
        release.wait(10)
        return RAM_ONLY

    app = create_app(recommend=counting, detect_hardware=slow_detect, tasks=TASKS,
                     theme="dark", show_timings=False)  # fmt: skip
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        assert app.main.query_one("#budget-mode").render().plain == "detecting…"
        assert asked == [] and app.main.rec is None
        release.set()
        await settle(pilot)
        assert asked == [("23.54GiB", "cpu")]
        assert app.main.query_one("#budget-mode").render().plain == "detected"


@run_async
async def test_nothing_detected_says_so_and_starts_from_a_typed_default() -> None:
    for options in ({"hardware": NOTHING}, {"hardware": None, "detect_hardware": _broken}):
        app = make_app(**options)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            main = app.main
            assert main.rec is not None and main.rec.budget_bytes == 24 * 10**9
            assert main.query_one("#budget-mode").render().plain == "typed"
            status = str(main.query_one("#status").render())
            assert status.startswith("nothing detected ("), status
            assert app.sub_title == "Budget 24.00 GB GPU memory (typed)"
            await pilot.press("d")
            await pilot.pause()
            assert main.query_one("#budget-mode").render().plain == "typed"


def _broken():  # type: ignore[no-untyped-def]
    raise RuntimeError("NVML and psutil both failed")


class FakeMeasurer:
    """Counts steps until told to stop; records what the TUI asked."""

    def __init__(self, steps: int, step_s: float = 0.0) -> None:
        self.steps = steps
        self.step_s = step_s
        self.refreshed = 0
        self.done = 0
        self.started = threading.Event()

    def local_path(self, c):  # type: ignore[no-untyped-def]
        return f"/models/{c.arch.name}-{c.format.name}.gguf"

    def unavailable_reason(self, c):  # type: ignore[no-untyped-def]
        return None

    def measure(self, c, task, progress, cancelled):  # type: ignore[no-untyped-def]
        self.started.set()
        for i in range(self.steps):
            if cancelled():
                return f"stopped after {self.done} items"
            time.sleep(self.step_s)
            self.done = i + 1
            progress(i + 1, self.steps, f"{task}: {i + 1}/{self.steps}")
        return f"{task}: acc 0.5 (n={self.steps})"

    def refresh(self) -> None:
        self.refreshed += 1


@run_async
async def test_measure_in_a_worker_then_refresh() -> None:
    seen: list[object] = []
    measurer = FakeMeasurer(steps=5)
    app = make_app(measurer=measurer)
    async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
        await settle(pilot)
        main = app.main
        assert "llama-server -m /models/" in (main.query_one(DetailPane).command or "")
        await pilot.press("m")
        await settle(pilot)
        finished = posted(seen, MeasureFinished)
        assert [f.status for f in finished] == ["ok"]
        assert measurer.done == 5 and measurer.refreshed == 1
        assert not main.query_one("#measure").display


@run_async
async def test_measure_cancel_is_clean() -> None:
    seen: list[object] = []
    measurer = FakeMeasurer(steps=1000, step_s=0.01)
    app = make_app(measurer=measurer)
    async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
        await settle(pilot)
        await pilot.press("m")
        measurer.started.wait(5)
        await pilot.pause(0.1)
        assert app.main.query_one("#measure").display
        await pilot.press("escape")
        await settle(pilot)
        finished = posted(seen, MeasureFinished)
        assert [f.status for f in finished] == ["cancelled"]
        assert 0 < measurer.done < 1000
        assert measurer.refreshed == 1  # what finished is in the store: views refresh


@run_async
async def test_real_data_ranks_and_fits() -> None:
    """The app on the real profiles and recommender (fixed hardware)."""
    app = create_app(hardware=HARDWARE, theme="dark", budget="16GB")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        main = app.main
        assert main.rec is not None and main.table_rows
        assert all(r.candidate.memory_bytes <= main.rec.usable_bytes for r in main.table_rows)
        assert main.chart is not None and main.chart.budget_gb == pytest.approx(16.0)
        assert main.query_one(DetailPane).candidate is main.table_rows[0].candidate
        top = main.table_rows[0].candidate
        assert main.query_one(DetailPane).command == top.to_dict()["run"]
        assert top.speed is not None and top.to_dict()["where"]
        # the table's metric label comes from the metric table
        assert main.chart.metric_label.endswith("%")


@run_async
async def test_real_data_on_a_detected_gpu_uses_its_profile() -> None:
    """Detected: the RTX 4090's own profile sets placement and speed (no "typical card"
    assumed), and only its free memory is usable."""
    app = create_app(hardware=HARDWARE, theme="dark", show_timings=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        main = app.main
        assert main.rec is not None and main.rec.budget.hardware_id == "rtx-4090-24gb"
        assert main.rec.usable_bytes == pytest.approx(23 * 2**30, rel=1e-5)
        assert not any("speeds assume" in note for note in main.rec.notes)
        shown = main.table_rows[:20]
        assert all(r.candidate.speed is not None and r.cells()[6] == "gpu" for r in shown)
        assert app.sub_title == "Budget 23.00 GiB GPU memory (detected)"


def test_machine_arguments_typed_or_detected() -> None:
    from advisor.tui.model import machine_arguments

    assert machine_arguments(Query(budget="12GB", device="cpu")) == {
        "budget": "12GB",
        "device": "cpu",
    }
    detected = Query(budget="23.00GiB", detected=True, hardware_id="rtx-4090-24gb")
    args = machine_arguments(detected)
    assert args["hardware"] == "rtx-4090-24gb" and args["budget"] is None
    assert args["safety_margin"] == pytest.approx(1 / 24, abs=1e-6)  # the GiB in use
    # a typed size keeps the typed path even with a profile at hand
    assert machine_arguments(detected.with_(detected=False))["budget"] == "23.00GiB"


@run_async
async def test_real_data_on_this_machine_without_a_gpu() -> None:
    """The real recommender and profiles on detected RAM: each shown row runs on the CPU,
    with a decode speed and the evidence behind it."""
    app = create_app(hardware=RAM_ONLY, theme="dark", show_timings=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        main = app.main
        assert main.rec is not None and main.rec.device == "cpu"
        assert app.sub_title == "Budget 23.54 GiB system RAM (detected)"
        shown = main.table_rows[:20]
        assert shown and all(r.cells()[6] == "cpu" for r in shown)
        assert all(r.candidate.speed is not None for r in shown)
        assert any("speeds assume" in note for note in main.rec.notes)


# --- packaging boundaries ----------------------------------------------------------------


def test_core_and_cli_never_import_textual() -> None:
    code = (
        "import sys, advisor, advisor.recommender, advisor.cli\n"
        "advisor.cli.build_parser()\n"
        "import advisor.commands.tui\n"
        "ui = {'textual', 'textual_plotext', 'plotext'}\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ui)\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_tui_command_without_textual_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from advisor.cli import build_parser
    from advisor.commands import tui

    args = build_parser().parse_args(["tui", "--vram", "24GB"])
    monkeypatch.setitem(sys.modules, "textual", None)  # import textual -> ImportError
    assert tui.run(args) == 2
    err = capsys.readouterr().err.strip()
    assert err == "advisor: the TUI needs textual: install with pip install 'advisor-llm[tui]'"
