"""The store survives what happens to files: torn and NUL tails quarantined, bad records
skipped on read (and by `advisor results`), short writes, a full disk (a real tmpfs when
this process may mount one), unwritable paths, FIFOs, and claims between sweeps."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import subprocess
import sys
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from advisor.measure.store import (
    Claimant,
    Measurement,
    StoreError,
    StoreWarning,
    StoreWriteError,
    append,
    check_writable,
    claim_cells,
    claims_dir,
    load_measurements,
    prepare_store,
    read_store,
    release_claims,
    validate_record,
    write_all,
)


def _m(i: int, status: str = "ok", value: float | None = 0.5) -> Measurement:
    return Measurement(
        key=f"k{i}",
        status=status,
        model_name="m",
        backend="llama.cpp",
        format="Q4_0",
        task="arc_easy",
        task_version=1,
        metric="acc",
        value=value if status == "ok" else None,
        stderr=0.1,
        n=10,
        metrics={"acc": {"value": 0.5, "stderr": 0.1}},
        footprint={"peak_rss_bytes": 1},
        provenance=["test"],
    )


def _quiet_read(store: Path) -> list[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [m.key for m in read_store(store)[0]]


def test_nul_tail_is_quarantined_and_later_records_land(tmp_path: Path) -> None:
    store = tmp_path / "s.jsonl"
    append(store, _m(1))
    with store.open("ab") as fh:
        fh.write(b"\0" * 4096)  # a crash that extended the file without its data
    with pytest.warns(StoreWarning, match="NUL bytes"):
        prepare_store(store)
    assert _quiet_read(store) == ["k1"]
    append(store, _m(2))
    assert _quiet_read(store) == ["k1", "k2"]
    (moved,) = tmp_path.glob("s.jsonl.corrupt-*")
    assert moved.read_bytes() == b"\0" * 4096


def test_store_of_only_nul_bytes(tmp_path: Path) -> None:
    store = tmp_path / "s.jsonl"
    store.write_bytes(b"\0" * 100 + b"\n" + b"\0" * 50)
    with pytest.warns(StoreWarning):
        append(store, _m(1))
    assert _quiet_read(store) == ["k1"]
    assert store.read_bytes().count(b"\n") == 1


def test_whole_record_missing_its_newline_is_kept(tmp_path: Path) -> None:
    store = tmp_path / "s.jsonl"
    store.write_text(_m(1).to_json())  # hand-written, no final newline: not garbage
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        append(store, _m(2))
    assert _quiet_read(store) == ["k1", "k2"]
    assert not list(tmp_path.glob("*.corrupt-*"))


def test_middle_corrupt_lines_do_not_block(tmp_path: Path) -> None:
    store = tmp_path / "s.jsonl"
    append(store, _m(1))
    with store.open("a") as fh:
        fh.write("{oops\n")
    append(store, _m(2))
    prepare_store(store)  # a sweep may measure into it
    append(store, _m(3))
    assert _quiet_read(store) == ["k1", "k2", "k3"]
    assert "{oops" in store.read_text()  # not ours to delete: skipped on read


BAD_RECORDS: list[tuple[dict[str, object], str]] = [
    ({"format": None}, '"format" must be a non-empty string'),
    ({"value": "abc"}, '"value" must be a finite number'),
    ({"value": 1.5}, "fraction 0-1"),
    ({"value": -0.1}, "fraction 0-1"),
    ({"value": None}, 'an "ok" record needs a "value"'),
    ({"status": "done"}, '"status" must be "ok" or "failed"'),
    ({"task_version": "1"}, '"task_version" must be an integer'),
    ({"task_version": True}, '"task_version" must be an integer'),
    ({"n": -3}, '"n" must be an integer >= 0'),
    ({"stderr": -1}, '"stderr" must be a finite number >= 0'),
    ({"bits_per_weight": 0}, '"bits_per_weight" must be a positive number'),
    ({"metrics": []}, '"metrics" must be an object'),
    ({"metrics": {"acc": {"value": "x"}}}, '"metrics.acc.value"'),
    ({"footprint": {"peak_rss_bytes": "big"}}, '"footprint.peak_rss_bytes"'),
    ({"provenance": "text"}, '"provenance" must be a list'),
    ({"schema": 99}, '"schema" 99'),
    ({"key": ""}, '"key" must be a non-empty string'),
]


@pytest.mark.parametrize(("change", "message"), BAD_RECORDS)
def test_invalid_record_is_named(change: dict[str, object], message: str) -> None:
    data = json.loads(_m(1).to_json())
    data.update(change)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        validate_record(data)


def test_nan_and_perplexity_ranges() -> None:
    data = json.loads(_m(1).to_json())
    data.update(metric="perplexity", value=0.0)
    with pytest.raises(ValueError, match="must be positive"):
        validate_record(data)
    data.update(value=float("nan"))
    with pytest.raises(ValueError, match="finite"):
        validate_record(data)
    data.update(value=45.3)
    assert validate_record(data).value == 45.3


def test_bad_records_are_skipped_and_reported_once(tmp_path: Path) -> None:
    store = tmp_path / "s.jsonl"
    append(store, _m(1))
    bad = json.loads(_m(2).to_json())
    bad["format"] = None
    with store.open("a") as fh:
        fh.write(json.dumps(bad) + "\n")
        fh.write(json.dumps({**bad, "format": "Q4_0", "value": "abc"}) + "\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert [m.key for m in load_measurements(store)] == ["k1"]
        assert [m.key for m in load_measurements(store)] == ["k1"]  # again: no new warning
    messages = [str(w.message) for w in caught]
    assert len(messages) == 2, messages
    assert "s.jsonl:2: invalid record skipped" in messages[0] and '"format"' in messages[0]
    assert '"value"' in messages[1]


def _advisor(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "advisor", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )


def test_results_and_recommend_survive_bad_records(tmp_path: Path) -> None:
    store = tmp_path / "s.jsonl"
    append(store, _m(1))
    bad = json.loads(_m(2).to_json())
    with store.open("a") as fh:
        fh.write(json.dumps({**bad, "format": None}) + "\n")
        fh.write(json.dumps({**bad, "value": "abc"}) + "\n")
        fh.write("\0\0\0\0")
    env = {"ADVISOR_STORE": str(store)}
    results = _advisor("results", "--json", env=env)
    assert results.returncode == 0, results.stderr
    assert "Traceback" not in results.stderr
    assert results.stderr.count("invalid record skipped") == 2
    rec = _advisor("recommend", "--vram", "8GB", "--task", "mmlu", env=env)
    assert rec.returncode == 0, rec.stderr
    assert "Traceback" not in rec.stderr


class _ShortWrites:
    """A file descriptor stand-in that takes at most ``step`` bytes per call (what a
    signal or a nearly full disk does to os.write), then refuses when ``room`` is spent."""

    def __init__(self, step: int, room: int | None = None) -> None:
        self.step, self.room, self.got = step, room, bytearray()

    def __call__(self, fd: int, data: memoryview) -> int:
        n = min(self.step, len(data))
        if self.room is not None:
            n = min(n, self.room - len(self.got))
            if n <= 0:
                raise OSError(errno.ENOSPC, "No space left on device")
        self.got += bytes(data[:n])
        return n


def test_write_all_loops_over_short_writes() -> None:
    fake = _ShortWrites(step=7)
    payload = b"x" * 100 + b"\n"
    write_all(-1, payload, write=fake)
    assert bytes(fake.got) == payload
    full = _ShortWrites(step=7, room=50)
    with pytest.raises(OSError, match="No space"):
        write_all(-1, payload, write=full)
    zero = _ShortWrites(step=0)
    with pytest.raises(OSError):
        write_all(-1, payload, write=zero)


@contextlib.contextmanager
def _small_tmpfs(where: Path, size: str) -> Iterator[Path]:
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (not root?): the full-disk test needs one")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_full_disk_loses_nothing_and_recovers(tmp_path: Path) -> None:
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("the full-disk test mounts a tmpfs: needs root")
    with _small_tmpfs(tmp_path / f"disk-{uuid.uuid4().hex[:6]}", "64k") as disk:
        store = disk / "s.jsonl"
        append(store, _m(1))
        filler = disk / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
        with contextlib.suppress(OSError):  # fill the disk
            while True:
                os.write(fd, b"\0" * 4096)
        os.ftruncate(fd, max(0, os.fstat(fd).st_size - 4096))  # one page free: < a record
        os.close(fd)
        before = store.read_bytes()
        failures = 0
        for i in range(2, 6):
            big = _m(i)
            big.provenance = ["x" * 10_000]  # larger than the space left
            try:
                append(store, big)
            except StoreWriteError as exc:
                failures += 1
                assert "unchanged" in str(exc)
                assert store.read_bytes() == before  # never half a record
        assert failures >= 1
        filler.unlink()  # space returns
        append(store, _m(10))
        keys = _quiet_read(store)
        assert keys[0] == "k1" and keys[-1] == "k10"
        assert len(keys) == len(set(keys))
        assert all(json.loads(x) for x in store.read_text().splitlines())


def test_check_writable_refuses_before_measuring(tmp_path: Path) -> None:
    (tmp_path / "folder.jsonl").mkdir()
    with pytest.raises(StoreError, match="is a folder"):
        check_writable(tmp_path / "folder.jsonl")
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match=r"[Nn]ot a (folder|directory)"):
        check_writable(tmp_path / "file" / "sub" / "s.jsonl")
    with pytest.raises(StoreError, match="empty"):
        check_writable("")
    fifo = tmp_path / "fifo.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(StoreError, match="not a regular file"):
        check_writable(fifo)
    with pytest.raises(StoreError, match="not a regular file"):
        read_store(fifo)  # refused at once, never a hang
    ok = tmp_path / "new" / "deeper" / "s.jsonl"
    assert check_writable(ok) == ok and not ok.exists()  # the folder is made, not the store
    assert list(ok.parent.iterdir()) == []  # the probe file is gone
    with pytest.raises(StoreError, match="cannot create the store"):
        check_writable("/proc/no-such-dir/store.jsonl")


def test_read_only_store_refused(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    store = ro / "s.jsonl"
    append(store, _m(1))
    if subprocess.run(["mount", "--bind", str(ro), str(ro)], capture_output=True).returncode:
        pytest.skip("cannot bind-mount read-only here")
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(ro)], check=True)
        with pytest.raises(StoreError, match="not writable"):
            check_writable(store)
        with pytest.raises(StoreError, match="Read-only file system"):
            check_writable(ro / "other.jsonl")
    finally:
        subprocess.run(["umount", "-l", str(ro)], check=False)


def test_claims_one_sweep_per_cell(tmp_path: Path) -> None:
    store = tmp_path / "s.jsonl"
    append(store, _m(1))
    me = Claimant.me("plan-a", ttl_s=60)
    got, refused = claim_cells(store, ["k1", "k2", "k3"], me)
    assert got == ["k2", "k3"] and refused == {"k1": "already stored"}
    # A live claimant elsewhere (our parent process stands in for another sweep).
    other = Claimant(os.getppid(), me.host, me.boot_id, _start(os.getppid()), "plan-b", me.expires)
    got_b, refused_b = claim_cells(store, ["k2", "k4"], other)
    assert got_b == ["k4"] and "being measured by sweep plan-a" in refused_b["k2"]
    release_claims(store, ["k2", "k3"], me)
    assert sorted(p.name for p in claims_dir(store).iterdir()) == ["k4.json"]


def _start(pid: int) -> float:
    import psutil

    return float(psutil.Process(pid).create_time())


def test_dead_claimant_is_taken_over(tmp_path: Path) -> None:
    store = tmp_path / "s.jsonl"
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    dead_start = _start(proc.pid)
    proc.wait()
    me = Claimant.me("plan-a", ttl_s=60)
    dead = Claimant(proc.pid, me.host, me.boot_id, dead_start, "plan-dead", me.expires)
    assert claim_cells(store, ["k9"], dead)[0] == ["k9"]
    assert not dead.alive()
    assert claim_cells(store, ["k9"], me)[0] == ["k9"]  # the crashed sweep's claim is stale
    (claims_dir(store) / "k8.json").write_text("{torn")
    assert claim_cells(store, ["k8"], me)[0] == ["k8"]
    far = Claimant(1, "another-host", "x", 0.0, "plan-far", me.expires)
    assert far.alive()  # another host: trusted until it expires
    assert not Claimant(1, "another-host", "x", 0.0, "plan-far", 0.0).alive()


def test_ctrl_c_waits_until_the_record_is_whole() -> None:
    import signal

    from advisor.measure.store import _signals_deferred

    # Python's own Ctrl-C handler, whatever a native library loaded by an earlier test left.
    outer = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        reached_end = False
        with pytest.raises(KeyboardInterrupt), _signals_deferred():
            signal.raise_signal(signal.SIGINT)  # Ctrl-C between two writes of one record
            reached_end = True  # ...the record still gets written whole
        assert reached_end
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, outer if outer is not None else signal.SIG_DFL)
