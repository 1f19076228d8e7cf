"""Artifacts: what to download for a pick, how to make it where nobody published it, the
command that runs it, and the Hub's word on its exact size (recorded responses, real client)."""

from __future__ import annotations

import dataclasses
import json
import shlex
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from advisor.errors import ProfileError
from advisor.profiles import architectures
from advisor.profiles.artifacts import (
    Artifact,
    ArtifactError,
    artifacts,
    artifacts_for,
    confirm,
    make_command,
    run_command,
)

HUB_DATA = Path(__file__).parent / "data" / "hub"


def _artifact(model_id: str, fmt: str, repo: str) -> Artifact:
    found = [a for a in artifacts_for(model_id, fmt) if a.repo == repo]
    assert found, f"{repo} is not a bundled {fmt} artifact of {model_id}"
    return found[0]


# -- the bundled table ----------------------------------------------------------------------


def test_every_group_is_ranked_official_first() -> None:
    groups: dict[tuple[str, str], list[Artifact]] = {}
    for art in artifacts():
        groups.setdefault((art.model_id, art.format), []).append(art)
        assert art.source, art
    assert len(groups) > 500
    for key, found in groups.items():
        assert sorted(a.rank for a in found) == list(range(len(found))), key
        ranked = sorted(found, key=lambda a: a.rank)
        officials = [a.official for a in ranked]
        assert officials == sorted(officials, reverse=True), key  # official ones first


def test_todays_models_name_what_to_download() -> None:
    gpt = artifacts_for("openai/gpt-oss-20b", "MXFP4")[0]
    assert (gpt.repo, gpt.file, gpt.size_bytes) == (
        "ggml-org/gpt-oss-20b-GGUF",
        "gpt-oss-20b-mxfp4.gguf",
        12_109_566_624,
    )
    shipped = artifacts_for("openai/gpt-oss-20b", "mxfp4")[0]
    assert (shipped.repo, shipped.official, shipped.runtime) == ("openai/gpt-oss-20b", True, "vllm")
    qwen = artifacts_for("Qwen/Qwen3-8B", "Q4_K_M")[0]
    assert qwen.official and qwen.repo == "Qwen/Qwen3-8B-GGUF"
    assert artifacts_for("Qwen/Qwen3-8B", "FP8")[0].repo == "Qwen/Qwen3-8B-FP8"
    assert (
        artifacts_for("Qwen/Qwen2.5-7B-Instruct", "AWQ")[0].repo == "Qwen/Qwen2.5-7B-Instruct-AWQ"
    )
    qat = artifacts_for("google/gemma-3-27b-it", "Q4_0")[0]
    assert (qat.repo, qat.weights, qat.official) == (
        "google/gemma-3-27b-it-qat-q4_0-gguf",
        "qat",
        True,
    )
    phi = artifacts_for("microsoft/phi-4", "Q4_K_S")[0]
    assert phi.repo == "microsoft/phi-4-gguf"
    # bartowski's files carry their importance-matrix flag
    assert artifacts_for("meta-llama/Llama-3.3-70B-Instruct", "Q4_K_M")[0].imatrix == "yes"
    # the model's own repository is its 16-bit checkpoint
    own = artifacts_for("meta-llama/Llama-2-7b-hf", "bf16")
    assert [a.repo for a in own] == ["meta-llama/Llama-2-7b-hf"]
    assert artifacts_for("meta-llama/Llama-2-7b-hf", "Q4_K_M") == []


