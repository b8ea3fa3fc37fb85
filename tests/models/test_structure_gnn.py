"""The crystal graph network as a candidate of the structure AutoModel (models/structure_gnn.py)."""

from __future__ import annotations

from importlib.util import find_spec

import numpy as np
import pandas as pd
import pytest

from matloop.errors import InputError
from matloop.models.forest import RandomForestRegressor
from matloop.models.structure_auto import FeatureSetAutoModel
from matloop.models.structure_gnn import MAX_ROWS, MIN_ROWS, gnn_decision

HAVE_TORCH = find_spec("torch") is not None


def _fast():
    return {"rf": RandomForestRegressor(n_estimators=20, random_state=0, noise="oob")}


def test_when_the_network_is_considered():
    assert gnn_decision("no", 500) == (False, "left out (--gnn-candidate no)")
    if not HAVE_TORCH:  # the plain install: said, and forcing it in is a clear error
        use, why = gnn_decision("auto", 500)
        assert not use and "PyTorch is not installed" in why
        with pytest.raises(InputError, match="needs PyTorch"):
            gnn_decision("yes", 500)
        return
    assert gnn_decision("auto", (MIN_ROWS + MAX_ROWS) // 2)[0]
    # every bundled structure set, the largest too (flla, 3,938 rows), gets the network (benchmarks/structures.py)
    assert gnn_decision("auto", 3938)[0]
    assert not gnn_decision("auto", MIN_ROWS - 1)[0] and "fewer than" in gnn_decision("auto", MIN_ROWS - 1)[1]
    assert not gnn_decision("auto", MAX_ROWS + 1)[0] and "more than" in gnn_decision("auto", MAX_ROWS + 1)[1]
    assert gnn_decision("yes", MAX_ROWS + 1)[0] and gnn_decision(True, 20)[0]
    with pytest.raises(InputError, match="at least 10"):
        gnn_decision("yes", 5)
    with pytest.raises(ValueError):
        gnn_decision("sometimes", 100)


def _stacked(n: int, gnn_error: float, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Composition features that see a coarse part of y, and a 'gnn' prediction with error ``gnn_error``."""
    rng = np.random.default_rng(seed)
    coarse, fine = rng.integers(0, 4, n).astype(float), rng.normal(size=n)
    y = coarse + fine
    pred = y + gnn_error * rng.normal(size=n)
    return pd.DataFrame({"composition::c0": coarse + 0.1 * rng.normal(size=n), "composition::c1": rng.normal(size=n),
                         "gnn::prediction": pred, "gnn::std": np.full(n, gnn_error)}), y


def test_a_good_network_is_weighted_and_a_bad_one_is_not():
    X, y = _stacked(150, 0.1)
    good = FeatureSetAutoModel(time_budget=30, candidates=_fast(), cv=3).fit(X, y)
    assert set(good.cv_scores_) == {"composition", "gnn", "ensemble"}
    assert good.weights_.get("gnn", 0) >= 0.5 and good.cv_scores_["ensemble"] < 0.3 * good.cv_scores_["composition"]
    mean, std = good.predict(X.iloc[:5], return_std=True)
    assert np.all(std > 0) and good.feature_importances_[2] > 0 and good.feature_importances_[3] == 0
    Xb, yb = _stacked(150, 3.0, seed=1)  # a network worse than composition-only gets (almost) nothing
    bad = FeatureSetAutoModel(time_budget=30, candidates=_fast(), cv=3).fit(Xb, yb)
    assert bad.weights_.get("composition", 0) >= 0.8
    assert bad.cv_scores_["ensemble"] <= bad.cv_scores_["composition"] + 1e-9


def test_prediction_set_survives_save_and_load(tmp_path):
    from matloop.models.persistence import load_model, save_model

    X, y = _stacked(80, 0.2)
    model = FeatureSetAutoModel(time_budget=20, candidates=_fast(), cv=3).fit(X, y)
    loaded = load_model(save_model(model, tmp_path / "m.model", pack_trees=False))
    np.testing.assert_allclose(loaded.predict(X.iloc[:5]), model.predict(X.iloc[:5]))


def _crystals(n: int, seed: int = 0):
    """CsCl-type cells of random elements and size; y: a smooth function of the cell and the elements."""
    from pymatgen.core import Lattice, Structure

    elements = ["Li", "Na", "K", "Mg", "Ca", "Al", "Cu", "Zn", "O", "S", "Cl", "F"]
    rng = np.random.default_rng(seed)
    out, y = [], []
    for _ in range(n):
        a, b = rng.choice(len(elements), 2, replace=False)
        lat = rng.uniform(3.0, 6.0)
        out.append(Structure(Lattice.cubic(lat), [elements[a], elements[b]], [[0, 0, 0], [0.5, 0.5, 0.5]]))
        y.append(1.7 * lat - 0.15 * (a + b) + 0.05 * rng.normal())
    return out, np.array(y)


@pytest.mark.skipif(not HAVE_TORCH or find_spec("pymatgen") is None, reason="needs PyTorch and pymatgen")
def test_structure_automodel_with_the_network(tmp_path):
    """End to end: held-out network columns on the training rows, the ensemble's on new rows, the fit
    summary's note, and a saved model that predicts the same."""
    from matloop.models.gnn import CrystalGraphRegressor
    from matloop.models.persistence import load_model, save_model
    from matloop.models.pipeline import MaterialModel
    from matloop.models.structure_auto import StructureFeatureSets
    from matloop.models.summary import describe_fitted
    X, y = _crystals(80)
    tiny = CrystalGraphRegressor(n_members=3, atom_fea_len=16, n_conv=2, h_fea_len=16, max_epochs=25, patience=10,
                                 batch_size=16, cutoff=6.0, learning_rate=5e-3, random_state=1)
    sets = StructureFeatureSets(sets=("composition",), gnn="yes", gnn_network=tiny)
    F = sets.fit_transform(pd.Series(X[:60], dtype=object, name="structure"), y[:60])
    assert list(F.columns[-2:]) == ["gnn::prediction", "gnn::std"] and not sets.feature_cache
    np.testing.assert_allclose(F["gnn::prediction"], sets.gnn_.oof_prediction_)  # held out, not in-sample
    mean, std = sets.gnn_.predict(X[60:], return_std=True)
    new = sets.transform(pd.Series(X[60:], dtype=object, name="structure"))
    np.testing.assert_allclose(new[["gnn::prediction", "gnn::std"]].to_numpy(), np.column_stack([mean, std]))
    model = MaterialModel(FeatureSetAutoModel(time_budget=20, candidates=_fast(), cv=3), kind="structure",
                          featurizer="structure_auto",
                          featurizer_params={"sets": ("composition",), "gnn": "yes", "gnn_network": tiny})
    model.fit(pd.Series(X[:60], dtype=object, name="structure"), y[:60])
    assert "gnn" in model.estimator_.cv_scores_
    assert "crystal graph network candidate: considered (60 rows; --gnn-candidate yes)" in describe_fitted(model, y[:60])
    test = pd.Series(X[60:], dtype=object, name="structure")
    pred = model.predict(test)
    np.testing.assert_allclose(load_model(save_model(model, tmp_path / "m.model")).predict(test), pred)
    off = StructureFeatureSets(sets=("composition",), gnn="auto").fit(pd.Series(X[:20], dtype=object), y[:20])
    assert "gnn::prediction" not in off.get_feature_names_out() and "fewer than 50" in off.gnn_note_
