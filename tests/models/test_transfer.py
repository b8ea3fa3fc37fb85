"""Transfer learning: frozen descriptors, shotgun source selection, fine-tuning, the CLI entry point."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from matloop import InputError, MatloopError
from matloop.models import RandomForestRegressor
from matloop.models.pretrained import load_pretrained
from matloop.models.transfer import (
    ShotgunTransfer,
    ShotgunTransferClassifier,
    TransferFeaturizer,
    make_transfer_model,
)
from matloop.models.transfer_scoring import kernel_loo_loss, ridge_loo_loss

CANDIDATES = ["mp_gap", "oqmd_volume_per_atom", "mp_mu_b", "mp_e_form", "aflow_bulk_modulus"]


@pytest.fixture(scope="module")
def formulas() -> np.ndarray:
    """200 real compositions (bundled Matbench expt_gap), in random order."""
    from matloop import datasets

    frame = datasets.load("matbench_expt_gap").frame
    return frame["composition"].sample(200, random_state=0).to_numpy(dtype=object)


def small_forest():
    return RandomForestRegressor(n_estimators=60, random_state=0)


def test_featurizer_names_shapes_and_values():
    featurizer = TransferFeaturizer(["mp_e_form", "mp_gap"])
    out = featurizer.fit_transform(["Fe2O3", "NaCl", "GaAs"])
    width = load_pretrained("mp_e_form").hidden_sizes[-1]
    assert out.shape == (3, 2 * (width + 1))
    assert list(out.columns[:2]) == ["mp_e_form:h0", "mp_e_form:h1"]
    assert out.columns[width] == "mp_e_form:pred" and out.columns[-1] == "mp_gap:pred"
    np.testing.assert_allclose(out["mp_gap:pred"], load_pretrained("mp_gap").predict(["Fe2O3", "NaCl", "GaAs"]))
    assert list(featurizer.get_feature_names_out()) == list(out.columns)
    assert featurizer.feature_labels()[width] == "mp_e_form model's prediction"
    assert any("Yamada" in c for c in featurizer.citations())


def test_featurizer_layers_and_table_input():
    table = pd.DataFrame({"formula": ["SiO2", "Cu"], "other": [1, 2]}, index=[10, 11])
    pred = TransferFeaturizer("mp_gap", layer="prediction").fit_transform(table)
    assert list(pred.columns) == ["mp_gap:pred"] and list(pred.index) == [10, 11]
    first = TransferFeaturizer("mp_gap", layer="hidden:0").fit_transform(table)
    assert first.shape[1] == load_pretrained("mp_gap").hidden_sizes[0] and first.columns[0] == "mp_gap:layer0:h0"
    hidden = TransferFeaturizer("mp_gap", layer="last_hidden").fit_transform(table)
    np.testing.assert_allclose(hidden.to_numpy(), TransferFeaturizer("mp_gap", layer="hidden:-1")
                               .fit_transform(table).to_numpy())
    with pytest.raises(ValueError, match="layer"):
        TransferFeaturizer("mp_gap", layer="middle").fit()


def test_featurizer_reports_bad_formulas_and_unknown_sources():
    with pytest.raises(InputError) as info:
        TransferFeaturizer("mp_gap").fit_transform(["NaCl", "Xx2O", ""])
    assert sorted(info.value.table["row"]) == [2, 3]
    with pytest.raises(InputError, match="mp_e_form"):
        TransferFeaturizer(["mp_eform"]).fit()


def test_featurizer_refuses_a_changed_library():
    featurizer = TransferFeaturizer("mp_gap").fit()
    featurizer.weights_sha256_["mp_gap"] = "0" * 64  # as if the library had been rebuilt since
    with pytest.raises(MatloopError, match="changed"):
        featurizer.transform(["NaCl"])


def test_shotgun_ranks_the_source_behind_the_target_first(formulas):
    """A noisy function of the mp_e_form prediction: mp_e_form must come first."""
    rng = np.random.RandomState(1)
    e_form = load_pretrained("mp_e_form").predict(formulas)
    y = 2.0 * e_form + np.sin(e_form) + rng.normal(0, 0.05, len(formulas))
    model = ShotgunTransfer(CANDIDATES, n_select=2, base_model=small_forest()).fit(formulas[:120], y[:120])
    ranking = model.ranking_  # the five sources and the fallback (default features, no transfer)
    assert ranking["source"].iloc[0] == "mp_e_form" and list(ranking["rank"]) == [1, 2, 3, 4, 5, 6]
    assert model.transfer_used_ and "(no transfer: default features)" in set(ranking["source"])
    sources = [s for s in ranking["source"] if not s.startswith("(")]
    assert model.selected_ == sources[:2] and ranking["selected"].sum() == 2
    assert model.prior_columns_ == ["mp_e_form:pred"]  # stacked on the best source's prediction
    mean, std = model.predict(formulas[120:], return_std=True)
    assert np.all(std > 0) and mean.shape == (80,)
    baseline = np.mean(np.abs(y[120:] - y[:120].mean()))
    assert np.mean(np.abs(mean - y[120:])) < 0.3 * baseline
    assert model.get_feature_names_out()[0].startswith(model.selected_[0] + ":")
    table = model.predict_table(formulas[120:125])
    assert list(table.columns) == ["prediction", "std", "lower_95", "upper_95", "in_domain", "domain_distance"]


@pytest.mark.parametrize("scorer", ["ridge", "forest"])
def test_other_scorers_find_the_source_too(formulas, scorer):
    gap = load_pretrained("mp_gap").predict(formulas[:60])
    y = 1.5 * gap + np.random.RandomState(2).normal(0, 0.1, 60)
    model = ShotgunTransfer(CANDIDATES[:3], n_select=1, scorer=scorer, cv=2, include_base=True, fallback=None,
                            base_model=small_forest()).fit(pd.DataFrame({"formula": formulas[:60]}), y)
    assert model.selected_ == ["mp_gap"] and model.ranking_.shape[0] == 3
    assert len(model.get_feature_names_out()) == 33 + 132  # selected descriptors + Magpie


def test_fallback_when_no_source_helps(formulas):
    """A target that only depends on the iron fraction: the default features win, no transfer."""
    from matloop.io.formula import parse_formulas

    iron = parse_formulas(formulas).to_dense()[:, 26]
    y = 3.0 * iron + np.random.RandomState(5).normal(0, 0.01, len(formulas))
    model = ShotgunTransfer(["mp_mu_b", "oqmd_volume_per_atom"], base_model=small_forest()).fit(formulas, y)
    assert not model.transfer_used_ and model.selected_ == []
    assert model.ranking_["source"].iloc[0] == "(no transfer: default features)"
    assert "Fe" in set(model.get_feature_names_out())  # the element-fraction column of the default features
    assert np.isfinite(model.predict(formulas[:5])).all()


def test_closed_form_loo_equals_explicit_leave_one_out():
    from sklearn.linear_model import Ridge
    from sklearn.preprocessing import StandardScaler

    rng = np.random.RandomState(0)
    Z, y = rng.normal(size=(30, 4)), rng.normal(size=30)
    Zs = StandardScaler().fit_transform(Z)
    best = np.inf
    for alpha in np.logspace(-3, 4, 15):
        errors = [y[i] - Ridge(alpha=alpha * 30).fit(np.delete(Zs, i, 0), np.delete(y, i)).predict(Zs[i:i + 1])[0]
                  for i in range(30)]
        best = min(best, float(np.mean(np.abs(errors))))
    assert ridge_loo_loss(Z, y) == pytest.approx(best, rel=1e-8)
    assert kernel_loo_loss(Z, Z[:, 0] ** 2) < kernel_loo_loss(Z, y)  # learnable target scores better


def test_shotgun_classifier_selects_the_metal_model(formulas):
    metal = load_pretrained("mp_is_metal").predict(formulas)
    labels = np.where(metal > np.median(metal), "metal", "non-metal")
    from matloop.models import CalibratedForestClassifier

    model = ShotgunTransferClassifier(["mp_is_metal", "oqmd_volume_per_atom", "mp_mu_b"], n_select=1,
                                      base_model=CalibratedForestClassifier(n_estimators=40, cv=3, random_state=0),
                                      random_state=0).fit(formulas[:120], labels[:120])
    assert model.selected_ == ["mp_is_metal"] and list(model.classes_) == ["metal", "non-metal"]
    proba = model.predict_proba(formulas[120:])
    assert np.mean(model.classes_[proba.argmax(axis=1)] == labels[120:]) > 0.8
    assert model.predict_table(formulas[120:123]).columns[0] == "probability"


def test_fine_tuning_adapts_the_network_with_uncertainty(formulas):
    pytest.importorskip("torch")
    from matloop.models.transfer_finetune import FineTunedTransfer

    gap = load_pretrained("mp_gap").predict(formulas)
    y = 1.4 * gap + 0.5 + np.random.RandomState(3).normal(0, 0.1, len(formulas))
    model = FineTunedTransfer("mp_gap", n_members=3, epochs=40, random_state=0).fit(formulas[:60], y[:60])
    mean, std = model.predict(formulas[60:], return_std=True)
    assert np.all(std > 0)
    assert np.mean(np.abs(mean - y[60:])) < 0.4 * np.mean(np.abs(y[60:] - y[:60].mean()))
    again = FineTunedTransfer("mp_gap", n_members=3, epochs=40, random_state=0).fit(formulas[:60], y[:60])
    np.testing.assert_allclose(again.predict(formulas[60:70]), mean[:10])  # seeded: reproducible


def test_lookup_gives_computed_values_where_the_database_has_them():
    invented = "Pu3Tc5Ne2"  # not in Materials Project
    plain = TransferFeaturizer("mp_gap", layer="prediction").transform(["NaCl", invented])
    looked = TransferFeaturizer("mp_gap", layer="prediction", lookup=True).transform(["NaCl", invented])
    assert list(looked.columns) == ["mp_gap:lookup"]
    assert looked.iloc[1, 0] == pytest.approx(plain.iloc[1, 0])  # not in the database: predicted
    assert 4.0 < looked.iloc[0, 0] < 6.0 and looked.iloc[0, 0] != pytest.approx(plain.iloc[0, 0], abs=1e-3)
    both = TransferFeaturizer(["mp_gap", "mp_e_form"], layer="both", lookup=True).fit()
    assert both.get_feature_names_out()[-1] == "mp_e_form:lookup" and "mp_gap:h0" in both.get_feature_names_out()
    assert "computed value" in both.feature_labels()[-1]


def test_make_transfer_model_for_the_cli():
    assert make_transfer_model("none", "rf", "regression") is None
    auto = make_transfer_model("auto", "rf", "regression")
    assert isinstance(auto, ShotgunTransfer) and auto.sources == "all" and auto.n_select is None
    assert auto.lookup and auto.include_base == "default" and auto.layer == "prediction"
    named = make_transfer_model("mp_gap, aflow_egap", "gbm", "regression")
    assert named.sources == ["mp_gap", "aflow_egap"] and named.n_select is None and named.base_model == "gbm"
    assert isinstance(make_transfer_model("auto", "auto", "classification"), ShotgunTransferClassifier)
    tuned = make_transfer_model("finetune:mp_gap", "rf", "regression")
    assert tuned.fine_tune and tuned.sources == ["mp_gap"]
    with pytest.raises(InputError, match="mp_gap"):
        make_transfer_model("mp_gapp", "rf", "regression")
    with pytest.raises(ValueError, match="base model"):
        make_transfer_model("auto", "xgboost", "regression")


def test_automodel_as_final_model_on_transfer_features(formulas):
    """``--transfer auto`` features (default + looked-up source values) with AutoModel on top, as
    benchmarks/matbench.py's auto_transfer: the source value is used, members stay reachable."""
    from matloop.models import ExtraTreesRegressor
    from matloop.models.automodel import AutoModel
    from matloop.models.pretrained.lookup import computed_values
    from matloop.models.transfer_features import compositions_from

    rng = np.random.RandomState(0)
    e_form = computed_values("mp_e_form", compositions_from(formulas)[0])
    keep = np.isfinite(e_form)
    X, e_form = formulas[keep], e_form[keep]
    y = np.exp(e_form) + rng.normal(0, 0.02, len(X))
    auto = AutoModel(candidates={"et": ExtraTreesRegressor(n_estimators=40, max_features=0.5, random_state=0)},
                     cv_repeats=1, log_target=False)
    model = ShotgunTransfer(["mp_e_form", "mp_gap"], layer="prediction", n_select=None, include_base="default",
                            prior=False, fallback=None, lookup=True, base_model=auto).fit(X[:100], y[:100])
    frame = model.features(X[100:])
    assert list(frame.columns[:2]) == ["mp_e_form:lookup", "mp_gap:lookup"] and frame.shape[1] > 100
    np.testing.assert_allclose(frame["mp_e_form:lookup"], e_form[100:])  # computed values, not predictions
    mean, std = model.predict(X[100:], return_std=True)
    assert isinstance(model.model_, AutoModel) and np.all(std > 0)
    members = model.model_.member_predictions(frame)
    assert {"et", "et_median"} <= set(members.columns) and len(members) == len(X) - 100
    plain = clone(auto).fit(model.features(X[:100]).iloc[:, 2:], y[:100])  # default features only
    assert np.mean(np.abs(mean - y[100:])) < 0.7 * np.mean(np.abs(plain.predict(frame.iloc[:, 2:]) - y[100:]))
