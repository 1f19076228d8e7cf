"""What to download for a (model, format), how to make it where nobody published it, and the
command that runs it (``profiles/artifacts.csv``).

Offline by default: every answer comes from the bundled table, each row with its source. With
network, :func:`confirm` asks the Hugging Face Hub (``huggingface_hub``, imported only there)
whether the file is still there and how many bytes it has; the exact size then replaces the
catalogue's estimate.

Commands are strings a shell can run as they are: every repository, file and path in them is
quoted with :func:`shlex.quote` (a Python snippet is passed to ``python -c`` as one quoted
argument, with names inside it as Python literals).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fnmatch
import json
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from advisor.errors import AdvisorError, ProfileError
from advisor.profiles._csv import load_rows, parse_int, profiles_dir, required
from advisor.profiles.architectures import Architecture, architectures, find_architecture
from advisor.profiles.formats import Format, get_format

__all__ = [
    "RUNTIMES",
    "Artifact",
    "ArtifactError",
    "MakeRecipe",
    "artifacts",
    "artifacts_for",
    "confirm",
    "make_command",
    "run_command",
]

RUNTIMES = ("llama.cpp", "vllm", "transformers")
IMATRIX_VALUES = ("yes", "n/a", "unknown")
WEIGHTS_VALUES = ("", "qat")
# llama-quantize refuses these without an importance matrix; below 3 bits it pays off anyway.
NEEDS_IMATRIX = {"IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M", "Q2_K_S"}
# llama-quantize's name for a file type where it differs from ours.
QUANTIZE_TYPE_NAMES = {"MXFP4": "MXFP4_MOE"}
LLAMA_CPP_CONVERT = "convert_hf_to_gguf.py"  # at the top of a llama.cpp checkout


class ArtifactError(AdvisorError):
    """An artifact question that cannot be answered: unknown model or format, bad argument,
    or a Hub answer that contradicts the catalogue."""


@dataclass(frozen=True)
class Artifact:
    """One downloadable artifact: a GGUF file (or split set, or a name pattern the Hub
    resolves) or a whole checkpoint repository (``file`` empty)."""

    model_id: str
    format: str
    rank: int  # 0 = preferred for this (model, format)
    repo: str
    file: str
    size_bytes: int | None  # exact bytes, from a source that records the Hub's count
    size_source: str
    size_approx_bytes: int | None  # rounded figure converted to bytes
    size_approx_source: str
    official: bool  # the model maker's own repository
    maker: str
    imatrix: str  # "yes", "n/a" (type or format without one), "unknown"
    weights: str  # "" (the model's weights) or "qat" (its quantization-aware-trained weights)
    runtime: str  # "llama.cpp", "vllm", "transformers"
    source: str
    notes: str
    sha256: str
    evidence_date: str
    confirmed_online: bool = False  # True after :func:`confirm` checked it on the Hub

    @property
    def is_pattern(self) -> bool:
        """The file is a name pattern (split parts, or only repo + quant were sourced)."""
        return "*" in self.file

    @property
    def quant_tag(self) -> str:
        """The tag llama.cpp's ``-hf REPO:TAG`` resolves to this format's file."""
        return self.format

    @property
    def known_size_bytes(self) -> int | None:
        """Exact bytes where known, else the rounded estimate, else None."""
        return self.size_bytes if self.size_bytes is not None else self.size_approx_bytes

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "format": self.format,
            "rank": self.rank,
            "repo": self.repo,
            "file": self.file or None,
            "size_bytes": self.size_bytes,
            "size_exact": self.size_bytes is not None,
            "size_approx_bytes": self.size_approx_bytes,
            "size_source": self.size_source or self.size_approx_source or None,
            "official": self.official,
            "maker": self.maker,
            "imatrix": self.imatrix,
            "weights": self.weights or None,
            "runtime": self.runtime,
            "source": self.source,
            "notes": self.notes or None,
            "sha256": self.sha256 or None,
            "evidence_date": self.evidence_date or None,
            "confirmed_online": self.confirmed_online,
        }


@dataclass(frozen=True)
class MakeRecipe:
    """How to get a format nobody published: shell steps that make a file from the official
    weights (``llama-quantize``), or a load-time quantization (bitsandbytes, vLLM's FP8).
    ``kind == "none"`` means there is no such path; ``note`` says what to do instead."""

    model_id: str
    format: str
    kind: Literal["llama-quantize", "load-time bitsandbytes", "load-time fp8", "none"]
    steps: tuple[str, ...]  # shell commands, in order
    output: str  # the file the steps write ("" for load-time quantization)
    runtime: str
    note: str

    @property
    def command(self) -> str:
        """The steps as one shell line ("" when there is no way to make it)."""
        return " && ".join(self.steps)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "format": self.format,
            "kind": self.kind,
            "steps": list(self.steps),
            "command": self.command or None,
            "output": self.output or None,
            "runtime": self.runtime,
            "note": self.note,
        }


# -- the bundled table --------------------------------------------------------------------

_COLUMNS = {
    "model_id", "format", "rank", "repo", "file", "size_bytes", "size_source",
    "size_approx_bytes", "size_approx_source", "official", "maker", "imatrix", "weights",
    "runtime", "source", "notes", "sha256", "evidence_date",
}  # fmt: skip


def _choice(value: str, allowed: Sequence[str], column: str, where: str) -> str:
    if value not in allowed:
        raise ProfileError(f"{where}: column {column!r} must be one of {list(allowed)}")
    return value


def _parse_artifact(row: dict[str, str], where: str) -> Artifact:
    def size(column: str) -> int | None:
        value = parse_int(row[column], column, where)
        if value is not None and value <= 0:
            raise ProfileError(f"{where}: column {column!r} must be positive, got {value}")
        return value

    repo = required(row["repo"].strip(), "repo", where)
    file = row["file"].strip()
    if repo.count("/") != 1 or any(part in {"", ".", ".."} for part in repo.split("/")):
        raise ProfileError(f"{where}: repo must be owner/name, got {repo!r}")
    if file.startswith("/") or ".." in file.split("/"):
        raise ProfileError(f"{where}: file must be a path inside the repository, got {file!r}")
    name = required(row["format"].strip(), "format", where)
    try:
        fmt = get_format(name)
    except KeyError:
        raise ProfileError(f"{where}: unknown format {name!r}") from None
    if fmt.backend == "gguf" and not file.lower().endswith(".gguf"):
        raise ProfileError(f"{where}: a GGUF format needs a .gguf file, got {file!r}")
    official = _choice(row["official"].strip(), ("true", "false"), "official", where)
    rank = required(parse_int(row["rank"], "rank", where), "rank", where)
    if rank < 0:
        raise ProfileError(f"{where}: column 'rank' must be 0 or more, got {rank}")
    return Artifact(
        model_id=required(row["model_id"].strip(), "model_id", where),
        format=fmt.name,
        rank=rank,
        repo=repo,
        file=file,
        size_bytes=size("size_bytes"),
        size_source=row["size_source"],
        size_approx_bytes=size("size_approx_bytes"),
        size_approx_source=row["size_approx_source"],
        official=official == "true",
        maker=row["maker"].strip(),
        imatrix=_choice(row["imatrix"].strip(), IMATRIX_VALUES, "imatrix", where),
        weights=_choice(row["weights"].strip(), WEIGHTS_VALUES, "weights", where),
        runtime=_choice(row["runtime"].strip(), RUNTIMES, "runtime", where),
        source=required(row["source"].strip(), "source", where),
        notes=row["notes"],
        sha256=row["sha256"].strip(),
        evidence_date=row["evidence_date"].strip(),
    )


@cache
def artifacts() -> tuple[Artifact, ...]:
    """Every bundled artifact, validated; each (model, format) group ranked from 0."""
    rows = load_rows(profiles_dir() / "artifacts.csv", _COLUMNS, _parse_artifact)
    archs = architectures()
    unknown = sorted({a.model_id for a in rows} - set(archs))
    if unknown:
        raise ProfileError(f"artifacts.csv: models not in architectures.csv: {unknown[:5]}")
    return tuple(rows)


@cache
def _by_model_and_format() -> dict[tuple[str, str], tuple[Artifact, ...]]:
    index: dict[tuple[str, str], list[Artifact]] = {}
    for art in artifacts():
        index.setdefault((art.model_id, art.format), []).append(art)
    return {key: tuple(sorted(found, key=lambda a: a.rank)) for key, found in index.items()}


def _arch(arch: Architecture | str) -> Architecture:
    if isinstance(arch, Architecture):
        return arch
    if not isinstance(arch, str):
        raise TypeError(f"arch must be an Architecture or a model name, got {type(arch).__name__}")
    try:
        return find_architecture(arch)
    except ProfileError as exc:
        raise ArtifactError(str(exc)) from None


def _format(fmt: Format | str) -> Format:
    if isinstance(fmt, Format):
        return fmt
    if not isinstance(fmt, str):
        raise TypeError(f"fmt must be a Format or a format name, got {type(fmt).__name__}")
    try:
        return get_format(fmt)
    except KeyError:
        raise ArtifactError(
            f"unknown format {fmt!r}: a GGUF type (Q4_K_M, MXFP4, ...) or one of bf16, "
            "int8, nf4, fp4, GPTQ-Int4, GPTQ-Int8, AWQ, FP8, NVFP4, mxfp4"
        ) from None


def artifacts_for(arch: Architecture | str, fmt: Format | str) -> list[Artifact]:
    """The artifacts of one model in one format, preferred first: the maker's own repository,
    then its quantization-aware-trained weights, then the well-known community makers
    (bartowski's importance-matrix files before the others). A 16-bit checkpoint format
    (``bf16``) of a model whose weights ship in 16-bit is the model's own repository.
    Empty when nobody published one: see :func:`make_command`."""
    a, f = _arch(arch), _format(fmt)
    found = list(_by_model_and_format().get((a.model_id, f.name), ()))
    if not found and f.backend == "hf" and not a.shipped_format:
        found.append(
            Artifact(
                model_id=a.model_id,
                format=f.name,
                rank=0,
                repo=a.model_id,
                file="",
                size_bytes=None,
                size_source="",
                size_approx_bytes=None,
                size_approx_source="",
                official=True,
                maker=a.model_id.split("/")[0],
                imatrix="n/a",
                weights="",
                runtime="vllm",
                source=f"the model's own repository ({a.dtype or '16-bit'} weights)",
                notes="",
                sha256="",
                evidence_date="",
            )
        )
    return found


# -- commands -----------------------------------------------------------------------------


def _check_context(context_tokens: int) -> int:
    if isinstance(context_tokens, bool) or not isinstance(context_tokens, int):
        raise TypeError(f"context_tokens must be an int, got {type(context_tokens).__name__}")
    if context_tokens < 1:
        raise ValueError(f"context_tokens must be at least 1, got {context_tokens}")
    return context_tokens


def _check_flags(placement_flags: Sequence[str]) -> list[str]:
    if isinstance(placement_flags, str) or not isinstance(placement_flags, Sequence):
        raise TypeError(
            "placement_flags must be a sequence of strings, e.g. ('-ngl', '99'), "
            f"got {type(placement_flags).__name__}"
        )
    for flag in placement_flags:
        if not isinstance(flag, str):
            raise TypeError(f"placement_flags must hold strings, got {type(flag).__name__}")
    return [shlex.quote(flag) for flag in placement_flags]


def _py(text: str) -> str:
    """A Python string literal in double quotes (so the shell quoting stays readable)."""
    return json.dumps(text)


def _bnb_snippet(model_id: str, fmt: Format) -> str:
    """Python that loads the model with bitsandbytes (or plain 16-bit) at load time."""
    dtype = "torch.float16" if fmt.name == "fp16" else "torch.bfloat16"
    if fmt.name == "int8":
        config = "BitsAndBytesConfig(load_in_8bit=True)"
    elif fmt.backend == "bnb":
        kind = fmt.name.split("-")[0]
        double = fmt.name.endswith("-dq")
        config = (
            f"BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type={_py(kind)}, "
            f"bnb_4bit_use_double_quant={double}, bnb_4bit_compute_dtype=torch.bfloat16)"
        )
    else:
        config = ""
    quant = f"quantization_config={config}, " if config else f"torch_dtype={dtype}, "
    return (
        "import torch; "
        "from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig; "
        f"tokenizer = AutoTokenizer.from_pretrained({_py(model_id)}); "
        f"model = AutoModelForCausalLM.from_pretrained({_py(model_id)}, {quant}"
        'device_map="auto")'
    )


def make_command(arch: Architecture | str, fmt: Format | str) -> MakeRecipe:
    """How to get ``fmt`` of ``arch`` without a published artifact: convert the official
    weights to GGUF and ``llama-quantize`` them (with an importance matrix for the types that
    need one), or quantize at load time (bitsandbytes; vLLM's per-tensor FP8)."""
    a, f = _arch(arch), _format(fmt)
    model = a.model_id
    name = a.name
    if f.backend == "gguf":
        local = shlex.quote(name)
        steps = [f"hf download {shlex.quote(model)} --local-dir {local}"]
        sixteen = f.name in {"F16", "BF16", "F32"}
        base = f"{name}-{'F16' if f.name == 'F16' else 'BF16'}.gguf"
        outtype = "f16" if f.name == "F16" else ("f32" if f.name == "F32" else "bf16")
        if sixteen:
            out = f"{name}-{f.name}.gguf"
            steps.append(
                f"python {LLAMA_CPP_CONVERT} {local} --outtype {outtype} "
                f"--outfile {shlex.quote(out)}"
            )
            note = "16-bit GGUF converted from the official weights"
        else:
            out = f"{name}-{f.name}.gguf"
            steps.append(
                f"python {LLAMA_CPP_CONVERT} {local} --outtype bf16 --outfile {shlex.quote(base)}"
            )
            qtype = QUANTIZE_TYPE_NAMES.get(f.name, f.name)
            imatrix = ""
            if f.name in NEEDS_IMATRIX or f.method == "gguf-i":
                steps.append(
                    f"llama-imatrix -m {shlex.quote(base)} -f calibration.txt -o imatrix.dat"
                )
                imatrix = "--imatrix imatrix.dat "
            steps.append(f"llama-quantize {imatrix}{shlex.quote(base)} {shlex.quote(out)} {qtype}")
            note = (
                "llama.cpp tools (convert_hf_to_gguf.py at the top of a llama.cpp checkout); "
                + (
                    "calibration.txt: a few hundred KB of text like your prompts "
                    "(an importance matrix is required below 3 bits and for i-quants)"
                    if imatrix
                    else "plain quantization; an importance matrix (llama-imatrix) helps at 3-4 bit"
                )
            )
        return MakeRecipe(model, f.name, "llama-quantize", tuple(steps), out, "llama.cpp", note)
    if f.backend == "bnb" or (f.backend == "hf" and a.shipped_format):
        snippet = _bnb_snippet(model, f)
        return MakeRecipe(
            model,
            f.name,
            "load-time bitsandbytes",
            (f"python -c {shlex.quote(snippet)}",),
            "",
            "transformers",
            "quantized when loaded from the official weights (CUDA; CPU only when asked)"
            if f.backend == "bnb"
            else "loaded in 16-bit from the official weights",
        )
    if f.method == "fp8":
        return MakeRecipe(
            model,
            f.name,
            "load-time fp8",
            (),
            "",
            "vllm",
            "vLLM quantizes the official weights to FP8 when it loads them (per-tensor scales): "
            "vllm serve MODEL --quantization fp8",
        )
    return MakeRecipe(
        model,
        f.name,
        "none",
        (),
        "",
        "vllm",
        f"no published {f.name} checkpoint of {model} and no load-time path: make one with "
        "llm-compressor (GPTQ, AWQ, NVFP4) or pick a format that has an artifact",
    )


def run_command(
    artifact: Artifact | MakeRecipe, context_tokens: int, placement_flags: Sequence[str] = ()
) -> str:
    """The shell command that serves the artifact with a ``context_tokens`` context and the
    placement flags (``-ngl``, ``--n-cpu-moe``, ``--tensor-split`` for llama.cpp;
    ``--tensor-parallel-size`` ... for vLLM):

    * llama.cpp: ``llama-server -hf REPO:QUANT -c N [flags]`` (the Hub resolves the tag to the
      file, split parts included), or ``llama-server -m FILE`` for a file you made;
    * vLLM: ``vllm serve REPO --max-model-len N [flags]``;
    * transformers: ``python -c '<load with BitsAndBytesConfig>'``.
    """
    context = _check_context(context_tokens)
    flags = _check_flags(placement_flags)
    if isinstance(artifact, MakeRecipe):
        return _run_made(artifact, context, flags)
    if not isinstance(artifact, Artifact):
        raise TypeError(f"artifact must be an Artifact or a MakeRecipe, got {type(artifact)}")
    if artifact.runtime == "llama.cpp":
        ref = f"{artifact.repo}:{artifact.quant_tag}"
        return " ".join(["llama-server", "-hf", shlex.quote(ref), "-c", str(context), *flags])
    if artifact.runtime == "vllm":
        parts = ["vllm", "serve", shlex.quote(artifact.repo), "--max-model-len", str(context)]
        return " ".join([*parts, *flags])
    snippet = _bnb_snippet(artifact.repo, get_format(artifact.format))
    return f"python -c {shlex.quote(snippet)}"


def _run_made(recipe: MakeRecipe, context: int, flags: list[str]) -> str:
    if recipe.kind == "llama-quantize":
        parts = ["llama-server", "-m", shlex.quote(recipe.output), "-c", str(context)]
        return " ".join([*parts, *flags])
    if recipe.kind == "load-time bitsandbytes":
        return recipe.steps[0]
    if recipe.kind == "load-time fp8":
        parts = ["vllm", "serve", shlex.quote(recipe.model_id), "--quantization", "fp8"]
        return " ".join([*parts, "--max-model-len", str(context), *flags])
    raise ArtifactError(f"nothing to run: {recipe.note}")


# -- asking the Hub -----------------------------------------------------------------------


def confirm(
    artifact: Artifact,
    *,
    via: Literal["model_info", "tree"] = "model_info",
    revision: str | None = None,
    token: str | bool | None = None,
) -> Artifact:
    """Ask the Hugging Face Hub whether the artifact's file is there and its exact size
    (``HfApi.model_info(repo, files_metadata=True)``, or ``HfApi.list_repo_tree``). Returns
    the artifact with the exact bytes and the resolved file name; a split set or a whole
    checkpoint is the sum of its parts. Needs network: offline (``HF_HUB_OFFLINE=1``) or on
    any Hub error it raises :class:`ArtifactError` with one line."""
    if not isinstance(artifact, Artifact):
        raise TypeError(f"artifact must be an Artifact, got {type(artifact).__name__}")
    if via not in ("model_info", "tree"):
        raise ValueError(f"via must be 'model_info' or 'tree', got {via!r}")
    from huggingface_hub import HfApi

    api = HfApi()
    try:
        if via == "model_info":
            info = api.model_info(
                artifact.repo, revision=revision, files_metadata=True, token=token
            )
            files = {s.rfilename: s.size for s in info.siblings or []}
        else:
            entries = api.list_repo_tree(
                artifact.repo, revision=revision, recursive=True, token=token
            )
            files = {e.path: getattr(e, "size", None) for e in entries if hasattr(e, "size")}
    except Exception as exc:  # the client raises many kinds: say which, in one line
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ArtifactError(
            f"could not confirm {artifact.repo} on the Hugging Face Hub: {reason}"
        ) from None
    matched = _match(artifact, files)
    if not matched:
        raise ArtifactError(
            f"{artifact.repo} on the Hub has no {artifact.file or 'weights'} "
            f"({len(files)} files listed): the catalogue is out of date for it"
        )
    sizes = [files[name] for name in matched]
    if any(s is None for s in sizes):
        raise ArtifactError(f"the Hub did not give sizes for {artifact.repo}: {matched[:3]}")
    total = sum(int(s) for s in sizes if s is not None)
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d")
    endpoint = "model_info(files_metadata=True)" if via == "model_info" else "list_repo_tree"
    resolved = matched[0] if len(matched) == 1 else artifact.file
    return dataclasses.replace(
        artifact,
        file=resolved,
        size_bytes=total,
        size_source=(
            f"Hugging Face Hub {endpoint} {artifact.repo}"
            f"{'@' + revision if revision else ''}, {len(matched)} file(s), checked {when}"
        ),
        confirmed_online=True,
    )


def _match(artifact: Artifact, files: dict[str, Any]) -> list[str]:
    """File names of the Hub's listing that the artifact means, sorted."""
    if not artifact.file:
        weights = [n for n in files if n.endswith(".safetensors")]
        return sorted(weights)
    if artifact.file in files:
        return [artifact.file]
    wanted = artifact.file.lower()
    if artifact.is_pattern:
        return sorted(n for n in files if fnmatch.fnmatchcase(n.lower(), wanted))
    return sorted(n for n in files if n.lower() == wanted)  # catalogs disagree on case
