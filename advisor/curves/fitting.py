"""Fitting the scale–precision curves: estimators (scikit-learn contract), CV, bootstrap.

Heavy imports (numpy, scipy, scikit-learn) live here and nowhere in :mod:`advisor.curves`.
Three estimators:

* :class:`DegradationLaw` — the quantization degradation law of :mod:`advisor.curves`,
  fitted jointly over tasks, methods and families on quantized points paired with their
  16-bit anchor. ``X`` is a list of dicts, or a 2-D array with the columns of
  :data:`COLUMNS` (``method`` and ``kind`` as integer codes into :data:`METHOD_CODES` and
  :data:`KIND_CODES`; task and family levels only come with dicts).
* :class:`SizeLaw` — the 16-bit score of one family on one task as a logistic in
  ``log10(params)`` between ``floor`` and ``ceiling``; ``X[:, 0]`` is ``log10(params)``.
* :class:`ScalePrecisionRegressor` — both together on plain dicts, the object returned
  by :func:`advisor.curves.fit` and :func:`advisor.curves.load`.
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
from advisor.curves.data import KINDS, METHODS, effective_bits, task_kind
from advisor.curves.law import BITS_REF, METHOD_PROXY, SLOPE_GROUP, band

COLUMNS = (
    "log10_params", "bits_per_weight", "anchor", "floor", "log10_tokens_per_param",
    "method", "kind",
)  # fmt: skip
METHOD_CODES = METHODS
KIND_CODES = KINDS
PPL_WEIGHT = 100.0  # a perplexity residual of 1% of ln(ppl) counts like 1 accuracy point
_BOUNDS = {
    "u": (0.05, 5.0), "ukind": (-3.0, 3.0), "curvature": (0.0, 3.0), "alpha": (-1.0, 3.0),
    "beta": (-1.0, 2.0),
}  # fmt: skip


# ------------------------------------------------------------------ input handling


def normalize(point: Mapping[str, Any]) -> dict[str, Any] | None:
    """One user/bundled point → the record the laws use; None if it lacks the basics.

    Needs ``params`` (total parameters) and ``task`` (or ``kind`` + ``floor``);
    ``bits_per_weight`` is derived from ``format``/``bits``/``group_size`` when absent;
    ``method`` defaults to "float" at 16 bits and "rtn" below.
    """
    params = point.get("params")
    if params is None and point.get("params_b"):
        params = float(point["params_b"]) * 1e9
    if not params or float(params) <= 0:
        return None
    task = str(point.get("task", "")).lower()
    info = task_kind(task, point.get("metric"))
    kind = str(point.get("kind") or (info[0] if info else "mc"))
    floor = float(point["floor"] if point.get("floor") is not None else (info[1] if info else 0.0))
    bits = point.get("bits")
    bpw = point.get("bits_per_weight")
    method = point.get("method")
    if method in {None, "", "none"}:
        method = "float" if (bpw or bits or 16) >= 16 else "rtn"
    method = str(method)
    if method != "float" and method not in METHODS:
        return None
    if bpw is None:
        try:
            bpw = effective_bits(
                str(point.get("format", "")), method, bits, point.get("group_size")
            )
        except ValueError:
            return None
    bpw = 16.0 if method == "float" else float(bpw)
    tokens = point.get("training_tokens")
    return {
        "params": float(params),
        "task": task,
        "kind": kind,
        "floor": floor,
        "method": method,
        "bits": float(bits) if bits else round(bpw),
        "bits_per_weight": bpw,
        "family": str(point.get("family") or ""),
        "model": str(point.get("model") or point.get("name") or ""),
        "training_tokens": float(tokens) if tokens else None,
        "score": None if point.get("score") is None else float(point["score"]),
        "anchor": None if point.get("anchor") is None else float(point["anchor"]),
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


def _layout(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """Coefficient names, in a fixed order, for the levels present in ``records``."""
    tasks = sorted({r["task"] for r in records if r["task"]})
    methods = sorted({METHOD_PROXY.get(r["method"], r["method"]) for r in records} - {"rtn"})
    families = sorted({r["family"] for r in records if r["family"]})
    groups = sorted({SLOPE_GROUP[METHOD_PROXY.get(r["method"], r["method"])] for r in records})
    kinds = [k for k in KINDS if any(r["kind"] == k for r in records)]
    return (
        [f"kind:{k}" for k in kinds]
        + [f"task:{t}" for t in tasks]
        + [f"utask:{t}" for t in tasks]
        + [f"method:{m}" for m in methods]
        + [f"family:{f}" for f in families]
        + [f"u:{g}" for g in groups]
        + [f"ukind:{k}" for k in kinds if k != "mc"]
        + ["curvature", "alpha", "beta"]
    )


def _design(
    records: Sequence[Mapping[str, Any]], names: Sequence[str], log_tpp_ref: float
) -> np.ndarray:
    index = {n: i for i, n in enumerate(names)}
    deg = {"_index": index, "sd_task": 0.0, "sd_family": 0.0, "log_tpp_ref": log_tpp_ref}
    F = np.zeros((len(records), len(names)))
    for i, r in enumerate(records):
        if r["method"] == "float":
            continue
        feats = scale_law.features(deg, r)
        for name, value in feats.items():
            if name in index:
                F[i, index[name]] = value
    return F


def _mean(z: np.ndarray, anchor: np.ndarray, floor: np.ndarray, is_ppl: np.ndarray) -> np.ndarray:
    x = np.exp(np.minimum(z, 50.0))
    acc = np.where(anchor > floor, floor + (anchor - floor) * np.exp(-x), anchor)
    return np.where(is_ppl, anchor * np.exp(np.minimum(x, 10.0)), acc)


class DegradationLaw(RegressorMixin, BaseEstimator):
    """Score of a quantized model given its 16-bit anchor (see :mod:`advisor.curves`).

    Parameters
    ----------
    task_penalty, family_penalty : ridge weights pulling task and family offsets to 0
        (in residual units: points of accuracy, or % of ln perplexity).
    robust_scale : soft-L1 scale of the residuals (points); larger = closer to least squares.
    n_bootstrap : resamples over models (clusters) for the coefficient covariance.
    interval : coverage of the ``low``/``high`` interval.
    random_state : seed of the bootstrap.
    """

    def __init__(
        self,
        task_penalty: float = 2.0,
        family_penalty: float = 2.0,
        robust_scale: float = 2.0,
        n_bootstrap: int = 60,
        interval: float = 0.9,
        random_state: int = 0,
    ) -> None:
        self.task_penalty = task_penalty
        self.family_penalty = family_penalty
        self.robust_scale = robust_scale
        self.n_bootstrap = n_bootstrap
        self.interval = interval
        self.random_state = random_state

    # -- input

    def _records(
        self, X: Any, y: Any = None, reset: bool = True
    ) -> tuple[list[dict], np.ndarray | None]:
        if _is_dicts(X):
            records = [normalize(p) for p in X]
            if any(r is None for r in records):
                raise ValueError("every point needs params and a known method/task")
            recs: list[dict[str, Any]] = [r for r in records if r is not None]
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
        return anchor, floor, is_ppl

    def _solve(
        self,
        F: np.ndarray,
        y: np.ndarray,
        arrays: tuple[np.ndarray, ...],
        names: Sequence[str],
        w0: np.ndarray,
        weights: np.ndarray | None = None,
        pin: np.ndarray | None = None,
    ) -> np.ndarray:
        """Weighted robust least squares; coefficients no weighted row informs are held at
        ``pin`` (default ``w0``) instead of drifting along a flat direction."""
        anchor, floor, is_ppl = arrays
        sw = np.ones(len(y)) if weights is None else np.sqrt(weights)
        live = sw > 0
        unsupported = ~np.any(F[live] != 0, axis=0)
        pin_values = (w0 if pin is None else pin)[unsupported]
        pin_idx = np.flatnonzero(unsupported)
        penalty = np.array(
            [
                self.task_penalty if n.startswith(("task:", "utask:"))
                else self.family_penalty if n.startswith("family:") else 0.0
                for n in names
            ]
        )  # fmt: skip
        pen_idx = np.flatnonzero(penalty)
        log_y = np.log(np.maximum(y, 1e-9))
        log_a = np.log(np.maximum(anchor, 1e-9))

        def residuals(w: np.ndarray) -> np.ndarray:
            z = F @ w
            pred = _mean(z, anchor, floor, is_ppl)
            r = np.where(is_ppl, PPL_WEIGHT * (log_y - np.log(np.maximum(pred, 1e-9))), y - pred)
            return np.concatenate(
                [sw * r, penalty[pen_idx] * w[pen_idx], 100.0 * (w[pin_idx] - pin_values)]
            )

        def jac(w: np.ndarray) -> np.ndarray:
            z = np.minimum(F @ w, 50.0)
            x = np.exp(z)
            gap = np.where(anchor > floor, anchor - floor, 0.0)
            d_acc = gap * np.exp(-x) * x  # -(d pred / d z) for accuracy
            d_ppl = -PPL_WEIGHT * x  # d r / d z for ppl: r = 100 (ln y - ln a - x)
            d = np.where(is_ppl, d_ppl, d_acc)
            J = (sw * d)[:, None] * F
            P = np.zeros((len(pen_idx), len(w)))
            P[np.arange(len(pen_idx)), pen_idx] = penalty[pen_idx]
            Q = np.zeros((len(pin_idx), len(w)))
            Q[np.arange(len(pin_idx)), pin_idx] = 100.0
            return np.vstack([J, P, Q])

        del log_a
        lo = np.full(len(names), -30.0)
        hi = np.full(len(names), 30.0)
        for i, n in enumerate(names):
            key = n.split(":")[0]
            if key in _BOUNDS:
                lo[i], hi[i] = _BOUNDS[key]
        w0 = np.clip(w0, lo + 1e-9, hi - 1e-9)
        sol = least_squares(
            residuals, w0, jac=jac, bounds=(lo, hi), loss="soft_l1",
            f_scale=self.robust_scale, x_scale="jac", max_nfev=200,
        )  # fmt: skip
        return np.asarray(sol.x)

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
        F = _design(records, names, self.log_tpp_ref_)
        arrays = self._arrays(records)
        w = self._solve(F, yy, arrays, names, self._start(names))
        self.names_ = list(names)
        self.coef_ = w
        self.n_points_ = len(records)
        # Feasible weighted least squares: 2-bit collapses are noisier than 8-bit ladders,
        # so each (kind, bit band) cell is weighted by its inverse residual variance.
        self.cell_scale_ = {k: v for k, v in self._noise(records, yy).items() if "|" in k}
        base = self._weights(records)
        w = self._solve(F, yy, arrays, names, w, base)
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
            draws.append(self._solve(F, yy, arrays, names, w, weights))
        if len(draws) >= 2:
            D = np.asarray(draws)
            cov = np.cov(D, rowvar=False)
            # Levels absent from a resample stay at the ridge prior: their spread is real.
        else:
            cov = np.zeros((len(names), len(names)))
        self.cov_ = cov
        fam = np.array([w[i] for i, n in enumerate(names) if n.startswith("family:")])
        tsk = np.array([w[i] for i, n in enumerate(names) if n.startswith("task:")])
        self.sd_family_ = float(np.sqrt(np.mean(fam**2))) if len(fam) else 0.5
        self.sd_task_ = float(np.sqrt(np.mean(tsk**2))) if len(tsk) else 0.5
        self.noise_ = self._noise(records, yy)
        support: dict[str, set[str]] = defaultdict(set)
        for r, c in zip(records, clusters, strict=True):
            support[f"task:{r['task']}"].add(c)
            support[f"method:{METHOD_PROXY.get(r['method'], r['method'])}"].add(c)
        self.thin_ = {n: self.sd_family_ for n in names if n in support and len(support[n]) < 3}
        return self

    def _weights(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Inverse-variance weights per (kind, bit band), mean 1."""
        scale = getattr(self, "cell_scale_", {})
        s = np.array([scale.get(f"{r['kind']}|{band(r['bits'])}", 1.0) for r in records])
        w = 1.0 / np.maximum(s, 0.25) ** 2
        return w / w.mean()

    def _noise(self, records: Sequence[Mapping[str, Any]], y: np.ndarray) -> dict[str, float]:
        """Residual spread per (kind, bit band), dof-inflated: the interval's noise term."""
        pred = self._predict_mean(records)
        res = np.array(
            [
                PPL_WEIGHT * math.log(max(yi, 1e-9) / max(pi, 1e-9))
                if r["kind"] == "ppl"
                else yi - pi
                for r, yi, pi in zip(records, y, pred, strict=True)
            ]
        )
        inflate = math.sqrt(len(y) / max(len(y) - len(self.names_), 1))
        cells: dict[str, list[float]] = defaultdict(list)
        for r, e in zip(records, res, strict=True):
            cells[f"{r['kind']}|{band(r['bits'])}"].append(e)
            cells[r["kind"]].append(e)
        # A robust spread (1.4826 MAD) keeps one collapsed outlier from inflating a cell.
        return {
            key: float(
                inflate * max(1.4826 * np.median(np.abs(v)), np.sqrt(np.mean(np.square(v))) / 2)
            )
            for key, v in sorted(cells.items())
        }

    def set_noise(self, noise: Mapping[str, float]) -> DegradationLaw:
        """Replace the interval's noise term (``advisor fit`` calibrates it on CV residuals)."""
        self.noise_ = dict(noise)
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
            "noise": dict(self.noise_),
            "log_tpp_ref": self.log_tpp_ref_,
            "interval": self.interval,
            "z_q": float(norm.ppf(0.5 + self.interval / 2)),
            "n_points": self.n_points_,
            "thin": dict(self.thin_),
            "cell_scale": dict(self.cell_scale_),
        }

    @classmethod
    def from_coefficients(cls, data: Mapping[str, Any]) -> DegradationLaw:
        law = cls(interval=float(data["interval"]))
        law.names_ = list(data["names"])
        law.coef_ = np.asarray(data["w"], dtype=float)
        law.cov_ = np.asarray(data["cov"], dtype=float)
        law.sd_task_ = float(data["sd_task"])
        law.sd_family_ = float(data["sd_family"])
        law.noise_ = dict(data["noise"])
        law.log_tpp_ref_ = float(data["log_tpp_ref"])
        law.n_points_ = int(data["n_points"])
        law.thin_ = dict(data.get("thin", {}))
        law.cell_scale_ = dict(data.get("cell_scale", {}))
        law.n_features_in_ = len(COLUMNS)
        return law

    def _predict_mean(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        F = _design(records, self.names_, self.log_tpp_ref_)
        anchor, floor, is_ppl = self._arrays(records)
        float_rows = np.array([r["method"] == "float" for r in records])
        return np.where(float_rows, anchor, _mean(F @ self.coef_, anchor, floor, is_ppl))

    def predict(self, X: Any) -> np.ndarray:
        """Expected scores (accuracy in points, perplexity as is)."""
        check_is_fitted(self, "coef_")
        records, _ = self._records(X, reset=False)
        return self._predict_mean(records)

    def predict_interval(self, X: Any) -> list[dict[str, Any]]:
        """Per point ``{"mean", "low", "high"}`` (``interval`` coverage)."""
        check_is_fitted(self, "coef_")
        records, _ = self._records(X, reset=False)
        coefs = self.to_coefficients()
        coefs["_index"] = {n: i for i, n in enumerate(coefs["names"])}
        out = []
        for r in records:
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
        return self.floor + (self.ceiling - self.floor) / (1 + np.exp(-(self.a_ + self.b_ * x)))


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
            raise ValueError("ScalePrecisionRegressor.fit takes a list of dicts (see curves.fit)")
        points = [dict(p) for p in X]
        if y is not None:
            for p, v in zip(points, y, strict=True):
                p["score"] = v
        records = [
            r for r in (normalize(p) for p in points) if r is not None and r["score"] is not None
        ]
        if not records:
            raise ValueError("no usable points: each needs params, task and score")
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
            fam, tsk = key.split("|", 1)
            if (family is None or fam == family) and (task is None or tsk == task):
                laws[(fam, tsk)] = law
        if family is not None and task is not None and not laws:
            known = sorted({k.split("|")[0] for k in data["size_laws"] if k.endswith(f"|{task}")})
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
        q.setdefault("family", self.family)
        q.setdefault("task", self.task)
        r = normalize(q)
        if r is None:
            raise ValueError(f"cannot read query {dict(point)!r}: it needs params and a task")
        if r["anchor"] is None:
            key = (r["model"], r["task"])
            if key in self.anchors_:
                r["anchor"] = self.anchors_[key]
            else:
                law = self.size_laws_.get((r["family"], r["task"]))
                if law is None:
                    raise ValueError(
                        f"no 16-bit anchor for {r['model'] or r['family'] or 'this model'} on "
                        f"{r['task']!r}: pass 'anchor' or fit 16-bit points of its family"
                    )
                t = law["a"] + law["b"] * (math.log10(r["params"]) - 9.0)
                r["anchor"] = law["floor"] + (law["ceiling"] - law["floor"]) / (1 + math.exp(-t))
                r["anchor_sd"] = law.get("cv_mae", 0.0)
        return r

    def predict(self, X: Any) -> Any:
        """Dicts → ``[{"mean", "low", "high"}]``; a 2-D array → expected scores."""
        check_is_fitted(self, "degradation_")
        if not _is_dicts(X):
            return self.degradation_.predict(X)
        coefs = self.degradation_.to_coefficients()
        coefs["_index"] = {n: i for i, n in enumerate(coefs["names"])}
        out = []
        for p in X:
            res = scale_law.evaluate(coefs, self._query(p))
            out.append({"mean": res["mean"], "low": res["low"], "high": res["high"]})
        return out

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """R² of the expected scores."""
        from sklearn.metrics import r2_score

        pred = self.predict(X)
        if _is_dicts(X):
            pred = [p["mean"] for p in pred]
        return float(r2_score(y, pred, sample_weight=sample_weight))


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
    return observed - predicted


def _constant_penalty(
    train: Sequence[Mapping[str, Any]], key: str = "format_key"
) -> dict[str, float]:
    """Baseline: the mean change per ``key`` (ln ratio for perplexity) over ``train``."""
    deltas: dict[str, list[float]] = defaultdict(list)
    for r in train:
        if r["kind"] == "ppl":
            deltas[r[key]].append(math.log(r["score"] / r["anchor"]))
        else:
            deltas[r[key]].append(r["score"] - r["anchor"])
    return {k: float(np.mean(v)) for k, v in deltas.items()}


def _apply_penalty(
    record: Mapping[str, Any], table: Mapping[str, float], key: str = "format_key"
) -> float:
    delta = table.get(record[key], 0.0)
    if record["kind"] == "ppl":
        return float(record["anchor"] * math.exp(delta))
    return float(record["anchor"] + delta)


def cross_validate(
    records: Sequence[dict[str, Any]], law: DegradationLaw, groups: Sequence[str]
) -> dict[str, list[dict[str, Any]]]:
    """Leave-one-config-out and leave-one-model-out predictions of the law and baselines.

    Each refit warm-starts from the full fit ``law``; the interval uses the full fit's
    covariance. Returns, per scheme, one row per point: observed, ours, low, high, and the
    baselines ("none": the 16-bit score; "const": the mean change of that format on that
    task; "const_format": the mean change of that format over every task of the same kind,
    the plain "constant penalty per format").
    """
    check_is_fitted(law, "coef_")
    y = np.array([r["score"] for r in records], dtype=float)
    F = _design(records, law.names_, law.log_tpp_ref_)
    arrays = law._arrays(records)
    for r in records:
        # The baseline's "format" is (task, format): a per-task constant is the stronger one.
        fmt = f"{r['method']}:{r.get('format') or r['bits_per_weight']}"
        r["format_key"] = f"{r['task']}|{fmt}"
        r["format_only_key"] = f"{r['kind']}|{fmt}"  # accuracy and perplexity deltas differ
    group_arr = np.asarray(groups)
    folds = {
        "loco": [np.array([i]) for i in range(len(records))],
        "lomo": [np.flatnonzero(group_arr == g) for g in np.unique(group_arr)],
    }
    coefs = law.to_coefficients()
    coefs["_index"] = {n: i for i, n in enumerate(coefs["names"])}
    out: dict[str, list[dict[str, Any]]] = {}
    for scheme, fold_list in folds.items():
        rows: list[dict[str, Any]] = [{} for _ in records]
        for test in fold_list:
            weights = law._weights(records)
            weights[test] = 0.0
            # A level only the held-out points inform falls back to its prior (no leak).
            w = law._solve(F, y, arrays, law.names_, law.coef_, weights, law._start(law.names_))
            train = [records[int(i)] for i in np.flatnonzero(weights)]
            penalty = _constant_penalty(train)
            penalty_format = _constant_penalty(train, "format_only_key")
            held = {**coefs, "w": [float(v) for v in w], "_cache": {}}
            for i in (int(t) for t in test):
                r = records[i]
                res = scale_law.evaluate(held, r)
                rows[i] = {
                    "task": r["task"], "kind": r["kind"], "band": band(r["bits"]),
                    "method": r["method"], "model": groups[i], "observed": r["score"],
                    "ours": res["mean"], "low": res["low"], "high": res["high"],
                    "none": r["anchor"], "const": _apply_penalty(r, penalty),
                    "const_format": _apply_penalty(r, penalty_format, "format_only_key"),
                    "record": r, "w": held["w"],
                }  # fmt: skip
        out[scheme] = rows
    return out


def summarize(rows: Sequence[Mapping[str, Any]], key: str = "task") -> list[dict[str, Any]]:
    """MAE per (key, bit band) of ours vs both baselines, with interval coverage."""
    cells: dict[tuple[str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        cells[(row[key], row["band"])].append(row)
        cells[(row[key], "all")].append(row)
    order = {">=4": 0, "3": 1, "2": 2, "all": 3}
    table = []
    for (name, b), cell in sorted(cells.items(), key=lambda kv: (kv[0][0], order[kv[0][1]])):
        rec = [c["record"] for c in cell]
        err = {
            m: float(
                np.mean(
                    [abs(_error(r, c["observed"], c[m])) for r, c in zip(rec, cell, strict=True)]
                )
            )
            for m in ("ours", "none", "const", "const_format")
        }
        covered = np.mean([c["low"] <= c["observed"] <= c["high"] for c in cell])
        table.append(
            {
                key: name, "band": b, "n": len(cell), "mae": err["ours"],
                "mae_no_degradation": err["none"], "mae_constant_penalty": err["const"],
                "mae_constant_per_format": err["const_format"],
                "coverage": float(covered),
                "unit": "% ppl" if cell[0]["kind"] == "ppl" else "points",
            }
        )  # fmt: skip
    return table


# ------------------------------------------------------------------ advisor fit


def _dedupe(points: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop repeats of one figure copied into two tables (Qwen2's maker and README grids)."""
    seen: set[tuple[Any, ...]] = set()
    out = []
    for p in points:
        key = (p["model"], p["task"], p["format"], p["score"], p.get("anchor"))
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
        rank = (p.file != "base_scores.csv", p.source)
        key = (p.arch_id, p.task)
        if key not in best or rank < best[key][0]:
            label = f"published {p.model}" + (f", {p.table}" if p.table else "")
            best[key] = (rank, p.value, label)
    return [[a, t, v, s] for (a, t), (_, v, s) in sorted(best.items())]


def _calibrated_noise(rows: Sequence[Mapping[str, Any]], z_q: float) -> dict[str, float]:
    """Noise per (kind, band) such that the interval covers ``interval`` of held-out errors."""
    cells: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        e = abs(_error(row["record"], row["observed"], row["ours"]))
        cells[f"{row['kind']}|{row['band']}"].append(e)
        cells[row["kind"]].append(e)
    level = 2 * (norm.cdf(z_q) - 0.5)
    return {k: float(np.quantile(v, level) / z_q) for k, v in sorted(cells.items())}


def build(measurement_paths: Sequence[Any] | None = None, n_bootstrap: int = 60) -> dict[str, Any]:
    """Refit everything from the bundled and measured points: the ``curves.json`` payload."""
    import platform

    import scipy
    import sklearn
    from threadpoolctl import threadpool_limits

    from advisor.curves.data import measured_points, published_points, with_anchors

    published = published_points()
    measured = measured_points(measurement_paths)
    sixteen, quantized = with_anchors(published + measured)
    quantized = _dedupe(quantized)
    records, groups = [], []
    for p in quantized:
        r = normalize(p)
        if r is None:
            continue
        r.update(anchor=p["anchor"], format=p["format"], model=p["model"], origin=p["origin"])
        records.append(r)
        groups.append(p["model"])
    with threadpool_limits(1):  # small dense problems: one BLAS thread is fastest
        law = DegradationLaw(n_bootstrap=n_bootstrap).fit(records, groups=groups)
        cv = cross_validate(records, law, groups)
    law.set_noise(_calibrated_noise(cv["lomo"], float(norm.ppf(0.5 + law.interval / 2))))
    # Intervals of the CV rows, recomputed with the calibrated noise.
    coefs = law.to_coefficients()
    coefs["_index"] = {n: i for i, n in enumerate(coefs["names"])}
    for rows in cv.values():
        for row in rows:
            res = scale_law.evaluate({**coefs, "w": row["w"], "_cache": {}}, row["record"])
            row["low"], row["high"] = res["low"], res["high"]
    loco, lomo = summarize(cv["loco"]), summarize(cv["lomo"])
    by_kind = summarize(cv["loco"], key="kind")
    cv_summary: dict[str, dict[str, Any]] = defaultdict(dict)
    for row in loco:
        cv_summary[row["task"]][row["band"]] = {"loco_mae": row["mae"], "n": row["n"]}
    for row in by_kind:
        cv_summary[row["kind"]][row["band"]] = {"loco_mae": row["mae"], "n": row["n"]}
    size_laws = _fit_size_laws([normalize_sixteen(p) for p in _anchor_points()])
    data = {
        "curve": "scale-precision-v1",
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
            "models": len(set(groups)),
            "sixteen_bit_points": len(sixteen),
        },
        "cv": {"loco": _rounded(loco), "lomo": _rounded(lomo), "loco_by_kind": _rounded(by_kind)},
        "cv_summary": _rounded(cv_summary),
        "degradation": _rounded(law.to_coefficients()),
        "size_laws": {f"{f}|{t}": _rounded(v) for (f, t), v in sorted(size_laws.items())},
        "anchors": [[a, t, round(v, 4), s] for a, t, v, s in _published_anchor_table()],
    }
    return data


def _anchor_points() -> list[dict[str, Any]]:
    from advisor import profiles

    archs = profiles.architectures()
    points = []
    for arch_id, task, value, _ in _published_anchor_table():
        arch = archs[arch_id]
        info = task_kind(task)
        if info is None or info[0] == "ppl":
            continue
        points.append(
            {"model": arch_id, "family": arch.family_key, "params": arch.params_total,
             "task": task, "score": value, "method": "float", "bits_per_weight": 16.0}
        )  # fmt: skip
    return points


def normalize_sixteen(point: Mapping[str, Any]) -> dict[str, Any]:
    r = normalize(point)
    if r is None:
        raise ValueError(f"bad 16-bit point {point!r}")
    return r


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
