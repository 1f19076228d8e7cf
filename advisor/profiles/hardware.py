"""Hardware: the bundled device profiles (``profiles/hardware.csv``) and what this machine
has (:mod:`advisor.profiles.detect`)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from advisor.errors import ProfileError
from advisor.profiles._csv import load_rows, parse_float, parse_int, profiles_dir, required


@dataclass(frozen=True)
class HardwareProfile:
    id: str
    name: str
    kind: str  # "gpu", "unified", "cpu"
    memory_bytes: int
    memory_label: str
    bandwidth_gb_s: float | None
    source: str


_HARDWARE_COLUMNS = {
    "id",
    "name",
    "kind",
    "memory_bytes",
    "memory_label",
    "bandwidth_gb_s",
    "source",
}


def _parse_hardware(row: dict[str, str], where: str) -> HardwareProfile:
    kind = row["kind"].strip()
    if kind not in {"gpu", "unified", "cpu"}:
        raise ProfileError(f"{where}: kind must be gpu, unified or cpu, got {kind!r}")
    return HardwareProfile(
        id=row["id"],
        name=row["name"],
        kind=kind,
        memory_bytes=required(
            parse_int(row["memory_bytes"], "memory_bytes", where), "memory_bytes", where
        ),
        memory_label=row["memory_label"],
        bandwidth_gb_s=parse_float(row["bandwidth_gb_s"], "bandwidth_gb_s", where),
        source=row["source"],
    )


@cache
def hardware_profiles() -> dict[str, HardwareProfile]:
    rows = load_rows(profiles_dir() / "hardware.csv", _HARDWARE_COLUMNS, _parse_hardware)
    return {h.id: h for h in rows}
