"""Hugging Face transformers backend, quantized at load time with bitsandbytes.

The model is a local Hugging Face folder, a repo id (fetched through ``huggingface_hub``;
``HF_HUB_OFFLINE`` and the local cache are respected) or a GGUF file, which is dequantized
once into a cached folder (:func:`hf_from_gguf`) so the two backends can run the very same
weights. Formats (:data:`advisor.profiles.formats.LINEAR_FORMATS`): ``bf16``/``fp16`` as stored;
``int8`` (LLM.int8(), ``llm_int8_threshold`` recorded); ``nf4``/``fp4`` with and without
double quantization (``nf4-dq``, ``fp4-dq``), compute dtype recorded.

How it scores:

* Multiple choice: the choices of one item are packed into ONE row after their shared
  context, each choice restarting its positions where the context ends, with a 4-D mask
  that lets a choice see the context and itself only (what llama.cpp does with sequence
  ids). Rows of several items are right-padded into one batch. Models with sliding-window
  layers get a packed row only when it fits inside the window; longer groups fall back
  to one plain row per choice, whose mask transformers builds itself.
* Only the hidden states that predict a scored token go through the output head, and the
  log-softmax is taken in fp32 on those rows: a 262k vocabulary never costs more than a
  few rows of logits at a time.
* Rolling perplexity uses :func:`~advisor.measure.backends.base.rolling_token_windows` and the
  same engine (each window is a context with one continuation).
* Greedy generation is ``model.generate`` over left-padded batches, cut at the first stop
  string.
"""

from __future__ import annotations

import contextlib
import gc
import inspect
import json
import logging
import os
import random
import re
import shutil
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from advisor.errors import AdvisorError, MissingDependencyError
from advisor.measure.backends.base import (
    Backend,
    GenerateRequest,
    LoadedConfig,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    RollingRequest,
    RollingResult,
    peak_rss_bytes,
    rolling_token_windows,
)
from advisor.profiles.formats import LINEAR_FORMATS

if TYPE_CHECKING:
    from typing_extensions import Self

# Formats this backend loads, by name: (bitsandbytes mode, 4-bit quant type, double quant).
HF_FORMATS: dict[str, tuple[str | None, str | None, bool]] = {
    "fp32": (None, None, False),  # the reference precision (llama.cpp computes in fp32)
    "bf16": (None, None, False),
    "fp16": (None, None, False),
    "int8": ("int8", None, False),
    "nf4": ("4bit", "nf4", False),
    "fp4": ("4bit", "fp4", False),
    "nf4-dq": ("4bit", "nf4", True),
    "fp4-dq": ("4bit", "fp4", True),
}
assert set(HF_FORMATS) - {"fp32"} <= set(LINEAR_FORMATS), (
    "formats must be in advisor.profiles.formats"
)
FLOAT_DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}

MIN_BNB_CPU = (0, 49)  # first bitsandbytes release with int8 and 4-bit kernels on CPU
WEIGHT_GLOBS = ("*.safetensors", "pytorch_model*.bin", "model*.bin")
HUB_PATTERNS = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "tokenizer*"]
LOGIT_BYTES_PER_CHUNK = 256 * 2**20  # fp32 logits materialized at once, at most


class TransformersError(AdvisorError):
    """transformers could not load the model or evaluate a batch."""


class ModelSourceError(TransformersError):
    """The model folder or repository is missing, empty, gated, or unreachable offline."""


class LoadOutOfMemoryError(TransformersError):
    """The weights did not fit in the device's memory while loading."""


class BitsAndBytesUnavailableError(MissingDependencyError):
    """bitsandbytes is missing, too old, or has no kernels for the device."""


# -- imports and environment -------------------------------------------------------------
def import_torch() -> Any:
    """Import torch and transformers, or say how to install them."""
    try:
        import torch
        import transformers  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(
            "torch, transformers and accelerate", "cuda", "the transformers backend"
        ) from exc
    return torch


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version)[:3])


def check_bitsandbytes(fmt: str, device: str) -> str:
    """Make sure bitsandbytes can run ``fmt`` on ``device``; returns its version.

    A tiny quantization is run on the device, so a build without kernels for it fails
    here with one line instead of deep inside ``from_pretrained``.
    """
    purpose = f"{fmt} on {device}"
    try:
        import bitsandbytes
        import bitsandbytes.functional as bnbf
    except ImportError as exc:
        raise BitsAndBytesUnavailableError("bitsandbytes>=0.49", "cuda", purpose) from exc
    version = str(bitsandbytes.__version__)
    if device == "cpu" and _version_tuple(version) < MIN_BNB_CPU:
        raise BitsAndBytesUnavailableError(f"bitsandbytes>=0.49 (found {version})", "cuda", purpose)
    torch = import_torch()
    try:
        x = torch.ones(64, 64, device=device, dtype=torch.float32)
        if HF_FORMATS[fmt][0] == "int8":
            bnbf.int8_vectorwise_quant(x)
        else:
            bnbf.quantize_4bit(x, quant_type=HF_FORMATS[fmt][1] or "nf4")
    except Exception as exc:  # no kernel registered for this device, broken build
        raise BitsAndBytesUnavailableError(
            f"a bitsandbytes build with {device} kernels (found {version}: {exc})".replace(
                "\n", " "
            )[:300],
            "cuda",
            purpose,
        ) from exc
    return version


