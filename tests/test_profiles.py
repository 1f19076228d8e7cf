"""The bundled data: validated on load, every published row carried with its source."""

from __future__ import annotations

import csv

import pytest

from advisor import profiles
from tests.conftest import REPO, SHARED

REQUIRED_FAMILIES = {
    "llama2", "llama3", "llama3.1", "llama3.2", "qwen2", "qwen2.5", "qwen3", "qwen3-moe",
    "mistral", "mixtral", "gemma2", "gemma3", "phi3", "phi4", "smollm2", "opt", "bloom", "falcon",
}  # fmt: skip


def test_architectures_cover_the_families() -> None:
    keys = {a.family_key for a in profiles.architectures().values()}
    assert keys >= REQUIRED_FAMILIES, REQUIRED_FAMILIES - keys
    for arch in profiles.architectures().values():
        assert arch.source
        assert arch.body_params > 0


def test_every_published_row_keeps_its_source() -> None:
    points = profiles.published()
    assert len({p.id for p in points}) == len(points)
    assert all(p.source and p.file for p in points)
    manifest = list(csv.DictReader((REPO / "profiles" / "published_manifest.csv").open()))
    by_file: dict[str, int] = {}
    for p in points:
        by_file[p.file] = by_file.get(p.file, 0) + 1
    for row in manifest:
        assert by_file.get(row["file"], 0) == int(row["output_rows"]), row
        if row["output_rows"] == "0":  # a lookup table, not per-model figures
            assert row["carried_in"] and row["carried_in"] != "published.csv", row


