"""The TUI's view model: pure functions from a :class:`Recommendation` to what is shown.

Nothing here imports textual, so the rows, the chart data, the Pareto frontier, the
"at equal memory" alternatives and the run commands are tested without a terminal.
"""

from __future__ import annotations

import re
import shlex
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from advisor.errors import AdvisorError
from advisor.evidence import Evidence
from advisor.evidence.metrics import metric_info
from advisor.evidence.model import Estimate
from advisor.memory import DEFAULT_CONTEXT_TOKENS
from advisor.recommender import Candidate, Recommendation
from advisor.recommender.budget import DEVICE_LABELS
from advisor.recommender.ranking import MAX_CONTEXT_TOKENS
from advisor.units import format_bytes, parse_size

RecommendFn = Callable[..., Recommendation]

SORT_KEYS: tuple[str, ...] = (
    "rank", "score", "speed", "memory", "free", "params", "bits", "model",
)  # fmt: skip
GROUPINGS: tuple[str, ...] = ("family", "bits")
CHART_AXES: tuple[str, ...] = ("memory", "speed")
KV_CACHE_TYPES: tuple[str, ...] = ("f16", "q8_0", "q4_0")
BACKEND_CHOICES: tuple[str, ...] = ("any", "gguf", "bnb")
# The memory switch: which memory the budget is, and the recommender's device for it.
MEMORY_SOURCES: dict[str, str] = {"gpu": "cuda", "ram": "cpu", "unified": "apple"}
EVIDENCE_GLYPH = {"measured": "●", "published": "◆", "predicted": "○"}
# advisor.speed says "measured here" where a score says "measured".
SPEED_GLYPH = {"measured here": "●", "measured": "●", "published": "◆", "predicted": "○"}
# Two configs are "at equal memory" when their totals differ by at most this fraction.
EQUAL_MEMORY_TOLERANCE = 0.15
# A budget above this is a typo, not a machine (the CLI refuses it too).
MAX_BUDGET_BYTES = 100 * 10**12
# Speed estimates: for the best-ranked configs (the table shows 100 rows in rank order),
# and for every fitting config when sorting or charting by speed, so those compare all of
# them (estimating all costs about 0.2 s more per ranking).
SPEED_FOR_TOP = 100
SPEED_FOR_ALL = 1_000_000


class QueryError(ValueError):
    """An input the user is still typing that cannot be ranked yet; ``field`` names it."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Query:
    """Everything the inputs say. ``rank_key`` is what changes the ranking itself."""

    budget: str = "24GB"
    device: str = "cuda"  # "cuda" (GPU memory), "cpu" (system RAM), "apple" (unified memory)
    task: str = "mmlu"
    context_tokens: int = DEFAULT_CONTEXT_TOKENS
    kv_cache: str = "f16"
    backend: str = "any"
    family: str | None = None  # family_key, or None for all
    show_excluded: bool = False
    sort: str = "rank"
    sort_reverse: bool = False
    group_by: str = "family"
    chart_axis: str = "memory"  # the chart's x axis: "memory" or "speed"
    detected: bool = False  # the budget is the detected memory, not a typed size
    # With a detected budget: the bundled profile of the detected GPU or Apple chip, so
    # placement and speed are those of this machine, not of a typical card of the size.
    hardware_id: str | None = None

    @property
    def budget_bytes(self) -> int:
        try:
            n_bytes = parse_size(self.budget)
        except AdvisorError as exc:
            raise QueryError(str(exc), "budget") from None
        if n_bytes > MAX_BUDGET_BYTES:
            raise QueryError(
                f"budget {self.budget} is more than 100 TB: type a size such as 24GB", "budget"
            )
        return n_bytes

    @property
    def all_speeds(self) -> bool:
        """Sorting or charting by speed: every fitting config needs its speed."""
        return self.sort == "speed" or self.chart_axis == "speed"

    @property
    def rank_key(self) -> tuple[Any, ...]:
        return (
            self.budget_bytes,
            self.device,
            self.task,
            self.context_tokens,
            self.kv_cache,
            self.backend,
            self.all_speeds,
            self.hardware_id if self.detected else None,
        )

    def with_(self, **changes: Any) -> Query:
        return replace(self, **changes)


def parse_context(text: str) -> int:
    """'4096', '8k', '32K' or '128k' → tokens (k = 1024), 1 to the recommender's limit."""
    match = re.fullmatch(r"\s*(\d+)\s*([kK]?)\s*", text)
    if not match or int(match.group(1)) <= 0:
        raise QueryError(
            f"context must be a positive number of tokens, e.g. 4096 or 8k; got {text!r}",
            "context",
        )
    tokens = int(match.group(1)) * (1024 if match.group(2) else 1)
    if tokens > MAX_CONTEXT_TOKENS:
        raise QueryError(
            f"context must be at most {MAX_CONTEXT_TOKENS:,} tokens, got {text.strip()}",
            "context",
        )
    return tokens


