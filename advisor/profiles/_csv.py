"""Reading the bundled CSV files: one validated row at a time, errors that name the
file, line and column (``architectures.csv:12:7: column 'n_layers' must be at least 1,
got '-30'``).

The helpers here are for every profile parser (architectures, published, hardware, ...):
:func:`parse_int` and :func:`parse_float` refuse what is not a finite number in range,
:func:`check_range` does the same for a value already parsed, and :func:`at` gives the
``file:line:column`` of a column for a message of one's own.
"""

from __future__ import annotations

import csv
import math
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from advisor.errors import ProfileError
from advisor.locations import profiles_dir

__all__ = [
    "MAX_PROFILE_BYTES",
    "Where",
    "at",
    "check_range",
    "load_rows",
    "parse_float",
    "parse_int",
    "profiles_dir",
    "read_rows",
    "required",
]

T = TypeVar("T")
N = TypeVar("N", int, float)

# A profile file is read whole into rows: a user folder (ADVISOR_PROFILES) must not make
# that unbounded. The bundled published.csv is ~6 MB.
MAX_PROFILE_BYTES = 256 * 2**20
_MAX_NUMBER_CHARS = 64  # int("9" * 5000) is slow; no real figure needs more digits


class Where(str):
    """``file:line`` of one row, which also knows the header, so a message can give the
    column's number as well. It is a plain string to everything else."""

    columns: tuple[str, ...]

    def __new__(cls, text: str, columns: tuple[str, ...] = ()) -> Where:
        obj = super().__new__(cls, text)
        obj.columns = columns
        return obj

    def at(self, column: str) -> str:
        if column in self.columns:
            return f"{self}:{self.columns.index(column) + 1}"
        return str(self)


def at(where: str, column: str) -> str:
    """``file:line:column`` when ``where`` came from :func:`read_rows`, else ``where``."""
    return where.at(column) if isinstance(where, Where) else where


def _bad(where: str, column: str, what: str, value: object) -> ProfileError:
    shown = value if isinstance(value, str) else repr(value)
    if isinstance(shown, str) and len(shown) > 40:
        shown = shown[:37] + "..."
    return ProfileError(f"{at(where, column)}: column {column!r} {what}, got {shown!r}")


def check_range(
    value: N,
    column: str,
    where: str,
    minimum: float | None = None,
    maximum: float | None = None,
) -> N:
    """``value`` if it is finite and within [minimum, maximum], else a ProfileError."""
    if isinstance(value, float) and not math.isfinite(value):
        raise _bad(where, column, "must be a finite number", str(value))
    if minimum is not None and value < minimum:
        raise _bad(where, column, f"must be at least {minimum:g}", str(value))
    if maximum is not None and value > maximum:
        raise _bad(where, column, f"must be at most {maximum:g}", str(value))
    return value


def parse_int(
    value: str,
    column: str,
    where: str,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int | None:
    """An integer cell (``1e12`` allowed when it is a whole number); None when empty."""
    text = value.strip()
    if not text:
        return None
    if len(text) > _MAX_NUMBER_CHARS:
        raise _bad(where, column, "should be an integer", text)
    try:
        if "e" in text.lower() or "." in text:
            number = float(text)
            if not math.isfinite(number) or not number.is_integer():
                raise ValueError(text)
            parsed = int(number)
        else:
            parsed = int(text)
    except ValueError:
        raise _bad(where, column, "should be an integer", text) from None
    return check_range(parsed, column, where, minimum, maximum)


def parse_float(
    value: str,
    column: str,
    where: str,
    minimum: float | None = None,
    maximum: float | None = None,
) -> float | None:
    """A finite number (no nan, inf, or 1e400); None when empty."""
    text = value.strip()
    if not text:
        return None
    if len(text) > _MAX_NUMBER_CHARS:
        raise _bad(where, column, "should be a number", text)
    try:
        parsed = float(text)
    except ValueError:
        raise _bad(where, column, "should be a number", text) from None
    if not math.isfinite(parsed):
        raise _bad(where, column, "must be a finite number", text)
    return check_range(parsed, column, where, minimum, maximum)


def required(value: T | None, column: str, where: str) -> T:
    if value is None or value == "":
        raise ProfileError(f"{at(where, column)}: column {column!r} is empty")
    return value


def _check_file(path: Path) -> None:
    """A regular file of sane size, checked before opening (a FIFO would block)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ProfileError(f"profile file missing: {path}") from None
    except OSError as exc:
        raise ProfileError(f"cannot read profile file {path} ({exc.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise ProfileError(f"profile file {path} is not a regular file")
    if st.st_size > MAX_PROFILE_BYTES:
        raise ProfileError(
            f"profile file {path} is {st.st_size} bytes (at most {MAX_PROFILE_BYTES})"
        )


def read_rows(path: Path, required_columns: set[str]) -> Iterator[tuple[str, dict[str, str]]]:
    _check_file(path)
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader, [])
            missing = required_columns - set(header)
            if missing:
                raise ProfileError(f"{path.name}: missing columns {', '.join(sorted(missing))}")
            if len(set(header)) != len(header):
                raise ProfileError(f"{path.name}: a column name appears twice in the header")
            width = len(header)
            columns = tuple(header)
            for line_no, values in enumerate(reader, start=2):
                if len(values) != width:
                    raise ProfileError(
                        f"{path.name}:{line_no}: wrong number of fields "
                        f"({len(values)}, the header has {width})"
                    )
                yield (
                    Where(f"{path.name}:{line_no}", columns),
                    dict(zip(header, values, strict=True)),
                )
    except UnicodeDecodeError as exc:
        raise ProfileError(f"{path.name}: not UTF-8 text ({exc.reason})") from None
    except csv.Error as exc:
        raise ProfileError(f"{path.name}: malformed CSV ({exc})") from None
    except OSError as exc:
        raise ProfileError(f"cannot read profile file {path} ({exc.strerror})") from None


def load_rows(path: Path, columns: set[str], parse: Callable[[dict[str, str], str], T]) -> list[T]:
    return [parse(row, where) for where, row in read_rows(path, columns)]
