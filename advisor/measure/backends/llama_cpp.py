"""In-process llama.cpp backend through llama-cpp-python's low-level API (no server).

How it scores without waste:

* Multiple choice: the choices of one item share a context. The context's tokens go into
  the batch ONCE, tagged with every choice's sequence id (llama.cpp stores such a token
  once in a unified KV cache and every tagged sequence attends to it); each choice's own
  tokens follow on its own sequence. Several items are packed into one ``llama_decode``
  call, so the CPU works on batches of hundreds of tokens, not one item at a time.
* Memory stays bounded: logits are requested only at positions that predict a scored
  token, at most ``max_outputs`` rows per decode call, and each row is reduced to
  (log-softmax at the target, argmax) right away. A 262k-vocabulary model would otherwise
  keep 1 MiB per position.
* Rolling perplexity is the same engine: each window is a "context" with one "choice".
* Greedy generation runs up to ``n_seq_max`` prompts side by side; their common prefix
  (the few-shot examples) is evaluated once, then every step decodes one token per
  still-running sequence in a single batch.
"""

from __future__ import annotations

import ctypes
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

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

if TYPE_CHECKING:
    from typing_extensions import Self


class BackendError(AdvisorError):
    """llama.cpp could not load the model or evaluate a batch."""


def import_llama_cpp() -> Any:
    """Import the low-level bindings, or say how to install them."""
    try:
        import llama_cpp
    except ImportError as exc:
        raise MissingDependencyError("llama-cpp-python", "gguf", "the llama.cpp backend") from exc
    return llama_cpp


_LOG_CALLBACK: Any = None  # keep the ctypes callback alive for the process lifetime