def budget_heading(query: Query) -> str:
    """``Budget 23.54 GiB system RAM (detected)``: the size in the unit it was given, the
    kind of memory once."""
    unit = "GiB" if "i" in query.budget.lower() else "GB"
    mode = "detected" if query.detected else "typed"
    kind = DEVICE_LABELS.get(query.device, query.device)
    return f"Budget {format_bytes(query.budget_bytes, unit)} {kind} ({mode})"


@dataclass
class Ranker:
    """``recommend`` behind a small LRU cache keyed on the ranking inputs."""

    recommend: RecommendFn
    max_entries: int = 32
    speed_top: int = SPEED_FOR_TOP
    last_ms: float = 0.0
    _cache: OrderedDict[tuple[Any, ...], Recommendation] = field(default_factory=OrderedDict)

    def rank(self, query: Query) -> Recommendation:
        key = query.rank_key
        start = time.perf_counter()
        rec = self._cache.get(key)
        if rec is None:
            rec = self.recommend(
                **machine_arguments(query),
                task=query.task,
                context=query.context_tokens,
                kv_cache=query.kv_cache,
                backend=query.backend,
                speed_top=SPEED_FOR_ALL if query.all_speeds else self.speed_top,
            )
            self._cache[key] = rec
            while len(self._cache) > self.max_entries:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        self.last_ms = (time.perf_counter() - start) * 1000
        return rec

    def clear(self) -> None:
        """Forget cached rankings (after new measurements land)."""
        self._cache.clear()


def machine_arguments(query: Query) -> dict[str, Any]:
    """How ``recommend`` is told the budget. Typed: the size and the kind of memory (speeds
    then assume a typical card of that size, and the answer says so). Detected with a
    bundled profile of this GPU or Apple chip: that profile, its memory kept to what is
    detected free (the rest is in use), so placement and speed are this machine's."""
    if query.detected and query.hardware_id is not None:
        from advisor import profiles

        profile = profiles.hardware_profiles().get(query.hardware_id)
        if profile is not None and profile.memory_bytes > 0:
            in_use = max(0.0, 1.0 - query.budget_bytes / profile.memory_bytes)
            return {
                "budget": None,
                "device": None,
                "hardware": query.hardware_id,
                "safety_margin": round(in_use, 6) if in_use > 0 else None,
            }
    return {"budget": query.budget, "device": query.device}


def candidate_key(c: Candidate) -> str:
    """A stable row key: the same config keeps its key across re-rankings."""
    return f"{c.arch.model_id}|{c.format.name}"


def bits_per_weight(c: Candidate) -> float:
    """Whole-model bits/weight, embeddings and head included."""
    return c.footprint.weight_bytes * 8 / c.arch.params_total


def params_label(n: int) -> str:
    return f"{n / 1e9:.1f}B" if n >= 1e9 else f"{n / 1e6:.0f}M"


