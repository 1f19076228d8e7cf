"""Scale–precision curves: how a model's score moves with its size and its bits.

The model (fitted by ``advisor fit``, see ``docs/curves.md``)::

    score = floor + (anchor - floor) * exp(-x)        accuracy (floor = chance, or 0)
    ppl   = anchor * exp(x)                           perplexity
    ln x  = theta[kind] + tau[task] + eta[method] + phi[family]
            - u[method group] * (bits_per_weight - 4)
            - alpha * ln(N / 1e10) + beta * ln(tokens per parameter / ref)

``anchor`` is the model's 16-bit score on the task (published or measured; else the
family's size law, a logistic in log N between the floor and 100). ``x`` is the share of
effective parameters lost to quantization, ``exp(-bits/gamma)`` with ``u = 1/gamma``
(Kumar et al. 2024), shrinking with N and growing with training tokens per parameter
(Ouyang et al. 2024). ``ln x`` is linear in the coefficients, so an interval on it
(bootstrap covariance over models) maps monotonically onto the score.

This module is pure Python: it loads the committed coefficients
(``measurements/curves.json``) and evaluates them with :mod:`math`, so ranking 1,500
configs costs microseconds each. Fitting (numpy, scipy, scikit-learn) lives in
:mod:`advisor.curves.fitting` and is imported only by :func:`fit` and ``advisor fit``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

PARAMS_REF = 1e10  # N is measured relative to 10B parameters
BITS_REF = 4.0  # bits are measured relative to 4 bits/weight
# Method → the slope group whose u = 1/gamma it shares; bitsandbytes has no published
# grid, so it borrows round-to-nearest's law (nf4/int8 are blockwise RTN) and says so.
METHOD_PROXY = {"bnb": "rtn"}
SLOPE_GROUP = {
    "rtn": "rtn", "gptq": "rtn", "awq": "rtn", "rtn-simple": "rtn-simple",
    "gguf-legacy": "gguf", "gguf-k": "gguf", "gguf-i": "gguf",
}  # fmt: skip


def feature_parts(
    deg: Mapping[str, Any], point: Mapping[str, Any]
) -> tuple[dict[str, float], list[str], float, list[str]]:
    """The bit-independent features of ``ln x``, the names multiplied by ``-(bits - 4)``,
    the extra variance of levels the fit has not seen (or barely), and notes."""
    index = deg["_index"] if "_index" in deg else {n: i for i, n in enumerate(deg["names"])}
    notes: list[str] = []
    extra_var = 0.0
    method = point["method"]
    proxy = METHOD_PROXY.get(method, method)
    if proxy != method:
        notes.append(f"{method} has no published grid: uses the {proxy} law")
    fixed: dict[str, float] = {f"kind:{point['kind']}": 1.0}
    slope = [f"u:{SLOPE_GROUP[proxy]}", f"ukind:{point['kind']}"]  # no ukind for "mc"
    task_name = f"task:{point['task']}"
    if task_name in index:
        fixed[task_name] = 1.0
        slope.append(f"utask:{point['task']}")
    else:
        extra_var += deg["sd_task"] ** 2
        notes.append(f"no quantized {point['task']} data: uses the {point['kind']} average")
    method_name = f"method:{proxy}"
    if method_name in index:
        fixed[method_name] = 1.0
    family_name = f"family:{point.get('family')}"
    if family_name in index:
        fixed[family_name] = 1.0
    else:
        extra_var += deg["sd_family"] ** 2
    thin = deg.get("thin", {})
    for name in (task_name, method_name):
        if name in thin:  # a level seen on fewer than 3 models: its bootstrap spread is too small
            extra_var += thin[name] ** 2
    fixed["alpha"] = -math.log(point["params"] / PARAMS_REF)
    tokens = point.get("training_tokens")
    if tokens:
        fixed["beta"] = math.log(tokens / point["params"]) - deg["log_tpp_ref"]
    return fixed, slope, extra_var, notes


def features(deg: Mapping[str, Any], point: Mapping[str, Any]) -> dict[str, float]:
    """The full sparse feature vector of ``ln x`` for one point (used by the fit)."""
    fixed, slope, _, _ = feature_parts(deg, point)
    db = point["bits_per_weight"] - BITS_REF
    feats = dict(fixed)
    for name in slope:
        feats[name] = -db
    feats["curvature"] = min(db, 0.0) ** 2  # below 4 bits damage grows faster than exp
    return feats


def _quad(
    index: Mapping[str, int], cov: list[list[float]], a: Mapping[str, float], b: Mapping[str, float]
) -> float:
    ia = [(index[n], v) for n, v in a.items() if n in index]
    ib = [(index[n], v) for n, v in b.items() if n in index]
    return sum(va * vb * cov[i][j] for i, va in ia for j, vb in ib)


def _linear(deg: dict[str, Any], point: Mapping[str, Any]) -> tuple[float, float, list[str]]:
    """``ln x``, its variance (bootstrap covariance + unseen levels) and notes.

    Everything but the bits is cached per (kind, task, method, family, size, tokens), so a
    call costs a handful of multiplications: ``var`` is a quadratic in ``bits - 4``.
    """
    key = (point["kind"], point["task"], point["method"], point.get("family"),
           point["params"], point.get("training_tokens"))  # fmt: skip
    cache = deg.setdefault("_cache", {})
    parts = cache.get(key)
    if parts is None:
        index = deg["_index"] if "_index" in deg else {n: i for i, n in enumerate(deg["names"])}
        w, cov = deg["w"], deg["cov"]
        fixed, slope, extra_var, notes = feature_parts(deg, point)
        e1 = {n: 1.0 for n in slope}
        e2 = {"curvature": 1.0}
        z0 = sum(w[index[n]] * v for n, v in fixed.items() if n in index)
        w1 = sum(w[index[n]] for n in slope if n in index)
        w2 = w[index["curvature"]] if "curvature" in index else 0.0
        q = (
            _quad(index, cov, fixed, fixed),
            _quad(index, cov, e1, e1),
            _quad(index, cov, e2, e2),
            _quad(index, cov, fixed, e1),
            _quad(index, cov, fixed, e2),
            _quad(index, cov, e1, e2),
        )
        parts = cache[key] = (z0, w1, w2, q, extra_var, notes)
    z0, w1, w2, (a, b, c, d, e, g), extra_var, notes = parts
    db = point["bits_per_weight"] - BITS_REF
    t1, t2 = -db, min(db, 0.0) ** 2
    z = z0 + t1 * w1 + t2 * w2
    var = a + t1 * t1 * b + t2 * t2 * c + 2 * (t1 * d + t2 * e + t1 * t2 * g)
    return z, max(var, 0.0) + extra_var, notes


def _score(kind: str, anchor: float, floor: float, z: float) -> float:
    x = math.exp(min(z, 50.0))
    if kind == "ppl":
        return anchor * math.exp(min(x, 10.0))
    if anchor <= floor:
        return anchor
    return floor + (anchor - floor) * math.exp(-x)


def band(bits: float) -> str:
    """Reporting band of a nominal bit-width: '>=4', '3' or '2' (2 and below)."""
    return ">=4" if bits >= 4 else ("3" if bits >= 3 else "2")


def evaluate(deg: Mapping[str, Any], point: Mapping[str, Any]) -> dict[str, Any]:
    """Mean and interval of one config, in pure Python.

    ``point`` needs ``kind``, ``task``, ``floor``, ``anchor``, ``method``,
    ``bits_per_weight``, ``params``; ``family``, ``training_tokens``, ``bits`` (nominal,
    for the noise band) and ``anchor_sd`` (uncertainty of an anchor that was itself
    predicted) are optional.
    """
    kind, anchor, floor = point["kind"], float(point["anchor"]), float(point["floor"])
    q = deg["z_q"]
    if point["method"] == "float":
        mean = low = high = anchor
        notes: list[str] = []
        sz = 0.0
    else:
        z, var, notes = _linear(deg, point)  # type: ignore[arg-type]
        sz = math.sqrt(var)
        mean = _score(kind, anchor, floor, z)
        # Accuracy falls as z rises (the upper z bound gives the lower score); perplexity rises.
        a, b = _score(kind, anchor, floor, z + q * sz), _score(kind, anchor, floor, z - q * sz)
        low, high = (b, a) if kind == "ppl" else (a, b)
    nominal = point.get("bits") or point["bits_per_weight"]
    noise = deg["noise"].get(f"{kind}|{band(nominal)}", deg["noise"].get(kind, 0.0))
    if point["method"] == "float":
        noise = 0.0
    anchor_sd = float(point.get("anchor_sd") or 0.0)
    spread = q * math.hypot(noise, anchor_sd)
    if kind == "ppl":
        factor = math.exp(spread / 100.0)  # ppl noise is in percent of ln(ppl)
        low, high = low / factor, high * factor
    else:
        low, high = max(0.0, low - spread), min(100.0, high + spread)
    return {"mean": mean, "low": low, "high": high, "sd_lnx": sz, "notes": notes}