def silence_llama_logs(llama_cpp: Any) -> None:
    """Drop llama.cpp's stderr chatter (hundreds of lines per load); errors surface as
    return codes that we turn into :class:`BackendError`."""
    global _LOG_CALLBACK
    if _LOG_CALLBACK is not None or os.environ.get("ADVISOR_LLAMA_LOGS"):
        return

    @llama_cpp.llama_log_callback  # type: ignore[misc]
    def _drop(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        return None

    _LOG_CALLBACK = _drop
    llama_cpp.llama_log_set(_LOG_CALLBACK, ctypes.c_void_p(0))


# One batch entry: (token, position, sequence ids, wants logits).
Entry = tuple[int, int, tuple[int, ...], bool]
# Sees (log-softmax rows, target token per row) of a decoded chunk; rows are a view
# valid only during the call.
RowHook = Callable[[np.ndarray, np.ndarray], None]


@dataclass
class _Group:
    """A prefix shared by one or more continuations (MC choices, or one rolling window)."""

    prefix: list[int]
    continuations: list[list[int]]


class LlamaCppBackend(Backend):
    """Score and generate with a GGUF file in this process.

    Parameters are stored, not used, until :meth:`load`:

    * ``context_tokens``: the longest single sequence (prefix + continuation) scored.
    * ``n_seq_max``: sequences packed per decode (MC choices of several items at once).
    * ``n_batch``: tokens per ``llama_decode`` call.
    * ``n_ubatch``: tokens per compute step inside a decode. Kept below 64: at 64+ query
      rows llama.cpp's CPU flash-attention (0.3.36) switches kernel, and we measured that
      kernel 0.35 nats off torch fp32 on a 9-token continuation, and dependent on where
      the sequence sits in the batch; at <= 63 it agrees with torch within 0.003 nats.
    * ``max_outputs``: logit rows per decode call (bounds the logits buffer at
      ``max_outputs x vocab x 4`` bytes: 64 MiB for Gemma's 262k vocabulary).
    """

    name = "llama.cpp"
    error_type = BackendError

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        *,
        context_tokens: int = 2048,
        n_threads: int | None = None,
        n_seq_max: int = 32,
        n_batch: int = 512,
        n_ubatch: int = 63,
        max_outputs: int = 64,
        format: str | None = None,
        provenance: Sequence[str] = (),
        seed: int = 0,
    ) -> None:
        self.model_path = Path(model_path)
        self.context_tokens = context_tokens
        self.n_threads = n_threads
        self.n_seq_max = n_seq_max
        self.n_batch = n_batch
        self.n_ubatch = min(n_ubatch, n_batch)
        self.max_outputs = max_outputs
        self.format = format
        self.provenance = list(provenance)
        self.seed = seed
        self._model: Any = None
        self._ctx: Any = None
        self._batch: Any = None
        self._config: LoadedConfig | None = None

    # -- lifecycle -----------------------------------------------------------------------
    def load(self) -> Self:
        from advisor.profiles.gguf_file import read_gguf

        info = read_gguf(self.model_path)  # clear errors for missing/non-GGUF/truncated
        ll = import_llama_cpp()
        self._ll = ll
        silence_llama_logs(ll)
        ll.llama_backend_init()
        mparams = ll.llama_model_default_params()
        model = ll.llama_model_load_from_file(str(self.model_path).encode(), mparams)
        if not model:
            raise BackendError(f"llama.cpp could not load {self.model_path}")
        self._model = model
        threads = self.n_threads or max(1, len(os.sched_getaffinity(0)))
        cparams = ll.llama_context_default_params()
        # The unified KV cache holds every packed sequence; a shared prefix is stored once.
        n_ctx = max(self.context_tokens * 2, self.n_batch * 2, 1024)
        cparams.n_ctx = n_ctx
        cparams.n_batch = self.n_batch
        cparams.n_ubatch = self.n_ubatch
        cparams.n_seq_max = self.n_seq_max
        cparams.n_threads = threads
        cparams.n_threads_batch = threads
        cparams.kv_unified = True
        cparams.no_perf = True
        ctx = ll.llama_init_from_model(model, cparams)
        if not ctx:
            self.unload()
            raise BackendError(f"llama.cpp could not create a context for {self.model_path}")
        self._ctx = ctx
        self._n_ctx = int(ll.llama_n_ctx(ctx))
        self._mem = ll.llama_get_memory(ctx)
        self._vocab = ll.llama_model_get_vocab(model)
        self._n_vocab = int(ll.llama_vocab_n_tokens(self._vocab))
        self._batch = ll.llama_batch_init(self.n_batch, 0, self.n_seq_max)
        add_bos = bool(ll.llama_vocab_get_add_bos(self._vocab))
        bos = int(ll.llama_vocab_bos(self._vocab))
        eos = int(ll.llama_vocab_eos(self._vocab))
        # Scored text starts after BOS when the model was trained that way; rolling
        # windows need some token to predict the first one from: BOS, else EOS (lm-eval).
        self._bos_prefix = [bos] if add_bos and bos >= 0 else []
        self._prefix_token = bos if add_bos and bos >= 0 else eos
        self._threads = threads
        self._config = LoadedConfig(
            model_path=str(self.model_path),
            format=self.format or info.file_type or "unknown",
            bits_per_weight=info.bits_per_weight,
            n_params=info.n_params,
            context_tokens=self.context_tokens,
            provenance=self.provenance,
            extra={
                "file_bytes": info.file_bytes,
                "weight_bytes": info.tensor_bytes,
                "architecture": info.architecture,
                "n_ctx_cache": self._n_ctx,
                "n_threads": threads,
                "n_vocab": self._n_vocab,
            },
        )
        self._info = info
        return self

    def unload(self) -> None:
        ll = getattr(self, "_ll", None)
        if ll is None:
            return
        if self._batch is not None:
            ll.llama_batch_free(self._batch)
            self._batch = None
        if self._ctx is not None:
            ll.llama_free(self._ctx)
            self._ctx = None
        if self._model is not None:
            ll.llama_model_free(self._model)
            self._model = None

    @property
    def loaded(self) -> bool:
        return self._ctx is not None

    # -- tokens --------------------------------------------------------------------------
    def tokenize(self, text: str, add_bos: bool = False) -> list[int]:
        self._require_loaded()
        ll = self._ll
        data = text.encode("utf-8")
        n_max = len(data) + 16
        buf = (ll.llama_token * n_max)()
        n = ll.llama_tokenize(self._vocab, data, len(data), buf, n_max, False, False)
        if n < 0:  # buffer too small: llama.cpp returns minus the size it needs
            n_max = -n
            buf = (ll.llama_token * n_max)()
            n = ll.llama_tokenize(self._vocab, data, len(data), buf, n_max, False, False)
        tokens = list(buf[:n])
        return [*self._bos_prefix, *tokens] if add_bos else tokens

    def _piece(self, token: int) -> bytes:
        buf = ctypes.create_string_buffer(64)
        n = self._ll.llama_token_to_piece(self._vocab, token, buf, 64, 0, False)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = self._ll.llama_token_to_piece(self._vocab, token, buf, -n, 0, False)
        return buf.raw[:n]

    def detokenize(self, tokens: Sequence[int]) -> str:
        return b"".join(self._piece(t) for t in tokens).decode("utf-8", errors="replace")

    def encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        """Tokens of (context, continuation) the way lm-eval splits them: trailing spaces
        of the context move to the continuation; the pair is tokenized whole and cut at
        the length of the context's own tokenization."""
        n_spaces = len(context) - len(context.rstrip(" "))
        if n_spaces:
            continuation = context[-n_spaces:] + continuation
            context = context[:-n_spaces]
        whole = self.tokenize(context + continuation)
        ctx = self.tokenize(context) if context else []
        cont = whole[len(ctx) :]
        if not cont:  # degenerate: the continuation merged into the context's last token
            cont = whole[-1:]
            ctx = whole[:-1]
        prefix = [*self._bos_prefix, *ctx] if (self._bos_prefix or ctx) else [self._prefix_token]
        return prefix, cont

    # -- the engine ----------------------------------------------------------------------
    def _decode(self, entries: Sequence[Entry]) -> np.ndarray:
        """Decode one batch of (token, pos, seq_ids, wants_logits); return the logit rows
        (a view, valid until the next decode) in entry order."""
        b = self._batch
        n_out = 0
        for i, (tok, pos, seqs, out) in enumerate(entries):
            b.token[i] = tok
            b.pos[i] = pos
            b.n_seq_id[i] = len(seqs)
            for j, s in enumerate(seqs):
                b.seq_id[i][j] = s
            b.logits[i] = 1 if out else 0
            n_out += out
        b.n_tokens = len(entries)
        rc = self._ll.llama_decode(self._ctx, b)
        if rc != 0:
            raise BackendError(f"llama_decode failed with code {rc} ({len(entries)} tokens)")
        if n_out == 0:
            return np.empty((0, self._n_vocab), dtype=np.float32)
        ptr = self._ll.llama_get_logits(self._ctx)
        rows = np.ctypeslib.as_array(ptr, shape=(n_out, self._n_vocab))
        # llama.cpp may store output rows in its own (per-sequence) order; the row of
        # batch entry i is found through llama_get_logits_ith, as its docs advise.
        base = ctypes.addressof(ptr.contents)
        row_bytes = self._n_vocab * ctypes.sizeof(ctypes.c_float)
        order = [
            (ctypes.addressof(self._ll.llama_get_logits_ith(self._ctx, i).contents) - base)
            // row_bytes
            for i, e in enumerate(entries)
            if e[3]
        ]
        if order == list(range(n_out)):
            return rows
        return rows[np.asarray(order)]

    def _run(self, entries: Sequence[Entry], on_rows: Any) -> None:
        """Feed entries in decode-sized chunks; ``on_rows(rows)`` gets each chunk's logits."""
        start = 0
        while start < len(entries):
            end, outs = start, 0
            while end < len(entries) and end - start < self.n_batch:
                if entries[end][3]:
                    if outs == self.max_outputs:
                        break
                    outs += 1
                end += 1
            rows = self._decode(entries[start:end])
            if len(rows):
                on_rows(rows)
            start = end

    def _score_groups(
        self, groups: Sequence[_Group], row_hook: RowHook | None = None
    ) -> list[list[tuple[float, bool]]]:
        """(sum log-prob, all-greedy) of every continuation of every group.

        Groups are packed into the KV cache side by side (each continuation on its own
        sequence, the prefix tagged with all of the group's sequences), decoded, and the
        cache is cleared before the next pack. ``row_hook(log_softmax_rows, targets)``,
        if given, sees every scored position's whole distribution, in group order.
        """
        self._require_loaded()
        results: list[list[list[float | bool]]] = [
            [[0.0, True] for _ in g.continuations] for g in groups
        ]
        # Row targets of the pack being decoded: per output row, (group, choice, token)s.
        pending: list[list[tuple[int, int, int]]] = []
        entries: list[tuple[int, int, tuple[int, ...], bool]] = []

        def reduce_rows(rows: np.ndarray) -> None:
            targets, pending[:] = pending[: len(rows)], pending[len(rows) :]
            mx = rows.max(axis=1)
            lse = mx + np.log(np.exp(rows - mx[:, None]).sum(axis=1))
            best = rows.argmax(axis=1)
            if row_hook is not None:
                row_hook(rows - lse[:, None], np.asarray([t[0][2] for t in targets]))
            for r, row_targets in enumerate(targets):
                for gi, ci, tok in row_targets:
                    res = results[gi][ci]
                    res[0] = float(res[0]) + float(rows[r, tok] - lse[r])
                    if best[r] != tok:
                        res[1] = False

        def flush() -> None:
            nonlocal entries
            if entries:
                self._ll.llama_memory_clear(self._mem, True)
                self._run(entries, reduce_rows)
                assert not pending, "every requested logit row must have been reduced"
            entries = []

        next_seq, cells = 0, 0
        for gi, g in enumerate(groups):
            k = len(g.continuations)
            tail = sum(len(c) - 1 for c in g.continuations)
            need_cells = len(g.prefix) + tail
            if k > self.n_seq_max:
                raise BackendError(f"{k} choices exceed n_seq_max={self.n_seq_max}")
            if need_cells > self._n_ctx:
                raise BackendError(f"{need_cells} tokens exceed the KV cache ({self._n_ctx})")
            if next_seq + k > self.n_seq_max or cells + need_cells > self._n_ctx:
                flush()
                next_seq, cells = 0, 0
            seqs = tuple(range(next_seq, next_seq + k))
            last = len(g.prefix) - 1
            for p, tok in enumerate(g.prefix):
                entries.append((tok, p, seqs, p == last))
            pending.append([(gi, ci, c[0]) for ci, c in enumerate(g.continuations)])
            for ci, cont in enumerate(g.continuations):
                for j, tok in enumerate(cont[:-1]):
                    entries.append((tok, last + 1 + j, (seqs[ci],), True))
                    pending.append([(gi, ci, cont[j + 1])])
            next_seq += k
            cells += need_cells
        flush()
        return [[(float(r[0]), bool(r[1])) for r in g] for g in results]

    # -- the interface -------------------------------------------------------------------
    def _fit(self, prefix: list[int], cont: list[int]) -> list[int]:
        """Left-truncate the prefix so prefix + continuation fits ``context_tokens``."""
        room = self.context_tokens - len(cont) + 1  # the last continuation token isn't fed
        if room < 1:
            raise BackendError(
                f"a continuation of {len(cont)} tokens exceeds the context ({self.context_tokens})"
            )
        return prefix[-room:] if len(prefix) > room else prefix

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        # Requests with the same context string form one group (one item's choices).
        by_context: dict[str, int] = {}
        groups: list[_Group] = []
        where: list[tuple[int, int, int]] = []
        for req in requests:
            prefix, cont = self.encode_pair(req.context, req.continuation)
            gi = by_context.get(req.context)
            if gi is None or len(groups[gi].continuations) >= self.n_seq_max:
                gi = len(groups)
                by_context[req.context] = gi
                groups.append(_Group(prefix, []))
            groups[gi].continuations.append(cont)
            where.append((gi, len(groups[gi].continuations) - 1, len(cont)))
        for g in groups:  # truncate to the longest continuation of the group
            g.prefix = self._fit(g.prefix, max(g.continuations, key=len))
        scored = self._score_groups(groups)
        return [LoglikelihoodResult(scored[gi][ci][0], scored[gi][ci][1], n) for gi, ci, n in where]

    def loglikelihood_rolling(self, requests: Sequence[RollingRequest]) -> list[RollingResult]:
        groups: list[_Group] = []
        owner: list[int] = []
        counts: list[int] = []
        for ri, req in enumerate(requests):
            tokens = self.tokenize(req.text)
            counts.append(len(tokens))
            for ctx, targets in rolling_token_windows(
                tokens, self._prefix_token, self.context_tokens, 1
            ):
                groups.append(_Group(ctx, [targets]))
                owner.append(ri)
        totals = [0.0] * len(requests)
        for ri, scores in zip(owner, self._score_groups(groups), strict=True):
            totals[ri] += scores[0][0]
        return [RollingResult(t, n) for t, n in zip(totals, counts, strict=True)]

    def rolling_logprob_rows(self, requests: Sequence[RollingRequest], hook: RowHook) -> list[int]:
        """The rolling windows of :meth:`loglikelihood_rolling`, but every predicted
        position's full next-token distribution (log-softmax over the vocabulary) goes to
        ``hook(rows, targets)``: requests in order, tokens in text order, up to
        ``max_outputs`` rows per call. What KL divergence and top-token agreement need
        (:mod:`advisor.measure.kld`). Returns each request's token count."""
        if not callable(hook):
            raise TypeError("hook must be a callable taking (rows, targets)")
        groups: list[_Group] = []
        counts: list[int] = []
        for req in requests:
            tokens = self.tokenize(req.text)
            counts.append(len(tokens))
            for ctx, targets in rolling_token_windows(
                tokens, self._prefix_token, self.context_tokens, 1
            ):
                groups.append(_Group(ctx, [targets]))
        self._score_groups(groups, row_hook=hook)
        return counts

    @property
    def n_vocab(self) -> int:
        self._require_loaded()
        return self._n_vocab

    def generate_until(self, requests: Sequence[GenerateRequest]) -> list[str]:
        self._require_loaded()
        out: list[str] = [""] * len(requests)
        prompts = []
        for req in requests:
            toks = [*self._bos_prefix, *self.tokenize(req.context)]
            prompts.append(toks[-(self.context_tokens - req.max_tokens) :])
        for idx in self._generation_packs(prompts, requests):
            texts = self._generate_pack([prompts[i] for i in idx], [requests[i] for i in idx])
            for i, text in zip(idx, texts, strict=True):
                out[i] = text
        return out

    def _generation_packs(
        self, prompts: list[list[int]], requests: Sequence[GenerateRequest]
    ) -> list[list[int]]:
        """Consecutive requests grouped so each group's KV cells (shared prefix once,
        the rest per sequence, plus the token budget) fit the cache."""
        packs: list[list[int]] = []
        cur: list[int] = []
        common = 0
        for i, p in enumerate(prompts):
            if cur:
                first = prompts[cur[0]]
                c = 0
                limit = min(common, len(p))
                while c < limit and p[c] == first[c]:
                    c += 1
                cells = c + sum(len(prompts[j]) - c + requests[j].max_tokens for j in [*cur, i])
                if len(cur) < self.n_seq_max and cells <= self._n_ctx:
                    cur.append(i)
                    common = c
                    continue
                packs.append(cur)
            cur, common = [i], len(p)
            if len(p) + requests[i].max_tokens > self._n_ctx:
                raise BackendError(f"a prompt of {len(p)} tokens does not fit the cache")
        if cur:
            packs.append(cur)
        return packs

    def _generate_pack(self, prompts: list[list[int]], reqs: list[GenerateRequest]) -> list[str]:
        ll = self._ll
        ll.llama_memory_clear(self._mem, True)
        n = len(prompts)
        # Common prefix of all prompts: evaluated once, shared by every sequence.
        common = 0
        shortest = min(len(p) for p in prompts)
        while common < shortest - 1 and all(p[common] == prompts[0][common] for p in prompts):
            common += 1
        entries: list[Entry] = [
            (tok, pos, tuple(range(n)), False) for pos, tok in enumerate(prompts[0][:common])
        ]
        for s, p in enumerate(prompts):
            for pos in range(common, len(p)):
                entries.append((p[pos], pos, (s,), pos == len(p) - 1))
        last_rows: list[np.ndarray] = []
        self._run(entries, lambda rows: last_rows.append(rows.argmax(axis=1)))
        nxt = [int(t) for t in np.concatenate(last_rows)]
        positions = [len(p) for p in prompts]
        texts = [b""] * n
        active = list(range(n))
        results = [""] * n
        steps = 0
        while active:
            still: list[int] = []
            step_entries: list[Entry] = []
            for s, tok in zip(active, nxt, strict=True):
                req = reqs[s]
                done = bool(ll.llama_vocab_is_eog(self._vocab, tok))
                if not done:
                    texts[s] += self._piece(tok)
                    text = texts[s].decode("utf-8", errors="ignore")
                    cut = min((text.find(u) for u in req.until if u and u in text), default=-1)
                    if cut >= 0:
                        results[s] = text[:cut]
                        done = True
                    elif steps + 1 >= req.max_tokens:
                        results[s] = text
                        done = True
                else:
                    results[s] = texts[s].decode("utf-8", errors="ignore")
                if not done:
                    still.append(s)
                    step_entries.append((tok, positions[s], (s,), True))
                    positions[s] += 1
            active = still
            steps += 1
            if not active:
                break
            rows_out: list[np.ndarray] = []
            self._run(step_entries, lambda rows, out=rows_out: out.append(rows.argmax(axis=1)))
            nxt = [int(t) for t in np.concatenate(rows_out)]
        return results

    # -- probes --------------------------------------------------------------------------
    def kv_bytes(self) -> int:
        """Bytes of the f16 KV cache at ``context_tokens`` (the memory model's formula)."""
        from advisor.memory import architecture_from_gguf, kv_cache_bytes

        return int(kv_cache_bytes(architecture_from_gguf(self._info), self.context_tokens, "f16"))

    def footprint(self) -> dict[str, int]:
        cfg = self.config
        return {
            "file_bytes": int(cfg.extra["file_bytes"]),
            "weight_bytes": int(cfg.extra["weight_bytes"]),
            "peak_rss_bytes": peak_rss_bytes(),
            "kv_bytes": self.kv_bytes(),
            "context_tokens": self.context_tokens,
        }

    def speed(self, prompt_tokens: int = 512, gen_tokens: int = 128) -> dict[str, float]:
        """llama-bench style: pp = one prompt of random tokens in n_batch chunks,
        tg = single-token decodes from an empty cache."""
        self._require_loaded()
        rng = random.Random(self.seed)
        toks = [rng.randrange(self._n_vocab) for _ in range(prompt_tokens)]
        ll = self._ll
        ll.llama_memory_clear(self._mem, True)
        t0 = time.perf_counter()
        entries = [(t, i, (0,), i == prompt_tokens - 1) for i, t in enumerate(toks)]
        self._run(entries, lambda rows: None)
        pp = prompt_tokens / (time.perf_counter() - t0)
        ll.llama_memory_clear(self._mem, True)
        t0 = time.perf_counter()
        for i in range(gen_tokens):
            self._decode([(toks[i % len(toks)], i, (0,), True)])
        tg = gen_tokens / (time.perf_counter() - t0)
        ll.llama_memory_clear(self._mem, True)
        return {
            "prompt_tokens_per_s": pp,
            "gen_tokens_per_s": tg,
            "prompt_tokens": prompt_tokens,
            "gen_tokens": gen_tokens,
            "n_threads": self._threads,
        }
