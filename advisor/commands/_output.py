"""Rendering helpers shared by the commands: JSON out, tables that survive a pipe, progress
that suits a log, units, and the options several commands share (--wide, --store).

Output that is not a terminal (``advisor models | cat``, a file, a CI log) is printed at
full width: no path, model id or number is ever cut to fit 80 columns. ``--wide`` asks for
the same in a terminal.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from advisor.errors import AdvisorError
from advisor.units import format_bytes, parse_size

JSON_DOC = "docs/json.md"
# Wider than any table we print: the table's own width decides, nothing is cut.
FULL_WIDTH_COLUMNS = 100_000
# A memory budget above this is a typo (an extra digit, a unit slip), not a machine.
MAX_BUDGET_BYTES = 100 * 10**12

_wide = False


def set_wide(wide: bool) -> None:
    """``--wide``: full-width tables even in a terminal (set once by the CLI)."""
    global _wide
    _wide = bool(wide)


def full_width() -> bool:
    """Print every cell whole: stdout is not a terminal, or ``--wide`` was given."""
    return _wide or not sys.stdout.isatty()


def add_wide_flag(parser: Any) -> None:
    parser.add_argument(
        "--wide",
        action="store_true",
        help="print tables at full width in a terminal too, cutting nothing (always so when "
        "the output is piped or redirected)",
    )


def schema_name(command: str, version: int = 1) -> str:
    """The tag every --json document carries, e.g. ``advisor.recommend/1`` (docs/json.md)."""
    return f"advisor.{command}/{version}"


def print_json(data: Any, command: str | None = None, version: int = 1) -> None:
    """Write one JSON document to stdout. With ``command``, the document is an object that
    starts with ``"schema": "advisor.<command>/<version>"``; a list becomes ``"items"``."""
    if command is not None:
        body = data if isinstance(data, dict) else {"items": data}
        data = {"schema": schema_name(command, version), **body}
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def gb(n_bytes: float, unit: str = "GB") -> str:
    return format_bytes(n_bytes, unit, digits=2)


def params_label(n: int | None) -> str:
    if n is None:
        return "-"
    if n >= 1e9:
        return f"{n / 1e9:.1f}B"
    return f"{n / 1e6:.0f}M"


def console() -> Any:
    """A rich console for stdout: the terminal's width, or unlimited when the output is
    piped or ``--wide`` (rich would otherwise cut cells to $COLUMNS or 80)."""
    from rich.console import Console

    return Console(width=FULL_WIDTH_COLUMNS) if full_width() else Console()


def stderr_console(quiet: bool = False) -> Any:
    """A rich console for progress and log lines on stderr: unlimited width when stderr is
    a file or a pipe, so a log line is never folded at $COLUMNS."""
    from rich.console import Console

    if sys.stderr.isatty():
        return Console(stderr=True, quiet=quiet)
    return Console(stderr=True, quiet=quiet, width=FULL_WIDTH_COLUMNS)


def add_json_flag(parser: Any, command: str | None = None, version: int = 1) -> None:
    schema = f' ("schema": "{schema_name(command, version)}")' if command else ""
    parser.add_argument(
        "--json",
        action="store_true",
        help=f"print one JSON document instead{schema}; its shape is in {JSON_DOC}",
    )


# --- progress: bars in a terminal, periodic plain lines in a log ---------------------


class PlainProgress:
    """The part of :class:`rich.progress.Progress` a sweep uses, as plain lines for a log.

    A line when a task starts, then at most one per ``interval_s`` per task, and one when
    it completes: no bars, no cursor movement, no ETA redrawn into the file.
    """

    def __init__(self, console: Any, interval_s: float = 30.0) -> None:
        self.console = console
        self.interval_s = interval_s
        self._tasks: dict[int, dict[str, Any]] = {}

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def add_task(self, description: str, total: float | None = None, **fields: Any) -> int:
        task_id = len(self._tasks)
        self._tasks[task_id] = {
            "description": description, "total": total, "completed": 0.0, "fields": fields,
            "started": time.monotonic(), "said": float("-inf"), "done": False,
        }  # fmt: skip
        return task_id

    def update(
        self,
        task_id: int,
        *,
        total: float | None = None,
        completed: float | None = None,
        advance: float | None = None,
        **fields: Any,
    ) -> None:
        task = self._tasks[task_id]
        if total is not None:
            task["total"] = total
        if completed is not None:
            task["completed"] = completed
        if advance is not None:
            task["completed"] += advance
        task["fields"].update(fields)
        self._maybe_say(task)

    def advance(self, task_id: int, advance: float = 1) -> None:
        self.update(task_id, advance=advance)

    def _maybe_say(self, task: dict[str, Any]) -> None:
        now = time.monotonic()
        total, done = task["total"], task["completed"]
        finished = total is not None and total > 0 and done >= total
        if task["done"] or (not finished and now - task["said"] < self.interval_s):
            return
        task["said"] = now
        task["done"] = finished
        of = f"/{total:.0f}" if total else ""
        rate = task["fields"].get("rate") or ""
        elapsed = now - task["started"]
        self.console.print(
            f"{task['description']}: {done:.0f}{of}"
            + (f", {rate}" if rate else "")
            + f", {elapsed:.0f} s"
            + (" (done)" if finished else ""),
            markup=False,
            highlight=False,
        )


def progress_display(console: Any, *columns: Any) -> Any:
    """Rich progress bars on a terminal; :class:`PlainProgress` lines otherwise."""
    if console.is_terminal:
        from rich.progress import Progress

        return Progress(*columns, console=console, transient=False)
    return PlainProgress(console)


# --- options several commands share ------------------------------------------------------


def add_store_flag(parser: Any) -> None:
    """``--store PATH``: read this measurement store besides the bundled measurements."""
    parser.add_argument(
        "--store",
        metavar="PATH",
        default=None,
        help="a measurement store (.jsonl, e.g. the one `advisor measure --store PATH` wrote) "
        "to read besides the bundled measurements, instead of your own store (default: "
        "$ADVISOR_STORE, else your user store when it exists)",
    )


def existing_store(raw: str, flag: str = "--store") -> Path:
    """A store named on the command line: ``~`` expanded; it must be an existing regular
    file (a folder or a FIFO would fail or block later)."""
    if not raw.strip():
        raise AdvisorError(f"{flag} is empty: give the path of a .jsonl store")
    path = Path(raw).expanduser()
    if not path.exists():
        raise AdvisorError(f"no such store: {path}")
    if path.is_dir():
        raise AdvisorError(f"the store {path} is a folder, not a .jsonl file")
    if not path.is_file():
        raise AdvisorError(f"the store {path} is not a regular file")
    return path


def use_store(raw: str | None) -> Path | None:
    """Make the evidence layer read this store (besides the bundled measurements) for the
    rest of the process; ``None`` keeps the default stores."""
    if raw is None:
        return None
    path = existing_store(raw)
    from advisor.evidence import reload_measurements

    os.environ["ADVISOR_STORE"] = str(path)
    reload_measurements()
    return path


_COUNTED = re.compile(r"^\s*\d+\s*[xX×]\s*(.+)$")


def check_budget_text(flag: str, text: str | None) -> None:
    """Refuse an empty or absurd memory size before anything is ranked ("2x24GB" is
    checked per GPU). Unreadable text is left to the size parser, which says why."""
    if text is None:
        return
    if not text.strip():
        raise AdvisorError(f"{flag} is empty: give a size such as 24GB or 16GiB")
    counted = _COUNTED.match(text)
    try:
        n_bytes = parse_size(counted.group(1) if counted else text)
    except AdvisorError:
        return
    if n_bytes > MAX_BUDGET_BYTES:
        raise AdvisorError(
            f"{flag} {text}: more than 100 TB is not a machine's memory; give a size such "
            "as 24GB or 16GiB"
        )


def budget_heading(budget: Any, mode: str | None = None) -> str:
    """``23.54 GiB system RAM (detected)``: the budget's own label, its kind said once."""
    from advisor.recommender.budget import DEVICE_LABELS

    label, kind = str(budget.label), str(budget.memory_kind)
    plain = DEVICE_LABELS.get(budget.device, kind)
    if kind in label:
        text = label
    elif plain in label:
        text = label.replace(plain, kind, 1)
    else:
        text = f"{label} of {kind}"
    if mode and f"({mode})" not in text:
        text += f" ({mode})"
    return text