def default_device() -> str:
    """``cuda`` when torch sees a GPU, else ``cpu``."""
    torch = import_torch()
    return "cuda" if torch.cuda.is_available() else "cpu"


# -- model sources -----------------------------------------------------------------------
def _hf_cache_root() -> Path:
    from advisor.measure.files import cache_dir

    return cache_dir().parent / "hf"


def hf_from_gguf(
    gguf_path: str | os.PathLike[str], out_dir: str | os.PathLike[str] | None = None
) -> tuple[Path, list[str]]:
    """A Hugging Face folder holding ``gguf_path`` dequantized to fp32; made once, cached.

    Returns the folder and provenance notes. The folder is written under a temporary name
    and renamed into place, so an interrupted conversion never looks finished. fp32 keeps
    the dequantized values exact; each format rounds them on load, as llama.cpp's F16 does.
    """
    from advisor.measure.files import file_sha256
    from advisor.profiles.gguf_file import read_gguf

    info = read_gguf(gguf_path)
    sha = file_sha256(info.path)
    src = info.file_type or "unknown"
    notes = _gguf_notes(info.path.name, src, sha)
    folder = Path(out_dir) if out_dir else _hf_cache_root() / f"{sha[:16]}-fp32"
    if (folder / "config.json").exists() and _weight_files(folder):
        return folder, notes
    torch = import_torch()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        with _no_progress_bars():
            model: Any = AutoModelForCausalLM.from_pretrained(
                str(info.path.parent), gguf_file=info.path.name, dtype=torch.float32
            )
            tok = AutoTokenizer.from_pretrained(str(info.path.parent), gguf_file=info.path.name)
        # transformers 5 refuses to save a GGUF-loaded model while it carries the GGUF
        # "quantizer"; the tensors are already dequantized.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(str(tmp))
        tok.save_pretrained(str(tmp))
        (tmp / "advisor_provenance.json").write_text(
            json.dumps(
                {
                    "gguf": str(info.path),
                    "sha256": sha,
                    "file_type": src,
                    "add_bos": _gguf_add_bos(info),
                },
                indent=1,
            )
        )
        del model
        folder.parent.mkdir(parents=True, exist_ok=True)
        if folder.exists():  # another process finished first
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        gc.collect()
    return folder, notes


def _gguf_notes(name: str, file_type: str, sha: str) -> list[str]:
    """Provenance of a folder dequantized from a GGUF file."""
    return [
        f"source {name} ({file_type}, sha256 {sha[:16]})",
        f"base dequantized from {file_type} (source sha256 {sha[:16]}) by transformers "
        f"from_pretrained(gguf_file=...), stored in fp32: {file_type} information, "
        "not the original weights",
    ]


def _folder_notes(folder: Path) -> list[str]:
    """Provenance of a local folder: where it came from, when :func:`hf_from_gguf` made it."""
    notes = [f"Hugging Face folder {folder}"]
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        made = json.loads((folder / "advisor_provenance.json").read_text())
        notes += _gguf_notes(Path(made["gguf"]).name, made["file_type"], made["sha256"])
    return notes


def _gguf_add_bos(info: Any) -> bool | None:
    """The GGUF header's ``tokenizer.ggml.add_bos_token``, when present."""
    value = getattr(info, "metadata", {}).get("tokenizer.ggml.add_bos_token")
    return None if value is None else bool(value)


def _weight_files(folder: Path) -> list[Path]:
    return sorted({p for g in WEIGHT_GLOBS for p in folder.glob(g)})


def _looks_like_repo_id(name: str) -> bool:
    return bool(re.fullmatch(r"[\w.-]+/[\w.-]+", name)) and not name.startswith((".", "/"))


def resolve_model(
    model: str | os.PathLike[str], revision: str | None = None
) -> tuple[Path, list[str]]:
    """A local folder with config and weights for ``model``, and provenance notes.

    ``model`` is a GGUF file (dequantized once, see :func:`hf_from_gguf`), a local
    Hugging Face folder, or a repo id fetched with ``huggingface_hub.snapshot_download``.
    """
    path = Path(model).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return hf_from_gguf(path)
    if path.is_dir():
        _check_folder(path)
        return path, _folder_notes(path)
    if path.exists():
        raise ModelSourceError(f"{path} is neither a GGUF file nor a Hugging Face model folder")
    name = str(model)
    if not _looks_like_repo_id(name):
        raise ModelSourceError(f"no such file or folder: {name}")
    folder = _download(name, revision)
    _check_folder(folder)
    commit = folder.name if re.fullmatch(r"[0-9a-f]{40}", folder.name) else revision or "main"
    return folder, [f"Hugging Face repo {name} at {commit}"]


