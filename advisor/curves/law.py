"""Scale–precision curves: how a model's score moves with its size and its bits.

The model (fitted by ``advisor fit``, see ``docs/curves.md``)::

    score = floor + (anchor - floor) * exp(-x)        accuracy (floor = chance, or 0)
    ppl   = anchor * exp(x)                           perplexity
    ln x  = theta[kind] + tau[task] + eta[method] + kappa[tool] + phi[family]
            - (u[group] + u[kind] + u[task]) * (bits - 4) + c[group] * min(bits - 4, 0)^2
            - alpha * ln(N / 1e10) + beta * ln(tokens per parameter / ref)

``anchor`` is the model's 16-bit score on the task (measured, published, or the family's
size law). ``x`` is the share of effective parameters lost to quantization,
``exp(-bits/gamma)`` with ``u = 1/gamma`` (Kumar et al. 2024), shrinking with N and
growing with training tokens per parameter (Ouyang et al. 2024). ``bits`` is the effective
bits/weight of the repeating layers. ``group`` is the method family sharing a slope
(round-to-nearest and its refinements; llama.cpp's types), ``tool`` how a GGUF file was
made (plain llama.cpp, with an importance matrix / optimized scales, AutoRound).

``ln x`` is linear in the coefficients; their bootstrap covariance over models enters the
score by the delta method, and a noise term per (method group, task kind, bit band),
calibrated on leave-one-family-out residuals, widens it to a 90 % interval. Quantization
does not improve a model: the upper end stays within the anchor plus the scatter of
near-lossless (8-bit) files.

This module is pure Python: it evaluates coefficients (``measurements/curves.json``, or a
fresh fit) with :mod:`math`, so ranking 1,500 configs costs microseconds each.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

# A degenerate fit's ln-perplexity half-width is capped: a huge interval, not an OverflowError.
MAX_LN_HALF_WIDTH = 50.0
PARAMS_REF = 1e10  # N is measured relative to 10B parameters
BITS_REF = 4.0  # bits are measured relative to 4 bits/weight
# Methods with no grid of their own borrow a method's law and say so.
METHOD_PROXY = {"bnb": "bnb-nf4"}
# Method → the slope group whose u = 1/gamma and curvature it shares. Blockwise
# round-to-nearest formats (bitsandbytes, MXFP4, FP8, NVFP4) and the calibrated methods
# that refine it (GPTQ, AWQ) share one; llama.cpp's types another; the secondary-source
# RTN ladder (transformerx) is kept apart (far harsher than llama.cpp at the same layout).
SLOPE_GROUP = {
    "rtn": "rtn", "gptq": "rtn", "awq": "rtn", "bnb-int8": "rtn", "bnb-nf4": "rtn",
    "bnb-fp4": "rtn", "mxfp4": "rtn", "fp8": "rtn", "nvfp4": "rtn",
    "rtn-simple": "rtn-simple",
    "gguf-legacy": "gguf", "gguf-k": "gguf", "gguf-i": "gguf",
}  # fmt: skip
METHODS = tuple(SLOPE_GROUP)
# How a GGUF file was made: "plain" llama.cpp rounding is the reference level.
TOOLS = ("plain", "imatrix", "autoround")
KINDS = ("mc", "cloze", "gen", "ppl")
LOGLIKELIHOOD_KINDS = ("mc", "cloze")  # scored by log-likelihood; their noise cells pool
PLAIN_PARENT = "gguf-any"  # the noise cell pooling plain and calibrated llama.cpp files


def method_key(method: str) -> str:
    """A method name as the law spells it (case-insensitive; aliases resolved)."""
    key = method.strip().lower()
    return METHOD_PROXY.get(key, key)


def band(bits: float) -> str:
    """Reporting band of a nominal bit-width: '>=4', '3' or '2' (2 and below)."""
    return ">=4" if bits >= 4 else ("3" if bits >= 3 else "2")


def _index(deg: Mapping[str, Any]) -> Mapping[str, int]:
    found = deg.get("_index")
    if found is None:
        return {n: i for i, n in enumerate(deg["names"])}
    return found  # type: ignore[no-any-return]


def feature_parts(
    deg: Mapping[str, Any], point: Mapping[str, Any]
) -> tuple[dict[str, float], list[str], float, list[str]]:
    """The bit-independent features of ``ln x``, the names multiplied by ``-(bits - 4)``,
    the extra variance of levels the fit has not seen (or barely), and notes."""
    index = _index(deg)
    notes: list[str] = []
    extra_var = 0.0
    method = method_key(str(point["method"]))
    group = SLOPE_GROUP[method]
    kind = point["kind"]
    fixed: dict[str, float] = {f"kind:{kind}": 1.0}
    slope = [f"u:{group}", f"ukind:{kind}"]  # no ukind for "mc": it is the reference
    task_name = f"task:{point['task']}"
    if task_name in index:
        fixed[task_name] = 1.0
        slope.append(f"utask:{point['task']}")
    else:
        extra_var += float(deg["sd_task"]) ** 2
        notes.append(f"no quantized {point['task']} data: uses the {kind} average")
    method_name = f"method:{method}"
    if method_name in index or method == "rtn":
        if method_name in index:
            fixed[method_name] = 1.0
    else:
        extra_var += float(deg.get("sd_method", deg["sd_family"])) ** 2
        notes.append(f"{method} has no quantized evidence: uses its group's ({group}) law")
    tool = point.get("tool")
    tools = deg.get("tools", {}).get(group, {})
    if tool in TOOLS and f"tool:{tool}" in index:
        fixed[f"tool:{tool}"] = 1.0
    elif tool is None and tools:
        # A file whose maker is unknown: the common files are made with an importance
        # matrix or optimized scales (the tools' average; their spread joins the interval).
        for name, share in tools.get("shares", {}).items():
            if f"tool:{name}" in index:
                fixed[f"tool:{name}"] = float(share)
        extra_var += float(tools.get("var", 0.0))
    file_type = format_of(point)
    if file_type is not None and f"format:{file_type}" in index:
        fixed[f"format:{file_type}"] = 1.0  # the type's own tensor mix (_S/_M/_L)
    if kind != "ppl" and f"acc_level:{group}" in index:
        # Real GGUF files' task accuracy has its own level and slope in bits against the
        # perplexity ladders the group's law is mostly fitted on (fitted second, on
        # accuracy alone; see advisor.curves.fitting.REFINED).
        fixed[f"acc_level:{group}"] = 1.0
        slope.append(f"acc_slope:{group}")
    family_name = f"family:{point.get('family')}"
    if family_name in index:
        fixed[family_name] = 1.0
    # An unseen family's spread is in the noise calibrated on leave-one-family-out errors.
    thin = deg.get("thin", {})
    for name in (task_name, method_name):
        if name in thin:  # a level seen on fewer than 3 models: its bootstrap spread is too small
            extra_var += thin[name] ** 2
    fixed["alpha"] = -math.log(float(point["params"]) / PARAMS_REF)
    tokens = point.get("training_tokens")
    if tokens:
        fixed["beta"] = math.log(float(tokens) / float(point["params"])) - float(deg["log_tpp_ref"])
    return fixed, slope, extra_var, notes


def format_of(point: Mapping[str, Any]) -> str | None:
    """The llama.cpp file type of a GGUF point: its ``format``, else the type whose body
    bits/weight it names (a query may give only method and bits)."""
    method = method_key(str(point["method"]))
    if not method.startswith("gguf"):
        return None
    name = point.get("format")
    if name:
        return str(name).upper()
    bpw = float(point["bits_per_weight"])
    return _GGUF_BODY_BITS.get((method, round(bpw, 2)))


def _gguf_body_bits() -> dict[tuple[str, float], str]:
    from advisor.profiles.formats import GGUF_FILE_TYPES, get_format

    out: dict[tuple[str, float], str] = {}
    for name in GGUF_FILE_TYPES:
        fmt = get_format(name)
        out.setdefault((fmt.method, round(fmt.body_bpw, 2)), fmt.name.upper())
    return out


_GGUF_BODY_BITS = _gguf_body_bits()


def _curvature_name(deg: Mapping[str, Any], method: str) -> str:
    name = f"curv:{SLOPE_GROUP[method_key(method)]}"
    return name if name in _index(deg) else "curvature"


def features(deg: Mapping[str, Any], point: Mapping[str, Any]) -> dict[str, float]:
    """The full sparse feature vector of ``ln x`` for one point (used by the fit)."""
    fixed, slope, _, _ = feature_parts(deg, point)
    db = float(point["bits_per_weight"]) - BITS_REF
    feats = dict(fixed)
    for name in slope:
        feats[name] = feats.get(name, 0.0) - db
    # Below 4 bits damage grows faster than exponentially (RTN W2 collapses to chance).
    feats[_curvature_name(deg, point["method"])] = min(db, 0.0) ** 2
    return feats


def _quad(
    index: Mapping[str, int], cov: list[list[float]], a: Mapping[str, float], b: Mapping[str, float]
) -> float:
    ia = [(index[n], v) for n, v in a.items() if n in index]
    ib = [(index[n], v) for n, v in b.items() if n in index]
    return sum(va * vb * cov[i][j] for i, va in ia for j, vb in ib)


def _extrapolation(deg: Mapping[str, Any], point: Mapping[str, Any]) -> tuple[float, list[str]]:
    """Extra ln-x variance, and a flag, for a point outside the range the group was fitted
    on (bits, size, training tokens per parameter)."""
    ranges = deg.get("ranges", {}).get(SLOPE_GROUP[method_key(str(point["method"]))])
    if not ranges:
        return 0.0, []
    flags: list[str] = []
    sd = 0.0
    bpw = float(point["bits_per_weight"])
    lo, hi = ranges["bits_per_weight"]
    if bpw < lo:
        sd += 0.8 * (lo - bpw)
        flags.append(f"{bpw:.2f} bits/weight is below the fitted range ({lo:.2f}–{hi:.2f})")
    params = float(point["params"])
    plo, phi = ranges["params"]
    if not plo / 2 <= params <= phi * 2:
        sd += 0.3 * abs(math.log10(params / (plo if params < plo else phi)))
        flags.append(f"{params / 1e9:.3g}B parameters is outside the fitted sizes")
    tokens = point.get("training_tokens")
    if tokens and ranges.get("tokens_per_param"):
        tlo, thi = ranges["tokens_per_param"]
        tpp = float(tokens) / params
        if not tlo / 2 <= tpp <= thi * 2:
            sd += 0.3 * abs(math.log10(tpp / (tlo if tpp < tlo else thi)))
            flags.append(f"{tpp:,.0f} training tokens per parameter is outside the fitted range")
    if flags:
        flags.append("interval widened")
    return sd * sd, flags


def _linear(
    deg: dict[str, Any], point: Mapping[str, Any]
) -> tuple[float, float, list[str], list[str]]:
    """``ln x``, its variance (bootstrap covariance + unseen levels + extrapolation),
    notes and flags.

    Everything but the bits is cached per (kind, task, method, tool, family, size, tokens),
    so a call costs a handful of multiplications: ``var`` is a quadratic in ``bits - 4``.
    """
    key = (point["kind"], point["task"], point["method"], point.get("tool"), point.get("family"),
           point["params"], point.get("training_tokens"), format_of(point))  # fmt: skip
    cache = deg.setdefault("_cache", {})
    parts = cache.get(key)
    if parts is None:
        index = _index(deg)
        w, cov = deg["w"], deg["cov"]
        fixed, slope, extra_var, notes = feature_parts(deg, point)
        e1 = {n: 1.0 for n in slope}
        curv = _curvature_name(deg, point["method"])
        e2 = {curv: 1.0}
        z0 = sum(w[index[n]] * v for n, v in fixed.items() if n in index)
        w1 = sum(w[index[n]] for n in slope if n in index)
        w2 = w[index[curv]] if curv in index else 0.0
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
    db = float(point["bits_per_weight"]) - BITS_REF
    t1, t2 = -db, min(db, 0.0) ** 2
    z = z0 + t1 * w1 + t2 * w2
    var = a + t1 * t1 * b + t2 * t2 * c + 2 * (t1 * d + t2 * e + t1 * t2 * g)
    outside, flags = _extrapolation(deg, point)
    return z, max(var, 0.0) + extra_var + outside, list(notes), flags


def score_from(kind: str, anchor: float, floor: float, x: float) -> float:
    """The score at damage ``x``: accuracy saturates towards the floor, perplexity grows."""
    if kind == "ppl":
        return anchor * math.exp(min(x, 10.0))
    if anchor <= floor:
        return anchor
    return floor + (anchor - floor) * math.exp(-x)


def score_logit(score: float, floor: float) -> float:
    """The logit of the share of the range above ``floor`` (chance) that ``score`` covers,
    clipped to [0.5 %, 99.5 %]: the scale on which shifts saturate at both ends."""
    share = min(max((score - floor) / (100.0 - floor), 0.005), 0.995)
    return math.log(share / (1.0 - share))


def score_from_logit(logit: float, floor: float) -> float:
    """The inverse of :func:`score_logit`."""
    return floor + (100.0 - floor) / (1.0 + math.exp(-logit))


def _score(kind: str, anchor: float, floor: float, z: float) -> float:
    return score_from(kind, anchor, floor, math.exp(min(z, 50.0)))


def noise_group(point: Mapping[str, Any]) -> str:
    """The method group a point's noise is calibrated in; plain-rounded llama.cpp files
    (no importance matrix) scatter far more at 2-3 bits, so they get cells of their own."""
    group = SLOPE_GROUP[method_key(str(point["method"]))]
    return f"{group}-plain" if group == "gguf" and point.get("tool") == "plain" else group


def noise_keys(group: str, kind: str, cell: str) -> tuple[str, ...]:
    """The noise cells a point's noise is looked up in, finest first. A thin log-likelihood
    cell (multiple choice, cloze) borrows its own method group's log-likelihood scatter
    before other groups' (llama.cpp's few cloze rows are not RTN's 3-bit LAMBADA
    collapses). Generated answers scatter more and perplexity is in other units (% of
    ln ppl): they never pool with multiple choice."""
    if kind in LOGLIKELIHOOD_KINDS:
        own = (f"{group}|{kind}|{cell}", f"{group}|loglik|{cell}")
        # Plain llama.cpp files next borrow from every llama.cpp file, then from all groups.
        parent = (f"{PLAIN_PARENT}|loglik|{cell}",) if group.endswith("-plain") else ()
        return (*own, *parent, f"{kind}|{cell}", kind)
    return (f"{group}|{kind}|{cell}", f"{kind}|{cell}", kind)


def noise_pools(group: str, kind: str, cell: str) -> tuple[str, ...]:
    """The noise cells a held-out row calibrates: those it is looked up in, and for a
    calibrated llama.cpp file also the cell plain files fall back to."""
    keys = noise_keys(group, kind, cell)
    if group == "gguf" and kind in LOGLIKELIHOOD_KINDS:
        keys = (*keys, f"{PLAIN_PARENT}|loglik|{cell}")
    return keys


def cell_lookup(table: Mapping[str, float], group: str, kind: str, cell: str) -> float | None:
    """A calibrated table's value for a cell, through :func:`noise_keys`' fallbacks."""
    for key in noise_keys(group, kind, cell):
        if key in table:
            return float(table[key])
    return None


def _cell_value(deg: Mapping[str, Any], table_name: str, point: Mapping[str, Any]) -> float | None:
    seen = f"family:{point.get('family')}" in _index(deg)
    tables = deg.get(table_name) or {}
    table = tables.get("seen" if seen else "unseen", tables)
    cell = band(point.get("bits") or point["bits_per_weight"])
    return cell_lookup(table, noise_group(point), point["kind"], cell)


def noise_for(deg: Mapping[str, Any], point: Mapping[str, Any]) -> float:
    """The calibrated noise (points of accuracy, or % of ln perplexity) for the point's
    cell: method group × task kind × bit band, for a family the fit has seen or not."""
    found = _cell_value(deg, "noise", point)
    return 0.0 if found is None else found


def scale_for(deg: Mapping[str, Any], point: Mapping[str, Any]) -> float:
    """The calibrated scale of the coefficients' (bootstrap) part of the interval for the
    point's cell; 1 where none was calibrated."""
    found = _cell_value(deg, "param_scale", point)
    return 1.0 if found is None else found