def gb(n_bytes: float, digits: int = 1) -> str:
    return f"{n_bytes / 1e9:.{digits}f} GB"


def score_text(e: Evidence | Estimate | None) -> str:
    """A score as everywhere: measured ``49.7 ± 2.9 se``, predicted ``73.4 [69.2–76.0]``,
    published the bare figure."""
    if e is None:
        return "—"
    return e.notation()


def decode_rate(c: Candidate) -> float | None:
    """Decode tokens/s at the full context, when the ranking estimated it."""
    speed = c.speed
    return None if speed is None else float(speed.decode.mean)


def speed_text(c: Candidate) -> str:
    """``48 ○``: decode tokens/s and its evidence mark (● measured here ◆ published ○
    predicted); ``-`` without an estimate."""
    speed = c.speed
    if speed is None:
        return "-"
    rate = float(speed.decode.mean)
    number = f"{rate:.0f}" if rate >= 10 else f"{rate:.1f}"
    return f"{number} {SPEED_GLYPH.get(speed.evidence.kind, '?')}"


def where_text(c: Candidate) -> str:
    """Where it runs ("gpu", "cpu", "29/40 layers on GPU"), from the ranking's placement."""
    try:
        where = c.to_dict().get("where")
    except Exception:  # a config the placement code cannot describe still gets a row
        return "-"
    return str(where) if where else "-"


@dataclass(frozen=True)
class Row:
    """One line of the ranked table."""

    key: str
    rank: int | None  # None for configs that do not fit
    candidate: Candidate
    usable_bytes: int = 0  # the ranking's usable budget: "free" is measured against it

    @property
    def fits(self) -> bool:
        return self.rank is not None

    @property
    def free_bytes(self) -> int:
        """Usable budget left once the config is budgeted at its calibrated upper bound."""
        return self.usable_bytes - self.candidate.memory_bytes

    def cells(self) -> tuple[str, ...]:
        c = self.candidate
        best = c.best
        name = c.arch.name
        if len(name) > MODEL_NAME_WIDTH:
            name = name[: MODEL_NAME_WIDTH - 1] + "…"  # the detail pane has it whole
        return (
            "" if self.rank is None else str(self.rank),
            name,
            c.format.name,
            gb(c.memory_bytes),
            "—" if best is None else f"{EVIDENCE_GLYPH.get(best.kind, '?')} {score_text(best)}",
            speed_text(c),
            where_text(c),
            f"{self.free_bytes / 1e9:+.1f}",
            f"{bits_per_weight(c):.2f}",
            params_label(c.arch.params_total),
            "" if best is None else best.kind,
        )


MODEL_NAME_WIDTH = 20
# (header, sort key, width): the columns that decide first come first, so 80 columns show
# them. Fixed widths spare the table from measuring every cell on each re-rank.
COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("#", "rank", 3),
    ("model", "model", MODEL_NAME_WIDTH),
    ("format", "format", 8),
    ("memory", "memory", 7),
    ("score", "score", 18),
    ("tok/s", "speed", 6),
    ("where", "where", 10),
    ("free GB", "free", 7),
    ("bits/w", "bits", 6),
    ("params", "params", 6),
    ("evidence", "evidence", 9),
)


def _score_sort(c: Candidate) -> tuple[int, float]:
    best = c.best
    if best is None:
        return (1, 0.0)
    return (0, -best.value if best.higher_is_better else best.value)


def _speed_sort(c: Candidate) -> tuple[int, float]:
    rate = decode_rate(c)
    return (1, 0.0) if rate is None else (0, -rate)


