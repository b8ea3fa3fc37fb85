"""CHGNet features (models/potentials/features.py): names, determinism, the disk cache, usefulness.

Needs chgnet, torch and pymatgen (the ``chgnet`` extra); skipped in a plain install. One module-scoped
featurization of 40 bundled perovskites (perov_5, Castelli et al.) serves most tests.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pymatgen.core")
pytest.importorskip("chgnet")

from matloop.errors import InputError  # noqa: E402
from matloop.models.potentials import features as fmod  # noqa: E402
from matloop.models.potentials.features import UniversalPotentialFeatures  # noqa: E402

N = 40


@pytest.fixture(scope="module")
def perovskites():
    from matloop.datasets import load

    frame = load("perov_5").frame
    sub = frame.sample(N, random_state=0).reset_index(drop=True)
    return sub["structure"], sub["heat_ref"].to_numpy(float)


@pytest.fixture(scope="module")
def featurized(perovskites, tmp_path_factory):
    cache = tmp_path_factory.mktemp("chgnet_cache")
    f = UniversalPotentialFeatures(cache=cache, n_threads=2)
    return f, f.fit_transform(perovskites[0]), cache


def test_names_labels_and_shape(featurized, perovskites):
    f, X, _ = featurized
    names = list(f.get_feature_names_out())
    assert X.shape == (N, 64 + 2 + 3 + 2) and list(X.columns) == names and len(set(names)) == len(names)
    assert names[0] == "chgnet_emb_00" and names[63] == "chgnet_emb_63"
    assert names[64:] == ["chgnet_energy_per_atom", "chgnet_energy_above_atomref", "chgnet_magmom_mean", "chgnet_magmom_max", "chgnet_magmom_std",
                          "chgnet_bulk_modulus", "chgnet_pressure"]
    labels = f.feature_labels()
    assert len(labels) == len(names) and "GPa" in labels[-2] and labels[3] == "CHGNet embedding unit 03"
    assert any("Nat. Mach. Intell. 5, 1031" in c for c in f.citations())
    assert np.isfinite(X.to_numpy()).all()
    # the predicted energies are those of CHGNet's own predict_structure
    model = fmod.load_chgnet()
    from matloop.represent.structure import read_structures

    first = read_structures(perovskites[0].iloc[:2])
    direct = model.predict_structure(first, task="e", batch_size=2)
    assert np.allclose(X["chgnet_energy_per_atom"].iloc[:2], [float(p["e"]) for p in direct], atol=1e-5)
    # a subset of groups gives the subset of columns; bad groups are refused
    assert len(UniversalPotentialFeatures(groups=["embedding", "forces"]).get_feature_names_out()) == 64 + 3
    with pytest.raises(ValueError, match="groups"):
        UniversalPotentialFeatures(groups=["embedding", "nonsense"]).get_feature_names_out()


def test_deterministic_without_cache(featurized, perovskites):
    _, X, _ = featurized
    again = UniversalPotentialFeatures(groups=["embedding", "energy"], cache=False, batch_size=3).fit_transform(
        perovskites[0].iloc[:4])
    np.testing.assert_allclose(again.to_numpy(), X.iloc[:4, :66].to_numpy(), rtol=1e-5, atol=1e-5)


def test_second_run_reads_the_cache(featurized, perovskites, monkeypatch):
    _, X, cache = featurized
    assert list(cache.rglob("shard-*.npz")), "the first run wrote no cache rows"

    def no_network(*args, **kwargs):
        raise AssertionError("the network ran although every row is cached")

    monkeypatch.setattr(fmod, "load_chgnet", no_network)
    reordered = perovskites[0].iloc[::-1].reset_index(drop=True)  # other order, other index: same content
    again = UniversalPotentialFeatures(cache=cache).fit_transform(reordered)
    np.testing.assert_array_equal(again.to_numpy(), X.iloc[::-1].to_numpy())
    # another group set is another cache entry: it must run the network
    with pytest.raises(AssertionError, match="network ran"):
        UniversalPotentialFeatures(groups=["embedding"], cache=cache).fit_transform(perovskites[0].iloc[:2])


def test_a_forest_on_chgnet_features_beats_the_mean(featurized, perovskites):
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.model_selection import cross_val_predict

    _, X, _ = featurized
    y = perovskites[1]
    pred = cross_val_predict(RandomForestRegressor(100, random_state=0), X, y, cv=5)
    mean_pred = cross_val_predict(__import__("sklearn.dummy").dummy.DummyRegressor(), X, y, cv=5)
    mae, mae_mean = np.mean(np.abs(pred - y)), np.mean(np.abs(mean_pred - y))
    assert mae < 0.7 * mae_mean, (mae, mae_mean)


def test_structures_chgnet_cannot_take_are_reported_by_row(featurized):
    from pymatgen.core import Lattice, Structure

    good = Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    disordered = Structure(Lattice.cubic(4.0), [{"Na": 0.5, "K": 0.5}, "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    isolated = Structure(Lattice.cubic(30.0), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    with pytest.raises(InputError) as err:
        UniversalPotentialFeatures(cache=False).fit_transform(pd.Series([good, disordered, good]))
    assert err.value.table["row"].tolist() == [2] and "partial occupancies" in err.value.table["reason"].iloc[0]
    with pytest.raises(InputError) as err:
        UniversalPotentialFeatures(cache=False).fit_transform([good, isolated])
    assert err.value.table["row"].tolist() == [2] and "graph" in err.value.table["reason"].iloc[0]


def test_registered_as_a_structure_featurizer():
    from matloop.cli.options import FEATURIZER_NAMES
    from matloop.represent.registry import get_featurizer

    assert isinstance(get_featurizer("chgnet"), UniversalPotentialFeatures)
    assert "chgnet" in FEATURIZER_NAMES and "structure_auto" in FEATURIZER_NAMES


def test_fit_and_predict_cli_with_the_chgnet_featurizer(tmp_path, monkeypatch, perovskites, featurized):
    from matloop.cli.main import main

    monkeypatch.setenv("MATLOOP_CACHE_DIR", str(featurized[2]))  # the rows featurized above are read back
    texts, y = perovskites
    table = tmp_path / "perov.csv"
    pd.DataFrame({"structure": texts.iloc[:30], "heat": y[:30]}).to_csv(table, index=False)
    model = tmp_path / "m.model"
    assert main(["fit", str(table), "--input", "structure", "--target", "heat", "--featurizer", "chgnet",
                 "--model", "rf", "-o", str(model), "-q"]) == 0
    new = tmp_path / "new.csv"
    pd.DataFrame({"structure": texts.iloc[30:36]}).to_csv(new, index=False)
    out = tmp_path / "pred.csv"
    assert main(["predict", str(model), str(new), "-o", str(out)]) == 0
    result = pd.read_csv(out)
    assert len(result) == 6 and np.isfinite(result.filter(like="pred").to_numpy(float)).all()


def test_suggest_with_the_chgnet_featurizer(tmp_path, monkeypatch, perovskites, featurized):
    from matloop.cli.main import main

    monkeypatch.setenv("MATLOOP_CACHE_DIR", str(featurized[2]))
    texts, y = perovskites
    heat = np.where(np.arange(N) < 30, y, np.nan)  # 30 measured, 10 candidates
    table = tmp_path / "pool.csv"
    pd.DataFrame({"structure": texts, "heat": heat}).to_csv(table, index=False)
    out = tmp_path / "next.csv"

    def no_default(kind, **params):
        raise AssertionError("suggest used the default featurizer although --featurizer was given")

    monkeypatch.setattr("matloop.represent.registry.default_featurizer_for", no_default)
    assert main(["suggest", str(table), "--input", "structure", "--target", "heat", "--featurizer", "chgnet",
                 "--minimize", "--batch", "3", "--model", "rf", "-o", str(out), "-q"]) == 0
    chosen = pd.read_csv(out)
    assert len(chosen) == 3 and chosen["heat"].isna().all()