def test_a_bad_row_names_its_line() -> None:
    from advisor.profiles.artifacts import _parse_artifact

    good = {
        "model_id": "Qwen/Qwen3-8B", "format": "Q4_K_M", "rank": "0", "repo": "Qwen/Qwen3-8B-GGUF",
        "file": "Qwen3-8B-Q4_K_M.gguf", "size_bytes": "5027783488", "size_source": "s",
        "size_approx_bytes": "", "size_approx_source": "", "official": "true", "maker": "Qwen",
        "imatrix": "unknown", "weights": "", "runtime": "llama.cpp", "source": "s", "notes": "",
        "sha256": "", "evidence_date": "",
    }  # fmt: skip
    assert _parse_artifact(good, "artifacts.csv:2").size_bytes == 5027783488
    for column, value, needle in [
        ("repo", "../../etc", "repo must be owner/name"),
        ("file", "../escape.gguf", "inside the repository"),
        ("file", "model.safetensors", "needs a .gguf file"),
        ("format", "Q9_Z", "unknown format"),
        ("size_bytes", "-5", "must be positive"),
        ("runtime", "ollama", "'runtime' must be one of"),
        ("official", "yes", "'official' must be one of"),
    ]:
        with pytest.raises(ProfileError, match=f"artifacts.csv:2: .*{needle}"):
            _parse_artifact(dict(good, **{column: value}), "artifacts.csv:2")


# -- commands ---------------------------------------------------------------------------------


def test_run_commands_use_the_real_artifact_and_the_placement() -> None:
    gpt = artifacts_for("openai/gpt-oss-20b", "MXFP4")[0]
    assert run_command(gpt, 32768, ("-ngl", "99", "--n-cpu-moe", "4")) == (
        "llama-server -hf ggml-org/gpt-oss-20b-GGUF:MXFP4 -c 32768 -ngl 99 --n-cpu-moe 4"
    )
    fp8 = artifacts_for("Qwen/Qwen3-8B", "FP8")[0]
    assert run_command(fp8, 16384, ("--tensor-parallel-size", "2")) == (
        "vllm serve Qwen/Qwen3-8B-FP8 --max-model-len 16384 --tensor-parallel-size 2"
    )


def test_every_name_in_a_command_is_shell_quoted() -> None:
    base = artifacts_for("Qwen/Qwen3-8B", "Q4_K_M")[0]
    odd = dataclasses.replace(base, repo="evil/x; rm -rf ~", file="a b.gguf")
    flags = ("--tensor-split", "3,1 $(reboot)")
    argv = shlex.split(run_command(odd, 4096, flags))
    assert argv == ["llama-server", "-hf", "evil/x; rm -rf ~:Q4_K_M", "-c", "4096", *flags]
    vllm = dataclasses.replace(odd, runtime="vllm", format="FP8", file="")
    assert shlex.split(run_command(vllm, 4096))[2] == "evil/x; rm -rf ~"


def test_make_command_where_nobody_published_the_file() -> None:
    recipe = make_command("meta-llama/Llama-2-7b-hf", "Q4_K_M")
    assert recipe.kind == "llama-quantize"
    assert recipe.steps == (
        "hf download meta-llama/Llama-2-7b-hf --local-dir Llama-2-7b-hf",
        "python convert_hf_to_gguf.py Llama-2-7b-hf --outtype bf16 --outfile "
        "Llama-2-7b-hf-BF16.gguf",
        "llama-quantize Llama-2-7b-hf-BF16.gguf Llama-2-7b-hf-Q4_K_M.gguf Q4_K_M",
    )
    assert run_command(recipe, 4096, ("-ngl", "33")) == (
        "llama-server -m Llama-2-7b-hf-Q4_K_M.gguf -c 4096 -ngl 33"
    )
    low = make_command("Qwen/Qwen3-8B", "IQ2_M")
    assert any(s.startswith("llama-imatrix ") for s in low.steps)
    assert "--imatrix imatrix.dat" in low.steps[-1]
    bnb = make_command("microsoft/phi-4", "nf4-dq")
    assert bnb.kind == "load-time bitsandbytes" and bnb.runtime == "transformers"
    code = shlex.split(run_command(bnb, 4096))
    assert code[:2] == ["python", "-c"]
    assert 'bnb_4bit_quant_type="nf4"' in code[2] and "bnb_4bit_use_double_quant=True" in code[2]
    compile(code[2], "<snippet>", "exec")  # the snippet is valid Python
    assert make_command("meta-llama/Llama-2-7b-hf", "FP8").kind == "load-time fp8"
    none = make_command("meta-llama/Llama-2-7b-hf", "GPTQ-Int4")
    assert none.kind == "none" and none.command == "" and "llm-compressor" in none.note
    with pytest.raises(ArtifactError, match="nothing to run"):
        run_command(none, 4096)


