"""The shipped pre-trained library: loads offline with NumPy, cards complete, NumPy = PyTorch forward."""

from __future__ import annotations

import json

import numpy as np
import pytest

from matloop import InputError
from matloop.io.formula import parse_formulas
from matloop.models.pretrained import (
    N_INPUTS,
    SOURCES,
    UnknownModelError,
    composition_inputs,
    composition_keys,
    input_feature_names,
    library_dir,
    library_info,
    library_size,
    list_models,
    load_pretrained,
    model_card,
    model_names,
)
from matloop.models.pretrained.network import file_sha256

CARD_KEYS = {"name", "property", "units", "task", "target_transform", "data", "model", "training", "test_metrics",
             "date", "code_version", "weights_sha256"}
DATA_KEYS = {"dataset", "target_column", "citation", "license", "rows_in_dataset", "unique_compositions",
             "excluded_compositions", "train_rows", "val_rows", "test_rows", "split", "subsampled"}


def test_every_source_is_shipped_with_a_complete_card():
    names = model_names()
    assert names == list(SOURCES)  # every registered source, in registry order
    for name in names:
        card = model_card(name)
        assert CARD_KEYS <= set(card), name
        assert DATA_KEYS <= set(card["data"]), name
        assert card["data"]["train_rows"] > 1000 and card["data"]["test_rows"] > 100
        assert card["training"]["time_s"] > 0 and card["model"]["n_inputs"] == N_INPUTS
        assert card["weights_sha256"] == file_sha256(library_dir() / f"{name}.npz")
        metrics = card["test_metrics"]
        if card["task"] == "classification":
            assert metrics["roc_auc"] > 0.85
        else:  # every model beats predicting the training median on its held-out compositions
            key = "mae_transformed" if card["target_transform"] != "none" else "mae"  # the space it was fitted in
            assert metrics[key] < 0.9 * metrics[f"baseline_{key}"], name


def test_library_is_small_and_summarised():
    assert library_size() < 40e6
    info = library_info()
    assert set(info["models"]) == set(model_names()) and info["total_time_s"] > 0
    table = list_models()
    assert list(table["name"]) == model_names()
    assert {"property", "metric", "value", "baseline", "train_rows", "size_kb"} <= set(table.columns)
    assert (table.loc[table["task"] == "regression", "metric"] == "mae").all()


def test_weights_are_plain_arrays_without_pickle():
    with np.load(library_dir() / "mp_gap.npz", allow_pickle=False) as data:
        assert all(data[k].dtype != object for k in data.files)
        assert data["W0"].shape[0] == N_INPUTS


def test_predictions_make_chemical_sense():
    gap = load_pretrained("mp_gap").predict(["NaCl", "MgO", "Cu", "Fe3Al"])
    assert gap[0] > 2.5 and gap[1] > 1.5 and gap[2] < 0.5 and gap[3] < 0.5  # eV; MP: 5.0, 2.9-4.4, 0, 0
    metal = load_pretrained("mp_is_metal").predict(["Cu", "Fe3Al", "NaCl", "SiO2"])
    assert metal[0] > 0.5 and metal[1] > 0.5 and metal[2] < 0.5 and metal[3] < 0.5
    e_form = load_pretrained("mp_e_form").predict(["Al2O3", "LiF"])
    assert np.all(e_form < -2)
    tungsten, caesium = load_pretrained("mp_bulk_modulus").predict(["W", "Cs"])
    assert tungsten > 150 and caesium < 20  # GPa


def test_numpy_forward_equals_torch_forward_on_the_same_weights():
    torch = pytest.importorskip("torch")
    model = load_pretrained("mp_e_form")
    inputs = composition_inputs(parse_formulas(["Fe2O3", "LiCoO2", "Si", "Ba0.5Sr0.5TiO3", "CsPbI3"]))
    layers = []
    for i, (W, b) in enumerate(zip(model.coefs, model.intercepts, strict=True)):
        linear = torch.nn.Linear(*W.shape).double()
        with torch.no_grad():
            linear.weight.copy_(torch.as_tensor(W.T))
            linear.bias.copy_(torch.as_tensor(b))
        layers += [linear] + ([torch.nn.SiLU()] if i < len(model.coefs) - 1 else [])
    net = torch.nn.Sequential(*layers)
    with torch.no_grad():
        expected = net(torch.as_tensor(model.standardise(inputs)))[:, 0].numpy()
        hidden = net[:-1](torch.as_tensor(model.standardise(inputs))).numpy()
    got_hidden, raw = model.activations(inputs)
    np.testing.assert_allclose(raw, expected, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(got_hidden[-1], hidden, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(model.predict_inputs(inputs), raw * model.y_scale + model.y_mean)


def test_unknown_name_is_an_input_error_with_suggestions():
    with pytest.raises(UnknownModelError, match="mp_gap") as info:
        load_pretrained("mp_gapp")
    assert isinstance(info.value, InputError)


def test_tampered_weights_are_refused(tmp_path):
    from matloop import MatloopError

    for suffix in (".json", ".npz"):
        (tmp_path / f"mp_gap{suffix}").write_bytes((library_dir() / f"mp_gap{suffix}").read_bytes())
    data = dict(np.load(tmp_path / "mp_gap.npz"))
    data["b0"] = data["b0"] + 1.0
    np.savez(tmp_path / "mp_gap.npz", **data)
    with pytest.raises(MatloopError, match="SHA-256"):
        load_pretrained("mp_gap", library=tmp_path)


def test_composition_keys_identify_reduced_compositions():
    keys = composition_keys(parse_formulas(["Fe2O3", "Fe4O6", "O3Fe2", "FeO"]))
    assert keys[0] == keys[1] == keys[2] != keys[3]
    assert len(input_feature_names()) == N_INPUTS


def test_rebuild_is_reproducible_and_the_leakage_guard_excludes(tmp_path):
    """Two builds with the same settings give identical weights; excluded compositions are gone."""
    pytest.importorskip("torch")
    from matloop import datasets
    from matloop.models.pretrained.training import (
        PretrainSettings,
        build_source,
        exclusion_keys,
        prepare_source,
    )

    settings = PretrainSettings(hidden=(16, 8), max_rows=300, epochs=2, min_steps=5, max_test=100, max_val=50)
    formulas = datasets.load("aflow_bulk_modulus").frame["formula"].iloc[:40].tolist()
    exclude = exclusion_keys(formulas)
    first = build_source("aflow_bulk_modulus", tmp_path / "a", settings, exclude, "test exclusion")
    second = build_source("aflow_bulk_modulus", tmp_path / "b", settings, exclude, "test exclusion")
    assert first["weights_sha256"] == second["weights_sha256"]
    assert first["data"]["excluded_compositions"] == len(exclude) == 40
    data = prepare_source(SOURCES["aflow_bulk_modulus"], settings, exclude)
    used = set().union(*(composition_keys(c).tolist() for c in data["comps"].values()))
    assert not used & exclude
    model = load_pretrained("aflow_bulk_modulus", library=tmp_path / "a")
    assert model.hidden_sizes == [16, 8] and json.loads((tmp_path / "a" / "aflow_bulk_modulus.json").read_text())