def _check_folder(folder: Path) -> None:
    if not (folder / "config.json").exists():
        raise ModelSourceError(f"{folder} has no config.json: not a Hugging Face model folder")
    if not _weight_files(folder):
        raise ModelSourceError(
            f"{folder} has a config.json but no weights (*.safetensors or pytorch_model*.bin)"
        )


def _download(repo_id: str, revision: str | None) -> Path:
    """Fetch (or find in the cache) a repo's config, tokenizer and safetensors weights."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}
    try:
        return Path(snapshot_download(repo_id, revision=revision, allow_patterns=HUB_PATTERNS))
    except GatedRepoError as exc:
        raise ModelSourceError(
            f"{repo_id} is gated: accept its licence on https://huggingface.co/{repo_id} "
            "and log in with `hf auth login`"
        ) from exc
    except RepositoryNotFoundError as exc:
        raise ModelSourceError(
            f"{repo_id} was not found on the Hugging Face Hub (or is private: log in with "
            "`hf auth login`)"
        ) from exc
    except RevisionNotFoundError as exc:
        raise ModelSourceError(f"{repo_id} has no revision {revision!r}") from exc
    except LocalEntryNotFoundError as exc:
        why = "HF_HUB_OFFLINE is set" if offline else "the Hub could not be reached"
        raise ModelSourceError(
            f"{repo_id} is not in the local Hugging Face cache and {why}: download it "
            "once online, or pass a local folder"
        ) from exc
    except (HfHubHTTPError, OSError) as exc:
        raise ModelSourceError(f"could not fetch {repo_id}: {exc}".splitlines()[0]) from exc


def _stored_params(folder: Path) -> int:
    """Parameter count from the safetensors headers (no tensor data is read)."""
    total = 0
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        return 0
    from safetensors import safe_open

    for f in files:
        with safe_open(str(f), framework="pt") as st:
            for key in st.keys():  # noqa: SIM118 - safe_open is not a mapping
                n = 1
                for d in st.get_slice(key).get_shape():
                    n *= int(d)
                total += n
    return total


def quant_state_bytes(model: Any) -> int:
    """Bytes of bitsandbytes scales that ``get_memory_footprint`` leaves out: the 4-bit
    absmax per block (and the second-level absmax of double quantization), the fp32
    scale per row of int8 weights."""
    total = 0
    for module in model.modules():
        weight = getattr(module, "weight", None)
        qs = getattr(weight, "quant_state", None)
        if qs is not None:
            total += int(qs.absmax.nbytes)
            if getattr(qs, "nested", False) and qs.state2 is not None:
                total += int(qs.state2.absmax.nbytes)
        scb = getattr(getattr(module, "state", None), "SCB", None)
        if scb is not None:
            total += int(scb.nbytes)
    return total


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence bitsandbytes' per-call note that int8 matmuls cast bf16 inputs to fp16."""
    log = logging.getLogger("bitsandbytes.autograd._functions")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="MatMul8bitLt: inputs will be cast")
            yield
    finally:
        log.setLevel(level)


@contextlib.contextmanager
def _no_progress_bars() -> Iterator[None]:
    """transformers draws a progress bar per load; a sweep's own bar is enough."""
    from transformers.utils import logging as hf_logging

    was = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            hf_logging.enable_progress_bar()


def _is_oom(exc: BaseException) -> bool:
    text = str(exc).lower()
    return (
        isinstance(exc, MemoryError)
        or type(exc).__name__ == "OutOfMemoryError"
        or ("out of memory" in text or "can't allocate memory" in text)
    )


# -- the engine's units ------------------------------------------------------------------
@dataclass
class _Row:
    """One model input row: a prefix, then k branches each restarting after the prefix.

    ``targets[i]`` are the tokens branch ``i`` must predict: the first from the prefix's
    last position, the rest from the branch's own tokens (``branch = targets[:-1]``).
    """

    prefix: list[int]
    targets: list[list[int]]
    owners: list[int]  # result slot of each branch

    @property
    def packed(self) -> bool:
        return len(self.targets) > 1

    def __len__(self) -> int:
        return len(self.prefix) + sum(len(t) - 1 for t in self.targets)

    def layout(self) -> tuple[list[int], list[int], list[tuple[int, int]]]:
        """(tokens, positions, per-branch [start, end) in the row)."""
        toks, pos = list(self.prefix), list(range(len(self.prefix)))
        spans = []
        p = len(self.prefix)
        for t in self.targets:
            start = len(toks)
            toks += t[:-1]
            pos += range(p, p + len(t) - 1)
            spans.append((start, len(toks)))
        return toks, pos, spans