def interval_bounds(
    kind: str,
    mean: float,
    anchor: float,
    floor: float,
    param_sd: float,
    noise: float,
    anchor_sd: float,
    q: float,
    near_lossless_noise: float | None,
) -> tuple[float, float]:
    """The interval around ``mean``: the coefficients' part (``param_sd``, points or ln
    ppl), the cell's noise and the anchor's own uncertainty, in quadrature. The one
    formula both the product and the calibration use.

    ``near_lossless_noise`` (the cell's 8-bit noise; None for a 16-bit score): damage only
    lowers a score, so above the anchor only the scatter of near-lossless files remains;
    and not below chance, so below the floor only the cell's own scatter remains."""
    if kind == "ppl":
        # In ln(ppl); noise is % of ln(ppl).
        half = q * math.sqrt(param_sd**2 + (noise / 100.0) ** 2 + (anchor_sd / 100.0) ** 2)
        half = min(half, MAX_LN_HALF_WIDTH)
        return mean * math.exp(-half), mean * math.exp(half)
    half = q * math.sqrt(param_sd**2 + noise**2 + anchor_sd**2)
    low, high = max(0.0, mean - half), min(100.0, mean + half)
    if near_lossless_noise is not None:
        above = q * math.sqrt(near_lossless_noise**2 + anchor_sd**2)
        below = q * math.sqrt(noise**2 + anchor_sd**2)
        high = min(high, max(anchor + above, mean))
        low = max(low, min(floor - below, mean))
    return low, high


