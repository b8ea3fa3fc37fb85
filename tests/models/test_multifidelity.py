"""Multi-fidelity regression: a cheap property (pre-trained or user-supplied) plus a learned discrepancy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from matloop import InputError
from matloop.models import RandomForestRegressor
from matloop.models.multifidelity import MultiFidelityRegressor
from matloop.models.pretrained import load_pretrained
from matloop.represent.element_property import magpie


@pytest.fixture(scope="module")
def task():
    """An 'expensive' gap = 1.3 x the cheap DFT gap + 0.4 + a smooth discrepancy + noise."""
    from matloop import datasets

    formulas = datasets.load("matbench_expt_gap").frame["composition"].sample(240, random_state=4).to_numpy(object)
    cheap = load_pretrained("mp_gap").predict(formulas)
    electronegativity = magpie().transform(formulas)["MagpieData mean Electronegativity"].to_numpy()
    rng = np.random.RandomState(0)
    y = 1.3 * cheap + 0.4 + 0.3 * np.tanh(electronegativity - 2.0) + rng.normal(0, 0.1, len(formulas))
    return formulas, cheap, y


def forest():
    return RandomForestRegressor(n_estimators=80, random_state=0)


def test_residual_model_beats_single_fidelity_with_few_points(task):
    formulas, _, y = task
    train, test = slice(0, 40), slice(40, None)
    mf = MultiFidelityRegressor("mp_gap", lookup=False, base_model=forest()).fit(formulas[train], y[train])
    mean, std = mf.predict(formulas[test], return_std=True)
    X = magpie().transform(formulas)
    single = forest().fit(X.iloc[train], y[train]).predict(X.iloc[test])
    mae_mf, mae_single = np.mean(np.abs(mean - y[test])), np.mean(np.abs(single - y[test]))
    assert mae_mf < 0.5 * mae_single
    assert mf.rho_[0] == pytest.approx(1.3, abs=0.25) and np.all(std > 0)
    assert mf.cheap_names_ == ["mp_gap:pred"]
    low, high = mf.predict_interval(formulas[test])
    assert 0.7 < np.mean((y[test] >= low) & (y[test] <= high)) <= 1.0


def test_feature_mode_and_transfer_features(task):
    formulas, _, y = task
    feature = MultiFidelityRegressor("mp_gap", mode="feature", lookup=False, base_model=forest())
    feature.fit(formulas[:60], y[:60])
    assert "mp_gap:pred" in feature.feature_names_out_
    transfer = MultiFidelityRegressor(["mp_gap", "aflow_egap"], features="transfer", base_model=forest())
    transfer.fit(formulas[:60], y[:60])
    assert transfer.rho_.shape == (2,) and "mp_gap:h0" in transfer.feature_names_out_
    assert np.isfinite(transfer.predict(formulas[60:80])).all()


def test_user_supplied_cheap_column_and_filling(task):
    formulas, cheap, y = task
    table = pd.DataFrame({"formula": formulas, "dft_gap": cheap})
    user = MultiFidelityRegressor(None, cheap_column="dft_gap", features="none", base_model=forest())
    user.fit(table.iloc[:50], y[:50])
    assert user.cheap_names_ == ["column:dft_gap"]
    np.testing.assert_allclose(user.predict_cheap(table.iloc[50:55])["column:dft_gap"], cheap[50:55])
    holes = table.copy()
    holes.loc[[3, 7], "dft_gap"] = np.nan
    with pytest.raises(InputError) as info:
        user.fit(holes.iloc[:50], y[:50])
    assert list(info.value.table["row"]) == [4, 8]
    filled = MultiFidelityRegressor("mp_gap", cheap_column="dft_gap", lookup=False, base_model=forest())
    filled.fit(holes.iloc[:50], y[:50])
    values = filled.predict_cheap(holes.iloc[:10])
    assert list(values.columns) == ["column:dft_gap", "mp_gap:pred"]
    np.testing.assert_allclose(values["column:dft_gap"].iloc[[3, 7]], values["mp_gap:pred"].iloc[[3, 7]])
    holes["dft_gap"] = holes["dft_gap"].astype(object)
    holes.loc[5, "dft_gap"] = "n/a"
    with pytest.raises(InputError, match="unusable") as info:
        filled.fit(holes.iloc[:50], y[:50])
    assert list(info.value.table["row"]) == [6]


def test_lookup_uses_the_computed_value_where_the_database_has_the_composition(task):
    from matloop import datasets
    from matloop.io.formula import parse_formulas
    from matloop.models.pretrained import composition_keys

    formulas, _, y = task
    mp = datasets.load("matbench_mp_gap").frame
    keys = composition_keys(parse_formulas(mp["composition"].to_numpy(object)))
    nacl = mp.loc[keys == composition_keys(parse_formulas(["NaCl"]))[0], "gap pbe"]  # NaCl's polymorphs
    assert len(nacl) >= 2
    invented = "Pu3Tc5Ne2"  # no such entry in Materials Project
    mf = MultiFidelityRegressor("mp_gap", base_model=forest()).fit(formulas[:50], y[:50])
    assert mf.cheap_names_ == ["mp_gap:lookup"] and "mp_gap:in_database" in mf.feature_names_out_
    cheap = mf.predict_cheap(["Na2Cl2", invented])["mp_gap:lookup"].to_numpy()
    assert cheap[0] == pytest.approx(float(nacl.median()))
    assert cheap[1] == pytest.approx(float(load_pretrained("mp_gap").predict([invented])[0]))
    off = MultiFidelityRegressor("mp_gap", lookup=False, base_model=forest()).fit(formulas[:50], y[:50])
    assert off.predict_cheap(["NaCl"])["mp_gap:pred"].iloc[0] != pytest.approx(float(nacl.median()), abs=1e-3)


def test_bad_options_are_refused(task):
    formulas, _, y = task
    with pytest.raises(ValueError, match="mode"):
        MultiFidelityRegressor(mode="prior").fit(formulas[:20], y[:20])
    with pytest.raises(ValueError, match="cheap"):
        MultiFidelityRegressor(None).fit(formulas[:20], y[:20])
    with pytest.raises(ValueError, match="DataFrame"):
        MultiFidelityRegressor(cheap_column="dft").fit(formulas[:20], y[:20])