_SORTERS: dict[str, Callable[[Row], Any]] = {
    "rank": lambda r: (r.rank is None, r.rank or 0, r.candidate.memory_bytes),
    "score": lambda r: _score_sort(r.candidate),
    "speed": lambda r: _speed_sort(r.candidate),
    "memory": lambda r: r.candidate.memory_bytes,
    "free": lambda r: -r.free_bytes,
    "params": lambda r: -r.candidate.arch.params_total,
    "bits": lambda r: -bits_per_weight(r.candidate),
    "model": lambda r: (r.candidate.arch.name.lower(), bits_per_weight(r.candidate)),
    "format": lambda r: r.candidate.format.name,
    "where": lambda r: where_text(r.candidate),
    "evidence": lambda r: (
        r.candidate.best is None,
        "" if r.candidate.best is None else r.candidate.best.kind,
    ),
}


def families(rec: Recommendation) -> list[tuple[str, str]]:
    """(family name, family_key) of every candidate, sorted by name."""
    seen = {c.arch.family_key: c.arch.family for c in (*rec.ranked, *rec.excluded)}
    return sorted(((name, key) for key, name in seen.items()), key=lambda t: t[0].lower())


def _in_family(c: Candidate, family: str | None) -> bool:
    return family is None or c.arch.family_key == family


def rows(rec: Recommendation, query: Query) -> list[Row]:
    """The table: fitting configs ranked, then (on request) the rest, then sorted."""
    usable = rec.usable_bytes
    out = [
        Row(candidate_key(c), i, c, usable)
        for i, c in enumerate(rec.ranked, start=1)
        if _in_family(c, query.family)
    ]
    if query.show_excluded:
        out += [
            Row(candidate_key(c), None, c, usable)
            for c in rec.excluded
            if _in_family(c, query.family)
        ]
    if query.sort != "rank" or query.sort_reverse:
        out.sort(key=_SORTERS[query.sort], reverse=query.sort_reverse)
    return out


# --- the trade-off chart -----------------------------------------------------------


@dataclass(frozen=True)
class ChartPoint:
    key: str
    label: str
    memory_gb: float  # the calibrated upper bound the fit test uses
    score: float
    kind: str  # evidence kind of the config's estimate
    fits: bool
    decode_tok_s: float | None = None  # decode speed at the full context, when estimated


@dataclass(frozen=True)
class ChartSeries:
    name: str
    solid: tuple[ChartPoint, ...]  # measured or published
    predicted: tuple[ChartPoint, ...]


@dataclass(frozen=True)
class ChartData:
    """What the trade-off chart draws, independent of how it draws it: score against
    memory (``axis="memory"``, with the usable budget as a line) or against decode speed
    (``axis="speed"``, only the configs with a speed estimate)."""

    task: str
    metric: str
    higher_is_better: bool
    series: tuple[ChartSeries, ...]
    frontier: tuple[ChartPoint, ...]  # along the x axis, best end last
    budget_gb: float
    usable_gb: float
    selected: ChartPoint | None = None
    axis: str = "memory"
    metric_label: str = ""  # advisor.evidence.metrics' label, e.g. "accuracy %"

    @property
    def points(self) -> tuple[ChartPoint, ...]:
        return tuple(p for s in self.series for p in (*s.solid, *s.predicted))

    def x(self, p: ChartPoint) -> float:
        """The point's x value on this chart's axis (GB or tokens/s)."""
        if self.axis == "speed":
            return p.decode_tok_s or 0.0
        return p.memory_gb


def _series_name(c: Candidate, group_by: str) -> str:
    if group_by == "bits":
        return f"{c.format.nominal_bits}-bit"
    return c.arch.family


def pareto_frontier(
    points: Iterable[ChartPoint], higher_is_better: bool = True, axis: str = "memory"
) -> list[ChartPoint]:
    """Points no other point beats on both the x axis (less memory, or more speed) and
    score (better)."""
    sign = 1.0 if higher_is_better else -1.0
    frontier: list[ChartPoint] = []
    best = float("-inf")
    if axis == "speed":
        ordered = sorted(points, key=lambda p: (-(p.decode_tok_s or 0.0), -sign * p.score))
    else:
        ordered = sorted(points, key=lambda p: (p.memory_gb, -sign * p.score))
    for p in ordered:
        if sign * p.score > best:
            frontier.append(p)
            best = sign * p.score
    return frontier


