"""The TUI's view model: pure functions from a :class:`Recommendation` to what is shown.

Nothing here imports textual, so the rows, the chart data, the Pareto frontier, the
"at equal memory" alternatives and the run commands are tested without a terminal.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from advisor.errors import AdvisorError
from advisor.evidence import Evidence
from advisor.memory import DEFAULT_CONTEXT_TOKENS
from advisor.recommender import Candidate, Recommendation
from advisor.units import parse_size

RecommendFn = Callable[..., Recommendation]

SORT_KEYS: tuple[str, ...] = ("rank", "score", "memory", "free", "params", "bits", "model")
GROUPINGS: tuple[str, ...] = ("family", "bits")
KV_CACHE_TYPES: tuple[str, ...] = ("f16", "q8_0", "q4_0")
BACKEND_CHOICES: tuple[str, ...] = ("any", "gguf", "bnb")
EVIDENCE_GLYPH = {"measured": "●", "published": "◆", "predicted": "○"}
# Two configs are "at equal memory" when their totals differ by at most this fraction.
EQUAL_MEMORY_TOLERANCE = 0.15


class QueryError(ValueError):
    """An input the user is still typing that cannot be ranked yet; ``field`` names it."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Query:
    """Everything the inputs say. ``rank_key`` is what changes the ranking itself."""

    budget: str = "24GB"
    device: str = "cuda"  # "cuda" (GPU memory) or "cpu" (system RAM)
    task: str = "mmlu"
    context_tokens: int = DEFAULT_CONTEXT_TOKENS
    kv_cache: str = "f16"
    backend: str = "any"
    family: str | None = None  # family_key, or None for all
    show_excluded: bool = False
    sort: str = "rank"
    sort_reverse: bool = False
    group_by: str = "family"

    @property
    def budget_bytes(self) -> int:
        try:
            return parse_size(self.budget)
        except AdvisorError as exc:
            raise QueryError(str(exc), "budget") from None

    @property
    def rank_key(self) -> tuple[Any, ...]:
        return (
            self.budget_bytes,
            self.device,
            self.task,
            self.context_tokens,
            self.kv_cache,
            self.backend,
        )

    def with_(self, **changes: Any) -> Query:
        return replace(self, **changes)


def parse_context(text: str) -> int:
    """'4096', '8k', '32K' or '128k' → tokens (k = 1024)."""
    match = re.fullmatch(r"\s*(\d+)\s*([kK]?)\s*", text)
    if not match or int(match.group(1)) <= 0:
        raise QueryError(
            f"context must be a positive number of tokens, e.g. 4096 or 8k; got {text!r}",
            "context",
        )
    return int(match.group(1)) * (1024 if match.group(2) else 1)


@dataclass
class Ranker:
    """``recommend`` behind a small LRU cache keyed on the ranking inputs."""

    recommend: RecommendFn
    max_entries: int = 32
    last_ms: float = 0.0
    _cache: OrderedDict[tuple[Any, ...], Recommendation] = field(default_factory=OrderedDict)

    def rank(self, query: Query) -> Recommendation:
        key = query.rank_key
        start = time.perf_counter()
        rec = self._cache.get(key)
        if rec is None:
            rec = self.recommend(
                budget=query.budget,
                device=query.device,
                task=query.task,
                context=query.context_tokens,
                kv_cache=query.kv_cache,
                backend=query.backend,
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


def score_text(e: Evidence | None) -> str:
    if e is None:
        return "—"
    value = f"{e.value:.1f}" if e.higher_is_better else f"{e.value:.2f}"
    if e.uncertainty is not None:
        value += f" ±{e.uncertainty:.1f}"
    return value


@dataclass(frozen=True)
class Row:
    """One line of the ranked table."""

    key: str
    rank: int | None  # None for configs that do not fit
    candidate: Candidate

    @property
    def fits(self) -> bool:
        return self.rank is not None

    def cells(self) -> tuple[str, ...]:
        c = self.candidate
        best = c.best
        free = c.headroom_bytes
        name = c.arch.name
        if len(name) > MODEL_NAME_WIDTH:
            name = name[: MODEL_NAME_WIDTH - 1] + "…"
        return (
            "" if self.rank is None else str(self.rank),
            name,
            c.format.name,
            gb(c.footprint.total_bytes),
            score_text(best),
            "" if best is None else f"{EVIDENCE_GLYPH[best.kind]} {best.kind}",
            f"{free / 1e9:+.1f}",
            f"{bits_per_weight(c):.2f}",
            params_label(c.arch.params_total),
        )


MODEL_NAME_WIDTH = 20
# (header, sort key, width): the columns that decide first come first, so 80 columns show
# them. Fixed widths spare the table from measuring every cell on each re-rank.
COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("#", "rank", 4),
    ("model", "model", MODEL_NAME_WIDTH),
    ("format", "format", 9),
    ("memory", "memory", 8),
    ("score", "score", 10),
    ("evidence", "evidence", 11),
    ("free GB", "free", 7),
    ("bits/w", "bits", 6),
    ("params", "params", 6),
)


