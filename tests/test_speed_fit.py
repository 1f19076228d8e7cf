"""The committed speed coefficients are reproducible from the committed benchmark rows, and
the cross-validation figures in speed.json follow from its stored held-out predictions."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest

from advisor.speed import fitting
from advisor.speed.data import benchmark_path, benchmark_rows
from advisor.speed.model import SpeedModel, load_speed_model, speed_file


def _doc() -> dict[str, object]:
    return json.loads(speed_file().read_text(encoding="utf-8"))


def test_coefficients_belong_to_the_committed_rows() -> None:
    doc = _doc()
    data = doc["data"]
    assert isinstance(data, dict)
    assert data["sha256"] == hashlib.sha256(benchmark_path().read_bytes()).hexdigest()
    assert data["rows"] == len(benchmark_rows())
    assert set(doc["versions"]) >= {"advisor", "numpy", "scipy", "python"}  # type: ignore[arg-type]


def test_cv_table_follows_from_the_held_out_predictions() -> None:
    doc = _doc()
    rows = {r.index: r for r in benchmark_rows()}
    for stage in ("decode", "prompt"):
        triples = [(rows[i], p, rows[i].tokens_per_s) for i, p in doc["cv_predictions"][stage]]  # type: ignore[index]
        table = fitting.by_regime(triples)
        for regime, stored in doc["cv"][stage].items():  # type: ignore[index]
            assert table[regime]["n"] == stored["n"]
            assert table[regime]["median_abs_error"] == pytest.approx(
                stored["median_abs_error"], abs=2e-4
            )
        # every fit row was predicted once, by a fold that left its hardware out
        fit_rows = fitting.stage_data(list(rows.values()), stage).rows
        held_out = {r.index for r in fit_rows if not r.unstated}
        assert {i for i, _ in doc["cv_predictions"][stage]} == held_out  # type: ignore[index]


def test_intervals_come_from_the_cv_percentiles() -> None:
    model = load_speed_model()
    cv = model.cv["decode"]["single"]
    low, high = model.decode_band["single"]
    assert low == pytest.approx(math.exp(cv["log_ratio_q05"]), rel=1e-3)
    assert high == pytest.approx(math.exp(cv["log_ratio_q95"]), rel=1e-3)
    assert low < 1 < high


def test_vectorized_fit_formula_matches_the_pure_python_model() -> None:
    model = load_speed_model()
    rows = benchmark_rows()
    for stage in ("decode", "prompt"):
        data = fitting.stage_data(rows, stage)
        coeffs = model.decode if stage == "decode" else model.prompt
        lay = fitting.Layout(
            sorted(coeffs.efficiency),
            sorted(coeffs.family_factor),
            sorted(tuple(k.split("|")) for k in coeffs.backend_family_factor),
        )  # type: ignore[misc]
        x = np.zeros(lay.size)
        x[lay.eff] = np.log([coeffs.efficiency[b] for b in lay.backends])
        x[lay.layer] = np.log([coeffs.layer_seconds[b] for b in lay.backends])
        x[lay.moe] = np.log([coeffs.moe_layer_seconds[b] for b in lay.backends])
        x[lay.fam] = np.log([coeffs.family_factor[f] for f in lay.families])
        x[lay.pair] = np.log([coeffs.backend_family_factor[f"{b}|{f}"] for b, f in lay.pairs])
        x[lay.side] = math.log(coeffs.kv_factor)
        idx = np.arange(len(data.y))
        vectorized = 1 / fitting._seconds(x, lay, data, idx, fitting._indices(lay, data, idx))
        pure = np.array([fitting.predict_row(model, r) for r in data.rows])
        assert np.allclose(vectorized, pure, rtol=1e-9)


def test_model_file_validation(tmp_path: object) -> None:
    from advisor.speed.model import SpeedModelError

    good = _doc()
    bad = dict(good, schema="something-else")
    with pytest.raises(SpeedModelError, match="schema"):
        SpeedModel.from_dict(bad)
    broken = json.loads(json.dumps(good))
    broken["decode"]["efficiency"]["llama.cpp/cuda"] = -1.0
    with pytest.raises(SpeedModelError, match="finite"):
        SpeedModel.from_dict(broken)


@pytest.mark.slow
def test_refit_reproduces_the_committed_coefficients() -> None:
    doc = fitting.fit(folds=False)
    committed = _doc()
    for stage in ("decode", "prompt"):
        for part, values in committed[stage].items():  # type: ignore[union-attr]
            if isinstance(values, dict):
                for key, value in values.items():
                    assert doc[stage][part][key] == pytest.approx(value, rel=2e-3), (
                        stage,
                        part,
                        key,
                    )
            else:
                assert doc[stage][part] == pytest.approx(values, rel=2e-3)