def chart_data(rec: Recommendation, query: Query, selected: str | None = None) -> ChartData:
    """Score against memory (or decode speed) for every config with evidence, fitting or
    not; on the speed axis, every config with a speed estimate."""
    axis = query.chart_axis if query.chart_axis in CHART_AXES else "memory"
    grouped: dict[str, tuple[list[ChartPoint], list[ChartPoint]]] = {}
    metrics: Counter[str] = Counter()
    all_points: list[ChartPoint] = []
    picked: ChartPoint | None = None
    fitting = {id(c) for c in rec.ranked}
    for c in (*rec.ranked, *rec.excluded):
        best = c.best
        if best is None or not _in_family(c, query.family):
            continue
        rate = decode_rate(c)
        if axis == "speed" and not rate:
            continue
        metrics[best.metric] += 1
        point = ChartPoint(
            candidate_key(c), c.label, c.memory_bytes / 1e9, best.value, best.kind,
            id(c) in fitting, rate,
        )  # fmt: skip
        solid, predicted = grouped.setdefault(_series_name(c, query.group_by), ([], []))
        (predicted if best.kind == "predicted" else solid).append(point)
        all_points.append(point)
        if point.key == selected:
            picked = point
    order = sorted(grouped, key=_series_order(query.group_by))
    series = tuple(ChartSeries(n, tuple(grouped[n][0]), tuple(grouped[n][1])) for n in order)
    metric = metrics.most_common(1)[0][0] if metrics else "acc"
    info = metric_info(metric)
    return ChartData(
        task=rec.task,
        metric=metric,
        higher_is_better=info.higher_is_better,
        series=series,
        frontier=tuple(pareto_frontier(all_points, info.higher_is_better, axis)),
        budget_gb=rec.budget_bytes / 1e9,
        usable_gb=rec.usable_bytes / 1e9,
        selected=picked,
        axis=axis,
        metric_label=info.label,
    )


def _series_order(group_by: str) -> Callable[[str], Any]:
    if group_by == "bits":
        return lambda name: int(name.split("-")[0])
    return str.lower


# --- the detail pane -----------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    label: str
    n_bytes: int
    role: str  # theme role: "weights", "kv", "other", "bound", "free", "margin", "over"


def device_parts(c: Candidate) -> tuple[int, int, int]:
    """(weights, KV + state, everything else) of what the config puts on its device (GPU,
    or all of it on a CPU). llama.cpp keeps some on the host even with every layer on the
    GPU (the token embeddings, the output and host compute buffers): that part is not in
    the device's budget, and is left out here."""
    fp = c.footprint
    if fp.device == "cpu" or not fp.terms:
        kv = fp.kv_bytes + fp.state_bytes
        return fp.weight_bytes, kv, max(0, fp.total_bytes - fp.weight_bytes - kv)
    by_name = {t.name: t.bytes for t in fp.terms}
    weights = by_name.get("weights on the device", by_name.get("weights", fp.weight_bytes))
    kv = sum(
        t.bytes
        for t in fp.terms
        if t.where != "host" and (t.name.startswith("KV") or "state" in t.name)
    )
    return weights, kv, max(0, fp.device_bytes - weights - kv)


def memory_segments(c: Candidate, rec: Recommendation) -> list[Segment]:
    """What the config puts on the budgeted memory — weights / KV cache / other — and the
    calibrated allowance on top (the fit test budgets the upper bound, ``c.memory_bytes``),
    then free and the kept margin, or how far it is over the usable budget; in bytes, for
    a bar."""
    usable = rec.usable_bytes
    needed = c.memory_bytes
    weights, kv, other = device_parts(c)
    segs = [
        Segment("weights", weights, "weights"),
        Segment("KV cache", kv, "kv"),
        Segment("compute + runtime", other, "other"),
        Segment("upper-bound allowance", max(0, needed - (weights + kv + other)), "bound"),
    ]
    if needed <= usable:
        segs.append(Segment("free", usable - needed, "free"))
        segs.append(Segment("kept free or in use", rec.budget_bytes - usable, "margin"))
    else:
        segs.append(Segment("over the usable budget", needed - usable, "over"))
    return segs


