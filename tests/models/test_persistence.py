"""Saving and loading: identical predictions after a round trip; unsafe or foreign files refused."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import pickle
import zipfile

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.datasets import make_friedman1
from sklearn.neighbors import NearestNeighbors

from matloop import MatloopError
from matloop.models import (
    CalibratedBoostingClassifier,
    CalibratedForestClassifier,
    ExtraTreesRegressor,
    FeatureCleaner,
    ForeignModelFileError,
    GaussianProcessRegressor,
    GradientBoostingEnsembleRegressor,
    ModelFileError,
    ModelVersionError,
    NeuralEnsembleRegressor,
    RandomForestRegressor,
    UntrustedModelError,
    load_model,
    persistence,
    read_model_metadata,
    save_model,
)

REGRESSORS = [
    RandomForestRegressor(10, random_state=0),
    ExtraTreesRegressor(10, uncertainty="combined", noise="oob", random_state=0),
    GaussianProcessRegressor(n_features=4, n_restarts=0, random_state=0),
    GaussianProcessRegressor(n_features=4, feature_selection="pca", n_restarts=0, random_state=0),
    GradientBoostingEnsembleRegressor(n_members=2, max_iter=10, random_state=0),
    GradientBoostingEnsembleRegressor("quantile", max_iter=10, random_state=0),
    pytest.param(NeuralEnsembleRegressor(2, max_epochs=5, n_threads=1, random_state=0),
                 marks=pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="the torch extra")),
]
CLASSIFIERS = [
    CalibratedForestClassifier(10, cv=3, random_state=0),
    CalibratedForestClassifier(10, cv=3, method="isotonic", random_state=0),
    CalibratedBoostingClassifier(max_iter=10, cv=3, random_state=0),
]


@pytest.fixture(scope="module")
def data():
    X, y = make_friedman1(n_samples=60, n_features=8, noise=0.5, random_state=0)
    X = pd.DataFrame(X, columns=[f"feature_{j}" for j in range(8)])
    X.iloc[::9, 2] = np.nan
    return X, pd.Series(y, name="yield_strength")


@pytest.fixture(scope="module")
def forest_file(data, tmp_path_factory):
    X, y = data
    path = tmp_path_factory.mktemp("models") / "forest.matloop"
    save_model(RandomForestRegressor(10, random_state=0).fit(X, y), path, {"target_name": "yield_strength"})
    return path


def members(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def write_container(path, header: dict, payload: bytes, fix_checksum: bool = True) -> None:
    if fix_checksum:
        header = dict(header, payload_sha256=hashlib.sha256(payload).hexdigest())
        header["header_sha256"] = persistence.model_checks.header_digest(header)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("matloop.json", json.dumps(header))
        archive.writestr("model.skops", payload)


@pytest.mark.parametrize("model", REGRESSORS, ids=lambda m: type(m).__name__)
def test_regressor_round_trip_is_exact(model, data, tmp_path):
    X, y = data
    model.fit(X, y)
    path = save_model(model, tmp_path / "model.matloop", {"target_name": y.name, "units": "MPa"})
    loaded = load_model(path)
    assert type(loaded) is type(model)
    for a, b in zip(model.predict(X, return_std=True), loaded.predict(X, return_std=True), strict=True):
        np.testing.assert_array_equal(a, b)
    header = read_model_metadata(path)
    assert header["feature_names"] == list(X.columns) and header["target_name"] == "yield_strength"
    assert header["metadata"] == {"units": "MPa"} and header["estimator"].endswith(type(model).__name__)


@pytest.mark.parametrize("model", CLASSIFIERS, ids=lambda m: f"{type(m).__name__}-{m.method}")
def test_classifier_round_trip_is_exact(model, data, tmp_path):
    X, y = data
    labels = np.where(y > y.median(), "high", "low")
    model.fit(X, labels)
    loaded = load_model(save_model(model, tmp_path / "model.matloop"))
    np.testing.assert_array_equal(model.predict_proba(X), loaded.predict_proba(X))
    np.testing.assert_array_equal(model.predict_std(X), loaded.predict_std(X))
    np.testing.assert_array_equal(model.predict(X), loaded.predict(X))


def test_malicious_os_system_reduce_is_refused_and_never_runs(forest_file, tmp_path):
    marker = tmp_path / "pwned"
    command = {"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode", "__id__": 2,
               "content": [{"__class__": "str", "__module__": "builtins", "__loader__": "JsonNode",
                            "content": json.dumps(f"touch '{marker}'"), "is_json": True, "__id__": 3}]}
    evil = {"__class__": "system", "__module__": "os", "__loader__": "ConstructorFromReduceNode",
            "content": command, "__id__": 1}
    parts = members(forest_file)
    header = json.loads(parts["matloop.json"])
    with zipfile.ZipFile(forest_file) as outer, zipfile.ZipFile(outer.open("model.skops")) as inner:
        inner_parts = {name: inner.read(name) for name in inner.namelist()}
    schema = json.loads(inner_parts["schema.json"])
    schema["content"]["content"]["noise"] = evil  # hide the reduce inside a real model's parameters
    inner_parts["schema.json"] = json.dumps(schema).encode()
    payload_path = tmp_path / "payload.skops"
    with zipfile.ZipFile(payload_path, "w") as archive:
        for name, content in inner_parts.items():
            archive.writestr(name, content)
    payload = payload_path.read_bytes()
    assert "os.system" in sio.get_untrusted_types(data=payload)  # the crafted file is live
    path = tmp_path / "evil.matloop"
    write_container(path, header, payload)
    with pytest.raises(UntrustedModelError, match="os.system"):
        load_model(path)
    with pytest.raises(UntrustedModelError, match="os.system"):
        load_model(path, trusted=["sklearn.tree._tree.Tree"])
    assert not marker.exists()


def test_altered_payload_fails_the_checksum(forest_file, tmp_path):
    parts = members(forest_file)
    payload = bytearray(parts["model.skops"])
    payload[len(payload) // 2] ^= 0xFF
    path = tmp_path / "altered.matloop"
    write_container(path, json.loads(parts["matloop.json"]), bytes(payload), fix_checksum=False)
    with pytest.raises(UntrustedModelError, match="checksum"):
        load_model(path)


@pytest.mark.parametrize("kind", ["forest", "boosting", "neighbours"])
def test_out_of_range_tree_indices_are_refused(kind, data, tmp_path):
    X, y = data
    if kind == "neighbours":
        model = NearestNeighbors(algorithm="kd_tree", leaf_size=5).fit(X.fillna(0.0))
        state = list(model._tree.__getstate__())
        state[1] = state[1].copy()
        state[1][3] = 10**6  # a sample index far outside the data
        model._tree.__setstate__(tuple(state))
    elif kind == "forest":
        model = RandomForestRegressor(3, random_state=0).fit(X, y)
        tree = model.estimators_[1].tree_
        state = tree.__getstate__()
        state["nodes"]["left_child"][0] = 10**6  # would read far outside the node array at predict
        tree.__setstate__(state)
    else:
        model = GradientBoostingEnsembleRegressor(n_members=2, max_iter=3, random_state=0).fit(X, y)
        model.estimators_[0]._predictors[1][0].nodes["feature_idx"][0] = 500
    path = save_model(model, tmp_path / "bad.matloop")
    with pytest.raises(UntrustedModelError, match="out-of-range"):
        load_model(path)


def test_nearest_neighbour_models_round_trip(data, tmp_path):
    X, _ = data
    model = NearestNeighbors(n_neighbors=3, leaf_size=5).fit(X.fillna(0.0))
    loaded = load_model(save_model(model, tmp_path / "nn.matloop"))
    for a, b in zip(model.kneighbors(X.fillna(0.0)), loaded.kneighbors(X.fillna(0.0)), strict=True):
        np.testing.assert_array_equal(a, b)


class _Malicious:
    def __reduce__(self):
        return (os.system, ("echo should-never-run",))


def test_pickle_and_foreign_files_are_refused_with_clear_errors(forest_file, tmp_path):
    pickled = tmp_path / "model.pkl"
    pickled.write_bytes(pickle.dumps(_Malicious()))
    with pytest.raises(ForeignModelFileError, match="pickle"):
        load_model(pickled)
    random_zip = tmp_path / "data.zip"
    with zipfile.ZipFile(random_zip, "w") as archive:
        archive.writestr("readme.txt", "not a model")
    with pytest.raises(ForeignModelFileError, match="not a matloop model"):
        load_model(random_zip)
    bare = tmp_path / "bare.skops"
    sio.dump(FeatureCleaner(), bare)
    with pytest.raises(ForeignModelFileError, match="bare skops"):
        load_model(bare)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ForeignModelFileError):
        read_model_metadata(text)
    truncated = tmp_path / "truncated.matloop"
    truncated.write_bytes(forest_file.read_bytes()[:200])
    with pytest.raises(ForeignModelFileError):
        load_model(truncated)
    with pytest.raises(ModelFileError, match="cannot read"):
        load_model(tmp_path / "missing.matloop")
    assert issubclass(ModelFileError, MatloopError)


def test_version_mismatches_are_explained(forest_file, tmp_path):
    parts = members(forest_file)
    header = json.loads(parts["matloop.json"])
    old = tmp_path / "old.matloop"
    write_container(old, dict(header, sklearn_version="0.24.2"), parts["model.skops"])
    with pytest.raises(ModelVersionError, match="scikit-learn 0.24.2"):
        load_model(old)
    with pytest.warns(UserWarning, match="0.24.2"):
        assert isinstance(load_model(old, allow_version_mismatch=True), RandomForestRegressor)
    newer = tmp_path / "newer.matloop"
    write_container(newer, dict(header, format_version=99), parts["model.skops"])
    with pytest.raises(ModelVersionError, match="format 99"):
        load_model(newer)
    renamed = tmp_path / "renamed.matloop"
    write_container(renamed, dict(header, estimator="matloop.models.gp.GaussianProcessRegressor"),
                    parts["model.skops"])
    with pytest.raises(UntrustedModelError, match="header says"):
        load_model(renamed)


class _Shifted(FeatureCleaner):
    """A type outside matloop and scikit-learn: not loadable unless explicitly trusted."""


def test_unknown_types_need_explicit_trust(data, tmp_path, monkeypatch):
    X, _ = data
    model = _Shifted().fit(X)
    with pytest.raises(UntrustedModelError, match="_Shifted"):
        save_model(model, tmp_path / "shifted.matloop")
    monkeypatch.setattr(persistence, "_registered", set())
    name = f"{_Shifted.__module__}._Shifted"
    persistence.register_trusted_types(name)
    path = save_model(model, tmp_path / "shifted.matloop")
    np.testing.assert_array_equal(load_model(path).transform(X), model.transform(X))
    persistence._registered.clear()
    with pytest.raises(UntrustedModelError, match="_Shifted"):
        load_model(path)
    assert isinstance(load_model(path, trusted=[name]), _Shifted)
    with pytest.raises(ModelFileError, match="not fitted"):
        save_model(RandomForestRegressor(), tmp_path / "unfitted.matloop")