def _score_sort(c: Candidate) -> tuple[int, float]:
    best = c.best
    if best is None:
        return (1, 0.0)
    return (0, -best.value if best.higher_is_better else best.value)


_SORTERS: dict[str, Callable[[Row], Any]] = {
    "rank": lambda r: (r.rank is None, r.rank or 0, r.candidate.footprint.total_bytes),
    "score": lambda r: _score_sort(r.candidate),
    "memory": lambda r: r.candidate.footprint.total_bytes,
    "free": lambda r: -r.candidate.headroom_bytes,
    "params": lambda r: -r.candidate.arch.params_total,
    "bits": lambda r: -bits_per_weight(r.candidate),
    "model": lambda r: (r.candidate.arch.name.lower(), bits_per_weight(r.candidate)),
    "format": lambda r: r.candidate.format.name,
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
    out = [
        Row(candidate_key(c), i, c)
        for i, c in enumerate(rec.ranked, start=1)
        if _in_family(c, query.family)
    ]
    if query.show_excluded:
        out += [Row(candidate_key(c), None, c) for c in rec.excluded if _in_family(c, query.family)]
    if query.sort != "rank" or query.sort_reverse:
        out.sort(key=_SORTERS[query.sort], reverse=query.sort_reverse)
    return out


# --- the trade-off chart -----------------------------------------------------------


@dataclass(frozen=True)
class ChartPoint:
    key: str
    label: str
    memory_gb: float
    score: float
    kind: str  # evidence kind of the best evidence
    fits: bool


@dataclass(frozen=True)
class ChartSeries:
    name: str
    solid: tuple[ChartPoint, ...]  # measured or published
    predicted: tuple[ChartPoint, ...]


@dataclass(frozen=True)
class ChartData:
    """What the trade-off chart draws, independent of how it draws it."""

    task: str
    metric: str
    higher_is_better: bool
    series: tuple[ChartSeries, ...]
    frontier: tuple[ChartPoint, ...]  # memory ascending
    budget_gb: float
    usable_gb: float
    selected: ChartPoint | None = None

    @property
    def points(self) -> tuple[ChartPoint, ...]:
        return tuple(p for s in self.series for p in (*s.solid, *s.predicted))


def _series_name(c: Candidate, group_by: str) -> str:
    if group_by == "bits":
        return f"{c.format.nominal_bits}-bit"
    return c.arch.family


def pareto_frontier(
    points: Iterable[ChartPoint], higher_is_better: bool = True
) -> list[ChartPoint]:
    """Points no other point beats on both memory (less) and score (better)."""
    sign = 1.0 if higher_is_better else -1.0
    frontier: list[ChartPoint] = []
    best = float("-inf")
    for p in sorted(points, key=lambda p: (p.memory_gb, -sign * p.score)):
        if sign * p.score > best:
            frontier.append(p)
            best = sign * p.score
    return frontier


def chart_data(rec: Recommendation, query: Query, selected: str | None = None) -> ChartData:
    """Score against memory for every config with evidence, fitting or not."""
    grouped: dict[str, tuple[list[ChartPoint], list[ChartPoint]]] = {}
    metric, higher = "score", True
    all_points: list[ChartPoint] = []
    picked: ChartPoint | None = None
    fitting = {id(c) for c in rec.ranked}
    for c in (*rec.ranked, *rec.excluded):
        best = c.best
        if best is None or not _in_family(c, query.family):
            continue
        metric, higher = best.metric, best.higher_is_better
        point = ChartPoint(
            candidate_key(c), c.label, c.footprint.total_bytes / 1e9, best.value, best.kind,
            id(c) in fitting,
        )  # fmt: skip
        solid, predicted = grouped.setdefault(_series_name(c, query.group_by), ([], []))
        (predicted if best.kind == "predicted" else solid).append(point)
        all_points.append(point)
        if point.key == selected:
            picked = point
    order = sorted(grouped, key=_series_order(query.group_by))
    series = tuple(ChartSeries(n, tuple(grouped[n][0]), tuple(grouped[n][1])) for n in order)
    return ChartData(
        task=rec.task,
        metric=metric,
        higher_is_better=higher,
        series=series,
        frontier=tuple(pareto_frontier(all_points, higher)),
        budget_gb=rec.budget_bytes / 1e9,
        usable_gb=rec.usable_bytes / 1e9,
        selected=picked,
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
    role: str  # theme role: "weights", "kv", "other", "free", "margin", "over"


def memory_segments(c: Candidate, rec: Recommendation) -> list[Segment]:
    """Weights / KV cache / other / headroom / safety margin, in bytes, for a bar."""
    fp = c.footprint
    usable = rec.usable_bytes
    segs = [
        Segment("weights", fp.weight_bytes, "weights"),
        Segment("KV cache", fp.kv_bytes, "kv"),
        Segment("compute + runtime", fp.compute_bytes + fp.overhead_bytes, "other"),
    ]
    if fp.total_bytes <= usable:
        segs.append(Segment("free", usable - fp.total_bytes, "free"))
        segs.append(Segment("kept free (margin)", rec.budget_bytes - usable, "margin"))
    else:
        segs.append(Segment("over the usable budget", fp.total_bytes - usable, "over"))
    return segs


@dataclass(frozen=True)
class Alternative:
    """A config at about the same memory, bigger-and-lower-bit or smaller-and-higher-bit."""

    kind: str  # "bigger, lower-bit" or "smaller, higher-bit"
    candidate: Candidate
    score_delta: float | None  # better is positive, whatever the metric


def _better_delta(a: Evidence | None, b: Evidence | None) -> float | None:
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
    total = selected.footprint.total_bytes
    p0, b0 = selected.arch.params_total, selected.format.nominal_bits
    near = [
        c
        for c in pool
        if c is not selected and abs(c.footprint.total_bytes - total) <= tolerance * total
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
            pick = min(options, key=lambda c: abs(c.footprint.total_bytes - total))
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


# --- the command to run it -----------------------------------------------------------


def gguf_filename(c: Candidate) -> str:
    return f"{c.arch.model_id.rsplit('/', 1)[-1]}-{c.format.name}.gguf"


def run_command(c: Candidate, rec: Recommendation, local_path: str | None = None) -> str:
    """The command (llama.cpp) or snippet (transformers) that runs this config."""
    ctx = rec.context_tokens
    if c.format.backend == "gguf":
        parts = ["llama-cli", "-m", local_path or gguf_filename(c), "-c", str(ctx)]
        if rec.device == "cuda":
            parts += ["-ngl", "99"]
        if rec.kv_cache_type != "f16":
            parts += ["-fa", "on", "-ctk", rec.kv_cache_type, "-ctv", rec.kv_cache_type]
        return " ".join(parts)
    repo = local_path or c.arch.model_id
    name = c.format.name.lower()
    lines = ["import torch", "from transformers import AutoModelForCausalLM, AutoTokenizer"]
    device_map = '"auto"' if rec.device == "cuda" else '"cpu"'
    if c.format.backend == "bnb":
        lines[1] += ", BitsAndBytesConfig"
        if name == "int8":
            config = "BitsAndBytesConfig(load_in_8bit=True)"
        else:
            kind = "fp4" if name.startswith("fp4") else "nf4"
            double = "True" if name.endswith("-dq") else "False"
            config = (
                f'BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="{kind}",\n'
                f"    bnb_4bit_use_double_quant={double}, bnb_4bit_compute_dtype=torch.bfloat16)"
            )
        lines += [
            f"quant = {config}",
            f'model = AutoModelForCausalLM.from_pretrained("{repo}",\n'
            f"    quantization_config=quant, device_map={device_map})",
        ]
    elif c.format.backend in {"gptq", "awq"}:
        lines += [
            f"# a pre-quantized {c.format.name} checkpoint of {c.arch.model_id}",
            f'model = AutoModelForCausalLM.from_pretrained("{repo}-{c.format.name}",\n'
            f"    device_map={device_map})",
        ]
    else:
        lines += [
            f'model = AutoModelForCausalLM.from_pretrained("{repo}",\n'
            f"    torch_dtype=torch.bfloat16, device_map={device_map})",
        ]
    lines.append(f'tokenizer = AutoTokenizer.from_pretrained("{c.arch.model_id}")')
    lines.append(f"# budget {ctx} tokens of context (max_new_tokens + prompt)")
    return "\n".join(lines)
