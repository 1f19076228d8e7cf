"""The append-only store: round trip, torn/corrupt lines, concurrent writers, resume keys."""

from __future__ import annotations

import json
import multiprocessing as mp
import warnings
from pathlib import Path

import pytest

from advisor.measure.store import (
    Measurement,
    StoreWarning,
    append,
    done_keys,
    identity_key,
    load_measurements,
    read_store,
)


def _m(i: int, status: str = "ok") -> Measurement:
    return Measurement(
        key=f"k{i}",
        status=status,
        model_name="m",
        backend="llama.cpp",
        format="Q4_0",
        task="arc_easy",
        task_version=1,
        metric="acc",
        value=0.5,
        stderr=0.1,
        n=10,
        metrics={"acc": {"value": 0.5, "stderr": 0.1}},
        footprint={"peak_rss_bytes": 1},
    )


def test_round_trip(tmp_path: Path) -> None:
    store = tmp_path / "s.jsonl"
    append(store, _m(1))
    append(store, _m(2, "failed"))
    got = load_measurements(store)
    assert [m.key for m in got] == ["k1", "k2"]
    assert got[0] == _m(1)
    assert done_keys(store) == {"k1"}  # failed cells are retried on resume


def test_torn_last_line_is_skipped_then_quarantined(tmp_path: Path) -> None:
    store = tmp_path / "s.jsonl"
    append(store, _m(1))
    torn = _m(2).to_json().encode()[:40]  # what kill -9 mid-write leaves
    with store.open("ab") as fh:
        fh.write(torn)
    with pytest.warns(StoreWarning, match="torn last line"):
        got = load_measurements(store)
    assert [m.key for m in got] == ["k1"]
    with pytest.warns(StoreWarning, match="moved to s.jsonl.corrupt-"):
        append(store, _m(3))  # the torn tail is moved aside, not left to block
    records, report = read_store(store)
    assert [m.key for m in records] == ["k1", "k3"]
    assert report.skipped == 0 and not report.torn_tail
    (moved,) = tmp_path.glob("s.jsonl.corrupt-*")
    assert moved.read_bytes() == torn  # nothing is deleted


def test_corrupt_middle_lines_counted(tmp_path: Path) -> None:
    store = tmp_path / "s.jsonl"
    append(store, _m(1))
    with store.open("a") as fh:
        fh.write("{not json\n[1, 2]\n")
    append(store, _m(2))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = load_measurements(store)
    assert [m.key for m in got] == ["k1", "k2"]
    assert sum("skipped" in str(w.message) for w in caught) == 2


def _writer(path: str, start: int, count: int) -> None:
    for i in range(start, start + count):
        append(path, _m(i))


def test_two_processes_append_whole_lines(tmp_path: Path) -> None:
    store = tmp_path / "s.jsonl"
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(store), s, 40)) for s in (0, 1000)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    lines = store.read_text().splitlines()
    assert len(lines) == 80
    assert {json.loads(x)["key"] for x in lines} == {
        f"k{i}" for i in [*range(40), *range(1000, 1040)]
    }


def test_identity_key_covers_what_changes_results() -> None:
    cfg = {"limit": 300, "seed": 0, "context_tokens": 512}
    base = identity_key("sha", "llama.cpp", "Q4_0", "arc_easy", 1, cfg)
    assert base == identity_key("sha", "llama.cpp", "Q4_0", "arc_easy", 1, dict(cfg))
    assert base != identity_key("sha", "llama.cpp", "Q4_0", "arc_easy", 2, cfg)
    assert base != identity_key("sha", "llama.cpp", "Q8_0", "arc_easy", 1, cfg)
    assert base != identity_key("sha", "llama.cpp", "Q4_0", "arc_easy", 1, {**cfg, "limit": 500})
    assert base != identity_key("sha2", "llama.cpp", "Q4_0", "arc_easy", 1, cfg)
