"""The structure AutoModel (models/structure_auto.py): feature sets chosen by cross-validation.

FeatureSetAutoModel needs only numbers, so most of this runs in a plain install too; the featurizer
of the sets needs pymatgen (and uses CHGNet only where it is installed).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from matloop.models.forest import ExtraTreesRegressor, RandomForestRegressor
from matloop.models.structure_auto import FeatureSetAutoModel, feature_blocks


def _fast_candidates():
    return {"rf": RandomForestRegressor(n_estimators=20, random_state=0, noise="oob"),
            "et": ExtraTreesRegressor(n_estimators=20, random_state=0, noise="oob")}


def _table(n=160, seed=0):
    """A 'composition' set that sees a coarse part of y and a 'structure' set that sees all of it."""
    rng = np.random.default_rng(seed)
    coarse, fine = rng.integers(0, 4, n).astype(float), rng.normal(size=n)
    y = coarse + 1.5 * fine + 0.05 * rng.normal(size=n)
    comp = {f"composition::c{j}": coarse + 0.3 * rng.normal(size=n) for j in range(3)}
    struct = {"structure::s0": fine + 0.05 * rng.normal(size=n), "structure::s1": coarse + 0.05 * rng.normal(size=n),
              "structure::noise": rng.normal(size=n)}
    return pd.DataFrame({**comp, **struct}), y


def test_blocks_from_prefixes():
    blocks = feature_blocks(["composition::a", "structure::b", "chgnet::c", "structure::d"])
    assert {k: v.tolist() for k, v in blocks.items()} == {
        "composition": [0], "structure": [1, 3], "chgnet": [2], "structure+chgnet": [1, 2, 3]}
    assert list(feature_blocks(["a", "b"])) == ["all"]


def test_chooses_the_informative_set_and_beats_composition_only():
    X, y = _table()
    tr, te = np.arange(120), np.arange(120, 160)
    model = FeatureSetAutoModel(time_budget=60, candidates=_fast_candidates(), cv=3).fit(X.iloc[tr], y[tr])
    assert set(model.cv_scores_) == {"composition", "structure", "ensemble"}
    assert model.cv_scores_["structure"] < 0.5 * model.cv_scores_["composition"]
    assert max(model.weights_, key=model.weights_.get) == "structure"
    assert model.cv_scores_["ensemble"] <= min(model.cv_scores_["composition"], model.cv_scores_["structure"]) + 1e-9
    from matloop.models.automodel import AutoModel

    comp_cols = [c for c in X.columns if c.startswith("composition::")]
    comp_only = AutoModel(time_budget=60, candidates=_fast_candidates(), cv=3).fit(X.iloc[tr][comp_cols], y[tr])
    pred, std = model.predict(X.iloc[te], return_std=True)
    assert np.mean(np.abs(pred - y[te])) < 0.6 * np.mean(np.abs(comp_only.predict(X.iloc[te][comp_cols]) - y[te]))
    assert np.all(std > 0)
    lo, hi = model.predict_interval(X.iloc[te])
    assert np.all(lo <= pred + 1e-9) and np.all(pred <= hi + 1e-9)
    assert model.feature_importances_.shape == (X.shape[1],)
    assert list(model.member_predictions(X.iloc[te]).columns) == list(model.weights_)


def test_never_much_worse_than_composition_when_structure_is_noise():
    rng = np.random.default_rng(1)
    n = 150
    c = rng.normal(size=(n, 2))
    y = c[:, 0] + 0.1 * rng.normal(size=n)
    X = pd.DataFrame({"composition::a": c[:, 0], "composition::b": c[:, 1],
                      **{f"structure::n{j}": rng.normal(size=n) for j in range(4)}})
    model = FeatureSetAutoModel(time_budget=60, candidates=_fast_candidates(), cv=3).fit(X, y)
    assert model.weights_.get("composition", 0) >= 0.5
    assert model.cv_scores_["ensemble"] <= model.cv_scores_["composition"] + 1e-9


def test_survives_save_and_load(tmp_path):
    from matloop.models.persistence import load_model, save_model

    X, y = _table(80)
    model = FeatureSetAutoModel(time_budget=30, candidates=_fast_candidates(), cv=3).fit(X, y)
    path = save_model(model, tmp_path / "m.model", pack_trees=False)
    loaded = load_model(path)
    np.testing.assert_allclose(loaded.predict(X.iloc[:5]), model.predict(X.iloc[:5]))


def test_feature_sets_of_structures():
    pytest.importorskip("pymatgen.core")
    from pymatgen.core import Lattice, Structure

    from matloop.models.structure_auto import StructureFeatureSets

    structures = [Structure(Lattice.cubic(a), [x, "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
                  for a, x in [(4.0, "Na"), (4.3, "K"), (3.9, "Li"), (4.1, "Na")]]
    f = StructureFeatureSets(sets=("composition", "structure"), chgnet_cache=False)
    X = f.fit_transform(structures)
    assert X.shape[0] == 4 and all(c.split("::")[0] in ("composition", "structure") for c in X.columns)
    assert list(f.get_feature_names_out()) == list(X.columns)
    np.testing.assert_allclose(f.transform(structures[:2]).to_numpy(), X.iloc[:2].to_numpy())
    with pytest.raises(ValueError, match="sets must be"):
        StructureFeatureSets(sets=("nonsense",)).fit(structures)
