"""Scale–precision curves: how a model's score moves with its size and its bits.

``score = floor + (anchor − floor) · exp(−x)`` (perplexity: ``anchor · exp(x)``), with
``ln x`` linear in the config's features (see :mod:`advisor.curves.law` and
``docs/curves.md``). The room has four parts:

* :mod:`~advisor.curves.law` — the law, evaluated in pure Python;
* :mod:`~advisor.curves.committed` — the committed fit and the 16-bit anchors;
* :mod:`~advisor.curves.predict` — predictions as evidence for the recommender;
* :mod:`~advisor.curves.fitting` (numpy, scipy, scikit-learn; imported only when fitting) —
  the estimators, cross-validation and ``advisor fit``; :mod:`~advisor.curves.data` — the
  points they are fitted on; :mod:`~advisor.curves.findings` — the research claims.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from advisor.curves.committed import CurvesError, coefficients, coefficients_path
from advisor.curves.law import band, evaluate
from advisor.curves.predict import predict_for_config

if TYPE_CHECKING:
    from advisor.curves.fitting import ScalePrecisionRegressor

__all__ = [
    "CurvesError",
    "band",
    "coefficients",
    "coefficients_path",
    "evaluate",
    "fit",
    "load",
    "predict_for_config",
]


def __getattr__(name: str) -> Any:
    # The estimator classes need scikit-learn: load them only when asked for.
    if name in {"ScalePrecisionRegressor", "DegradationLaw", "SizeLaw"}:
        from advisor.curves import fitting

        return getattr(fitting, name)
    raise AttributeError(f"module 'advisor.curves' has no attribute {name!r}")


def load(family: str | None = None, task: str | None = None) -> ScalePrecisionRegressor:
    """The committed fit as an estimator, optionally restricted to a family and task.

    ``curves.load("qwen2.5", task="mmlu").predict([{"params": 14.8e9, "method":
    "gguf-k", "bits_per_weight": 4.8}])`` → ``[{"mean": ..., "low": ..., "high": ...}]``.
    """
    from advisor.curves.committed import require
    from advisor.curves.fitting import ScalePrecisionRegressor

    return ScalePrecisionRegressor.from_coefficients(require(), family=family, task=task)


def fit(points: Iterable[Mapping[str, Any]], **params: Any) -> ScalePrecisionRegressor:
    """Fit an estimator on plain dicts (``family``, ``model``, ``params``, ``bits``,
    ``bits_per_weight``, ``method``, ``group_size``, ``training_tokens``, ``task``,
    ``score``; unknown keys ignored). Without quantized points the committed degradation
    law is reused, so a family's 16-bit scores alone are enough.
    """
    from advisor.curves.fitting import ScalePrecisionRegressor

    return ScalePrecisionRegressor(**params).fit(list(points))
