"""Fitting the scale–precision curves: estimators (scikit-learn contract), CV, bootstrap.

Heavy imports (numpy, scipy, scikit-learn) live here and nowhere in :mod:`advisor.curves`.
Three estimators:

* :class:`DegradationLaw` — the quantization degradation law of :mod:`advisor.curves.law`,
  fitted jointly over tasks, methods, tools and families on quantized points paired with
  their 16-bit anchor (or with a higher-bit file of the same evaluation). ``X`` is a list
  of dicts, or a 2-D array with the columns of :data:`COLUMNS` (``method`` and ``kind`` as
  integer codes into :data:`METHOD_CODES` and :data:`KIND_CODES`).
* :class:`SizeLaw` — the 16-bit score of one family on one task as a logistic in
  ``log10(params)`` between ``floor`` and ``ceiling``; ``X[:, 0]`` is ``log10(params)``.
* :class:`ScalePrecisionRegressor` — both together on plain dicts, the object returned
  by :func:`advisor.curves.fit` and :func:`advisor.curves.load`.

Intervals are calibrated on cross-validation residuals: leave-one-family-out for families
the fit has not seen (the case that matters for a new model), leave-one-model-out for
families it has. Per (method group, task kind, bit band) the noise is the smallest one
that brings 90 % of the held-out scores inside their interval.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.optimize import least_squares
from scipy.stats import norm
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from advisor.curves import law as scale_law
from advisor.curves.committed import CurvesError, coefficients
from advisor.curves.data import effective_bits, ranks_as_task, task_kind
from advisor.curves.law import (
    BITS_REF,
    KINDS,
    METHODS,
    SLOPE_GROUP,
    TOOLS,
    band,
    method_key,
    noise_keys,
    score_logit,
)
from advisor.profiles.formats import Format, get_format

COLUMNS = (
    "log10_params", "bits_per_weight", "anchor", "floor", "log10_tokens_per_param",
    "method", "kind",
)  # fmt: skip
METHOD_CODES = METHODS
KIND_CODES = KINDS
PPL_WEIGHT = 100.0  # a perplexity residual of 1% of ln(ppl) counts like 1 accuracy point
_BOUNDS = {
    "u": (0.05, 5.0), "ukind": (-3.0, 3.0), "curvature": (0.0, 3.0), "curv": (-2.0, 3.0),
    "alpha": (-1.0, 3.0), "beta": (-1.0, 2.0), "acc_level": (-3.0, 3.0),
    "acc_slope": (-3.0, 3.0),
}  # fmt: skip
# Fitted in a second stage with every other coefficient held at the first stage's fit:
# the level and slope in bits of real GGUF files' task accuracy against the group's law,
# which the perplexity ladders dominate. Four families inform them; fitted jointly they
# would move the slopes and the training-tokens term that the rest of the data settles.
REFINED = ("acc_level:", "acc_slope:")
REFINED_GROUPS = {"gguf"}
MIN_CELL = 12  # CV rows a noise cell needs before it stands on its own


# ------------------------------------------------------------------ input handling


def _finite(value: Any, key: str, lo: float | None = None, hi: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ValueError(f"{key!r} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{key!r} must be finite, got {value!r}")
    if (lo is not None and number < lo) or (hi is not None and number > hi):
        raise ValueError(f"{key!r} must be in [{lo}, {hi}], got {number:g}")
    return number


def _known_format(name: object) -> Format | None:
    """The catalogue's format of that name, or None (no name, or one it does not know)."""
    if not isinstance(name, str) or not name.strip():
        return None
    try:
        return get_format(name.strip())
    except KeyError:
        return None


def normalize(point: Mapping[str, Any]) -> dict[str, Any]:
    """One user/bundled point → the record the laws use, validated.

    Needs ``params`` (total parameters) and ``task`` (or ``kind`` + ``floor``);
    ``bits_per_weight`` is derived from ``format``/``bits``/``group_size`` when absent;
    ``method`` (case-insensitive) defaults to "float" at 16 bits and "rtn" below.
    Raises ValueError naming the key and what to pass.
    """
    if not isinstance(point, Mapping):
        raise TypeError(f"a point must be a dict, got {type(point).__name__}")
    params = point.get("params")
    if params is None and point.get("params_b") is not None:
        params = _finite(point["params_b"], "params_b", 1e-6, 1e5) * 1e9
    if params is None:
        raise ValueError("a point needs 'params' (total parameters, e.g. 8e9)")
    params = _finite(params, "params", 1e5, 1e14)
    task = str(point.get("task", "") or "").strip().lower()
    info = task_kind(task, point.get("metric"))
    kind = str(point.get("kind") or (info[0] if info else ""))
    if kind not in KINDS:
        raise ValueError(
            f"unknown task {task!r} (and no 'kind'): pass a known task (mmlu, gsm8k, "
            f"hellaswag, wikitext2, ...) or 'kind' (one of {', '.join(KINDS)}) and 'floor'"
        )
    floor_value = point.get("floor")
    floor = (
        _finite(floor_value, "floor", 0, 100)
        if floor_value is not None
        else (info[1] if info else (1.0 if kind == "ppl" else 0.0))
    )
    bits = point.get("bits")
    bits_value = None if bits is None else _finite(bits, "bits", 1, 32)
    bpw = point.get("bits_per_weight")
    bpw_value = None if bpw is None else _finite(bpw, "bits_per_weight", 1, 32)
    raw_method = point.get("method")
    known_format = _known_format(point.get("format"))
    if bits_value is None and known_format is not None:
        bits_value = float(known_format.nominal_bits)  # the noise band: Q2_K is 2-bit
    if raw_method in {None, "", "none"} and known_format is not None:
        # A named format says its method: "Q4_K_M" is a llama.cpp k-quant, not 16 bits.
        method = "float" if known_format.nominal_bits >= 16 else known_format.method
    elif raw_method in {None, "", "none"}:
        method = "float" if (bpw_value or bits_value or 16) >= 16 else "rtn"
    else:
        method = method_key(str(raw_method))
    if method != "float" and method not in METHODS:
        raise ValueError(
            f"unknown method {raw_method!r}: one of float, {', '.join(METHODS)} "
            "(case-insensitive; 'bnb' means bnb-nf4)"
        )
    if bpw_value is None:
        try:
            bpw_value = effective_bits(
                str(point.get("format", "")), method, bits_value, point.get("group_size")
            )
        except ValueError:
            raise ValueError(
                "a quantized point needs 'bits_per_weight' (or 'bits', or a known 'format')"
            ) from None
    bpw_value = 16.0 if method == "float" else float(bpw_value)
    tool = point.get("tool")
    if tool is not None and tool not in TOOLS:
        raise ValueError(f"unknown tool {tool!r}: one of {', '.join(TOOLS)} (or leave it out)")
    score = point.get("score")
    score_value = None if score is None else _finite(score, "score")
    anchor = point.get("anchor")
    anchor_value = None if anchor is None else _finite(anchor, "anchor")
    for name, value in (("score", score_value), ("anchor", anchor_value)):
        if value is None:
            continue
        if kind == "ppl" and value <= 0:
            raise ValueError(f"{name!r} is a perplexity and must be positive, got {value:g}")
        if kind != "ppl" and not 0 <= value <= 100:
            raise ValueError(f"{name!r} is an accuracy in percent (0–100), got {value:g}")
    tokens = point.get("training_tokens")
    tokens_value = None if tokens in (None, 0) else _finite(tokens, "training_tokens", 1e6, 1e16)
    ref = point.get("ref_bits_per_weight")
    return {
        "params": params,
        "task": task,
        "kind": kind,
        "floor": floor,
        "method": method,
        "tool": tool,
        "bits": bits_value if bits_value else float(round(bpw_value)),
        "bits_per_weight": bpw_value,
        "family": str(point.get("family") or ""),
        "model": str(point.get("model") or point.get("name") or ""),
        "training_tokens": tokens_value,
        "score": score_value,
        "anchor": anchor_value,
        "ref_bits_per_weight": None if ref is None else _finite(ref, "ref_bits_per_weight", 1, 32),
    }


def _records_from_array(X: np.ndarray) -> list[dict[str, Any]]:
    rows = []
    for r in X:
        method = (
            METHOD_CODES[int(np.clip(np.rint(r[5]), 0, len(METHOD_CODES) - 1))]
            if len(r) > 5
            else "rtn"
        )
        kind = (
            KIND_CODES[int(np.clip(np.rint(r[6]), 0, len(KIND_CODES) - 1))] if len(r) > 6 else "mc"
        )
        log_n = float(r[0])
        rows.append(
            {
                "params": 10.0 ** float(np.clip(log_n, 3, 15)),
                "task": "", "kind": kind, "method": method, "family": "", "model": "",
                "tool": None, "ref_bits_per_weight": None,
                "bits_per_weight": float(r[1]) if len(r) > 1 else BITS_REF,
                "bits": float(r[1]) if len(r) > 1 else BITS_REF,
                "anchor": float(r[2]) if len(r) > 2 else 50.0,
                "floor": float(r[3]) if len(r) > 3 else 0.0,
                "training_tokens": (
                    10.0 ** (float(np.clip(r[4], -3, 6)) + log_n) if len(r) > 4 else None
                ),
            }
        )  # fmt: skip
    return rows


