"""The backend interface every evaluator implements (after lm-evaluation-harness's ``LM``).

Three batch methods carry all of the scoring:

* :meth:`Backend.loglikelihood` -- log P(continuation | context) and whether the
  continuation is the greedy decode. Word-boundary spaces belong to the *continuation*
  (``context="Answer:"``, ``continuation=" Paris"``), as in lm-eval; the split between
  context and continuation tokens is made by tokenizing ``context + continuation`` and
  ``context`` and cutting the first at the length of the second.
* :meth:`Backend.loglikelihood_rolling` -- the log-likelihood of a whole text, every token
  predicted exactly once, long texts cut into windows that carry context
  (:func:`rolling_token_windows`, shared by all backends).
* :meth:`Backend.generate_until` -- greedy decoding until a stop string or a token budget.

A backend's ``__init__`` only stores parameters; :meth:`Backend.load` does the work and
returns ``self`` (so ``with Backend(...).load() as lm:`` reads naturally).
"""

from __future__ import annotations

import resource
import sys
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from advisor.errors import AdvisorError

if TYPE_CHECKING:
    from typing_extensions import Self


def peak_rss_bytes() -> int:
    """High-water resident set size of this process (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


@dataclass(frozen=True)
class LoglikelihoodRequest:
    """Score ``continuation`` after ``context`` (the leading space goes in the continuation)."""

    context: str
    continuation: str


@dataclass(frozen=True)
class RollingRequest:
    """Score a whole text: the sum of log P(token_i | tokens_<i) over all its tokens."""

    text: str


@dataclass(frozen=True)
class GenerateRequest:
    """Greedy continuation of ``context``, cut at the first of ``until`` (not included)."""

    context: str
    until: tuple[str, ...] = ("\n",)
    max_tokens: int = 32


@dataclass(frozen=True)
class LoglikelihoodResult:
    logprob: float  # natural log, summed over the continuation's tokens
    is_greedy: bool  # every continuation token was the argmax at its position
    n_tokens: int  # how many tokens the continuation has

    def __iter__(self) -> Iterator[Any]:  # unpacks like lm-eval's (logprob, is_greedy)
        return iter((self.logprob, self.is_greedy))


@dataclass(frozen=True)
class RollingResult:
    logprob: float  # natural log, summed over every token of the text
    n_tokens: int


def rolling_token_windows(
    tokens: Sequence[int], prefix_token: int, max_seq_len: int, context_len: int = 1
) -> Iterator[tuple[list[int], list[int]]]:
    """Cut ``tokens`` into scoring windows; every token is a target exactly once.

    Yields ``(context, targets)`` pairs, disjoint as in lm-eval's
    ``make_disjoint_window(get_rolling_token_windows(...))``: feed ``context + targets[:-1]``
    and score ``targets``. The first window starts from ``prefix_token`` (BOS, or EOS for
    models without one). Later windows carry up to ``max_seq_len - len(targets)`` tokens
    of the preceding text as context; ``context_len`` (>= 1) is the least context a
    window keeps, so each window predicts at most ``max_seq_len - context_len + 1`` tokens.
    """
    if not 1 <= context_len <= max_seq_len:
        raise ValueError(f"need 1 <= context_len ({context_len}) <= max_seq_len ({max_seq_len})")
    toks = list(tokens)
    if not toks:
        return
    pred_len = max_seq_len - context_len + 1
    first = min(max_seq_len, len(toks))
    yield [prefix_token], toks[:first]
    predicted = first
    while predicted < len(toks):
        n_pred = min(len(toks) - predicted, pred_len)
        end = predicted + n_pred
        window = toks[max(0, end - max_seq_len - 1) : end - 1]  # inputs: max_seq_len tokens
        targets = toks[end - n_pred : end]
        # The inputs end with targets[:-1]; what precedes them is pure context.
        yield window[: len(window) - (n_pred - 1)], targets
        predicted = end


@dataclass
class LoadedConfig:
    """What is loaded: recorded with every measurement made through the backend."""

    model_path: str
    format: str  # GGUF spelling ("Q4_K_M", "F16") or a linear format ("nf4")
    bits_per_weight: float  # actual, from the stored tensors
    n_params: int
    context_tokens: int
    provenance: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


class Backend(ABC):
    """An evaluator for one model in one format. See the module docstring for the contract."""

    #: registry name ("llama.cpp", "transformers")
    name: str = ""
    #: what "not loaded" and the backend's other failures raise
    error_type: type[AdvisorError] = AdvisorError
    _config: LoadedConfig | None = None

    @abstractmethod
    def load(self) -> Self:
        """Load weights and allocate the context; returns ``self``."""

    @abstractmethod
    def unload(self) -> None:
        """Free everything :meth:`load` allocated. Safe to call twice."""

    @property
    @abstractmethod
    def loaded(self) -> bool:
        """Whether :meth:`load` has run and :meth:`unload` has not."""

    @property
    def config(self) -> LoadedConfig:
        """The loaded configuration (format, actual bits/weight, provenance notes)."""
        if self._config is None:
            raise self.error_type("the model is not loaded: call load() first")
        return self._config

    def _require_loaded(self) -> None:
        if not self.loaded:
            raise self.error_type("the model is not loaded: call load() first")

    @abstractmethod
    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        """Log-likelihood of each continuation given its context, in request order.

        Requests that share a context (the choices of one multiple-choice item) should be
        passed together: backends evaluate a shared context once.
        """

    @abstractmethod
    def loglikelihood_rolling(self, requests: Sequence[RollingRequest]) -> list[RollingResult]:
        """Whole-text log-likelihood, every token predicted exactly once (rolling windows)."""

    @abstractmethod
    def generate_until(self, requests: Sequence[GenerateRequest]) -> list[str]:
        """Greedy generation for each request, stopped at the first stop string."""

    @abstractmethod
    def tokenize(self, text: str, add_bos: bool = False) -> list[int]:
        """The backend's tokenization of ``text`` (no BOS unless asked)."""

    @abstractmethod
    def footprint(self) -> dict[str, int]:
        """Memory now: at least ``peak_rss_bytes``, ``weight_bytes``, ``kv_bytes``,
        ``context_tokens``; CUDA backends add ``cuda_max_allocated_bytes`` etc."""

    @abstractmethod
    def speed(self, prompt_tokens: int = 512, gen_tokens: int = 128) -> dict[str, float]:
        """Throughput like llama-bench: ``prompt_tokens_per_s`` (pp) and
        ``gen_tokens_per_s`` (tg), on synthetic tokens, cache cleared before each."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.unload()