def parameter_sd(
    kind: str, anchor: float, floor: float, x: float, sz: float, damage: float | None = None
) -> float:
    """The coefficients' uncertainty in score units (the delta method): ``sz`` is the sd of
    ``ln x``; the score's slope in ``ln x`` is ``x`` in ln(ppl), and ``(anchor − floor) ·
    x · e^{−damage}`` in points of accuracy (``damage`` = ``x``, or ``x − x(ref)`` for a
    score whose anchor is a higher-bit file)."""
    if kind == "ppl":
        return x * sz
    decay = math.exp(-(x if damage is None else damage))
    return ((anchor - floor) * x * decay if anchor > floor else 0.0) * sz


def evaluate(deg: Mapping[str, Any], point: Mapping[str, Any]) -> dict[str, Any]:
    """Mean and 90 % interval of one config, in pure Python.

    ``point`` needs ``kind``, ``task``, ``floor``, ``anchor``, ``method``,
    ``bits_per_weight``, ``params``; ``family``, ``training_tokens``, ``tool``, ``format``,
    ``bits`` (nominal, for the noise band) and ``anchor_sd`` (uncertainty of an anchor
    that is itself measured or predicted) are optional.

    The coefficients' uncertainty enters through the slope of the score in ``ln x`` (the
    delta method): where the damage is tiny (8-bit files) an uncertain slope moves the
    score by little, where it is large (2-bit files) by much. Its scale, the noise per
    cell and the anchor's own uncertainty are calibrated on held-out families.
    ``param_sd`` in the result is the unscaled coefficients' part (what calibration uses).
    """
    kind, anchor, floor = point["kind"], float(point["anchor"]), float(point["floor"])
    q = float(deg["z_q"])
    notes: list[str] = []
    flags: list[str] = []
    anchor_sd = float(point.get("anchor_sd") or 0.0)
    if point["method"] == "float":
        mean, sz, param_sd, scale, noise, near_lossless = anchor, 0.0, 0.0, 1.0, 0.0, None
    else:
        z, var, notes, flags = _linear(deg, point)  # type: ignore[arg-type]
        sz = math.sqrt(var)
        x = math.exp(min(z, 50.0))
        mean = score_from(kind, anchor, floor, x)
        param_sd = parameter_sd(kind, anchor, floor, x, sz)
        scale = scale_for(deg, point)
        noise = noise_for(deg, point)
        near_lossless = noise_for(deg, {**point, "bits": 8})
    low, high = interval_bounds(
        kind, mean, anchor, floor, scale * param_sd, noise, anchor_sd, q, near_lossless
    )
    return {
        "mean": mean, "low": low, "high": high, "sd_lnx": sz, "param_sd": param_sd,
        "notes": notes, "flags": flags,
    }  # fmt: skip