@pytest.mark.skipif(not (SHARED / "published").is_dir(), reason="../shared not beside the checkout")
def test_every_shared_published_file_is_carried() -> None:
    manifest = {
        r["file"]: r for r in csv.DictReader((REPO / "profiles" / "published_manifest.csv").open())
    }
    for path in sorted((SHARED / "published").glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as fh:
            n_rows = sum(1 for _ in csv.DictReader(fh))
        assert int(manifest[path.name]["input_rows"]) == n_rows, path.name


def test_hardware_profiles() -> None:
    hw = profiles.hardware_profiles()
    assert hw["rtx-4090-24gb"].memory_bytes == 24 * 2**30
    assert {h.kind for h in hw.values()} == {"gpu", "unified", "cpu"}
    assert all(h.source for h in hw.values())


def test_find_architecture_by_short_name() -> None:
    assert profiles.find_architecture("llama-3.1-8b").model_id == "meta-llama/Llama-3.1-8B"


# -- exact and comparable evidence (issue 10, items 1 and 2) ---------------------------------

# Files whose model column names an artifact or a run, matched through another column.
_MATCHED_ELSEWHERE = {"speed_runs_localmaxxing.csv", "llamacpp_speed_bench.csv"}


def test_published_rows_map_only_to_their_exact_variant() -> None:
    archs = profiles.architectures()
    for p in profiles.published():
        if not p.arch_id:
            continue
        arch = archs[p.arch_id]
        assert p.variant == arch.variant, (p.id, p.variant, arch.variant)
        if "/" in p.model_id and p.file not in _MATCHED_ELSEWHERE:
            assert p.model_id.lower() == p.arch_id.lower(), (p.id, p.model_id, p.arch_id)


@pytest.mark.parametrize(
    ("arch_id", "foreign"),
    [
        ("Qwen/Qwen2.5-32B", "Qwen/Qwen2.5-32B-Instruct"),
        ("mistralai/Mistral-Small-24B-Base-2501", "mistralai/Mistral-Small-24B-Instruct-2501"),
        ("google/gemma-3-27b-it", "google/gemma-3-27b-pt"),
        ("microsoft/Phi-3-mini-4k-instruct", "microsoft/Phi-3-mini-128k-instruct"),
        ("meta-llama/Llama-3.1-8B", "meta-llama/Llama-3.1-8B-Instruct"),
    ],
)
def test_no_score_is_borrowed_from_a_sibling(arch_id: str, foreign: str) -> None:
    """The four borrowings the trust issue found (and one more): each sibling now has its own
    row and keeps its own scores."""
    archs = profiles.architectures()
    assert foreign in archs, f"{foreign} needs its own catalogue row"
    mine = [p for p in profiles.published() if p.arch_id == arch_id]
    theirs = [p for p in profiles.published() if p.arch_id == foreign]
    assert mine and theirs
    assert all(p.model_id.split("/")[-1].lower() != foreign.split("/")[-1].lower() for p in mine)


def test_every_score_says_who_ran_it_and_how() -> None:
    for p in profiles.published():
        assert p.evaluator and p.harness and p.prompt_style, p.id
    scores = [p for p in profiles.published() if p.unit == "percent" and p.task != "file_size"]
    styles = {p.prompt_style for p in scores}
    assert {"base few-shot", "chat", "CoT", "thinking"} <= styles
    measured = [p for p in scores if p.task not in {"speed", "memory", "wikitext2"}]
    assert all(p.prompt_style != "n/a" for p in measured)


def test_provenance_outside_the_vocabulary_is_a_clear_error() -> None:
    with (REPO / "profiles" / "published.csv").open(newline="", encoding="utf-8") as fh:
        row = next(csv.DictReader(fh))
    profiles.parse_published_row("published.csv:2", row)  # the real row parses
    for column in ("prompt_style", "calibration"):
        bad = dict(row, **{column: "vibes"})
        with pytest.raises(profiles.ProfileError, match=f"published.csv:2: column '{column}'"):
            profiles.parse_published_row("published.csv:2", bad)


def test_open_llm_leaderboard_v2_is_one_harness_for_all() -> None:
    oll = [p for p in profiles.published() if p.file == "open_llm_leaderboard_v2.csv"]
    assert {p.harness for p in oll} == {"lm-eval (Open LLM Leaderboard v2 fork)"}
    tasks = {p.task for p in oll}
    assert tasks == {"ifeval", "bbh", "math_lvl5", "gpqa", "musr", "mmlu_pro", "open_llm_v2_avg"}
    by = {(p.arch_id, p.task): p for p in oll if p.arch_id}
    # IFEval raw = normalised (no chance); GPQA raw = 0.25 + 0.75 * normalised
    assert by[("Qwen/Qwen2.5-72B-Instruct", "ifeval")].value == pytest.approx(86.38)
    assert by[("Qwen/Qwen2.5-72B-Instruct", "gpqa")].value == pytest.approx(37.50)
    assert by[("Qwen/Qwen2.5-72B-Instruct", "bbh")].metric == "acc_norm_chance"
    mapped = {p.arch_id for p in oll if p.arch_id}
    assert len(mapped) >= 60


def test_real_gguf_accuracy_rows_record_how_the_file_was_made() -> None:
    rows = [p for p in profiles.published() if p.file == "autoround_gguf_mxfp_accuracy.csv"]
    gguf = [p for p in rows if p.method == "gguf"]
    assert {p.format for p in gguf} >= {"Q2_K_S", "Q3_K_S", "Q3_K_M", "Q4_K_S", "Q4_K_M"}
    assert {p.calibration for p in gguf} == {"", "optimized-scales", "autoround"}
    assert all(p.quant_tool in {"llama.cpp", "auto-round"} for p in gguf)
    llama = [p for p in gguf if p.arch_id == "meta-llama/Llama-3.1-8B" and p.task == "mmlu"]
    assert llama and all(0 < p.value < 100 for p in llama)
    assert any(p.method == "mxfp4" for p in rows)
    kld = [p for p in profiles.published() if p.file == "llamacpp_llama3_8b_ppl_kld.csv"]
    assert {p.calibration for p in kld if p.method == "gguf"} == {"none", "imatrix"}


def test_gpt_oss_scores_are_for_its_mxfp4_checkpoint() -> None:
    for arch_id in ("openai/gpt-oss-20b", "openai/gpt-oss-120b"):
        scores = [p for p in profiles.published() if p.arch_id == arch_id and p.unit == "percent"]
        scores = [p for p in scores if p.task != "speed"]
        assert scores, arch_id
        assert {p.format for p in scores} == {"MXFP4"}, arch_id
        assert profiles.architectures()[arch_id].shipped_format == "MXFP4"


def test_qwen3_base_and_post_trained_scores_stay_apart() -> None:
    base = {p.task for p in profiles.published() if p.arch_id == "Qwen/Qwen3-8B-Base"}
    chat = [p for p in profiles.published() if p.arch_id == "Qwen/Qwen3-8B"]
    assert "mmlu" in base
    assert {p.prompt_style for p in chat if p.unit == "percent"} >= {"thinking", "chat"}
    assert profiles.architectures()["Qwen/Qwen3-8B"].base_model_id == "Qwen/Qwen3-8B-Base"


def test_every_published_score_task_has_a_definition() -> None:
    from advisor.measure.tasks import task_catalog

    tasks = {p.task for p in profiles.published() if p.unit in profiles.SCORE_UNITS}
    assert tasks <= set(task_catalog()), sorted(tasks - set(task_catalog()))


# -- the formats today's models ship in (issue 12, item 2) -----------------------------------


def test_formats_today_s_models_ship_in() -> None:
    from advisor.profiles.formats import get_format

    mxfp4 = get_format("MXFP4")  # gpt-oss as GGUF: experts MXFP4, the rest Q8_0
    assert (mxfp4.backend, mxfp4.method) == ("gguf", "mxfp4")
    assert mxfp4.expert_bpw == 4.25 and mxfp4.body_bpw == 8.5
    assert get_format("MXFP4_MOE") == mxfp4  # llama-quantize's spelling
    shipped = get_format("mxfp4")  # the openai checkpoint: experts MXFP4, the rest BF16
    assert (shipped.backend, shipped.expert_bpw, shipped.body_bpw) == ("vllm", 4.25, 16.0)
    assert get_format("NVFP4").body_bpw == 4.5  # E2M1 + one E4M3 scale per 16
    fp8 = {n: get_format(n) for n in ("FP8", "FP8-channel", "FP8-tensor")}
    assert {f.method for f in fp8.values()} == {"fp8"}
    assert {f.backend for f in fp8.values()} == {"vllm"}
    assert fp8["FP8"].body_bpw == 8 + 32 / (128 * 128)  # Qwen3-*-FP8 block 128x128
    assert all(f.embed_bpw == 16 for f in fp8.values())
    assert all(f.source for f in fp8.values())
