"""Reading the bundled CSV files: one validated row at a time, errors that name the line."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from advisor.errors import ProfileError
from advisor.locations import profiles_dir

__all__ = ["load_rows", "parse_float", "parse_int", "profiles_dir", "read_rows", "required"]

T = TypeVar("T")


def parse_int(value: str, column: str, where: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    try:
        return int(float(value)) if "e" in value.lower() else int(value)
    except ValueError:
        raise ProfileError(
            f"{where}: column {column!r} should be an integer, got {value!r}"
        ) from None


def parse_float(value: str, column: str, where: str) -> float | None:
    value = value.strip()
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        raise ProfileError(
            f"{where}: column {column!r} should be a number, got {value!r}"
        ) from None


def required(value: T | None, column: str, where: str) -> T:
    if value is None or value == "":
        raise ProfileError(f"{where}: column {column!r} is empty")
    return value


def read_rows(path: Path, required_columns: set[str]) -> Iterator[tuple[str, dict[str, str]]]:
    if not path.exists():
        raise ProfileError(f"profile file missing: {path}")
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader, [])
            missing = required_columns - set(header)
            if missing:
                raise ProfileError(f"{path.name}: missing columns {', '.join(sorted(missing))}")
            width = len(header)
            for line_no, values in enumerate(reader, start=2):
                if len(values) != width:
                    raise ProfileError(f"{path.name}:{line_no}: wrong number of fields")
                yield f"{path.name}:{line_no}", dict(zip(header, values, strict=True))
    except UnicodeDecodeError as exc:
        raise ProfileError(f"{path.name}: not UTF-8 text ({exc.reason})") from None
    except csv.Error as exc:
        raise ProfileError(f"{path.name}: malformed CSV ({exc})") from None


def load_rows(path: Path, columns: set[str], parse: Callable[[dict[str, str], str], T]) -> list[T]:
    return [parse(row, where) for where, row in read_rows(path, columns)]
