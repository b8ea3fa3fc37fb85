"""Inverse design of compositions on Matbench steels (yield strength)."""

from __future__ import annotations

import numpy as np
import pytest

from matloop import datasets
from matloop.design.inverse import composition_bounds, design_compositions
from matloop.errors import InputError
from matloop.io.formula import parse_formulas


@pytest.fixture(scope="module")
def steels():
    ds = datasets.load("matbench_steels")
    frame = ds.frame.sample(150, random_state=1).reset_index(drop=True)
    return frame[ds.input].tolist(), frame[ds.target].to_numpy(dtype=float)


@pytest.fixture(scope="module")
def model(steels):
    from matloop.models.forest import RandomForestRegressor
    from matloop.models.pipeline import MaterialModel

    formulas, y = steels
    forest = RandomForestRegressor(n_estimators=25, noise="oob", random_state=0)
    return MaterialModel(forest, featurizer="magpie", recalibrate=False).fit(formulas, y)


def _check_valid(out, bounds):
    elements = list(bounds)
    fractions = out[elements].to_numpy()
    np.testing.assert_allclose(fractions.sum(axis=1), 1.0, atol=1e-9)
    lo = np.array([bounds[e][0] for e in elements])
    hi = np.array([bounds[e][1] for e in elements])
    assert np.all(fractions >= lo - 1e-9) and np.all(fractions <= hi + 1e-9)
    again = parse_formulas(out["formula"].tolist()).to_dense()  # the formula says the same thing
    from matloop.io.elements import ATOMIC_NUMBER

    np.testing.assert_allclose(again[:, [ATOMIC_NUMBER[e] for e in elements]], fractions, atol=1e-5)


def test_designs_reach_the_best_known_steels(steels, model):
    formulas, y = steels
    bounds = composition_bounds(formulas)
    assert {"Fe", "Cr", "Ni", "Co", "Mo"} <= set(bounds) and bounds["Fe"][0] > 0.5
    out = design_compositions(model, elements_bounds=bounds, n=5, seeds=formulas, best=float(y.max()),
                              n_initial=300, generations=6, population=32, seed=0)
    assert len(out) == 5 and out["rank"].tolist() == [1, 2, 3, 4, 5]
    _check_valid(out, bounds)
    known = model.predict(formulas)
    assert out["prediction"].iloc[0] >= 0.97 * known.max()  # at least as strong as the best known, nearly
    assert out["prediction"].iloc[0] >= 0.85 * y.max()
    assert out["in_domain"].dtype == bool and out["in_domain"].any()
    assert np.all(out["std"] > 0) and np.all((out["p_above_best"] >= 0) & (out["p_above_best"] <= 1))
    assert not set(out["formula"]) & set(parse_formulas(formulas).formulas())  # no training steel returned
    dense = parse_formulas(formulas).to_dense()
    from matloop.io.elements import ATOMIC_NUMBER

    z = [ATOMIC_NUMBER[e] for e in bounds]
    gaps = np.abs(out[list(bounds)].to_numpy()[:, None, :] - dense[None, :, z]).max(axis=2).min(axis=1)
    assert np.all(gaps > 1e-9)


def test_random_start_ucb_in_domain_only_and_constraints(steels, model):
    formulas, _ = steels
    bounds = composition_bounds(formulas)
    out = design_compositions(model, elements_bounds=bounds, n=4, acquisition="ucb", in_domain_only=True,
                              constraints=["Ni + Co <= 0.25"], n_initial=400, generations=4, population=24)
    _check_valid(out, bounds)
    assert out["in_domain"].all()
    assert np.all(out["Ni"] + out["Co"] <= 0.25 + 1e-9)
    np.testing.assert_allclose(out["score"], out["prediction"] + 2 * out["std"], rtol=1e-9)


def test_bounds_and_errors(model):
    b = composition_bounds(["Fe0.8Ni0.2", "Fe0.7Cr0.3", "Fe"], margin=0.5)
    assert b["Fe"] == pytest.approx((0.55, 1.0)) and b["Cr"] == pytest.approx((0.0, 0.45))
    assert composition_bounds(["Fe0.8Ni0.2", "Fe0.7Cr0.3", "Fe"], min_share=0.5) == {"Fe": (0.7, 1.0)}
    with pytest.raises(InputError):
        design_compositions(model, elements_bounds={})
    with pytest.raises(InputError, match="best"):
        design_compositions(model, elements_bounds={"Fe": (0.5, 1), "Ni": (0, 0.5)}, acquisition="ei")