@dataclass(frozen=True)
class Alternative:
    """A config at about the same memory, bigger-and-lower-bit or smaller-and-higher-bit."""

    kind: str  # "bigger, lower-bit" or "smaller, higher-bit"
    candidate: Candidate
    score_delta: float | None  # better is positive, whatever the metric


def _better_delta(a: Evidence | Estimate | None, b: Evidence | Estimate | None) -> float | None:
    if a is None or b is None or a.metric != b.metric:
        return None
    return a.value - b.value if a.higher_is_better else b.value - a.value


def alternatives(
    selected: Candidate,
    pool: Sequence[Candidate],
    tolerance: float = EQUAL_MEMORY_TOLERANCE,
) -> list[Alternative]:
    """The best config at equal memory (±``tolerance``) on the other side of the trade-off.

    Among configs with evidence the best-scoring wins; without any, the closest in memory.
    """
    total = selected.memory_bytes
    p0, b0 = selected.arch.params_total, selected.format.nominal_bits
    near = [
        c for c in pool if c is not selected and abs(c.memory_bytes - total) <= tolerance * total
    ]
    out: list[Alternative] = []
    sides: list[tuple[str, Callable[[Candidate], bool]]] = [
        (
            "bigger, lower-bit",
            lambda c: c.arch.params_total > p0 * 1.05 and c.format.nominal_bits < b0,
        ),
        (
            "smaller, higher-bit",
            lambda c: c.arch.params_total < p0 / 1.05 and c.format.nominal_bits > b0,
        ),
    ]
    for kind, side in sides:
        options = [c for c in near if side(c)]
        if not options:
            continue
        scored = [c for c in options if c.best is not None]
        if scored:
            pick = min(scored, key=_score_sort)
        else:
            pick = min(options, key=lambda c: abs(c.memory_bytes - total))
        out.append(Alternative(kind, pick, _better_delta(pick.best, selected.best)))
    return out


def prediction(c: Candidate) -> Evidence | None:
    """The curve's prediction for this config, when the curves have one."""
    return next((e for e in c.evidence if e.kind == "predicted"), None)


def cv_error(e: Evidence) -> float | None:
    """The curve's cross-validated error, under whichever key the curves use."""
    for key in ("cv_error", "cv_rmse", "cv_mae", "rmse_cv", "cv"):
        value = e.detail.get(key)
        if isinstance(value, (int, float)):
            return float(value)
    return None


# --- what to get, and the command to run it -----------------------------------------


def recipe(c: Candidate) -> dict[str, Any]:
    """The ranking's answer to "how do I get and run this": ``get`` (``repo:file``),
    ``artifact``, ``make`` (the steps that make it) and ``run`` (the shell-quoted command
    with the placement flags), as in ``advisor recommend --json``."""
    try:
        data = c.to_dict()
    except Exception:  # a hand-made candidate without placement still shows its memory
        return {"get": None, "artifact": None, "make": None, "run": None, "where": None}
    keys = ("get", "artifact", "make", "run", "where")
    return {k: data.get(k) for k in keys}


def run_command(c: Candidate, rec: Recommendation, local_path: str | None = None) -> str | None:
    """The command that runs this config: with a local GGUF of it, ``llama-server -m FILE``
    with the placement flags; otherwise the ranking's own command (``c.to_dict()["run"]``,
    shell-quoted); None when nobody knows how to get the config."""
    if local_path and c.format.backend == "gguf":
        parts = ["llama-server", "-m", shlex.quote(local_path), "-c", str(rec.context_tokens)]
        return " ".join([*parts, *c.run_flags()])
    run = recipe(c).get("run")
    return str(run) if run else None
