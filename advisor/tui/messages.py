"""Messages the TUI's widgets and workers post: small dataclasses, one per event.

Textual's ``Message.__post_init__`` initialises a dataclass message, so none of them
needs an ``__init__``.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from advisor.recommender import Candidate, Recommendation
from advisor.tui.model import Query


@dataclass
class QueryChanged(Message):
    """An input changed; ``query`` is what all the inputs now say."""

    query: Query


@dataclass
class QueryInvalid(Message):
    """An input cannot be read yet (a half-typed budget); nothing is re-ranked."""

    reason: str


@dataclass
class Ranked(Message):
    """A ranking worker finished: ``rec`` answers ``query``, computed in ``rank_ms``."""

    query: Query
    rec: Recommendation
    rank_ms: float


@dataclass
class ConfigSelected(Message):
    """The table's cursor moved onto a config (``None`` when the table is empty)."""

    candidate: Candidate | None


@dataclass
class MeasureProgress(Message):
    """A measurement advanced: ``done`` of ``total`` steps; ``text`` says what it is doing."""

    done: float
    total: float | None
    text: str


@dataclass
class MeasureFinished(Message):
    """A measurement ended: ``status`` is "ok", "cancelled" or "failed"."""

    label: str
    status: str
    text: str
