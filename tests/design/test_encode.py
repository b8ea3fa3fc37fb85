"""ParameterEncoder (design.encode): every parameter type of a process table -> numbers, on bundled data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import matloop.io.detect as detect
from matloop.datasets import load
from matloop.design.encode import ParameterEncoder, composition_features, dataset_encoder
from matloop.design.surrogate import featurize, parameter_keys
from matloop.errors import InputError
from matloop.io.table import read_table


@pytest.fixture()
def no_rdkit(monkeypatch):
    """Behave as a plain install without RDKit (the encoder and column detection ask io.detect)."""
    monkeypatch.setattr(detect, "rdkit_available", lambda: False)


def _roundtrip(enc: ParameterEncoder) -> ParameterEncoder:
    return ParameterEncoder.from_dict(json.loads(json.dumps(enc.to_dict())))


def test_labels_are_one_hot_and_reported():
    ds = load("redoxmers")
    assert ds.parameter_columns == ["r1_label", "r3_label", "r4_label", "r5_label"]
    enc = ParameterEncoder().fit(ds.frame[ds.parameter_columns])
    X = enc.transform(ds.frame[ds.parameter_columns])
    assert X.shape == (len(ds.frame), 2 + 8 + 8 + 11)
    for col in ds.parameter_columns:  # exactly one label of each column is on in every row
        block = X[[c for c in X.columns if c.startswith(col + "=")]].to_numpy()
        assert np.array_equal(block.sum(axis=1), np.ones(len(X)))
    assert X.loc[0, "r5_label=R5_0"] == 1.0 and X.loc[1, "r5_label=R5_1"] == 1.0
    assert enc.describe()[3] == ("r5_label", "label", "one-hot (11 labels)", 11)
    assert list(enc.get_feature_names_out()) == list(X.columns)
    assert np.array_equal(_roundtrip(enc).transform(ds.frame).to_numpy(), X.to_numpy())


def test_unseen_label_is_an_error_naming_the_row_or_zero_with_a_warning():
    frame = load("redoxmers").frame[["r1_label", "r3_label"]]
    enc = ParameterEncoder().fit(frame.iloc[:50])
    new = pd.DataFrame({"r1_label": ["R1_0", "R1_0"], "r3_label": ["R3_0", "R3_unknown"]})
    with pytest.raises(InputError) as err:
        enc.transform(new)
    table = err.value.table
    assert list(table["row"]) == [2] and list(table["column"]) == ["r3_label"] and "not seen" in table["reason"][0]
    from matloop.represent.parameter_encoder import unknown_labels

    with unknown_labels("zero"), pytest.warns(UserWarning, match="not seen"):  # what validate's folds use
        assert enc.transform(new).filter(like="r3_label=").iloc[1].sum() == 0
    zero = ParameterEncoder(handle_unknown="zero").fit(frame.iloc[:50])
    with pytest.warns(UserWarning, match="not seen"):
        X = zero.transform(new)
    assert X.filter(like="r3_label=").iloc[1].sum() == 0 and X.filter(like="r3_label=").iloc[0].sum() == 1


def test_integer_and_discrete_columns_keep_their_grid():
    ds = load("vapdiff_crystal")
    enc = ParameterEncoder().fit(ds.frame[ds.parameter_columns])
    kinds = {c: k for c, k, _, _ in enc.describe()}
    assert kinds["organic"] == kinds["solvent"] == "label"
    assert kinds["reaction_time"] == "integer" and kinds["beta_vial_volume"] == "discrete"
    assert kinds["organic_molarity"] == "numeric"
    grid = enc.grids()["reaction_time"]
    assert grid == sorted(ds.frame["reaction_time"].unique().tolist())
    off = pd.DataFrame({"reaction_time": [grid[0] + 1.0, grid[-1] + 1e6], "organic_molarity": [1.23456, 2.0]})
    snapped = enc.snap(off)
    assert snapped["reaction_time"].tolist() == [grid[0], grid[-1]]
    assert snapped["organic_molarity"].tolist() == [1.23456, 2.0]  # continuous: untouched
    X = enc.transform(ds.frame)
    assert np.array_equal(X["organic_molarity"].to_numpy(), ds.frame["organic_molarity"].to_numpy())


def test_numeric_tables_are_encoded_exactly_as_before():
    ds = load("liang_p3ht")
    cols = ds.parameter_columns
    enc = ParameterEncoder().fit(ds.frame[cols])
    assert enc.trivial
    assert enc.transform(ds.frame[cols]).equals(ds.frame[cols].astype(float).reset_index(drop=True))


def test_compositions_are_detected_and_element_features_share_names_across_plates():
    a, b = load("oer_plate_3496").frame, load("oer_plate_3851").frame
    cols_a = [c for c in a.columns if c.endswith("_load")]
    cols_b = [c for c in b.columns if c.endswith("_load")]
    enc = ParameterEncoder(composition="both").fit(a[cols_a])
    assert {k for _, k, _, _ in enc.describe()} == {"composition", "composition group"}
    X = enc.transform(a[cols_a])
    assert list(X.columns[:6]) == cols_a and X.shape[1] == 6 + 44
    assert ParameterEncoder().fit(a[cols_a]).trivial  # the default keeps the loadings only
    fa, fb = composition_features(a, cols_a), composition_features(b, cols_b)
    assert list(fa.columns) == list(fb.columns)
    pure_ni = pd.DataFrame({"ni_load": [1.0], "fe_load": [0.0]})
    f = composition_features(pure_ni, ["ni_load", "fe_load"])
    from matloop.represent.element_data import element_table

    assert f["elem_mean_Electronegativity"][0] == pytest.approx(element_table("magpie").loc[28, "Electronegativity"])
    assert f["elem_dev_Electronegativity"][0] == 0.0
    np.testing.assert_allclose(_roundtrip(enc).transform(a[cols_a]).to_numpy(), X.to_numpy())


def test_loadings_that_do_not_sum_to_one_are_not_a_composition():
    frame = pd.DataFrame({"ni_load": [0.2, 0.5, 0.9], "fe_load": [0.3, 0.1, 0.6]})
    assert not any(k.startswith("composition") for _, k, _, _ in ParameterEncoder().fit(frame).describe())


def test_smiles_columns_get_a_chemical_encoding_with_rdkit():
    pytest.importorskip("rdkit")
    ds = load("dye_lasers")
    cols = ds.parameter_columns
    assert cols == ["frag_a", "frag_b", "frag_c"]
    enc = ParameterEncoder().fit(ds.frame[cols].iloc[::9])
    rows = enc.describe()
    assert [r[1] for r in rows] == ["smiles"] * 3 and all(r[2].startswith("chemical") for r in rows)
    assert all(1 <= r[3] <= 4 for r in rows)
    X = enc.transform(ds.frame[cols])  # options outside the fitted rows are projected, not refused
    assert np.isfinite(X.to_numpy()).all() and X.shape[1] == sum(r[3] for r in rows)
    # one molecule, one vector: rows with the same frag_a share its encoding, different ones differ
    first = X.filter(like="frag_a:").to_numpy()
    same = (ds.frame["frag_a"] == ds.frame["frag_a"][0]).to_numpy()
    assert np.ptp(first[same], axis=0).max() == 0 and np.ptp(first[~same], axis=0).max() > 0
    np.testing.assert_allclose(_roundtrip(enc).transform(ds.frame[cols].iloc[:50]).to_numpy(), X.iloc[:50].to_numpy())
    held = ds.frame["frag_c"].unique()[0]  # a molecule never seen in fit is projected like the others
    part = ParameterEncoder().fit(ds.frame.loc[ds.frame["frag_c"] != held, cols])
    Z = part.transform(ds.frame.loc[ds.frame["frag_c"] == held, cols].head(3)).filter(like="frag_c:").to_numpy()
    assert np.isfinite(Z).all() and np.ptp(Z, axis=0).max() == 0
    onehot = ParameterEncoder(smiles="onehot").fit(ds.frame[cols])
    assert onehot.transform(ds.frame[cols]).shape[1] == 14 + 13 + 19


def test_smiles_fall_back_to_one_hot_without_rdkit_and_say_so(no_rdkit):
    ds = load("dye_lasers")
    enc = ParameterEncoder().fit(ds.frame[["frag_a", "frag_b"]])
    assert [r[1] for r in enc.describe()] == ["smiles", "smiles"]
    assert all("RDKit not installed" in r[2] for r in enc.describe())
    assert any("RDKit" in n for n in enc.notes_)
    assert enc.transform(ds.frame[["frag_a", "frag_b"]]).shape[1] == 14 + 13
    with pytest.raises(InputError, match="RDKit"):
        ParameterEncoder(smiles="chemical").fit(ds.frame[["frag_a"]])


def test_from_dict_refuses_malformed_data():
    enc = ParameterEncoder().fit(load("redoxmers").frame[["r1_label"]])
    data = enc.to_dict()
    with pytest.raises(ValueError):
        ParameterEncoder.from_dict({**data, "format": "something else"})
    with pytest.raises(ValueError):
        ParameterEncoder.from_dict({**data, "feature_names": ["x"]})
    bad = json.loads(json.dumps(data))
    bad["specs"][0]["kind"] = "pickle"
    with pytest.raises(ValueError):
        ParameterEncoder.from_dict(bad)


def test_featurize_and_keys_of_a_table_with_text_columns(tmp_path):
    frame = load("redoxmers").frame.iloc[:60].copy()
    frame = frame[["r1_label", "r3_label", "r4_label", "r5_label", "ered"]]
    frame["sample"] = [f"s{i}" for i in range(len(frame))]  # an identifier: not an input
    frame.loc[40:, "ered"] = np.nan
    path = tmp_path / "redox.csv"
    frame.to_csv(path, index=False)
    ds = read_table(path, target="ered")
    assert ds.kind == "parameters" and ds.parameter_columns == ["r1_label", "r3_label", "r4_label", "r5_label"]
    X = featurize(ds)
    assert X.shape[0] == 60 and ds.encoding is not None
    pool = ds.pool()
    assert pool.encoding is ds.encoding  # pieces line up
    assert featurize(pool).equals(X.iloc[40:].reset_index(drop=True))
    keys = parameter_keys(ds.frame, ds.parameter_columns)
    assert json.loads(keys[0]) == list(frame.iloc[0, :4])
    assert dataset_encoder(ds) is ds.encoding


def test_a_table_of_several_smiles_columns_is_a_process_table(tmp_path):
    frame = load("dye_lasers").frame.iloc[:80]
    path = tmp_path / "dyes.csv"
    frame.to_csv(path, index=False)
    ds = read_table(path, target="peak_score")
    assert ds.kind == "parameters" and ds.parameter_columns == ["frag_a", "frag_b", "frag_c", "spectral_overlap",
                                                               "fluo_rate"]


def test_text_columns_with_empty_cells_are_outcomes_not_inputs(tmp_path):
    frame = load("vapdiff_crystal").frame.iloc[:60].copy()
    frame.loc[30:, "crystal_score"] = None
    frame.loc[30:, "organic_molarity"] = np.nan
    path = tmp_path / "v.csv"
    frame.to_csv(path, index=False)
    from matloop.io.table import inspect_table

    ds, report = inspect_table(path, target="organic_molarity")
    assert "crystal_score" not in ds.parameter_columns and "organic" in ds.parameter_columns
    assert "empty cells" in report.ignored["crystal_score"]


def test_a_parameter_model_with_labels_is_saved_without_pickle_and_checked_on_load(tmp_path):
    from matloop.models.forest import RandomForestRegressor
    from matloop.models.model_checks import _material_model_problems
    from matloop.models.persistence import load_model, save_model
    from matloop.models.pipeline import MaterialModel

    frame = load("redoxmers").frame.iloc[:150]
    cols = ["r1_label", "r3_label", "r4_label", "r5_label"]
    model = MaterialModel(RandomForestRegressor(n_estimators=20, random_state=0), kind="parameters",
                          recalibrate=False).fit(frame[cols], frame["ered"].to_numpy())
    assert isinstance(model.parameter_encoding_, dict) and "r5_label=R5_3" in model.feature_names_
    path = save_model(model, tmp_path / "m.model", metadata={"kind": "parameters", "parameter_columns": cols,
                                                              "task": "regression"})
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict(frame[cols].iloc[:20]), model.predict(frame[cols].iloc[:20]))
    with pytest.raises(InputError, match="not seen"):
        loaded.predict(frame[cols].iloc[:2].assign(r5_label="R5_new"))
    loaded.parameter_encoding_ = {**loaded.parameter_encoding_, "format": "pickle"}
    assert any("parameter_encoding_ is malformed" in p for p in _material_model_problems(loaded, {}))


def test_a_mostly_numeric_column_with_a_typo_stays_numeric_and_names_the_row(tmp_path):
    frame = pd.DataFrame({"temperature": ["300", "350", "300", "3OO", "350", "400"],
                          "solvent": ["water", "ethanol", "water", "water", "ethanol", "water"],
                          "y": [1.0, 2.0, None, 1.5, None, 2.5]})
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(InputError) as err:
        read_table(path, target="y")
    table = err.value.table
    assert list(table["row"]) == [4] and list(table["column"]) == ["temperature"]
    ds = read_table(path, target="y", skip_invalid=True)
    assert ds.parameter_columns == ["temperature", "solvent"]
    assert featurize(ds).columns.tolist() == ["temperature", "solvent=ethanol", "solvent=water"]


@pytest.mark.parametrize("names", [["Ni (at%)", "Fe (at%)", "Co (at%)"], ["at% Ni", "at% Fe", "at% Co"],
                                   ["Ni [mol %]", "Fe [mol %]", "Co [mol %]"]])
def test_element_columns_with_their_unit_in_the_name(names):
    """Loadings named with their unit ('Ni (at%)', 'at% Ni') are a composition like 'Ni', 'ni_load'."""
    from matloop.design.encode import ParameterEncoder, column_element

    assert [column_element(n) for n in names] == ["Ni", "Fe", "Co"]
    rng = np.random.default_rng(0)
    w = rng.dirichlet([1, 1, 1], 20) * 100
    frame = pd.DataFrame(w, columns=names).assign(temperature=rng.uniform(300, 600, 20))
    enc = ParameterEncoder().fit(frame)
    assert enc.groups_ and enc.groups_[0]["elements"] == ["Ni", "Fe", "Co"] and enc.groups_[0]["scale"] == 100.0
    assert column_element("T (°C)") is None and column_element("yield (%)") is None
