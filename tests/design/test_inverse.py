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
    X = out[list(bounds)].to_numpy()
    gaps = np.abs(X[:, None, :] - dense[None, :, z]).max(axis=2).min(axis=1)
    assert np.all(gaps >= 5e-4)  # min_change: at least 0.05 at.% from every known steel...
    pairs = np.abs(X[:, None, :] - X[None, :, :]).max(axis=2)
    assert np.all(pairs[np.triu_indices(len(X), 1)] >= 5e-4)  # ...and from each other


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


def test_intervals_best_comparison_and_evaluation_count(steels, model):
    formulas, y = steels
    bounds = composition_bounds(formulas)
    out = design_compositions(model, elements_bounds=bounds, n=4, best=float(y.max()), n_initial=200,
                              generations=3, population=16, seed=1)
    np.testing.assert_allclose(out["lower_95"], out["prediction"] - 1.959964 * out["std"], rtol=1e-6)
    np.testing.assert_allclose(out["upper_95"], out["prediction"] + 1.959964 * out["std"], rtol=1e-6)
    info = out.attrs["design"]
    assert info["method"] == "evolution" and info["best"] == float(y.max())
    # the random start plus feasible children (plus random points filling in when the optimiser's crowd
    # holds fewer than n designs min_change apart)
    assert 200 < info["n_evaluated"] - info["n_fill"] <= 200 + 3 * 4 * 16
    again = model.predict(out["formula"].tolist(), return_std=True)  # the written formula is the design
    np.testing.assert_allclose(again[0], out["prediction"], rtol=1e-4)
    assert not any("e-" in f or "e+" in f for f in out["formula"])  # positional numbers, no exponents


def test_optimiser_beats_random_sampling_with_the_same_budget(steels, model):
    formulas, _ = steels
    bounds = composition_bounds(formulas)
    evo = design_compositions(model, elements_bounds=bounds, n=3, n_initial=300, generations=8, population=16)
    budget = evo.attrs["design"]["n_evaluated"]
    rnd = design_compositions(model, elements_bounds=bounds, n=3, method="random", budget=budget)
    assert rnd.attrs["design"]["n_evaluated"] == budget and rnd.attrs["design"]["method"] == "random"
    _check_valid(rnd, bounds)
    assert rnd["prediction"].is_monotonic_decreasing
    assert evo["prediction"].iloc[0] > rnd["prediction"].iloc[0] + 10  # MPa (seeds 0-2: +29 to +260)


def test_transfer_moves_keep_sum_and_bounds():
    from matloop.design.inverse import _transfer

    rng = np.random.default_rng(0)
    lo, hi = np.array([0.5, 0.0, 0.0, 0.01]), np.array([0.9, 0.3, 0.2, 0.1])
    x = np.array([[0.7, 0.1, 0.1, 0.1], [0.5, 0.3, 0.19, 0.01], [0.9, 0.0, 0.0, 0.1]] * 200)
    y = _transfer(x, lo, hi, 0.5, rng)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, atol=1e-12)
    assert np.all(y >= lo - 1e-12) and np.all(y <= hi + 1e-12)
    assert np.all((np.abs(y - x) > 0).sum(axis=1) <= 2)  # one ratio changes at a time
    assert (np.abs(y - x).max(axis=1) > 0).mean() > 0.5  # and most rows do move


def test_fraction_formulas_are_positional_and_parse_back():
    import pandas as pd

    from matloop.design.inverse import fraction_formulas

    frame = pd.DataFrame({"Fe": [0.62, 0.5], "Mn": [9.9041e-05, 0.0], "Ni": [0.379901, 0.5]})
    text = fraction_formulas(frame, ["Fe", "Mn", "Ni"])
    assert text == ["Fe0.62Mn0.000099041Ni0.379901", "Fe0.5Ni0.5"]
    dense = parse_formulas(text).to_dense()
    from matloop.io.elements import ATOMIC_NUMBER

    np.testing.assert_allclose(dense[:, [ATOMIC_NUMBER[e] for e in frame]], frame.to_numpy(), atol=1e-9)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"elements_bounds": {"Fe": (0.5, 1), "Xx": (0, 0.5)}}, "unknown element"),
    ({"elements_bounds": {"Fe": (0.1, 0.2), "Ni": (0, 0.3)}}, "sum to 1"),
    ({"acquisition": "nope"}, "unknown acquisition"),
    ({"method": "grid"}, "method"),
    ({"n": 0}, "at least 1"),
    ({"constraints": ["Ni +"]}, "constraint"),
    ({"method": "random", "budget": 0}, "budget"),
    ({"min_change": -0.1}, "min_change"),
])
def test_bad_settings_are_input_errors(model, kwargs, message):
    args = {"elements_bounds": {"Fe": (0.5, 1.0), "Ni": (0.0, 0.5)}, **kwargs}
    with pytest.raises(InputError, match=message):
        design_compositions(model, **args)
