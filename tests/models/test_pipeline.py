"""MaterialModel with extra numeric inputs beside the material column."""

import numpy as np
import pandas as pd
import pytest

from matloop.models.forest import ExtraTreesRegressor
from matloop.models.pipeline import MaterialModel


def _annealed(n=240, seed=0):
    """Five oxides, each annealed at a random temperature; hardness rises with temperature."""
    rng = np.random.default_rng(seed)
    base = {"Fe2O3": 5.0, "Al2O3": 9.0, "MgO": 6.0, "TiO2": 7.0, "ZnO": 4.0}
    formula = rng.choice(list(base), n)
    temperature = rng.uniform(300, 900, n)
    y = np.array([base[f] for f in formula]) + 0.01 * temperature + rng.normal(0, 0.1, n)
    return pd.DataFrame({"formula": formula, "anneal_T": temperature}), y


def _model(extra):
    forest = ExtraTreesRegressor(n_estimators=60, random_state=0, noise="oob")
    return MaterialModel(forest, featurizer="magpie", recalibrate=False, extra_inputs=extra)


def test_extra_inputs_carry_what_the_composition_cannot():
    X, y = _annealed()
    with_t = _model(["anneal_T"]).fit(X[:160], y[:160])
    without = _model(None).fit(X[:160], y[:160])
    mae_with = np.mean(np.abs(with_t.predict(X[160:]) - y[160:]))
    mae_without = np.mean(np.abs(without.predict(X[160:]) - y[160:]))
    assert mae_with < 0.3 * mae_without
    assert with_t.feature_names_[-1] == "anneal_T" and len(with_t.feature_names_) == len(without.feature_names_) + 1
    table = with_t.predict_table(X[160:])
    assert table["in_domain"].mean() > 0.9 and (table["std"] > 0).all()


def test_extra_inputs_must_be_given_and_numeric():
    X, y = _annealed(n=60)
    model = _model(["anneal_T"]).fit(X, y)
    with pytest.raises(ValueError, match="extra input column.*'anneal_T'"):
        model.predict(X[["formula"]])
    bad = X.assign(anneal_T=X["anneal_T"].astype(object))
    bad.loc[4, "anneal_T"] = "hot"
    with pytest.raises(ValueError, match="position 4 holds 'hot', not a number"):
        model.predict(bad)
    clash = X.rename(columns={"anneal_T": "MagpieData mean Number"})
    with pytest.raises(ValueError, match="name of a feature"):
        _model(["MagpieData mean Number"]).fit(clash, y)