class TransformersBackend(Backend):
    """Score and generate with a transformers model, optionally bitsandbytes-quantized.

    Parameters are stored, not used, until :meth:`load`:

    * ``model``: GGUF file, Hugging Face folder or repo id (see :func:`resolve_model`).
    * ``format``: a key of :data:`HF_FORMATS` (``bf16``, ``int8``, ``nf4``, ``fp4-dq``...).
    * ``context_tokens``: the longest sequence scored (rolling windows use it whole).
    * ``batch_tokens``: padded tokens per forward pass; ``max_batch`` rows at most.
    * ``compute_dtype``: ``bfloat16``/``float16``/``float32`` for the activations, 4-bit
      matmuls and unquantized layers of the bitsandbytes formats (default bf16, fp16 on
      GPUs without bf16); ``fp32``/``bf16``/``fp16`` compute in their own dtype.
    """

    name = "transformers"
    error_type = TransformersError

    def __init__(
        self,
        model: str | os.PathLike[str],
        *,
        format: str = "bf16",
        context_tokens: int = 2048,
        device: str | None = None,
        batch_tokens: int = 4096,
        max_batch: int = 64,
        gen_batch: int = 32,
        llm_int8_threshold: float = 6.0,
        compute_dtype: str | None = None,
        n_threads: int | None = None,
        revision: str | None = None,
        attn_implementation: str | None = None,
        provenance: Sequence[str] = (),
        seed: int = 0,
    ) -> None:
        self.model_path = model
        self.format = format
        self.context_tokens = context_tokens
        self.device = device
        self.batch_tokens = batch_tokens
        self.max_batch = max_batch
        self.gen_batch = gen_batch
        self.llm_int8_threshold = llm_int8_threshold
        self.compute_dtype = compute_dtype
        self.n_threads = n_threads
        self.revision = revision
        self.attn_implementation = attn_implementation
        self.provenance = list(provenance)
        self.seed = seed
        self._model: Any = None
        self._base: Any = None
        self._head: Any = None
        self._tok: Any = None
        self._config: LoadedConfig | None = None

    # -- lifecycle -----------------------------------------------------------------------
    def load(self) -> Self:
        fmt = self.format.lower()
        if fmt not in HF_FORMATS:
            raise TransformersError(
                f"unknown format {self.format!r} for the transformers backend; "
                f"known: {', '.join(HF_FORMATS)}"
            )
        torch = import_torch()
        from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

        device = self.device or default_device()
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise TransformersError("device cuda requested but torch sees no CUDA GPU")
        mode, quant_type, double_quant = HF_FORMATS[fmt]
        bnb_version = check_bitsandbytes(fmt, device) if mode else None
        if self.n_threads:
            torch.set_num_threads(self.n_threads)
        folder, notes = resolve_model(self.model_path, self.revision)
        # 16-bit formats compute in their own dtype; bitsandbytes formats in compute_dtype.
        dtype_name = FLOAT_DTYPES.get(fmt) or self.compute_dtype or "bfloat16"
        if (
            mode
            and not self.compute_dtype
            and device.startswith("cuda")
            and not torch.cuda.is_bf16_supported()
        ):
            dtype_name = "float16"
        dtype = getattr(torch, dtype_name)
        extra: dict[str, Any] = {
            "device": device,
            "compute_dtype": dtype_name,
            "torch": torch.__version__,
            "transformers": __import__("transformers").__version__,
        }
        qconfig = None
        if mode == "int8":
            qconfig = BitsAndBytesConfig(
                load_in_8bit=True, llm_int8_threshold=self.llm_int8_threshold
            )
            extra["llm_int8_threshold"] = self.llm_int8_threshold
        elif mode == "4bit":
            qconfig = BitsAndBytesConfig(
                load_in_4bit=True,
                bnb_4bit_quant_type=quant_type,
                bnb_4bit_use_double_quant=double_quant,
                bnb_4bit_compute_dtype=dtype,
            )
            extra.update(bnb_4bit_quant_type=quant_type, bnb_4bit_use_double_quant=double_quant)
        if bnb_version:
            extra["bitsandbytes"] = bnb_version
        kwargs: dict[str, Any] = {"dtype": dtype, "device_map": {"": device}}
        if qconfig is not None:
            kwargs["quantization_config"] = qconfig
        if self.attn_implementation:
            kwargs["attn_implementation"] = self.attn_implementation
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        try:
            with _no_progress_bars(), _quiet():
                self._tok = AutoTokenizer.from_pretrained(str(folder))
                self._model = AutoModelForCausalLM.from_pretrained(str(folder), **kwargs)
        except Exception as exc:
            self.unload()
            if _is_oom(exc):
                raise LoadOutOfMemoryError(
                    f"out of memory loading {folder.name} as {fmt} on {device}"
                ) from exc
            if isinstance(exc, AdvisorError):
                raise
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            raise TransformersError(
                f"transformers could not load {folder} as {fmt}: {first}"
            ) from exc
        self._model.eval()
        self._device = device
        self._dtype = dtype
        self._setup_tokens(folder)
        self._setup_head()
        cfg = self._model.config.get_text_config()
        self._sliding = self._sliding_window(cfg)
        weight_bytes = int(self._model.get_memory_footprint())
        extra["quant_state_bytes"] = quant_state_bytes(self._model)
        n_params = _stored_params(folder) or int(self._model.num_parameters())
        file_bytes = sum(p.stat().st_size for p in _weight_files(folder))
        quant_note = {
            None: f"weights cast to {dtype_name} at load",
            "int8": f"bitsandbytes LLM.int8() at load (threshold {self.llm_int8_threshold})",
            "4bit": f"bitsandbytes {quant_type} at load"
            + (" with double quantization" if double_quant else "")
            + f", compute in {dtype_name}",
        }[mode]
        extra.update(
            file_bytes=file_bytes,
            weight_bytes=weight_bytes,
            architecture=str(cfg.model_type),
            n_vocab=int(self._n_vocab),
            n_threads=int(torch.get_num_threads()),
            attn_implementation=str(getattr(self._model.config, "_attn_implementation", "")),
            sliding_window=self._sliding,
            hf_folder=str(folder),
        )
        self._config = LoadedConfig(
            model_path=str(self.model_path),
            format=fmt,
            bits_per_weight=weight_bytes * 8 / n_params if n_params else 0.0,
            n_params=n_params,
            context_tokens=self.context_tokens,
            provenance=[*self.provenance, *notes, quant_note],
            extra=extra,
        )
        self._nvml_peak = 0
        return self

    def _setup_tokens(self, folder: Path) -> None:
        tok = self._tok
        bos, eos = tok.bos_token_id, tok.eos_token_id
        eos = eos[0] if isinstance(eos, list) else eos
        add_bos: bool | None = None
        prov = folder / "advisor_provenance.json"
        if prov.exists():  # made from a GGUF: follow its header, as llama.cpp does
            with contextlib.suppress(ValueError, KeyError):
                add_bos = json.loads(prov.read_text()).get("add_bos")
        if add_bos is None:
            with_special = tok("a")["input_ids"]
            add_bos = bos is not None and len(with_special) > 0 and with_special[0] == bos
        self._bos_prefix = [bos] if add_bos and bos is not None else []
        self._prefix_token = int(bos if add_bos and bos is not None else eos)
        self._pad_id = int(tok.pad_token_id if tok.pad_token_id is not None else eos)
        self._n_vocab = int(self._model.get_output_embeddings().weight.shape[0])

    def _setup_head(self) -> None:
        """Find the base model and output head, so only scored rows get logits."""
        model = self._model
        self._base = getattr(model, model.base_model_prefix, None)
        self._head = model.get_output_embeddings()
        cfg = model.config.get_text_config()
        self._softcap = getattr(cfg, "final_logit_softcapping", None)
        self._logit_div = getattr(cfg, "logits_scaling", None)  # Granite divides
        self._logit_mul = getattr(cfg, "logit_scale", None)  # Cohere multiplies
        # Check the shortcut against the model's own forward once; fall back if it differs.
        self._gather_ok = False
        if self._base is not None and self._head is not None:
            torch = import_torch()
            ids = torch.tensor([[self._prefix_token, 100, 200, 300]], device=self._device)
            with torch.inference_mode(), _quiet():
                full = model(input_ids=ids).logits.float()
                mine = self._logits(self._base(input_ids=ids).last_hidden_state[0])
            self._gather_ok = bool(torch.allclose(full[0], mine, atol=1e-2, rtol=1e-3))

    def _logits(self, hidden: Any) -> Any:
        """fp32 logits of hidden-state rows, as the model's own head computes them."""
        logits = self._head(hidden).float()
        if self._logit_div:
            logits = logits / self._logit_div
        if self._logit_mul:
            logits = logits * self._logit_mul
        if self._softcap:
            logits = (logits / self._softcap).tanh() * self._softcap
        return logits

    @staticmethod
    def _sliding_window(cfg: Any) -> int | None:
        window = getattr(cfg, "sliding_window", None)
        types = getattr(cfg, "layer_types", None)
        if not window:
            return None
        if types is not None and "sliding_attention" not in types:
            return None
        return int(window)

    def unload(self) -> None:
        if getattr(self, "_model", None) is None and getattr(self, "_base", None) is None:
            return
        self._model = None
        self._base = None
        self._head = None
        gc.collect()
        with contextlib.suppress(Exception):
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    # -- tokens --------------------------------------------------------------------------
    def tokenize(self, text: str, add_bos: bool = False) -> list[int]:
        self._require_loaded()
        ids = list(self._tok(text, add_special_tokens=False)["input_ids"])
        return [*self._bos_prefix, *ids] if add_bos else ids

    def encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        """(prefix, continuation) tokens split as lm-eval and the llama.cpp backend do."""
        n_spaces = len(context) - len(context.rstrip(" "))
        if n_spaces:
            continuation = context[-n_spaces:] + continuation
            context = context[:-n_spaces]
        whole = self.tokenize(context + continuation)
        ctx = self.tokenize(context) if context else []
        cont = whole[len(ctx) :]
        if not cont:
            cont, ctx = whole[-1:], whole[:-1]
        prefix = [*self._bos_prefix, *ctx] if (self._bos_prefix or ctx) else [self._prefix_token]
        return prefix, cont

    def _fit(self, prefix: list[int], cont: list[int]) -> list[int]:
        room = self.context_tokens - len(cont) + 1
        if room < 1:
            raise TransformersError(
                f"a continuation of {len(cont)} tokens exceeds the context ({self.context_tokens})"
            )
        return prefix[-room:] if len(prefix) > room else prefix

    # -- the engine ----------------------------------------------------------------------
    def _can_pack(self, row: _Row) -> bool:
        return self._sliding is None or len(row) <= self._sliding

    def _batches(self, rows: list[_Row]) -> Iterator[list[_Row]]:
        """Rows grouped into forward passes: longest first, packed and plain apart."""
        for kind in (True, False):
            same = sorted((r for r in rows if r.packed == kind), key=len, reverse=True)
            batch: list[_Row] = []
            for r in same:
                width = len(batch[0]) if batch else len(r)
                if batch and (
                    (len(batch) + 1) * width > self.batch_tokens or len(batch) >= self.max_batch
                ):
                    yield batch
                    batch = []
                batch.append(r)
            if batch:
                yield batch

    def _forward(self, batch: list[_Row], out: list[list[float | bool]]) -> None:
        """Run one padded batch and add each branch's (log-prob, greedy) into ``out``."""
        torch = self._torch
        width = max(len(r) for r in batch)
        ids = torch.full((len(batch), width), self._pad_id, dtype=torch.long)
        pos = torch.zeros((len(batch), width), dtype=torch.long)
        packed = batch[0].packed
        if packed:  # additive 4-D mask: a branch sees the prefix and itself
            neg = torch.finfo(self._dtype).min
            mask = torch.full((len(batch), 1, width, width), neg, dtype=self._dtype)
        else:
            mask = torch.zeros((len(batch), width), dtype=torch.long)
        # (batch row, position) predicting each target, and where its score goes.
        where_b: list[int] = []
        where_p: list[int] = []
        tgt: list[int] = []
        slot: list[int] = []
        for b, r in enumerate(batch):
            toks, positions, spans = r.layout()
            n = len(toks)
            ids[b, :n] = torch.tensor(toks)
            pos[b, :n] = torch.tensor(positions)
            p = len(r.prefix)
            if packed:
                causal = torch.ones(p, p, dtype=torch.bool).tril()
                mask[b, 0, :p, :p].masked_fill_(causal, 0.0)
                for s, e in spans:
                    mask[b, 0, s:e, :p] = 0.0
                    mask[b, 0, s:e, s:e].masked_fill_(
                        torch.ones(e - s, e - s, dtype=torch.bool).tril(), 0.0
                    )
                for i in range(n, width):  # padding sees itself: no all-masked rows
                    mask[b, 0, i, i] = 0.0
            else:
                mask[b, :n] = 1
            for (s, _e), targets, owner in zip(spans, r.targets, r.owners, strict=True):
                for j, t in enumerate(targets):
                    where_b.append(b)
                    where_p.append(p - 1 if j == 0 else s + j - 1)
                    tgt.append(t)
                    slot.append(owner)
        dev = self._device
        with torch.inference_mode(), _quiet():
            kwargs: dict[str, Any] = {
                "input_ids": ids.to(dev),
                "attention_mask": mask.to(dev),
                "use_cache": False,
            }
            if packed:
                kwargs["position_ids"] = pos.to(dev)
            wb = torch.tensor(where_b, device=dev)
            wp = torch.tensor(where_p, device=dev)
            if self._gather_ok:
                hidden = self._base(**kwargs).last_hidden_state[wb, wp]
            else:
                hidden = self._model(**kwargs).logits[wb, wp]
            chunk = max(1, LOGIT_BYTES_PER_CHUNK // (4 * self._n_vocab))
            targets = torch.tensor(tgt, device=dev)
            lps, greedy = [], []
            for i in range(0, len(tgt), chunk):
                rows = hidden[i : i + chunk]
                logits = self._logits(rows) if self._gather_ok else rows.float()
                logp = logits.log_softmax(-1)
                t = targets[i : i + chunk]
                lps.append(logp.gather(1, t[:, None])[:, 0])
                greedy.append(logits.argmax(-1) == t)
            lp = torch.cat(lps).double().cpu().tolist()
            gr = torch.cat(greedy).cpu().tolist()
        for k, s in enumerate(slot):
            out[s][0] = float(out[s][0]) + lp[k]
            out[s][1] = bool(out[s][1]) and bool(gr[k])

    def _score(self, rows: list[_Row], n_slots: int) -> list[tuple[float, bool]]:
        self._require_loaded()
        self._torch = import_torch()
        out: list[list[float | bool]] = [[0.0, True] for _ in range(n_slots)]
        flat: list[_Row] = []
        for r in rows:  # a packed row too long for a sliding window: one row per branch
            if r.packed and not self._can_pack(r):
                flat += [_Row(r.prefix, [t], [o]) for t, o in zip(r.targets, r.owners, strict=True)]
            else:
                flat.append(r)
        for batch in self._batches(flat):
            self._forward(batch, out)
        self._sample_nvml()
        return [(float(o[0]), bool(o[1])) for o in out]

    # -- the interface -------------------------------------------------------------------
    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        by_context: dict[str, _Row] = {}
        rows: list[_Row] = []
        lengths: list[int] = []
        for i, req in enumerate(requests):
            prefix, cont = self.encode_pair(req.context, req.continuation)
            row = by_context.get(req.context)
            if row is None:
                row = _Row(prefix, [], [])
                by_context[req.context] = row
                rows.append(row)
            row.targets.append(cont)
            row.owners.append(i)
            lengths.append(len(cont))
        for r in rows:  # truncate to the longest continuation; split if still too long
            r.prefix = self._fit(r.prefix, max(r.targets, key=len))
        final: list[_Row] = []
        for r in rows:
            if len(r) > self.context_tokens:
                final += [
                    _Row(r.prefix, [t], [o]) for t, o in zip(r.targets, r.owners, strict=True)
                ]
            else:
                final.append(r)
        scored = self._score(final, len(requests))
        return [
            LoglikelihoodResult(lp, greedy, n)
            for (lp, greedy), n in zip(scored, lengths, strict=True)
        ]

    def loglikelihood_rolling(self, requests: Sequence[RollingRequest]) -> list[RollingResult]:
        rows: list[_Row] = []
        owner: list[int] = []
        counts: list[int] = []
        for ri, req in enumerate(requests):
            tokens = self.tokenize(req.text)
            counts.append(len(tokens))
            for ctx, targets in rolling_token_windows(
                tokens, self._prefix_token, self.context_tokens, 1
            ):
                rows.append(_Row(ctx, [targets], [len(owner)]))
                owner.append(ri)
        totals = [0.0] * len(requests)
        for ri, (lp, _greedy) in zip(owner, self._score(rows, len(owner)), strict=True):
            totals[ri] += lp
        return [RollingResult(t, n) for t, n in zip(totals, counts, strict=True)]

    def generate_until(self, requests: Sequence[GenerateRequest]) -> list[str]:
        self._require_loaded()
        torch = import_torch()
        out = [""] * len(requests)
        prompts = []
        for req in requests:
            toks = [*self._bos_prefix, *self.tokenize(req.context)]
            prompts.append(toks[-max(1, self.context_tokens - req.max_tokens) :])
        order = sorted(range(len(requests)), key=lambda i: len(prompts[i]), reverse=True)
        for start in range(0, len(order), self.gen_batch):
            idx = order[start : start + self.gen_batch]
            width = max(len(prompts[i]) for i in idx)
            ids = torch.full((len(idx), width), self._pad_id, dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            for b, i in enumerate(idx):  # left padding: every prompt ends at the same column
                ids[b, width - len(prompts[i]) :] = torch.tensor(prompts[i])
                mask[b, width - len(prompts[i]) :] = 1
            budget = max(requests[i].max_tokens for i in idx)
            stops = sorted({u for i in idx for u in requests[i].until if u})
            with torch.inference_mode(), _quiet():
                gen = self._model.generate(
                    input_ids=ids.to(self._device),
                    attention_mask=mask.to(self._device),
                    max_new_tokens=budget,
                    do_sample=False,
                    temperature=None,
                    top_p=None,
                    top_k=None,
                    pad_token_id=self._pad_id,
                    stop_strings=stops or None,
                    tokenizer=self._tok if stops else None,
                )
            for b, i in enumerate(idx):
                new = gen[b, width : width + requests[i].max_tokens].tolist()
                text = str(self._tok.decode(new, skip_special_tokens=True))
                cuts = [text.find(u) for u in requests[i].until if u and u in text]
                out[i] = text[: min(cuts)] if cuts else text
        self._sample_nvml()
        return out

    # -- probes --------------------------------------------------------------------------
    def kv_bytes(self) -> int:
        """Bytes of a 16-bit KV cache at ``context_tokens`` (sliding layers hold their window)."""
        cfg = self._model.config.get_text_config()
        n_layers = int(cfg.num_hidden_layers)
        heads = int(cfg.num_attention_heads)
        kv_heads = int(getattr(cfg, "num_key_value_heads", None) or heads)
        head_dim = int(getattr(cfg, "head_dim", None) or cfg.hidden_size // heads)
        types = getattr(cfg, "layer_types", None) or ["full_attention"] * n_layers
        window = self._sliding or self.context_tokens
        tokens = sum(
            min(self.context_tokens, window) if t == "sliding_attention" else self.context_tokens
            for t in types
        )
        return int(tokens * 2 * kv_heads * head_dim * self._dtype.itemsize)

    def _sample_nvml(self) -> None:
        if self._device.startswith("cuda"):
            self._nvml_peak = max(self._nvml_peak, nvml_process_bytes(self._device))

    def footprint(self) -> dict[str, int]:
        cfg = self.config
        fp = {
            "file_bytes": int(cfg.extra["file_bytes"]),
            "weight_bytes": int(cfg.extra["weight_bytes"]),
            "quant_state_bytes": int(cfg.extra["quant_state_bytes"]),
            "peak_rss_bytes": peak_rss_bytes(),
            "kv_bytes": self.kv_bytes(),
            "context_tokens": self.context_tokens,
        }
        if self._device.startswith("cuda"):
            torch = import_torch()
            self._sample_nvml()
            fp.update(
                cuda_max_allocated_bytes=int(torch.cuda.max_memory_allocated(self._device)),
                cuda_max_reserved_bytes=int(torch.cuda.max_memory_reserved(self._device)),
                nvml_process_bytes=int(self._nvml_peak),
            )
        return fp

    def speed(self, prompt_tokens: int = 512, gen_tokens: int = 128) -> dict[str, float]:
        """llama-bench style: pp = one forward over ``prompt_tokens`` random tokens,
        tg = ``gen_tokens`` single-token decodes from an empty KV cache; one warm-up each."""
        self._require_loaded()
        torch = import_torch()
        from transformers import DynamicCache

        rng = random.Random(self.seed)
        toks = [rng.randrange(self._n_vocab) for _ in range(prompt_tokens)]
        dev = self._device
        cuda = dev.startswith("cuda")

        def sync() -> None:
            if cuda:
                torch.cuda.synchronize(dev)

        ids = torch.tensor([toks], device=dev)
        with torch.inference_mode(), _quiet():
            self._base(input_ids=ids[:, :32], use_cache=False)  # warm-up
            sync()
            t0 = time.perf_counter()
            hidden = self._base(input_ids=ids, use_cache=False).last_hidden_state
            self._logits(hidden[:, -1])
            sync()
            pp = prompt_tokens / (time.perf_counter() - t0)

            # transformers renames past_key_values to cache (5.x deprecation)
            params = inspect.signature(self._model.forward).parameters
            cache_kw = "cache" if "cache" in params else "past_key_values"

            def decode(n: int) -> float:
                cache = DynamicCache(config=self._model.config)
                sync()
                t = time.perf_counter()
                for i in range(n):
                    step = ids[:, i % prompt_tokens : i % prompt_tokens + 1]
                    self._model(
                        input_ids=step,
                        **{cache_kw: cache},
                        use_cache=True,
                        position_ids=torch.tensor([[i]], device=dev),
                        logits_to_keep=1,
                    )
                sync()
                return time.perf_counter() - t

            decode(4)  # warm-up
            tg = gen_tokens / decode(gen_tokens)
        self._sample_nvml()
        return {
            "prompt_tokens_per_s": pp,
            "gen_tokens_per_s": tg,
            "prompt_tokens": prompt_tokens,
            "gen_tokens": gen_tokens,
            "n_threads": int(torch.get_num_threads()),
        }


def nvml_process_bytes(device: str = "cuda") -> int:
    """GPU memory NVML attributes to this process (includes the CUDA context); 0 if unknown."""
    try:
        import pynvml
        import torch
    except ImportError:
        return 0
    try:
        pynvml.nvmlInit()
    except Exception:
        return 0
    try:
        index = torch.device(device).index
        index = torch.cuda.current_device() if index is None else index
        handle = None
        uuid = getattr(torch.cuda.get_device_properties(index), "uuid", None)
        if uuid is not None:  # robust to CUDA_VISIBLE_DEVICES reordering
            with contextlib.suppress(Exception):
                handle = pynvml.nvmlDeviceGetHandleByUUID(f"GPU-{uuid}")
        if handle is None:
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        pid = os.getpid()
        for proc in pynvml.nvmlDeviceGetComputeRunningProcesses(handle):
            if proc.pid == pid and proc.usedGpuMemory is not None:
                return int(proc.usedGpuMemory)
        return 0
    except Exception:
        return 0
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()