def styled(text: str, style: str = "bold") -> str:
    """ANSI styling when writing to a terminal that wants colour (NO_COLOR respected)."""
    if not sys.stdout.isatty() or os.environ.get("NO_COLOR"):
        return text
    codes = {"bold": "1", "dim": "2", "yellow": "33"}
    return f"\033[{codes[style]}m{text}\033[0m"


def text_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    right: Sequence[bool],
    shrink: int = 1,
) -> str:
    """A plain aligned table. In a terminal it is narrowed to the window by truncating
    column ``shrink``; piped, redirected or ``--wide``, every cell is printed whole.

    `advisor recommend` renders with this rather than rich: importing rich costs more than
    the whole recommendation (see benchmarks/recommend_latency.py).
    """
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    total = sum(widths) + 2 * (len(widths) - 1)
    limit = shutil.get_terminal_size((100, 24)).columns
    if total > limit and not full_width():
        widths[shrink] = max(8, widths[shrink] - (total - limit))

    def cell(text: str, i: int) -> str:
        if len(text) > widths[i]:
            text = text[: widths[i] - 1] + "…"
        return text.rjust(widths[i]) if right[i] else text.ljust(widths[i])

    lines = ["  ".join(cell(h, i) for i, h in enumerate(headers)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend("  ".join(cell(v, i) for i, v in enumerate(r)).rstrip() for r in rows)
    return "\n".join(lines)