def test_bad_arguments_are_clear() -> None:
    art = artifacts()[0]
    with pytest.raises(ValueError, match="context_tokens must be at least 1"):
        run_command(art, 0)
    with pytest.raises(TypeError, match="context_tokens must be an int"):
        run_command(art, "8192")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="sequence of strings"):
        run_command(art, 8192, "-ngl 99")
    with pytest.raises(TypeError, match="must hold strings"):
        run_command(art, 8192, ("-ngl", 99))  # type: ignore[arg-type]
    with pytest.raises(ArtifactError, match="unknown format 'Q9_Z'"):
        artifacts_for("Qwen/Qwen3-8B", "Q9_Z")
    with pytest.raises(ArtifactError, match="unknown model"):
        make_command("no-such-model", "Q4_K_M")
    with pytest.raises(TypeError, match="arch must be"):
        artifacts_for(42, "Q4_K_M")  # type: ignore[arg-type]


# -- the Hub, through its real client with recorded responses ----------------------------------


@pytest.fixture
def recorded_hub() -> Iterator[list[str]]:
    """huggingface_hub's own client, its HTTP transport answering from tests/data/hub."""
    httpx = pytest.importorskip("httpx2")
    import huggingface_hub

    bodies = {
        "/api/models/Qwen/Qwen2.5-3B-Instruct-GGUF": (
            "model_info_blobs__Qwen__Qwen2.5-3B-Instruct-GGUF"
        ),
        "/api/models/ggml-org/gpt-oss-20b-GGUF": "model_info_blobs__ggml-org__gpt-oss-20b-GGUF",
        "/api/models/Qwen/Qwen2.5-1.5B-Instruct-GGUF/tree/main": (
            "tree__Qwen__Qwen2.5-1.5B-Instruct-GGUF__main"
        ),
        "/api/models/bartowski/Llama-3.2-3B-Instruct-GGUF/tree/main": (
            "tree__bartowski__Llama-3.2-3B-Instruct-GGUF__main"
        ),
    }  # fmt: skip
    seen: list[str] = []

    def handler(request: object) -> object:
        path = request.url.path  # type: ignore[attr-defined]
        seen.append(path)
        name = bodies.get(path)
        if name is None:
            return httpx.Response(404, json={"error": "Repository not found"})
        body = json.loads((HUB_DATA / f"{name}.json").read_text(encoding="utf-8"))
        return httpx.Response(200, json=body)

    factory: Callable[[], object] = lambda: httpx.Client(transport=httpx.MockTransport(handler))  # noqa: E731
    huggingface_hub.set_client_factory(factory)  # type: ignore[arg-type]
    huggingface_hub.close_session()
    try:
        yield seen
    finally:
        huggingface_hub.set_client_factory(huggingface_hub.utils._http.default_client_factory)
        huggingface_hub.close_session()


def test_confirm_reads_exact_sizes_from_model_info(recorded_hub: list[str]) -> None:
    gpt = artifacts_for("openai/gpt-oss-20b", "MXFP4")[0]
    checked = confirm(gpt)
    assert checked.size_bytes == 12_109_566_624 and checked.confirmed_online
    assert "model_info(files_metadata=True)" in checked.size_source
    qwen = artifacts_for("Qwen/Qwen2.5-3B-Instruct", "Q5_K_M")
    art = next(a for a in qwen if a.repo == "Qwen/Qwen2.5-3B-Instruct-GGUF")
    assert confirm(art).size_bytes == 2_438_740_384
    assert "/api/models/ggml-org/gpt-oss-20b-GGUF" in recorded_hub


def test_confirm_reads_exact_sizes_from_the_tree(recorded_hub: list[str]) -> None:
    llama = _artifact(
        "meta-llama/Llama-3.2-3B-Instruct", "Q6_K", "bartowski/Llama-3.2-3B-Instruct-GGUF"
    )
    estimate = dataclasses.replace(llama, size_bytes=None)
    assert confirm(estimate, via="tree").size_bytes == 2_643_853_856
    qwen = _artifact("Qwen/Qwen2.5-1.5B-Instruct", "Q8_0", "Qwen/Qwen2.5-1.5B-Instruct-GGUF")
    upper = dataclasses.replace(qwen, file=qwen.file.upper())  # catalogs disagree on case
    checked = confirm(upper, via="tree")
    assert (checked.file, checked.size_bytes) == ("qwen2.5-1.5b-instruct-q8_0.gguf", 1_894_532_128)


