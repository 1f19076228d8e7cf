"""Scale–precision curves: estimator contract, recovery of known constants, the light
import, the recommender path and the library API."""

from __future__ import annotations

import math
import subprocess
import sys
import warnings

import numpy as np
import pytest

from advisor import curves

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

NEEDS_FIT = pytest.mark.skipif(
    curves.coefficients() is None, reason="no committed measurements/curves.json"
)


def test_import_curves_loads_nothing_heavy() -> None:
    code = (
        "import sys, advisor.curves;"
        "heavy = [m for m in ('numpy', 'scipy', 'sklearn', 'matplotlib') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@NEEDS_FIT
def test_predicting_for_the_recommender_loads_nothing_heavy() -> None:
    code = (
        "import sys; from advisor import curves, profiles;"
        "from advisor.profiles.formats import get_format;"
        "a = profiles.architectures()['Qwen/Qwen2.5-7B'];"
        "e = curves.predict_for_config(a, get_format('Q4_K_M'), 'mmlu');"
        "assert e is not None;"
        "print(','.join(m for m in ('numpy', 'scipy', 'sklearn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


# ------------------------------------------------------------------ estimator contract

EXPECTED_FAILURES = {
    "check_regressors_train": (
        "a bounded parametric law (logistic in log N / exp-decay from an anchor) cannot fit "
        "make_regression's unbounded linear targets to R² > 0.5; the contract itself holds"
    ),
}


@pytest.mark.parametrize("name", ["SizeLaw", "DegradationLaw"])
def test_check_estimator(name: str) -> None:
    from sklearn.utils.estimator_checks import check_estimator

    from advisor.curves import fitting as curves_fit

    est = curves_fit.SizeLaw() if name == "SizeLaw" else curves_fit.DegradationLaw(n_bootstrap=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_estimator(est, expected_failed_checks=EXPECTED_FAILURES)


def test_contract_basics() -> None:
    from sklearn.base import clone
    from sklearn.exceptions import NotFittedError

    from advisor.curves.fitting import DegradationLaw

    law = DegradationLaw(task_penalty=1.5, n_bootstrap=3)
    assert clone(law).get_params()["task_penalty"] == 1.5
    with pytest.raises(NotFittedError):
        law.predict([[9.0, 4.0, 60.0, 25.0, 2.0, 0, 0]])


# ------------------------------------------------------------------ known constants back


def _synthetic(rng: np.random.Generator, truth: dict[str, float]) -> list[dict]:
    points = []
    for i, n in enumerate([0.5e9, 1e9, 3e9, 7e9, 14e9, 30e9, 70e9]):
        for task, kind, floor in (("mmlu", "mc", 25.0), ("gsm8k", "gen", 0.0)):
            anchor = floor + (85 - floor) * (0.3 + 0.08 * i)
            for bits in (8.25, 4.25, 3.25, 2.25):
                db = bits - 4
                z = (
                    truth[f"kind:{kind}"] - truth["u:rtn"] * db
                    + truth["curvature"] * min(db, 0) ** 2 - truth["alpha"] * math.log(n / 1e10)
                )  # fmt: skip
                score = floor + (anchor - floor) * math.exp(-math.exp(z))
                points.append(
                    {"params": n, "task": task, "method": "rtn", "bits": round(bits),
                     "bits_per_weight": bits, "anchor": anchor, "model": f"m{i}",
                     "family": "synthetic", "score": max(0.0, score + rng.normal(0, 0.05))}
                )  # fmt: skip
    return points


def test_fit_recovers_known_constants() -> None:
    from advisor.curves.fitting import DegradationLaw

    truth = {"kind:mc": -2.5, "kind:gen": -1.8, "u:rtn": 1.6, "curvature": 0.4, "alpha": 0.35}
    points = _synthetic(np.random.default_rng(0), truth)
    law = DegradationLaw(n_bootstrap=0, task_penalty=1e-3, family_penalty=1e3).fit(points)
    got = dict(zip(law.names_, law.coef_, strict=True))
    # kind and task intercepts are confounded up to the (tiny-penalty) task offsets
    for name, fitted in (("u:rtn", "u:rtn"), ("curvature", "curv:rtn"), ("alpha", "alpha")):
        assert got[fitted] == pytest.approx(truth[name], abs=0.08), name
    mc = got["kind:mc"] + got["task:mmlu"]
    gen = got["kind:gen"] + got["task:gsm8k"]
    assert mc == pytest.approx(truth["kind:mc"], abs=0.1)
    assert gen == pytest.approx(truth["kind:gen"], abs=0.1)
    pred = law.predict(points)
    assert np.max(np.abs(pred - [p["score"] for p in points])) < 0.5


def test_size_law_recovers_known_constants() -> None:
    from advisor.curves.fitting import SizeLaw

    x = np.log10([0.5e9, 1.5e9, 3e9, 7e9, 14e9, 32e9, 72e9])
    y = 25 + 75 / (1 + np.exp(-(0.4 + 1.2 * (x - 9))))
    law = SizeLaw(floor=25, slope_penalty=1e-3).fit(x[:, None], y)
    assert law.a_ == pytest.approx(0.4, abs=1e-3)
    assert law.b_ == pytest.approx(1.2, abs=1e-3)


def test_fit_is_deterministic() -> None:
    from advisor.curves.fitting import DegradationLaw

    points = _synthetic(np.random.default_rng(1), {"kind:mc": -2.5, "kind:gen": -1.8,
                                                    "u:rtn": 1.6, "curvature": 0.4,
                                                    "alpha": 0.35})  # fmt: skip
    a = DegradationLaw(n_bootstrap=5).fit(points).to_coefficients()
    b = DegradationLaw(n_bootstrap=5).fit(points).to_coefficients()
    assert a == b


def test_pure_python_and_numpy_predictions_agree() -> None:
    from advisor.curves.fitting import DegradationLaw

    truth = {"kind:mc": -2.5, "kind:gen": -1.8, "u:rtn": 1.6, "curvature": 0.4, "alpha": 0.35}
    points = _synthetic(np.random.default_rng(2), truth)
    law = DegradationLaw(n_bootstrap=4).fit(points)
    vectorized = law.predict(points)
    pure = [p["mean"] for p in law.predict_interval(points)]
    np.testing.assert_allclose(vectorized, pure, rtol=1e-9)
    for p in law.predict_interval(points):
        assert p["low"] <= p["mean"] <= p["high"]


# ------------------------------------------------------------------ library API


@NEEDS_FIT
def test_load_predicts_with_intervals_wider_at_low_bits() -> None:
    est = curves.load("qwen2.5", task="mmlu")
    out = est.predict(
        [
            {"params": 14.8e9, "method": "gguf-k", "bits": 4, "bits_per_weight": 4.8},
            {"params": 14.8e9, "method": "gguf-k", "bits": 2, "bits_per_weight": 3.0},
            {"params": 14.8e9, "method": "gguf-k", "bits_per_weight": 3.0, "colour": "blue"},
        ]
    )
    assert set(out[0]) == {"mean", "low", "high"}
    assert out[0]["low"] <= out[0]["mean"] <= out[0]["high"]
    assert out[1]["mean"] < out[0]["mean"]
    assert out[1]["high"] - out[1]["low"] > out[0]["high"] - out[0]["low"]


@NEEDS_FIT
def test_load_unknown_family_is_a_clear_error() -> None:
    with pytest.raises(curves.CurvesError, match="no fitted size law"):
        curves.load("no-such-family", task="mmlu")


@NEEDS_FIT
def test_fit_new_family_from_16_bit_points_only() -> None:
    points = [
        {"family": "acme", "model": f"acme-{n}b", "params": n * 1e9, "bits": 16,
         "task": "mmlu", "score": s, "note": "ignored"}
        for n, s in [(1, 42.0), (3, 55.0), (8, 66.0), (30, 75.0)]
    ]  # fmt: skip
    est = curves.fit(points)
    out = est.predict(
        [
            {"family": "acme", "params": 14e9, "task": "mmlu", "method": "gguf-k",
             "bits_per_weight": 4.8},
            {"family": "acme", "model": "acme-8b", "params": 8e9, "task": "mmlu",
             "method": "rtn", "bits": 3, "group_size": 128},
        ]
    )  # fmt: skip
    assert 60 < out[0]["mean"] < 78
    assert out[1]["mean"] < 66.0  # 3-bit RTN of the measured 8B loses skill
    assert out[1]["low"] < out[1]["mean"] < out[1]["high"]


# ------------------------------------------------------------------ recommender path


@NEEDS_FIT
def test_predict_for_config_none_where_no_curve() -> None:
    from advisor import profiles
    from advisor.profiles.formats import get_format

    arch = profiles.architectures()["Qwen/Qwen2.5-7B"]
    assert curves.predict_for_config(arch, get_format("Q4_K_M"), "no_such_task") is None
    # 16-bit with a published score: that score is the evidence, no prediction is added
    assert curves.predict_for_config(arch, get_format("F16"), "mmlu") is None
    ev = curves.predict_for_config(arch, get_format("Q4_K_M"), "mmlu")
    assert ev is not None and ev.kind == "predicted"
    assert ev.low is not None and ev.high is not None and ev.low < ev.value < ev.high
    assert "CV MAE" in ev.source and "90% interval" in ev.source


@NEEDS_FIT
def test_recommend_uses_predictions_and_ranks_evidence_first() -> None:
    from advisor.recommender import recommend

    rec = recommend(budget="24GB", task="mmlu", variant="any")
    predicted = [c for c in rec.ranked if c.best is not None and c.best.kind == "predicted"]
    assert predicted, "quantized configs without evidence should get predictions"
    for c in predicted:
        (basis,) = c.best.basis
        assert c.format.method != "float" or basis.detail.get("anchor_source", "").endswith(")")
        assert c.best.uncertainty is not None and c.best.uncertainty > 0
    both = [
        c for c in rec.ranked + rec.excluded
        if {"published", "predicted"} <= {e.kind for e in c.evidence}
    ]  # fmt: skip
    assert both, "expected configs with both published and predicted evidence (Qwen2 GPTQ)"
    for c in both:
        assert c.best is not None and c.best.kind == "published"


def test_measured_points_pair_with_their_16_bit_measurement(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = pytest.importorskip("advisor.measure.store")
    from advisor.curves.data import measured_points, with_anchors

    path = tmp_path / "m.jsonl"
    arch_id = "Qwen/Qwen2.5-0.5B"
    for fmt, value in (("F16", 0.60), ("Q4_K_M", 0.58), ("Q2_K", 0.40)):
        store.append(
            path,
            store.Measurement(
                key=f"k-{fmt}", status="ok", model_name="q", backend="llama.cpp", format=fmt,
                task="arc_easy", task_version=1, metric="acc", value=value, arch_id=arch_id,
            ),
        )  # fmt: skip
    points = measured_points([path])
    assert {p["format"] for p in points} == {"F16", "Q4_K_M", "Q2_K"}
    sixteen, quantized = with_anchors(points)
    assert len(sixteen) == 1
    assert {p["format"]: p["anchor"] for p in quantized} == {"Q4_K_M": 60.0, "Q2_K": 60.0}
    assert all(p["method"] == "gguf-k" and p["origin"] == "measured" for p in quantized)


def test_a_named_format_says_its_method() -> None:
    """{"format": "Q4_K_M"} alone is a llama.cpp k-quant, never a 16-bit point."""
    qwen = curves.load("qwen2.5", task="mmlu")
    by_format = qwen.predict([{"params": 14.8e9, "format": "Q4_K_M"}])[0]
    by_method = qwen.predict(
        [{"params": 14.8e9, "method": "gguf-k", "bits": 4, "bits_per_weight": by_format_bpw()}]
    )[0]
    sixteen = qwen.predict([{"params": 14.8e9, "format": "F16"}])[0]
    assert by_format["mean"] == pytest.approx(by_method["mean"])
    assert by_format["mean"] < sixteen["mean"]
    q2 = qwen.predict([{"params": 14.8e9, "format": "Q2_K"}])[0]
    assert (
        q2["mean"] < by_format["mean"]
        and q2["high"] - q2["low"] > by_format["high"] - by_format["low"]
    )


def by_format_bpw() -> float:
    from advisor.profiles.formats import get_format

    return get_format("Q4_K_M").body_bpw


def test_a_degenerate_perplexity_interval_is_wide_not_an_overflow() -> None:
    """An absurd anchor uncertainty (a caller's bad point, a degenerate refit) gives a huge
    interval, never an OverflowError out of math.exp."""
    import math

    from advisor.curves import law
    from advisor.curves.committed import coefficients

    data = coefficients()
    assert data is not None
    deg = {**data["degradation"], "_cache": {}}
    point = {"kind": "ppl", "task": "wikitext2", "floor": 0.0, "anchor": 6.0,
             "anchor_sd": 1e5, "method": "gguf-k", "format": "Q4_K_M", "bits": 4,
             "bits_per_weight": 4.8, "params": 8e9}  # fmt: skip
    res = law.evaluate(deg, point)
    assert math.isfinite(res["low"]) and math.isfinite(res["high"])
    assert res["low"] < res["mean"] < res["high"]