def _is_dicts(X: Any) -> bool:
    return isinstance(X, (list, tuple)) and (len(X) == 0 or isinstance(X[0], Mapping))


# ------------------------------------------------------------------ the degradation law


def _group(record: Mapping[str, Any]) -> str:
    return SLOPE_GROUP[method_key(str(record["method"]))]


def _layout(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """Coefficient names, in a fixed order, for the levels present in ``records``."""
    tasks = sorted({r["task"] for r in records if r["task"]})
    methods = sorted({method_key(r["method"]) for r in records} - {"rtn", "float"})
    tools = sorted({r["tool"] for r in records if r.get("tool")} - {"plain"})
    file_types = sorted(
        {
            ft
            for r in records
            if (ft := scale_law.format_of(r)) is not None and r["method"] != "float"
        }
    )
    accuracy_groups = sorted(
        {_group(r) for r in records if r["kind"] != "ppl" and r["method"] != "float"}
        & REFINED_GROUPS
    )
    families = sorted({r["family"] for r in records if r["family"]})
    groups = sorted({_group(r) for r in records if r["method"] != "float"})
    kinds = [k for k in KINDS if any(r["kind"] == k for r in records)]
    return (
        [f"kind:{k}" for k in kinds]
        + [f"task:{t}" for t in tasks]
        + [f"utask:{t}" for t in tasks]
        + [f"method:{m}" for m in methods]
        + [f"tool:{t}" for t in tools]
        + [f"format:{t}" for t in file_types]
        + [f"acc_level:{g}" for g in accuracy_groups]
        + [f"acc_slope:{g}" for g in accuracy_groups]
        + [f"family:{f}" for f in families]
        + [f"u:{g}" for g in groups]
        + [f"ukind:{k}" for k in kinds if k != "mc"]
        + [f"curv:{g}" for g in groups]
        + ["alpha", "beta"]
    )


def _design_deg(names: Sequence[str], log_tpp_ref: float) -> dict[str, Any]:
    return {"_index": {n: i for i, n in enumerate(names)}, "names": list(names),
            "sd_task": 0.0, "sd_family": 0.0, "log_tpp_ref": log_tpp_ref}  # fmt: skip


def _design(
    records: Sequence[Mapping[str, Any]], names: Sequence[str], log_tpp_ref: float
) -> tuple[np.ndarray, np.ndarray]:
    """The design matrix of ``ln x``, and that of each record's reference file (zeros for
    records paired with a 16-bit anchor)."""
    deg = _design_deg(names, log_tpp_ref)
    index = deg["_index"]
    F = np.zeros((len(records), len(names)))
    R = np.zeros((len(records), len(names)))
    for i, r in enumerate(records):
        if r["method"] == "float":
            continue
        for name, value in scale_law.features(deg, r).items():
            if name in index:
                F[i, index[name]] = value
        ref = r.get("ref_bits_per_weight")
        if ref is not None:
            for name, value in scale_law.features(deg, {**r, "bits_per_weight": ref}).items():
                if name in index:
                    R[i, index[name]] = value
    return F, R


def _damage(z: np.ndarray, zr: np.ndarray, has_ref: np.ndarray) -> tuple[np.ndarray, ...]:
    x = np.exp(np.minimum(z, 50.0))
    xr = np.where(has_ref, np.exp(np.minimum(zr, 50.0)), 0.0)
    return x, xr, x - xr


def _mean_from_x(
    xe: np.ndarray, anchor: np.ndarray, floor: np.ndarray, is_ppl: np.ndarray
) -> np.ndarray:
    acc = np.where(anchor > floor, floor + (anchor - floor) * np.exp(-xe), anchor)
    return np.where(is_ppl, anchor * np.exp(np.minimum(xe, 10.0)), acc)


class DegradationLaw(RegressorMixin, BaseEstimator):
    """Score of a quantized model given its 16-bit anchor (see :mod:`advisor.curves.law`).

    Parameters
    ----------
    task_penalty, family_penalty, tool_penalty, format_penalty : ridge weights pulling
        task, family, tool and llama.cpp file-type offsets to 0 (in residual units: points
        of accuracy, or % of ln perplexity). Family offsets are held close to 0 by
        default: on leave-one-family-out they overfit, and without them the
        training-tokens term (beta) is determined.
    robust_scale : soft-L1 scale of the residuals (points); larger = closer to least squares.
    n_bootstrap : resamples over models (clusters) for the coefficient covariance.
    interval : coverage of the ``low``/``high`` interval.
    random_state : seed of the bootstrap.
    """

    def __init__(
        self,
        task_penalty: float = 2.0,
        family_penalty: float = 60.0,
        tool_penalty: float = 2.0,
        format_penalty: float = 2.0,
        robust_scale: float = 2.0,
        n_bootstrap: int = 60,
        interval: float = 0.9,
        random_state: int = 0,
        bootstrap_nfev: int = 200,
    ) -> None:
        self.task_penalty = task_penalty
        self.family_penalty = family_penalty
        self.tool_penalty = tool_penalty
        self.format_penalty = format_penalty
        self.robust_scale = robust_scale
        self.n_bootstrap = n_bootstrap
        self.interval = interval
        self.random_state = random_state
        self.bootstrap_nfev = bootstrap_nfev

    # -- input

    def _records(
        self, X: Any, y: Any = None, reset: bool = True
    ) -> tuple[list[dict[str, Any]], np.ndarray | None]:
        if _is_dicts(X):
            recs = [normalize(p) for p in X]
            if y is None and recs and all(r["score"] is not None for r in recs):
                y = [r["score"] for r in recs]
            if reset:
                self.n_features_in_ = len(COLUMNS)
            return recs, None if y is None else np.asarray(y, dtype=float)
        if y is None:
            arr = validate_data(self, X, reset=reset)
            return _records_from_array(np.asarray(arr, dtype=float)), None
        arr, yy = validate_data(self, X, y, reset=reset, y_numeric=True)
        return _records_from_array(np.asarray(arr, dtype=float)), np.asarray(yy, dtype=float)

    # -- fitting

    def _arrays(self, records: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, ...]:
        anchor = np.array([r["anchor"] for r in records], dtype=float)
        floor = np.array([r["floor"] for r in records], dtype=float)
        is_ppl = np.array([r["kind"] == "ppl" for r in records])
        has_ref = np.array([r.get("ref_bits_per_weight") is not None for r in records])
        return anchor, floor, is_ppl, has_ref

    def _penalties(self, names: Sequence[str]) -> np.ndarray:
        out = []
        for n in names:
            if n.startswith(("task:", "utask:")):
                out.append(self.task_penalty)
            elif n.startswith("family:"):
                out.append(self.family_penalty)
            elif n.startswith("tool:"):
                out.append(self.tool_penalty)
            elif n.startswith("format:"):
                out.append(self.format_penalty)
            else:
                out.append(0.0)
        return np.array(out)

    def _solve(
        self,
        design: tuple[np.ndarray, np.ndarray],
        y: np.ndarray,
        arrays: tuple[np.ndarray, ...],
        names: Sequence[str],
        w0: np.ndarray,
        weights: np.ndarray | None = None,
        pin: np.ndarray | None = None,
        max_nfev: int = 200,
        free: np.ndarray | None = None,
    ) -> np.ndarray:
        """Weighted robust least squares; coefficients no weighted row informs (and, with
        ``free``, every coefficient not marked free) are held exactly at ``pin`` (default
        ``w0``) instead of drifting along a flat direction: only the others are solved for."""
        F, R = design
        anchor, floor, is_ppl, has_ref = arrays
        sw = np.ones(len(y)) if weights is None else np.sqrt(weights)
        live = sw > 0
        held = ~np.any((F[live] != 0) | (R[live] != 0), axis=0)
        if free is not None:
            held |= ~free
        lo = np.full(len(names), -30.0)
        hi = np.full(len(names), 30.0)
        for i, n in enumerate(names):
            key = n.split(":")[0]
            if key in _BOUNDS:
                lo[i], hi[i] = _BOUNDS[key]
        w0 = np.clip(w0, lo + 1e-9, hi - 1e-9)
        base = np.where(held, w0 if pin is None else pin, w0)
        active = np.flatnonzero(~held)
        if not len(active):
            return base
        penalty = self._penalties(names)
        pen_idx = np.flatnonzero(penalty[active])  # positions within ``active``
        pen = penalty[active][pen_idx]
        log_y = np.log(np.maximum(y, 1e-9))
        log_a = np.log(np.maximum(anchor, 1e-9))
        gap = np.where(anchor > floor, anchor - floor, 0.0)

        def full(v: np.ndarray) -> np.ndarray:
            w = base.copy()
            w[active] = v
            return w

        def residuals(v: np.ndarray) -> np.ndarray:
            w = full(v)
            _, _, xe = _damage(F @ w, R @ w, has_ref)
            pred = _mean_from_x(xe, anchor, floor, is_ppl)
            r = np.where(is_ppl, PPL_WEIGHT * (log_y - log_a - np.minimum(xe, 10.0)), y - pred)
            return np.concatenate([sw * r, pen * v[pen_idx]])

        def jac(v: np.ndarray) -> np.ndarray:
            w = full(v)
            x, xr, xe = _damage(F @ w, R @ w, has_ref)
            dxe = x[:, None] * F[:, active] - xr[:, None] * R[:, active]  # d xe / d v
            d_acc = (gap * np.exp(-xe))[:, None] * dxe  # d r / d v for accuracy (r = y - pred)
            d_ppl = -PPL_WEIGHT * dxe
            J = sw[:, None] * np.where(is_ppl[:, None], d_ppl, d_acc)
            P = np.zeros((len(pen_idx), len(active)))
            P[np.arange(len(pen_idx)), pen_idx] = pen
            return np.vstack([J, P])

        sol = least_squares(
            residuals, base[active], jac=jac, bounds=(lo[active], hi[active]), loss="soft_l1",
            f_scale=self.robust_scale, x_scale="jac", max_nfev=max_nfev,
        )  # fmt: skip
        return full(np.asarray(sol.x))

    def _fit_stages(
        self,
        design: tuple[np.ndarray, np.ndarray],
        y: np.ndarray,
        arrays: tuple[np.ndarray, ...],
        names: Sequence[str],
        w0: np.ndarray,
        weights: np.ndarray | None = None,
        pin: np.ndarray | None = None,
        max_nfev: int = 200,
    ) -> np.ndarray:
        """The shared law on every point with the refinement held at 0, then the
        refinement (:data:`REFINED`) with the shared law held at that fit."""
        refined = np.array([n.startswith(REFINED) for n in names])
        prior = None if pin is None else np.where(refined, 0.0, pin)
        shared = self._solve(
            design, y, arrays, names, np.where(refined, 0.0, w0), weights, prior, max_nfev,
            free=~refined,
        )  # fmt: skip
        if not refined.any():
            return shared
        return self._solve(
            design, y, arrays, names, shared, weights, shared, max_nfev, free=refined
        )

    def _start(self, names: Sequence[str]) -> np.ndarray:
        w0 = np.zeros(len(names))
        for i, n in enumerate(names):
            if n.startswith("kind:"):
                w0[i] = -3.0
            elif n.startswith("u:"):
                w0[i] = 1.5
            elif n == "alpha":
                w0[i] = 0.3
        return w0

    def fit(self, X: Any, y: Any = None, groups: Sequence[Any] | None = None) -> DegradationLaw:
        """Fit on quantized points; ``groups`` (model ids) drive the bootstrap clusters."""
        records, yy = self._records(X, y, reset=True)
        if yy is None:
            raise ValueError(
                "DegradationLaw requires y to be passed, but the target y is None "
                "(or give a 'score' in every point)"
            )
        if len(records) < 2:
            raise ValueError(f"need at least 2 points to fit, got n_samples = {len(records)}")
        for r in records:
            if r["anchor"] is None:
                raise ValueError("every quantized point needs its 16-bit 'anchor'")
        tpp = [
            math.log(r["training_tokens"] / r["params"]) for r in records if r["training_tokens"]
        ]
        self.log_tpp_ref_ = float(np.median(tpp)) if tpp else 0.0
        names = _layout(records)
        design = _design(records, names, self.log_tpp_ref_)
        arrays = self._arrays(records)
        self.names_ = list(names)
        w = self._fit_stages(design, yy, arrays, names, self._start(names))
        self.coef_ = w
        self.n_points_ = len(records)
        # Feasible weighted least squares: 2-bit collapses are noisier than 8-bit ladders,
        # so each (group, kind, bit band) cell is weighted by its inverse residual variance.
        self.cell_scale_ = self._residual_spread(records, yy)
        base = self._weights(records)
        w = self._fit_stages(design, yy, arrays, names, w, base)
        self.coef_ = w
        # Bootstrap over clusters (models) for the covariance of the linear coefficients.
        clusters = np.asarray(
            [str(g) for g in groups]
            if groups is not None
            else [r["model"] or str(i) for i, r in enumerate(records)]
        )
        uniq, inv = np.unique(clusters, return_inverse=True)
        rng = np.random.default_rng(self.random_state)
        draws = []
        for _ in range(self.n_bootstrap):
            counts = np.bincount(rng.integers(0, len(uniq), len(uniq)), minlength=len(uniq))
            weights = counts[inv].astype(float) * base
            draws.append(
                self._fit_stages(
                    design, yy, arrays, names, w, weights, max_nfev=self.bootstrap_nfev
                )
            )
        self.cov_ = (
            np.cov(np.asarray(draws), rowvar=False)
            if len(draws) >= 2
            else np.zeros((len(names), len(names)))
        )
        fam = np.array([w[i] for i, n in enumerate(names) if n.startswith("family:")])
        tsk = np.array([w[i] for i, n in enumerate(names) if n.startswith("task:")])
        met = np.array([w[i] for i, n in enumerate(names) if n.startswith("method:")])
        self.sd_family_ = float(np.sqrt(np.mean(fam**2))) if len(fam) else 0.5
        self.sd_task_ = float(np.sqrt(np.mean(tsk**2))) if len(tsk) else 0.5
        self.sd_method_ = float(np.sqrt(np.mean(met**2))) if len(met) else 0.5
        self.noise_ = {"seen": self._residual_spread(records, yy), "unseen": {}}
        self.param_scale_: dict[str, dict[str, float]] = {}
        support: dict[str, set[str]] = defaultdict(set)
        for r, c in zip(records, clusters, strict=True):
            support[f"task:{r['task']}"].add(c)
            support[f"method:{method_key(r['method'])}"].add(c)
        self.thin_ = {n: self.sd_family_ for n in names if n in support and len(support[n]) < 3}
        self.tools_ = self._tool_shares(records, w, names)
        self.ranges_ = self._ranges(records)
        return self

    def _tool_shares(
        self, records: Sequence[Mapping[str, Any]], w: np.ndarray, names: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        """Per method group: the tools an unknown file is assumed made with — the
        calibrated ones (importance matrix / optimized scales, AutoRound), as the common
        files on the hub are — in equal shares, and the variance of their offsets (what
        not knowing adds to the interval). Plain rounding is used only when named."""
        index = {n: i for i, n in enumerate(names)}
        out: dict[str, dict[str, Any]] = {}
        by_group: dict[str, set[str]] = defaultdict(set)
        for r in records:
            if r.get("tool"):
                by_group[_group(r)].add(str(r["tool"]))
        for group, seen in by_group.items():
            calibrated = sorted(seen - {"plain"}) or sorted(seen)
            shares = {t: 1.0 / len(calibrated) for t in calibrated}
            offsets = {t: (w[index[f"tool:{t}"]] if f"tool:{t}" in index else 0.0) for t in shares}
            mean = sum(shares[t] * offsets[t] for t in shares)
            var = sum(shares[t] * (offsets[t] - mean) ** 2 for t in shares)
            out[group] = {"shares": shares, "var": float(var)}
        return out

    def _ranges(self, records: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, list[float]]]:
        """Per method group: the bits, sizes and training tokens per parameter fitted on."""
        by_group: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
        for r in records:
            if r["method"] != "float":
                by_group[_group(r)].append(r)
        out = {}
        for group, rows in by_group.items():
            tpp = [r["training_tokens"] / r["params"] for r in rows if r["training_tokens"]]
            out[group] = {
                "bits_per_weight": [min(r["bits_per_weight"] for r in rows),
                                    max(r["bits_per_weight"] for r in rows)],
                "params": [min(r["params"] for r in rows), max(r["params"] for r in rows)],
                "tokens_per_param": [min(tpp), max(tpp)] if tpp else [],
            }  # fmt: skip
        return out

    @staticmethod
    def cell(record: Mapping[str, Any]) -> str:
        return f"{scale_law.noise_group(record)}|{record['kind']}|{band(record['bits'])}"

    def _weights(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Inverse-variance weights per (group, kind, bit band), mean 1."""
        scale = getattr(self, "cell_scale_", {})
        s = np.array([scale.get(self.cell(r), 1.0) for r in records])
        w = 1.0 / np.maximum(s, 0.25) ** 2
        return np.asarray(w / w.mean())

    def _residual_spread(
        self, records: Sequence[Mapping[str, Any]], y: np.ndarray
    ) -> dict[str, float]:
        """Residual spread per (group, kind, bit band), dof-inflated (robust: 1.4826 MAD)."""
        pred = self._predict_mean(records)
        res = np.array([_error(r, yi, pi) for r, yi, pi in zip(records, y, pred, strict=True)])
        inflate = math.sqrt(len(y) / max(len(y) - len(self.names_), 1))
        cells: dict[str, list[float]] = defaultdict(list)
        for r, e in zip(records, res, strict=True):
            cells[self.cell(r)].append(e)
            cells[r["kind"]].append(e)
        return {
            key: float(
                inflate * max(1.4826 * np.median(np.abs(v)), np.sqrt(np.mean(np.square(v))) / 2)
            )
            for key, v in sorted(cells.items())
        }

    def set_noise(
        self,
        noise: Mapping[str, Mapping[str, float]],
        param_scale: Mapping[str, Mapping[str, float]] | None = None,
    ) -> DegradationLaw:
        """Replace the interval's noise tables (``{"seen": ..., "unseen": ...}``) and the
        scales of its coefficients' part (same shape; absent = 1). ``advisor fit``
        calibrates both on CV residuals."""
        self.noise_ = {k: dict(v) for k, v in noise.items()}
        self.param_scale_ = {k: dict(v) for k, v in (param_scale or {}).items()}
        return self

    # -- prediction

    def to_coefficients(self) -> dict[str, Any]:
        """The fitted law as plain data (what ``measurements/curves.json`` stores)."""
        check_is_fitted(self, "coef_")
        return {
            "names": list(self.names_),
            "w": [float(v) for v in self.coef_],
            "cov": [[float(v) for v in row] for row in np.atleast_2d(self.cov_)],
            "sd_task": self.sd_task_,
            "sd_family": self.sd_family_,
            "sd_method": self.sd_method_,
            "noise": {k: dict(v) for k, v in self.noise_.items()},
            "param_scale": {k: dict(v) for k, v in self.param_scale_.items()},
            "log_tpp_ref": self.log_tpp_ref_,
            "interval": self.interval,
            "z_q": float(norm.ppf(0.5 + self.interval / 2)),
            "n_points": self.n_points_,
            "thin": dict(self.thin_),
            "cell_scale": dict(self.cell_scale_),
            "tools": self.tools_,
            "ranges": self.ranges_,
        }

    @classmethod
    def from_coefficients(cls, data: Mapping[str, Any]) -> DegradationLaw:
        law = cls(interval=float(data["interval"]))
        law.names_ = list(data["names"])
        law.coef_ = np.asarray(data["w"], dtype=float)
        law.cov_ = np.asarray(data["cov"], dtype=float)
        law.sd_task_ = float(data["sd_task"])
        law.sd_family_ = float(data["sd_family"])
        law.sd_method_ = float(data.get("sd_method", data["sd_family"]))
        law.noise_ = {k: dict(v) for k, v in data["noise"].items()}
        law.param_scale_ = {k: dict(v) for k, v in data.get("param_scale", {}).items()}
        law.log_tpp_ref_ = float(data["log_tpp_ref"])
        law.n_points_ = int(data["n_points"])
        law.thin_ = dict(data.get("thin", {}))
        law.cell_scale_ = dict(data.get("cell_scale", {}))
        law.tools_ = dict(data.get("tools", {}))
        law.ranges_ = dict(data.get("ranges", {}))
        law.n_features_in_ = len(COLUMNS)
        return law

    def _predict_mean(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        F, R = _design(records, self.names_, self.log_tpp_ref_)
        anchor, floor, is_ppl, has_ref = self._arrays(records)
        _, _, xe = _damage(F @ self.coef_, R @ self.coef_, has_ref)
        float_rows = np.array([r["method"] == "float" for r in records])
        return np.asarray(np.where(float_rows, anchor, _mean_from_x(xe, anchor, floor, is_ppl)))

    def predict(self, X: Any) -> np.ndarray:
        """Expected scores (accuracy in points, perplexity as is)."""
        check_is_fitted(self, "coef_")
        records, _ = self._records(X, reset=False)
        for r in records:
            if r["anchor"] is None:
                raise ValueError("every point needs its 16-bit 'anchor' to predict from")
        return self._predict_mean(records)

    def predict_interval(self, X: Any) -> list[dict[str, Any]]:
        """Per point ``{"mean", "low", "high"}`` (``interval`` coverage)."""
        check_is_fitted(self, "coef_")
        records, _ = self._records(X, reset=False)
        coefs = self.to_coefficients()
        out = []
        for r in records:
            if r["anchor"] is None:
                raise ValueError("every point needs its 16-bit 'anchor' to predict from")
            res = scale_law.evaluate(coefs, r)
            out.append({"mean": res["mean"], "low": res["low"], "high": res["high"]})
        return out

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True
        return tags


# ------------------------------------------------------------------ the 16-bit size law


class SizeLaw(RegressorMixin, BaseEstimator):
    """16-bit score vs size within a family: ``floor + (ceiling - floor) * sigmoid(a + b
    (log10 N - 9))``, with ``b`` pulled towards ``slope_prior`` (so one size is enough).

    ``X[:, 0]`` is ``log10(params)``; other columns are ignored.
    """

    def __init__(
        self, floor: float = 25.0, ceiling: float = 100.0, slope_prior: float = 1.5,
        slope_penalty: float = 2.0,
    ) -> None:  # fmt: skip
        self.floor = floor
        self.ceiling = ceiling
        self.slope_prior = slope_prior
        self.slope_penalty = slope_penalty

    def fit(self, X: Any, y: Any) -> SizeLaw:
        X, y = validate_data(self, X, y, y_numeric=True)
        x = np.asarray(X, dtype=float)[:, 0] - 9.0
        yy = np.asarray(y, dtype=float)
        span = self.ceiling - self.floor
        if span <= 0:
            raise ValueError("ceiling must be above floor")

        def residuals(p: np.ndarray) -> np.ndarray:
            pred = self.floor + span / (1 + np.exp(-(p[0] + p[1] * x)))
            return np.append(yy - pred, self.slope_penalty * (p[1] - self.slope_prior))

        frac = np.clip((np.mean(yy) - self.floor) / span, 0.02, 0.98)
        slope0 = float(np.clip(self.slope_prior, 0.01, 9.99))
        a0 = float(np.clip(math.log(frac / (1 - frac)) - slope0 * float(np.mean(x)), -19.9, 19.9))
        p0 = np.array([a0, slope0])
        sol = least_squares(residuals, p0, bounds=([-20, 0.0], [20, 10.0]))
        self.a_, self.b_ = float(sol.x[0]), float(sol.x[1])
        self.params_range_ = (float(10 ** (x.min() + 9)), float(10 ** (x.max() + 9)))
        return self

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "a_")
        X = validate_data(self, X, reset=False)
        x = np.asarray(X, dtype=float)[:, 0] - 9.0
        return np.asarray(
            self.floor + (self.ceiling - self.floor) / (1 + np.exp(-(self.a_ + self.b_ * x)))
        )


# ------------------------------------------------------------------ the composite


class ScalePrecisionRegressor(RegressorMixin, BaseEstimator):
    """16-bit anchors (given or from per-family size laws) minus quantization degradation.

    ``fit(points)`` takes plain dicts (see :func:`normalize`); 16-bit points set anchors and
    size laws, quantized ones (when at least ``min_quantized``) refit the degradation law,
    otherwise the committed one (``measurements/curves.json``) is used. ``predict`` on dicts
    returns ``[{"mean", "low", "high"}]``; on a 2-D array (columns :data:`COLUMNS`) the means.
    """

    def __init__(
        self,
        min_quantized: int = 20,
        n_bootstrap: int = 60,
        interval: float = 0.9,
        random_state: int = 0,
        family: str | None = None,
        task: str | None = None,
    ) -> None:
        self.min_quantized = min_quantized
        self.n_bootstrap = n_bootstrap
        self.interval = interval
        self.random_state = random_state
        self.family = family
        self.task = task

    def fit(self, X: Any, y: Any = None) -> ScalePrecisionRegressor:
        if not _is_dicts(X):
            raise TypeError("ScalePrecisionRegressor.fit takes a list of dicts (see curves.fit)")
        points = [dict(p) for p in X]
        if y is not None:
            for p, v in zip(points, y, strict=True):
                p["score"] = v
        records = []
        for i, p in enumerate(points):
            try:
                r = normalize(p)
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"point {i}: {exc}") from None
            if r["score"] is None:
                raise ValueError(f"point {i}: needs a 'score' to fit on")
            records.append(r)
        if not records:
            raise ValueError("no points: each needs params, task and score")
        sixteen = [r for r in records if r["method"] == "float"]
        anchors: dict[tuple[str, str], list[float]] = defaultdict(list)
        for r in sixteen:
            anchors[(r["model"], r["task"])].append(r["score"])
        self.anchors_ = {k: float(np.mean(v)) for k, v in anchors.items()}
        self.size_laws_ = _fit_size_laws(sixteen)
        quantized = []
        for r in records:
            if r["method"] == "float":
                continue
            a = (
                r["anchor"]
                if r["anchor"] is not None
                else self.anchors_.get((r["model"], r["task"]))
            )
            if a is not None:
                quantized.append({**r, "anchor": a})
        if len(quantized) >= self.min_quantized:
            law = DegradationLaw(
                n_bootstrap=self.n_bootstrap, interval=self.interval, random_state=self.random_state
            )
            law.fit(
                quantized, [r["score"] for r in quantized], groups=[r["model"] for r in quantized]
            )
            self.degradation_ = law
        else:
            data = coefficients()
            if data is None:
                raise ValueError(
                    f"{len(quantized)} quantized points (< min_quantized={self.min_quantized}) "
                    "and no committed degradation law to fall back on"
                )
            self.degradation_ = DegradationLaw.from_coefficients(data["degradation"])
        self.n_features_in_ = len(COLUMNS)
        return self

    @classmethod
    def from_coefficients(
        cls, data: Mapping[str, Any], family: str | None = None, task: str | None = None
    ) -> ScalePrecisionRegressor:
        """The committed fit (``curves.json``) as a fitted estimator, without refitting."""
        est = cls(family=family, task=task)
        laws = {}
        for key, law in data["size_laws"].items():
            fam, tsk = key.rsplit("|", 1)
            if (family is None or fam == family or fam.split("@")[0] == family) and (
                task is None or tsk == task
            ):
                laws[(fam, tsk)] = law
        if family is not None and task is not None and not laws:
            known = sorted(
                {k.rsplit("|", 1)[0] for k in data["size_laws"] if k.endswith(f"|{task}")}
            )
            raise CurvesError(
                f"no fitted size law for family {family!r} on {task!r}; families with one: "
                f"{', '.join(known) or 'none'}"
            )
        est.size_laws_ = laws
        est.anchors_ = {}
        for arch_id, tsk, value, _ in data["anchors"]:
            if task is None or tsk == task:
                est.anchors_[(arch_id, tsk)] = float(value)
        est.degradation_ = DegradationLaw.from_coefficients(data["degradation"])
        est.cv_ = data.get("cv_summary", {})
        est.versions_ = data.get("versions", {})
        est.n_features_in_ = len(COLUMNS)
        return est

    def _query(self, point: Mapping[str, Any]) -> dict[str, Any]:
        q = dict(point)
        if self.family is not None:
            q.setdefault("family", self.family)
        if self.task is not None:
            q.setdefault("task", self.task)
        r = normalize(q)
        if r["anchor"] is None:
            key = (r["model"], r["task"])
            if key in self.anchors_:
                r["anchor"] = self.anchors_[key]
            else:
                law = self._size_law(r["family"], r["task"], point.get("variant"))
                if law is None:
                    raise ValueError(
                        f"no 16-bit anchor for {r['model'] or r['family'] or 'this model'} on "
                        f"{r['task']!r}: pass 'anchor', or fit 16-bit points of its family"
                    )
                t = law["a"] + law["b"] * (math.log10(r["params"]) - 9.0)
                r["anchor"] = law["floor"] + (law["ceiling"] - law["floor"]) / (1 + math.exp(-t))
                r["anchor_sd"], r["anchor_flags"] = _size_law_doubt(law, r["params"])
        return r

    def _size_law(
        self, family: str, task: str, variant: str | None = None
    ) -> Mapping[str, Any] | None:
        """The family's size law on the task: committed laws are kept per deployed
        variant (``qwen2.5@base``, ``qwen2.5@instruct``); a bare family name means its
        base models unless ``variant`` says otherwise."""
        for key in (f"{family}@{variant}" if variant else None, family, f"{family}@base"):
            if key is not None and (key, task) in self.size_laws_:
                return self.size_laws_[(key, task)]
        matches = [
            v for (f, t), v in self.size_laws_.items() if t == task and f.split("@")[0] == family
        ]
        return matches[0] if len(matches) == 1 else None

    def predict(self, X: Any) -> Any:
        """Dicts → ``[{"mean", "low", "high"}]``; a 2-D array → expected scores."""
        check_is_fitted(self, "degradation_")
        if not _is_dicts(X):
            return self.degradation_.predict(X)
        coefs = self.degradation_.to_coefficients()
        coefs["_index"] = {n: i for i, n in enumerate(coefs["names"])}
        out = []
        for i, p in enumerate(X):
            try:
                query = self._query(p)
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"query {i}: {exc}") from None
            res = scale_law.evaluate(coefs, query)
            item = {"mean": res["mean"], "low": res["low"], "high": res["high"]}
            flags = [*query.get("anchor_flags", []), *res["flags"]]
            if flags:
                item["flags"] = flags
            out.append(item)
        return out

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """R² of the expected scores."""
        from sklearn.metrics import r2_score

        pred = self.predict(X)
        if _is_dicts(X):
            pred = [p["mean"] for p in pred]
        return float(r2_score(y, pred, sample_weight=sample_weight))


def _size_law_doubt(law: Mapping[str, Any], params: float) -> tuple[float, list[str]]:
    """The anchor's sd from a size law and what to flag: the recommender uses a law only
    with two models or more and within 4x of their sizes; the library answers anyway, but
    says so and widens the interval (doubling the sd per factor of 4 beyond the range)."""
    sd = float(law.get("cv_mae", 5.0))
    flags = []
    if int(law.get("n", 0)) < 2:
        flags.append("16-bit anchor from a size law of one model")
        sd = max(sd, 5.0)
    lo, hi = law.get("params_range", (params, params))
    beyond = max(float(lo) / params, params / float(hi), 1.0)
    if beyond > 4:
        flags.append(f"16-bit anchor extrapolated {beyond:.0f}x beyond the sizes fitted")
        sd *= 1 + math.log(beyond / 4, 4)
    return sd, flags


def _fit_size_laws(sixteen: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """One :class:`SizeLaw` per (family, task) with 16-bit points, with its LOMO CV MAE."""
    by_cell: dict[tuple[str, str], dict[str, list[tuple[float, float]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    floors: dict[tuple[str, str], float] = {}
    for r in sixteen:
        if r["kind"] == "ppl" or not r["family"]:
            continue
        key = (r["family"], r["task"])
        by_cell[key][r["model"] or str(r["params"])].append((r["params"], r["score"]))
        floors[key] = r["floor"]
    laws = {}
    for key, models in sorted(by_cell.items()):
        xs = np.array([math.log10(np.mean([p for p, _ in v])) for v in models.values()])
        ys = np.array([float(np.mean([s for _, s in v])) for v in models.values()])
        law = SizeLaw(floor=floors[key]).fit(xs[:, None], ys)
        errors = []
        if len(xs) >= 3:
            for i in range(len(xs)):
                keep = np.arange(len(xs)) != i
                sub = SizeLaw(floor=floors[key]).fit(xs[keep, None], ys[keep])
                errors.append(abs(float(sub.predict(xs[i : i + 1, None])[0]) - ys[i]))
        laws[key] = {
            "a": law.a_, "b": law.b_, "floor": law.floor, "ceiling": law.ceiling,
            "n": len(xs), "params_range": list(law.params_range_),
            # Without 3 sizes there is no CV: assume a wide 5-point error.
            "cv_mae": float(np.mean(errors)) if errors else 5.0,
        }  # fmt: skip
    return laws


# ------------------------------------------------------------------ cross-validation


def _error(record: Mapping[str, Any], observed: float, predicted: float) -> float:
    """Signed error in report units: accuracy points, or % of ln(perplexity)."""
    if record["kind"] == "ppl":
        return PPL_WEIGHT * math.log(max(observed, 1e-9) / max(predicted, 1e-9))
    return float(observed - predicted)


def _format_key(r: Mapping[str, Any]) -> str:
    return f"{r['method']}:{r.get('format') or round(r['bits_per_weight'], 2)}"


def _constant_penalty(train: Sequence[Mapping[str, Any]], key: str) -> dict[str, float]:
    """Baseline: the mean change per ``key`` (ln ratio for perplexity) over ``train``."""
    deltas: dict[str, list[float]] = defaultdict(list)
    for r in train:
        if r["kind"] == "ppl":
            deltas[r[key]].append(math.log(r["score"] / r["anchor"]))
        else:
            deltas[r[key]].append(r["score"] - r["anchor"])
    return {k: float(np.mean(v)) for k, v in deltas.items()}


def _apply_penalty(record: Mapping[str, Any], table: Mapping[str, float], key: str) -> float:
    delta = table.get(record[key], 0.0)
    if record["kind"] == "ppl":
        return float(record["anchor"] * math.exp(delta))
    return float(record["anchor"] + delta)


def cross_validate(
    records: Sequence[dict[str, Any]],
    law: DegradationLaw,
    groups: Sequence[str],
    schemes: Sequence[str] = ("lomo", "lofo"),
) -> dict[str, list[dict[str, Any]]]:
    """Leave-one-model-out and leave-one-family-out predictions of the law and baselines.

    Each refit warm-starts from the full fit ``law``; a level only the held-out points
    inform falls back to its prior (no leak). Under leave-one-family-out the held-out
    family is predicted as unseen (no family offset; the unseen-family noise). Returns,
    per scheme, one row per point: observed, ours (mean, low, high without the noise
    term), and the baselines: "none" (the 16-bit score) and "const" (the mean change of
    that format over the other points of the same task kind: the constant per format).
    """
    check_is_fitted(law, "coef_")
    y = np.array([r["score"] for r in records], dtype=float)
    design = _design(records, law.names_, law.log_tpp_ref_)
    arrays = law._arrays(records)
    for r in records:
        r["format_key"] = f"{r['kind']}|{_format_key(r)}"
    folds: dict[str, list[np.ndarray]] = {}
    group_arr = np.asarray(groups)
    family_arr = np.asarray([r["family"] or g for r, g in zip(records, groups, strict=True)])
    if "lomo" in schemes:
        folds["lomo"] = [np.flatnonzero(group_arr == g) for g in np.unique(group_arr)]
    if "lofo" in schemes:
        folds["lofo"] = [np.flatnonzero(family_arr == f) for f in np.unique(family_arr)]
    coefs = law.to_coefficients()
    coefs["noise"] = {"seen": {}, "unseen": {}}  # parametric interval only; noise is added later
    coefs["param_scale"] = {}
    out: dict[str, list[dict[str, Any]]] = {}
    for scheme, fold_list in folds.items():
        rows: list[dict[str, Any]] = [{} for _ in records]
        for test in fold_list:
            weights = law._weights(records)
            weights[test] = 0.0
            w = law._fit_stages(
                design, y, arrays, law.names_, law.coef_, weights, law._start(law.names_)
            )
            train = [records[int(i)] for i in np.flatnonzero(weights)]
            penalty = _constant_penalty(train, "format_key")
            held = {**coefs, "w": [float(v) for v in w], "_cache": {}}
            held["_index"] = {n: i for i, n in enumerate(held["names"])}
            for i in (int(t) for t in test):
                r = records[i]
                point = {**r, "family": "" if scheme == "lofo" else r["family"]}
                if r.get("ref_bits_per_weight") is not None:
                    # The damage between two files: evaluate both on the same law.
                    ref_point = {**point, "bits_per_weight": r["ref_bits_per_weight"],
                                 "anchor": 100.0, "floor": 0.0}  # fmt: skip
                    z_ref, *_ = scale_law._linear(held, ref_point)
                    res = _evaluate_between(held, point, z_ref)
                else:
                    res = scale_law.evaluate(held, point)
                rows[i] = {
                    "task": r["task"], "kind": r["kind"], "band": band(r["bits"]),
                    "group": scale_law.noise_group(r), "method": r["method"], "tool": r.get("tool"),
                    "model": groups[i], "family": family_arr[i], "observed": r["score"],
                    "ours": res["mean"], "low": res["low"], "high": res["high"],
                    "none": r["anchor"], "const": _apply_penalty(r, penalty, "format_key"),
                    "record": r, "cell": law.cell(r), "param_sd": res["param_sd"],
                    "anchor": r["anchor"], "floor": r["floor"],
                    "anchor_sd": float(r.get("anchor_sd") or 0.0),
                }  # fmt: skip
        out[scheme] = rows
    return out


def _evaluate_between(
    deg: Mapping[str, Any], point: Mapping[str, Any], z_ref: float
) -> dict[str, Any]:
    """Like :func:`advisor.curves.law.evaluate` (noise left out) for a point whose anchor
    is a higher-bit file: the damage is x(bits) - x(ref)."""
    q = float(deg["z_q"])
    z, var, _, _ = scale_law._linear(dict(deg), point)
    sz = math.sqrt(var)
    x = math.exp(min(z, 50.0))
    xe = x - math.exp(min(z_ref, 50.0))
    kind, anchor, floor = point["kind"], float(point["anchor"]), float(point["floor"])
    mean = scale_law.score_from(kind, anchor, floor, xe)
    param_sd = scale_law.parameter_sd(kind, anchor, floor, x, sz, damage=xe)
    low, high = scale_law.interval_bounds(kind, mean, anchor, floor, param_sd, 0.0, 0.0, q, 0.0)
    return {"mean": mean, "low": low, "high": high, "param_sd": param_sd}


# Scales of the coefficients' (bootstrap) part of an interval a cell may choose: the
# bootstrap over a handful of families can overstate it; it is never dropped.
PARAM_SCALES = (0.5, 0.75, 1.0)
_BAND_ORDER = {">=4": 0, "3": 1, "2": 2}


class _CellRows:
    """The rows of one noise cell as arrays, for vectorized coverage and width."""

    def __init__(self, rows: Sequence[Mapping[str, Any]], q: float) -> None:
        self.q = q
        self.ppl = np.array([r["kind"] == "ppl" for r in rows])
        self.mean = np.array([r["ours"] for r in rows], dtype=float)
        self.psd = np.array([r["param_sd"] for r in rows], dtype=float)
        self.anchor = np.array([r["anchor"] for r in rows], dtype=float)
        self.floor = np.array([r["floor"] for r in rows], dtype=float)
        self.asd = np.array([r["anchor_sd"] for r in rows], dtype=float)
        self.observed = np.array([r["observed"] for r in rows], dtype=float)

    def bounds(
        self, scale: float, noise: float, near_lossless: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """:func:`advisor.curves.law.interval_bounds`, on every row at once."""
        q, psd = self.q, scale * self.psd
        ln_half = np.minimum(
            q * np.sqrt(psd**2 + (noise / 100) ** 2 + (self.asd / 100) ** 2),
            scale_law.MAX_LN_HALF_WIDTH,
        )
        half = q * np.sqrt(psd**2 + noise**2 + self.asd**2)
        above = q * np.sqrt(near_lossless**2 + self.asd**2)
        below = q * np.sqrt(noise**2 + self.asd**2)
        low = np.maximum(np.maximum(0.0, self.mean - half),
                         np.minimum(self.floor - below, self.mean))  # fmt: skip
        high = np.minimum(np.minimum(100.0, self.mean + half),
                          np.maximum(self.anchor + above, self.mean))  # fmt: skip
        low = np.where(self.ppl, self.mean * np.exp(-ln_half), low)
        high = np.where(self.ppl, self.mean * np.exp(ln_half), high)
        return low, high

    def coverage_and_width(
        self, scale: float, noise: float, near_lossless: np.ndarray
    ) -> tuple[float, float]:
        low, high = self.bounds(scale, noise, near_lossless)
        covered = float(np.mean((low <= self.observed) & (self.observed <= high)))
        width = np.where(
            self.ppl, PPL_WEIGHT * np.log(np.maximum(high, 1e-9) / np.maximum(low, 1e-9)),
            high - low,
        )  # fmt: skip
        return covered, float(np.median(width))


def _lookup(table: Mapping[str, float], cell: str) -> float | None:
    return scale_law.cell_lookup(table, *cell.split("|"))


def _near_lossless_cell(cell: str) -> str:
    group, kind, _ = cell.split("|")
    return f"{group}|{kind}|>=4"


def _near_lossless_noise(
    table: Mapping[str, float], current: str, wanted: set[str], cell: str
) -> float | None:
    """The 8-bit noise a row of ``cell`` will get, while ``current`` is being calibrated:
    None where that is ``current`` itself (or a cell not calibrated yet)."""
    group, kind, _ = cell.split("|")
    for key in noise_keys(group, kind, ">=4"):
        if key == current or (key in wanted and key not in table):
            return None
        if key in table:
            return table[key]
    return 0.0


def calibrate_intervals(
    rows: Sequence[Mapping[str, Any]], q: float, level: float = 0.9
) -> tuple[dict[str, float], dict[str, float]]:
    """Per cell (group|kind|band, with coarser fallbacks): the noise and the scale of the
    coefficients' part that bring a ``level`` share of the held-out scores inside their
    interval (as :func:`advisor.curves.law.evaluate` forms it) with the narrowest median
    width. Returns the noise table and the scale table.

    Near-lossless cells (≥ 4 bits) go first: their noise is the scatter that caps every
    interval of the group and kind at the anchor."""
    cells: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        group, kind, cell_band = row["cell"].split("|")
        for key in scale_law.noise_pools(group, kind, cell_band):
            cells[key].append(row)
    keys = [k for k, v in cells.items() if len(v) >= MIN_CELL or k.count("|") == 0]
    keys.sort(key=lambda k: (k.count("|") == 0, _BAND_ORDER.get(k.rsplit("|", 1)[-1], 3), k))
    wanted = set(keys)
    noise: dict[str, float] = {}
    scales: dict[str, float] = {}
    for key in keys:
        cell_rows = cells[key]
        arrays = _CellRows(cell_rows, q)
        # Each row's near-lossless noise as evaluate will look it up: a cell already
        # calibrated, or this one (or one still to come: this one's value stands in).
        known = [_near_lossless_noise(noise, key, wanted, r["cell"]) for r in cell_rows]
        unknown = np.array([v is None for v in known])
        fixed = np.array([0.0 if v is None else v for v in known])

        def measure(scale: float, s: float) -> tuple[float, float]:
            return arrays.coverage_and_width(scale, s, np.where(unknown, s, fixed))  # noqa: B023

        best: tuple[float, float, float] | None = None  # (width, -scale, noise)
        for scale in PARAM_SCALES:
            top = 400.0
            target = min(level, measure(scale, top)[0])
            lo, hi = 0.0, top
            if measure(scale, 0.0)[0] >= target:
                hi = 0.0
            for _ in range(40):
                if hi - lo < 1e-3:
                    break
                mid = (lo + hi) / 2
                if measure(scale, mid)[0] >= target:
                    hi = mid
                else:
                    lo = mid
            width = measure(scale, hi)[1]
            if best is None or (width, -scale) < best[:2]:
                best = (width, -scale, hi)
        assert best is not None
        noise[key], scales[key] = float(best[2]), -best[1]
    return noise, scales


def honest_intervals(rows: Sequence[dict[str, Any]], q: float) -> None:
    """Give every CV row its final interval with noise and scale calibrated WITHOUT its own
    family (nested), so the reported coverage is not calibrated on the rows it is judged
    on."""
    families = sorted({r["family"] for r in rows})
    for family in families:
        others = [r for r in rows if r["family"] != family]
        noise, scales = calibrate_intervals(others, q)
        for r in rows:
            if r["family"] != family:
                continue
            s = _lookup(noise, r["cell"]) or 0.0
            scale = _lookup(scales, r["cell"])
            near = _lookup(noise, _near_lossless_cell(r["cell"])) or 0.0
            low, high = scale_law.interval_bounds(
                r["kind"], r["ours"], r["anchor"], r["floor"],
                (1.0 if scale is None else scale) * r["param_sd"], s, r["anchor_sd"], q, near,
            )  # fmt: skip
            r["low_final"], r["high_final"] = low, high


BASELINE_NAMES = {"none": "no degradation", "const": "constant per format"}


def _family_bootstrap(
    diff: np.ndarray, families: Sequence[str], n: int = 2000, level: float = 0.9
) -> dict[str, float]:
    """Mean of a per-row difference and its ``level`` interval, resampling whole families
    (rows of one family are not independent: they share its quantization sensitivity)."""
    names, inverse = np.unique(np.asarray(families), return_inverse=True)
    sums = np.bincount(inverse, weights=diff, minlength=len(names))
    counts = np.bincount(inverse, minlength=len(names)).astype(float)
    draws = np.random.default_rng(0).integers(0, len(names), size=(n, len(names)))
    means = sums[draws].sum(axis=1) / counts[draws].sum(axis=1)
    tail = (1 - level) / 2
    return {
        "mean": float(diff.mean()),
        "low": float(np.quantile(means, tail)),
        "high": float(np.quantile(means, 1 - tail)),
        "families": len(names),
    }


def summarize(
    rows: Sequence[Mapping[str, Any]], keys: Sequence[str] = ("group", "kind")
) -> list[dict[str, Any]]:
    """MAE per (keys…, bit band) of ours vs both baselines, with interval coverage and
    median width (of the nested-calibrated final intervals), and ours minus the better
    baseline with its 90 % interval over families (is the difference resolved?)."""
    cells: dict[tuple[str, ...], list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        head = tuple(str(row[k]) for k in keys)
        cells[(*head, row["band"])].append(row)
        cells[(*head, "all")].append(row)
    order = {">=4": 0, "3": 1, "2": 2, "all": 3}
    table = []
    for key, cell in sorted(cells.items(), key=lambda kv: (kv[0][:-1], order[kv[0][-1]])):
        rec = [c["record"] for c in cell]
        abs_err = {
            m: np.array(
                [abs(_error(r, c["observed"], c[m])) for r, c in zip(rec, cell, strict=True)]
            )
            for m in ("ours", "none", "const")
        }
        err = {m: float(v.mean()) for m, v in abs_err.items()}
        best = min(("none", "const"), key=lambda m: err[m])
        gap = _family_bootstrap(abs_err["ours"] - abs_err[best], [c["family"] for c in cell])
        low = [c.get("low_final", c["low"]) for c in cell]
        high = [c.get("high_final", c["high"]) for c in cell]
        covered = np.mean(
            [lo <= c["observed"] <= hi for lo, hi, c in zip(low, high, cell, strict=True)]
        )
        widths = [
            (PPL_WEIGHT * math.log(hi / lo) if c["kind"] == "ppl" else hi - lo)
            for lo, hi, c in zip(low, high, cell, strict=True)
        ]
        table.append(
            {
                **{k: v for k, v in zip(keys, key[:-1], strict=True)},
                "band": key[-1], "n": len(cell), "mae": err["ours"],
                "mae_no_degradation": err["none"], "mae_constant_per_format": err["const"],
                "coverage": float(covered), "median_width": float(np.median(widths)),
                "unit": "% ppl" if cell[0]["kind"] == "ppl" else "points",
                "vs_best_baseline": {"baseline": BASELINE_NAMES[best], **gap},
            }
        )  # fmt: skip
    return table


# ------------------------------------------------------------------ advisor fit


def _dedupe(points: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop repeats of one figure copied into two tables (Qwen2's maker and README grids)."""
    seen: set[tuple[Any, ...]] = set()
    out = []
    for p in points:
        key = (p["model"], p["task"], p["format"], p.get("tool"), p["score"], p.get("anchor"))
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def _published_anchor_table() -> list[list[Any]]:
    """(arch_id, task) → the 16-bit figure the recommender shows first (maker tables first)."""
    from advisor import profiles
    from advisor.profiles.formats import is_sixteen_bit

    best: dict[tuple[str, str], tuple[tuple[bool, str], float, str]] = {}
    for p in profiles.published():
        if not p.arch_id or not is_sixteen_bit(p.format) or task_kind(p.task, p.metric) is None:
            continue
        if p.unit not in {"percent", "ppl"} or p.metric.startswith("delta"):
            continue
        if not ranks_as_task(p.task, p.metric):
            continue
        rank = (p.file != "base_scores.csv", p.source)
        key = (p.arch_id, p.task)
        if key not in best or rank < best[key][0]:
            label = f"published {p.model}" + (f", {p.table}" if p.table else "")
            best[key] = (rank, p.value, label)
    return [[a, t, v, s] for (a, t), (_, v, s) in sorted(best.items())]


def prepare_records(
    measurement_paths: Sequence[Any] | None = None,
) -> tuple[list[dict[str, Any]], list[str], list[dict[str, Any]]]:
    """The quantized records the law is fitted on, their model groups, and the 16-bit
    points (from the bundled published tables and the measurement stores). Ladders made
    from a 4-bit file (family ``…~requant``) are included: :func:`build` fits the law
    without them and then only the method offsets they alone inform."""
    from advisor.curves.data import measured_points, published_points, with_anchors

    published = published_points()
    measured = measured_points(measurement_paths)
    sixteen, quantized = with_anchors(published + measured)
    quantized = _dedupe(quantized)
    records, groups = [], []
    for p in quantized:
        r = normalize(p)
        r.update(anchor=p["anchor"], format=p["format"], model=p["model"], origin=p["origin"])
        records.append(r)
        groups.append(p["model"])
    return records, groups, sixteen


def build(measurement_paths: Sequence[Any] | None = None, n_bootstrap: int = 60) -> dict[str, Any]:
    """Refit everything from the bundled and measured points: the ``curves.json`` payload."""
    import platform

    import scipy
    import sklearn
    from threadpoolctl import threadpool_limits

    everything, all_groups, sixteen = prepare_records(measurement_paths)
    main = [i for i, r in enumerate(everything) if not r["family"].endswith("~requant")]
    records = [everything[i] for i in main]
    groups = [all_groups[i] for i in main]
    requant = [r for r in everything if r["family"].endswith("~requant")]
    with threadpool_limits(1):  # small dense problems: one BLAS thread is fastest
        law = DegradationLaw(n_bootstrap=n_bootstrap).fit(records, groups=groups)
        cv = cross_validate(records, law, groups)
        offsets = fit_method_offsets(law, requant)
    q = float(norm.ppf(0.5 + law.interval / 2))
    seen_noise, seen_scale = calibrate_intervals(cv["lomo"], q)
    unseen_noise, unseen_scale = calibrate_intervals(cv["lofo"], q)
    law.set_noise(
        {"seen": seen_noise, "unseen": unseen_noise},
        param_scale={"seen": seen_scale, "unseen": unseen_scale},
    )
    for rows in cv.values():
        honest_intervals(rows, q)
    lomo = summarize(cv["lomo"])
    lofo = summarize(cv["lofo"])
    lofo_task = summarize(cv["lofo"], keys=("group", "task"))
    cv_summary: dict[str, dict[str, Any]] = defaultdict(dict)
    for row in summarize(cv["lofo"], keys=("task",)):
        cv_summary[row["task"]][row["band"]] = {"lofo_mae": row["mae"], "n": row["n"]}
    for row in summarize(cv["lofo"], keys=("kind",)):
        cv_summary[row["kind"]][row["band"]] = {"lofo_mae": row["mae"], "n": row["n"]}
    size_laws = _fit_size_laws([normalize(p) for p in _anchor_points()])
    coefs = law.to_coefficients()
    beta_sd = _coefficient_sd(coefs, "beta")
    return {
        "curve": "scale-precision-v2",
        "versions": {
            "advisor": _advisor_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "scikit-learn": sklearn.__version__,
            "python": platform.python_version(),
        },
        "data": {
            "quantized_points": len(records),
            "published_points": sum(1 for r in records if r["origin"] == "published"),
            "measured_points": sum(1 for r in records if r["origin"] == "measured"),
            "paired_with_a_higher_bit_file": sum(
                1 for r in records if r.get("ref_bits_per_weight") is not None
            ),
            "models": len(set(groups)),
            "families": len({r["family"] for r in records}),
            "sixteen_bit_points": len(sixteen),
        },
        "cv": {
            "lofo": _rounded(lofo),
            "lomo": _rounded(lomo),
            "lofo_by_task": _rounded(lofo_task),
        },
        "cv_summary": _rounded(cv_summary),
        "degradation": _rounded(coefs),
        "method_offsets_from_requantized_ladders": _rounded(offsets),
        "coefficient_sd": _rounded({"beta": beta_sd, "alpha": _coefficient_sd(coefs, "alpha")}),
        "size_laws": {f"{f}|{t}": _rounded(v) for (f, t), v in sorted(size_laws.items())},
        "anchors": [[a, t, round(v, 4), s] for a, t, v, s in _published_anchor_table()],
        "variant_shifts": _rounded(variant_shifts()),
    }


def fit_method_offsets(
    law: DegradationLaw, requant: Sequence[dict[str, Any]], sd: float = 0.5
) -> dict[str, float]:
    """Offsets of methods only re-quantized ladders inform (bitsandbytes' int8/nf4/fp4),
    with every other coefficient of ``law`` held: each ladder family gets its own level
    (its base is not real 16-bit weights), set by its llama.cpp rungs whose law is known;
    the bitsandbytes rungs of the same base then place their methods against it. Adds
    the offsets to ``law`` (with ``sd`` as their thin-level uncertainty); returns them."""
    new = sorted(
        {f"method:{method_key(r['method'])}" for r in requant} - set(law.names_) - {"method:rtn"}
    )
    families = sorted({f"family:{r['family']}" for r in requant} - set(law.names_))
    if not new or len(requant) < 4:
        return {}
    names = [*law.names_, *new, *families]
    w0 = np.concatenate([law.coef_, np.zeros(len(new) + len(families))])
    free = np.array([n in set(new) | set(families) for n in names])
    y = np.array([r["score"] for r in requant], dtype=float)
    design = _design(requant, names, law.log_tpp_ref_)
    solver = DegradationLaw(family_penalty=0.5, task_penalty=law.task_penalty)
    solver.cell_scale_ = {}
    w = solver._solve(design, y, law._arrays(requant), names, w0, free=free)
    law.names_ = names
    law.coef_ = w
    k = len(names) - len(law.cov_)
    law.cov_ = np.pad(np.atleast_2d(law.cov_), ((0, k), (0, k)))
    law.thin_ = {**law.thin_, **{n: sd for n in new}}
    return {n: float(w[names.index(n)]) for n in new + families}


def variant_shifts(min_pairs: int = 3) -> dict[str, dict[str, Any]]:
    """How a post-trained model's 16-bit score differs from its base model's, per task
    (and per task kind as a fallback): the median and spread over the catalogue's
    base/instruct pairs with published scores for both. A prediction for an instruct model
    without its own 16-bit score starts from its base's score plus this shift, and says so.

    Shifts are taken on the logit of the share of the range above chance, so a base model
    already near the ceiling is not shifted past it (a +12-point median on GSM8K means
    less for a base at 90 than for one at 40)."""
    from advisor import profiles

    archs = profiles.architectures()
    scores = {(a, t): v for a, t, v, _ in _published_anchor_table()}
    by_task: dict[str, list[float]] = defaultdict(list)
    for (arch_id, task), value in scores.items():
        arch = archs.get(arch_id)
        info = task_kind(task)
        if arch is None or arch.deploy_variant == "base" or not arch.base_model_id:
            continue
        if info is None or info[0] == "ppl":
            continue
        base = scores.get((arch.base_model_id, task))
        if base is not None:
            by_task[task].append(score_logit(value, info[1]) - score_logit(base, info[1]))
    out: dict[str, dict[str, Any]] = {}
    by_kind: dict[str, list[float]] = defaultdict(list)
    for task, deltas in sorted(by_task.items()):
        info = task_kind(task)
        assert info is not None
        by_kind[f"kind:{info[0]}"].extend(deltas)
        if len(deltas) >= min_pairs:
            out[task] = _shift(deltas)
    for kind, deltas in sorted(by_kind.items()):
        if len(deltas) >= min_pairs:
            out[kind] = _shift(deltas)
    return out


def _shift(deltas: Sequence[float]) -> dict[str, Any]:
    arr = np.asarray(deltas, dtype=float)
    sd = float(np.std(arr, ddof=1)) if len(arr) > 1 else 1.0
    return {"scale": "logit", "mean": float(np.median(arr)), "sd": max(sd, 0.05),
            "n": float(len(arr))}  # fmt: skip


def _coefficient_sd(coefs: Mapping[str, Any], name: str) -> float:
    i = coefs["names"].index(name)
    return float(math.sqrt(max(coefs["cov"][i][i], 0.0)))


def _anchor_points() -> list[dict[str, Any]]:
    """16-bit points for the size laws: one per (model, task), keyed by family and the
    model's deployed variant, so base and instruct scores never share a law."""
    from advisor import profiles

    archs = profiles.architectures()
    points = []
    for arch_id, task, value, _ in _published_anchor_table():
        arch = archs[arch_id]
        info = task_kind(task)
        if info is None or info[0] == "ppl":
            continue
        points.append(
            {"model": arch_id, "family": size_law_family(arch),
             "params": arch.params_total, "task": task, "score": value, "method": "float",
             "bits_per_weight": 16.0}
        )  # fmt: skip
    return points


def size_law_family(arch: Any) -> str:
    """The key a model's size law is kept under: its family and its variant (base,
    instruct, reasoning ...), so differently post-trained models never share a law."""
    return f"{arch.family_key}@{arch.variant or arch.deploy_variant}"


def _advisor_version() -> str:
    from advisor._version import __version__

    return __version__


def _rounded(value: Any, digits: int = 6) -> Any:
    """Round floats for a stable, diff-friendly JSON file."""
    if isinstance(value, float):
        return float(f"{value:.{digits}g}")
    if isinstance(value, (np.floating, np.integer)):
        return _rounded(value.item(), digits)
    if isinstance(value, Mapping):
        return {str(k): _rounded(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(v, digits) for v in value]
    return value