def test_confirm_says_in_one_line_what_the_hub_contradicts(recorded_hub: list[str]) -> None:
    gpt = artifacts_for("openai/gpt-oss-20b", "MXFP4")[0]
    with pytest.raises(ArtifactError, match=r"has no gpt-oss-20b-q9\.gguf") as missing:
        confirm(dataclasses.replace(gpt, file="gpt-oss-20b-q9.gguf"))
    assert "\n" not in str(missing.value)
    with pytest.raises(ArtifactError, match="could not confirm nobody/nothing-GGUF") as gone:
        confirm(dataclasses.replace(gpt, repo="nobody/nothing-GGUF"))
    assert "\n" not in str(gone.value)
    with pytest.raises(ValueError, match="via must be"):
        confirm(gpt, via="ftp")  # type: ignore[arg-type]


# -- memory of real artifacts: weights within 1 % of the file ------------------------------------

_MATCH = [
    ("Qwen/Qwen3-8B", "Q4_K_M", "Qwen/Qwen3-8B-GGUF"),
    ("Qwen/Qwen3-14B", "Q4_K_M", "Qwen/Qwen3-14B-GGUF"),
    ("Qwen/Qwen3-30B-A3B", "Q4_K_M", "Qwen/Qwen3-30B-A3B-GGUF"),
    ("meta-llama/Llama-3.3-70B-Instruct", "Q4_K_M", "bartowski/Llama-3.3-70B-Instruct-GGUF"),
    ("meta-llama/Llama-3.1-8B-Instruct", "Q4_K_M", "bartowski/Meta-Llama-3.1-8B-Instruct-GGUF"),
    ("meta-llama/Llama-3.2-3B-Instruct", "Q6_K", "bartowski/Llama-3.2-3B-Instruct-GGUF"),
    ("google/gemma-3-12b-it", "Q4_K_M", "bartowski/google_gemma-3-12b-it-GGUF"),
    ("google/gemma-2-9b-it", "Q4_K_M", "bartowski/gemma-2-9b-it-GGUF"),
    ("microsoft/phi-4", "Q4_K_S", "microsoft/phi-4-gguf"),
    ("mistralai/Mistral-7B-Instruct-v0.3", "Q4_K_M", "bartowski/Mistral-7B-Instruct-v0.3-GGUF"),
    ("openai/gpt-oss-20b", "MXFP4", "ggml-org/gpt-oss-20b-GGUF"),
    ("openai/gpt-oss-120b", "MXFP4", "ggml-org/gpt-oss-120b-GGUF"),
    ("HuggingFaceTB/SmolLM3-3B", "Q4_K_M", "bartowski/HuggingFaceTB_SmolLM3-3B-GGUF"),
    (
        "deepseek-ai/DeepSeek-R1-Distill-Qwen-14B",
        "Q4_0",
        "bartowski/DeepSeek-R1-Distill-Qwen-14B-GGUF",
    ),
]
# Misses the memory model still has (the gap as measured when this test was written).
_MISS = [
    ("Qwen/Qwen2.5-0.5B-Instruct", "Q4_K_M", "Qwen/Qwen2.5-0.5B-Instruct-GGUF", "-20.3 %"),
    ("Qwen/Qwen2.5-1.5B-Instruct", "Q8_0", "Qwen/Qwen2.5-1.5B-Instruct-GGUF", "-13.4 %"),
    ("Qwen/Qwen2.5-3B-Instruct", "Q5_K_M", "Qwen/Qwen2.5-3B-Instruct-GGUF", "-9.0 %"),
    ("Qwen/Qwen3-0.6B", "Q4_K_M", "bartowski/Qwen_Qwen3-0.6B-GGUF", "-19.3 %"),
    ("Qwen/Qwen3-1.7B", "Q4_K_M", "bartowski/Qwen_Qwen3-1.7B-GGUF", "-14.1 %"),
    ("microsoft/Phi-3-mini-4k-instruct", "Q5_K_M",
     "lmstudio-community/Phi-3.1-mini-4k-instruct-GGUF", "-2.2 %"),
    ("meta-llama/Llama-3.2-1B-Instruct", "Q4_0", "bartowski/Llama-3.2-1B-Instruct-GGUF", "-1.3 %"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("model_id", "fmt", "repo"),
    [
        *_MATCH,
        *[
            pytest.param(
                m, f, r,
                marks=pytest.mark.xfail(
                    strict=True, reason=f"memory model weights {gap} against the file size"
                ),
            )
            for m, f, r, gap in _MISS
        ],
    ],
)  # fmt: skip
def test_memory_matches_known_file_sizes(model_id: str, fmt: str, repo: str) -> None:
    from advisor.memory import weight_bytes

    art = _artifact(model_id, fmt, repo)
    assert art.size_bytes is not None, "needs an exact byte count"
    predicted = weight_bytes(architectures()[model_id], fmt)
    gap = (predicted - art.size_bytes) / art.size_bytes
    assert abs(gap) <= 0.01, (
        f"{model_id} {fmt}: {predicted:,} vs file {art.size_bytes:,} ({gap:+.2%})"
    )


def test_artifacts_cover_todays_models() -> None:
    wanted = [
        "Qwen/Qwen3-8B", "Qwen/Qwen3-30B-A3B", "Qwen/Qwen3-30B-A3B-Instruct-2507",
        "openai/gpt-oss-20b", "openai/gpt-oss-120b", "google/gemma-3-27b-it",
        "meta-llama/Llama-3.3-70B-Instruct", "mistralai/Mistral-Small-3.2-24B-Instruct-2506",
        "microsoft/phi-4", "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B",
    ]  # fmt: skip
    have = {a.model_id for a in artifacts()}
    assert set(wanted) <= have, set(wanted) - have


def test_recommend_budgets_a_known_file_at_its_exact_size() -> None:
    """Qwen's own Qwen2.5-0.5B-Instruct Q4_K_M file is 20 % larger than the memory model's
    tensor types give (a miss listed above): the ranking budgets the file it names."""
    from advisor.recommender import recommend

    rec = recommend(
        "8GB", task="mmlu", models=["Qwen/Qwen2.5-0.5B-Instruct"], formats=["Q4_K_M"],
        speed=False,
    )  # fmt: skip
    (config,) = rec.ranked
    art = config.source.artifact
    assert art is not None and art.size_bytes is not None
    assert config.footprint.weight_bytes == art.size_bytes
    assert any("exact size" in note for note in config.footprint.notes)


def test_every_qwen3_row_carries_a_score_with_its_source() -> None:
    """Qwen3-32B has no released base model: its anchor comes from the family's base-model
    size law plus the post-training shift, and says so (it had no score at all)."""
    from advisor.recommender import recommend

    rec = recommend("80GB", task="mmlu", families=["qwen3"], speed=False)
    assert rec.ranked
    missing = [c.arch.name for c in rec.ranked if c.estimate is None]
    assert not missing, missing
    big = next(c for c in rec.ranked if c.arch.model_id == "Qwen/Qwen3-32B")
    assert big.estimate is not None
    assert "qwen3@base size law" in big.estimate.basis[0].source


def test_a_model_is_offered_in_the_format_it_ships_in() -> None:
    """gpt-oss ships in MXFP4: without naming formats it is a candidate in MXFP4, with the
    maker's published score (no GGUF type of it had any)."""
    from advisor.recommender import recommend

    rec = recommend("80GB", task="mmlu", families=["gpt-oss"], variant="any", speed=False)
    shipped = [c for c in rec.ranked if c.format.name == "MXFP4"]
    assert {c.arch.model_id for c in shipped} == {"openai/gpt-oss-20b", "openai/gpt-oss-120b"}
    assert all(c.estimate is not None and c.estimate.kind == "published" for c in shipped)
    assert rec.pick is not None and rec.pick.format.name == "MXFP4"
