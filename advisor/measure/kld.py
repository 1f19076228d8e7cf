"""KL divergence and top-token agreement of a quantized file against its ladder's top rung,
the way llama.cpp's ``perplexity --kl-divergence`` reports them.

1. The **reference** is the ladder's top rung: the file with the most bits per weight
   among the rungs made from the same source (for a 4-bit-sourced ladder that is the
   dequantized F16 base, which holds 4-bit information). On a fixed text (the task's
   passages, rolling windows of the backend's context) its top-``k`` log-probabilities
   per token, and the log-probability of the actual next token, are saved once,
   compressed, in the cache, named by the reference file's sha256, the text and the
   window.
2. For each rung, the same positions are scored and compared:

   * ``mean_kld`` (nats) -- mean over tokens of KL(P_ref || Q). With only the reference's
     top-k kept, the rest of the vocabulary is one "tail" bucket on both sides:
     ``sum_top p (log p - log q) + p_tail log(p_tail / q_tail)``. That is a lower bound of
     the full-vocabulary KLD (grouping outcomes never increases a divergence) and equal
     to it when the reference's tail is empty; at k = 64 the tail is usually well under
     1 % of the mass;
   * ``kld_p99`` -- its 99th percentile over tokens;
   * ``same_top_p`` (%) -- tokens where the rung's most likely token is the reference's;
   * ``mean_delta_p``, ``rms_delta_p`` (%) -- the change in the probability of the
     actual next token, rung minus reference (llama.cpp's Δp), mean and RMS;
   * ``ppl_ratio`` -- perplexity of the rung over that of the reference on the same text
     (llama.cpp's "PPL ratio"), the perplexity proxy without another pass.

The rung's result is also cached (by file sha256, backend and format), so every record
measured later from the same loaded file carries the same numbers in its ``metrics``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from advisor.errors import AdvisorError

if TYPE_CHECKING:
    from advisor.measure.backends.base import Backend
    from advisor.measure.tasks import Item, Task

DEFAULT_TOP_K = 64
METRIC_NAMES = (
    "mean_kld", "kld_p99", "same_top_p", "mean_delta_p", "rms_delta_p", "ppl_ratio",
    "kld_tokens", "kld_reference_bpw",
)  # fmt: skip
_TINY = 1e-12


class DivergenceError(AdvisorError):
    """The KL divergence cannot be measured (no reference, another tokenizer, a backend
    that does not expose its distributions)."""


def kld_dir() -> Path:
    from advisor.measure.files import cache_dir

    return cache_dir().parent / "kld"


# -- which file is the reference ----------------------------------------------------------------
def _ladder_folder(model_path: Path) -> tuple[Path, Path | None]:
    """(folder of the ladder this file belongs to, its source file if known)."""
    from advisor.measure.files import cache_dir, file_sha256

    root = cache_dir()
    with contextlib.suppress(ValueError, OSError):
        rel = model_path.resolve().relative_to(root.resolve())
        if len(rel.parts) == 2:  # <cache>/<source sha16>/<stem>.<FMT>.gguf
            return model_path.parent, _source_of(rel.parts[0])
    return root / file_sha256(model_path)[:16], model_path


def _source_of(sha16: str) -> Path | None:
    """The source file a ladder folder was made from, through the sha256 memo that
    :func:`advisor.measure.files.file_sha256` keeps for every file it hashed."""
    from advisor.measure.files import cache_dir

    memo = cache_dir().parent / "sha256"
    if not memo.is_dir():
        return None
    for entry in sorted(memo.glob("*.json")):
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            data = json.loads(entry.read_text(encoding="utf-8")[:4096])
            path = Path(str(data["path"]))
            if str(data["sha256"]).startswith(sha16) and path.is_file():
                return path
    return None


def ladder_top(model_path: str | os.PathLike[str]) -> Path:
    """The rung with the most bits per weight among the files made from the same source
    as ``model_path`` (the source itself included when it is known)."""
    from advisor.profiles.gguf_file import read_gguf

    path = Path(model_path)
    folder, source = _ladder_folder(path)
    candidates = {path.resolve(): path}
    if source is not None:
        candidates[source.resolve()] = source
    if folder.is_dir():
        for p in folder.glob("*.gguf"):
            if not p.name.startswith("."):  # a quantization in progress
                candidates.setdefault(p.resolve(), p)
    ranked = []
    for p in candidates.values():
        with contextlib.suppress(Exception):
            ranked.append((read_gguf(p).bits_per_weight, p.name, p))
    if not ranked:
        raise DivergenceError(f"no readable rung for {path}")
    return max(ranked)[2]


# -- reference distributions --------------------------------------------------------------------
@dataclass
class Reference:
    """What the reference predicted at every position of the text."""

    tokens: np.ndarray  # int32 [N], the actual next tokens
    target_logprob: np.ndarray  # float32 [N], log p_ref(actual token)
    top_ids: np.ndarray  # int32 [N, k], most likely first
    top_logprob: np.ndarray  # float32 [N, k]
    meta: dict[str, Any]

    @property
    def k(self) -> int:
        return int(self.top_ids.shape[1])


def _text_key(items: Sequence[Item]) -> str:
    h = hashlib.sha256()
    for it in items:
        h.update(it.data["text"].encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()[:16]


def reference_path(ref_sha256: str, text_key: str, context_tokens: int, k: int) -> Path:
    return kld_dir() / f"ref-{ref_sha256[:16]}-{text_key}-c{context_tokens}-k{k}.npz"


def _llama(backend: Backend) -> Any:
    if not hasattr(backend, "rolling_logprob_rows"):
        raise DivergenceError(
            f"KL divergence needs the llama.cpp backend's distributions; {backend.name!r} "
            "does not expose them"
        )
    return backend


def compute_reference(backend: Backend, items: Sequence[Item], k: int) -> Reference:
    """Score the text with ``backend`` (the reference file) and keep its top-k."""
    from advisor.measure.backends.base import RollingRequest

    lm = _llama(backend)
    if not 1 <= k <= lm.n_vocab:
        raise ValueError(f"k must be between 1 and the vocabulary size, not {k}")
    tokens: list[np.ndarray] = []
    target: list[np.ndarray] = []
    ids: list[np.ndarray] = []
    lps: list[np.ndarray] = []

    def keep(rows: np.ndarray, targets: np.ndarray) -> None:
        part = np.argpartition(-rows, k - 1, axis=1)[:, :k]
        vals = np.take_along_axis(rows, part, axis=1)
        order = np.argsort(-vals, axis=1)
        ids.append(np.take_along_axis(part, order, axis=1).astype(np.int32))
        lps.append(np.take_along_axis(vals, order, axis=1).astype(np.float32))
        tokens.append(targets.astype(np.int32))
        target.append(rows[np.arange(len(rows)), targets].astype(np.float32))

    lm.rolling_logprob_rows([RollingRequest(it.data["text"]) for it in items], keep)
    return Reference(
        np.concatenate(tokens), np.concatenate(target), np.concatenate(ids),
        np.concatenate(lps), {},
    )  # fmt: skip


def save_reference(path: Path, ref: Reference) -> None:
    """Write compressed, atomically (a reader sees no file or a whole one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez_compressed(
        buf,
        tokens=ref.tokens,
        target_logprob=ref.target_logprob,
        top_ids=ref.top_ids,
        top_logprob=ref.top_logprob,
        meta=np.frombuffer(json.dumps(ref.meta).encode("utf-8"), dtype=np.uint8),
    )
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(buf.getvalue())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def load_reference(path: Path) -> Reference | None:
    """A saved reference, or None when it is missing or unreadable (then it is redone)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(bytes(z["meta"]).decode("utf-8"))
            ref = Reference(z["tokens"], z["target_logprob"], z["top_ids"], z["top_logprob"], meta)
    except (OSError, ValueError, KeyError) as exc:
        import warnings

        warnings.warn(f"{path}: unreadable KLD reference, recomputing ({exc})", stacklevel=2)
        return None
    n = len(ref.tokens)
    if ref.top_ids.shape[0] != n or ref.top_logprob.shape != ref.top_ids.shape:
        return None
    return ref


def _reference_for(
    backend: Backend, items: Sequence[Item], k: int, tick: Callable[[int], None]
) -> Reference:
    """The cached reference for this text and window, computed if missing: with the
    loaded backend when it is the top rung, else by loading the top rung beside it."""
    from advisor.measure.backends.llama_cpp import LlamaCppBackend
    from advisor.measure.files import file_sha256
    from advisor.profiles.gguf_file import read_gguf

    cfg = backend.config
    context = int(cfg.context_tokens)
    ref_file = ladder_top(cfg.model_path)
    ref_sha = file_sha256(ref_file)
    path = reference_path(ref_sha, _text_key(items), context, k)
    ref = load_reference(path)
    if ref is not None:
        return ref
    if Path(ref_file).resolve() == Path(cfg.model_path).resolve():
        ref = compute_reference(backend, items, k)
    else:
        _check_memory(ref_file)
        lm = LlamaCppBackend(
            ref_file, context_tokens=context, n_threads=cfg.extra.get("n_threads")
        ).load()
        try:
            ref = compute_reference(lm, items, k)
        finally:
            lm.unload()
    info = read_gguf(ref_file)
    ref.meta = {
        "reference_file": Path(ref_file).name,
        "reference_sha256": ref_sha,
        "reference_file_type": info.file_type,
        "reference_bpw": info.bits_per_weight,
        "context_tokens": context,
        "k": k,
        "tokens": len(ref.tokens),
        "passages": len(items),
    }
    save_reference(path, ref)
    tick(0)
    return ref


def _check_memory(path: Path) -> None:
    import psutil

    need = int(Path(path).stat().st_size * 1.2)
    avail = int(psutil.virtual_memory().available)
    if need > avail:
        raise DivergenceError(
            f"loading the KLD reference {Path(path).name} needs about {need / 2**30:.1f} GiB, "
            f"{avail / 2**30:.1f} GiB available"
        )


# -- the comparison -----------------------------------------------------------------------------
def divergence_stats(
    ref: Reference, q_at_ref_top: np.ndarray, q_target: np.ndarray, q_argmax: np.ndarray
) -> dict[str, dict[str, float | None]]:
    """The metrics from per-position arrays (all [N] or [N, k], same positions as ``ref``).

    ``q_at_ref_top``: the rung's log-probabilities of the reference's top-k tokens;
    ``q_target``: of the actual next token; ``q_argmax``: its most likely token.
    """
    n = len(ref.tokens)
    if n == 0:
        raise DivergenceError("no tokens to compare")
    if q_at_ref_top.shape != ref.top_ids.shape or len(q_target) != n or len(q_argmax) != n:
        raise ValueError("the rung's arrays do not match the reference's positions")
    p_lp = ref.top_logprob.astype(np.float64)
    q_lp = q_at_ref_top.astype(np.float64)
    p = np.exp(p_lp)
    p_tail = np.clip(1.0 - p.sum(axis=1), 0.0, 1.0)
    q_tail = np.clip(1.0 - np.exp(q_lp).sum(axis=1), _TINY, 1.0)
    kl_top = (p * (p_lp - q_lp)).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_tail = np.where(
            p_tail > _TINY, p_tail * (np.log(np.maximum(p_tail, _TINY)) - np.log(q_tail)), 0.0
        )
    kl = np.maximum(kl_top + kl_tail, 0.0)
    same = (q_argmax == ref.top_ids[:, 0]).astype(np.float64)
    dp = np.exp(q_target.astype(np.float64)) - np.exp(ref.target_logprob.astype(np.float64))
    dp *= 100.0  # percent, as llama.cpp prints Δp
    se = math.sqrt(n)

    def stat(value: float, stderr: float | None) -> dict[str, float | None]:
        return {"value": float(value), "stderr": None if stderr is None else float(stderr)}

    same_p = float(same.mean())
    # log(PPL_q / PPL_ref) is the mean of (log p_ref - log q) at the actual tokens.
    dlog = ref.target_logprob.astype(np.float64) - q_target.astype(np.float64)
    ratio = math.exp(float(dlog.mean()))
    ratio_se = ratio * float(dlog.std(ddof=1)) / se if n > 1 else None
    return {
        "mean_kld": stat(kl.mean(), kl.std(ddof=1) / se if n > 1 else None),
        "kld_p99": stat(np.percentile(kl, 99), None),
        "same_top_p": stat(100 * same_p, 100 * math.sqrt(same_p * (1 - same_p) / n)),
        "mean_delta_p": stat(dp.mean(), dp.std(ddof=1) / se if n > 1 else None),
        "rms_delta_p": stat(math.sqrt(float((dp * dp).mean())), None),
        "ppl_ratio": stat(ratio, ratio_se),
        "kld_tokens": stat(n, None),
        "kld_reference_bpw": stat(float(ref.meta.get("reference_bpw", float("nan"))), None),
    }


def compare(backend: Backend, items: Sequence[Item], ref: Reference) -> dict[str, Any]:
    """Score the same text with ``backend`` and compare it with ``ref``."""
    from advisor.measure.backends.base import RollingRequest

    lm = _llama(backend)
    n = len(ref.tokens)
    q_top = np.empty(ref.top_ids.shape, dtype=np.float32)
    q_target = np.empty(n, dtype=np.float32)
    q_argmax = np.empty(n, dtype=np.int64)
    pos = 0

    def gather(rows: np.ndarray, targets: np.ndarray) -> None:
        nonlocal pos
        m = len(rows)
        if pos + m > n or not np.array_equal(targets, ref.tokens[pos : pos + m]):
            raise DivergenceError(
                "this file tokenizes the text differently from the reference: KL divergence "
                "compares files of one model (one tokenizer)"
            )
        q_top[pos : pos + m] = np.take_along_axis(rows, ref.top_ids[pos : pos + m], axis=1)
        q_target[pos : pos + m] = rows[np.arange(m), targets]
        q_argmax[pos : pos + m] = rows.argmax(axis=1)
        pos += m

    lm.rolling_logprob_rows([RollingRequest(it.data["text"]) for it in items], gather)
    if pos != n:
        raise DivergenceError(f"scored {pos} tokens, the reference has {n}")
    return divergence_stats(ref, q_top, q_target, q_argmax)


# -- the task and the per-rung cache --------------------------------------------------------------
def _result_path(backend: Backend) -> Path | None:
    from advisor.measure.files import file_sha256

    try:
        cfg = backend.config
        sha = file_sha256(cfg.model_path)
    except Exception:  # a backend without a file (test doubles): nothing to attach
        return None
    fmt = "".join(ch if ch.isalnum() or ch in "_-." else "_" for ch in str(cfg.format))
    name = "".join(ch if ch.isalnum() else "_" for ch in backend.name)
    return kld_dir() / "results" / f"{sha[:20]}-{name}-{fmt}-c{cfg.context_tokens}.json"


def evaluate_divergence(
    task: Task, backend: Backend, items: Sequence[Item], tick: Callable[[int], None]
) -> dict[str, dict[str, float | None]]:
    """The ``kl_divergence`` task: this rung against its ladder's top rung."""
    k = int(task.format.get("top_k", DEFAULT_TOP_K))
    from advisor.measure.files import file_sha256

    ref = _reference_for(backend, items, k, tick)
    if ref.meta.get("reference_sha256") == file_sha256(backend.config.model_path):
        # The top rung itself: identical distributions, no second pass needed.
        metrics = divergence_stats(ref, ref.top_logprob, ref.target_logprob, ref.top_ids[:, 0])
    else:
        metrics = compare(backend, items, ref)
    tick(len(items))
    out = _result_path(backend)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "metrics": metrics,
            "task": task.name,
            "task_version": task.version,
            "reference": ref.meta,
        }
        tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(payload), encoding="utf-8")
        os.replace(tmp, out)
    return metrics


def rung_metrics(backend: Backend) -> dict[str, dict[str, float | None]]:
    """The KL divergence metrics measured earlier for the loaded file (same backend,
    format and context), to ride along in another task's record; empty if none."""
    path = _result_path(backend)
    if path is None or not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        metrics = data["metrics"]
        return {name: dict(metrics[name]) for name in METRIC_NAMES if name in metrics}
    except (OSError, ValueError, KeyError, TypeError):
        return {}
