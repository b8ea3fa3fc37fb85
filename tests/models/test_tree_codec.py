"""Packed tree lists (model format 3): exact round trips, smaller files, and refusal of tampered streams."""

from __future__ import annotations

import hashlib
import json
import lzma
import zipfile

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.ensemble import ExtraTreesRegressor as SkExtraTrees
from sklearn.ensemble import RandomForestClassifier
from sklearn.ensemble import RandomForestRegressor as SkForest

from matloop.datasets import load
from matloop.models import (
    ExtraTreesRegressor,
    ModelFileError,
    RandomForestRegressor,
    UntrustedModelError,
    load_model,
    read_model_metadata,
    save_model,
)
from matloop.models.automodel import AutoModel
from matloop.models.model_checks import header_digest
from matloop.models.pipeline import MaterialModel
from matloop.models.shrink import compact_model
from matloop.models.tree_codec import PackedTrees, decode_trees, encode_trees, pack, pack_model
from matloop.models.tree_columns import preorder_children


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(240, 6))
    X[rng.random(X.shape) < 0.03] = np.nan  # scikit-learn's missing-value routing must survive too
    y = 2 * np.nan_to_num(X[:, 0]) + np.sin(np.nan_to_num(X[:, 1])) + 0.1 * rng.normal(size=240)
    return X, y


def _assert_same_trees(a, b) -> None:
    """Every node field and value of every tree, bit for bit."""
    sa, sb = a.__getstate__(), b.__getstate__()
    assert sa["node_count"] == sb["node_count"] and sa["max_depth"] == sb["max_depth"]
    n = sa["node_count"]
    for field in sa["nodes"].dtype.names:
        assert sa["nodes"][field][:n].tobytes() == sb["nodes"][field][:n].tobytes(), field
    assert sa["values"][:n].tobytes() == sb["values"][:n].tobytes()


def _models(X, y):
    Xf = np.nan_to_num(X)
    yield "matloop rf", RandomForestRegressor(25, random_state=0, noise="oob").fit(Xf, y)
    yield "matloop et, local noise", ExtraTreesRegressor(25, random_state=1, noise="local", point="median").fit(Xf, y)
    yield "sklearn best-first", SkForest(12, max_leaf_nodes=20, random_state=0).fit(X, y)
    yield "sklearn with missing values", SkForest(12, random_state=0).fit(X, y)
    yield "sklearn two outputs", SkExtraTrees(8, random_state=0).fit(Xf, np.c_[y, -y**2])
    yield "sklearn 3 classes", RandomForestClassifier(10, random_state=0).fit(X, np.digitize(y, [-1, 1]))


def test_every_tree_field_round_trips_exactly(data, tmp_path):
    X, y = data
    for label, model in _models(X, y):
        trees = [t.tree_ for t in model.estimators_]
        layout, blob = encode_trees(trees)
        back = decode_trees(layout, blob, limit=2**40)
        for a, b in zip(trees, back, strict=True):
            _assert_same_trees(a, b)
        if label == "sklearn best-first":
            assert layout["structure"] == "explicit"  # best-first numbering is not pre-order
        elif label != "sklearn best-first":
            assert layout["structure"] == "preorder", label
        path, plain = tmp_path / "packed.model", tmp_path / "plain.model"
        save_model(model, path)
        save_model(model, plain, pack_trees=False)
        assert read_model_metadata(path)["format_version"] == 3
        assert read_model_metadata(plain)["format_version"] == 2  # what older matloop reads
        assert path.stat().st_size < 0.6 * plain.stat().st_size, label
        loaded = load_model(path)
        assert not any(isinstance(v, PackedTrees) for v in vars(loaded).values())
        Xq = np.nan_to_num(X) if "matloop" in label else X
        if hasattr(model, "predict_proba"):
            np.testing.assert_array_equal(loaded.predict_proba(Xq), model.predict_proba(Xq))
        elif label.startswith("matloop"):
            for a, b in zip(loaded.predict(Xq, return_std=True), model.predict(Xq, return_std=True), strict=True):
                np.testing.assert_array_equal(a, b)
        else:
            np.testing.assert_array_equal(loaded.predict(Xq), model.predict(Xq))
        np.testing.assert_array_equal(loaded.feature_importances_, model.feature_importances_)
        for a, b in zip(loaded.estimators_, compact_model(model).estimators_, strict=True):  # floored thresholds
            _assert_same_trees(a.tree_, b.tree_)
            assert a.get_params() == b.get_params()


def test_the_model_in_memory_is_not_modified(data):
    X, y = data
    model = RandomForestRegressor(5, random_state=0, noise="oob").fit(np.nan_to_num(X), y)
    trees = list(model.estimators_)
    packed = pack_model(model)
    assert isinstance(packed.estimators_, PackedTrees) and packed is not model
    # one template estimator and the trees' seeds, not one saved object per tree
    assert packed.estimators_.varying_ == {"random_state": [t.random_state for t in trees]}
    assert model.estimators_ == trees and all(hasattr(t, "tree_") for t in trees)


def test_trees_the_codec_cannot_share_a_layout_for_are_left_unpacked(data):
    X, y = data
    Xf = np.nan_to_num(X)
    wide, narrow = SkForest(2, random_state=0).fit(Xf, y), SkForest(2, random_state=0).fit(Xf[:, :3], y)
    assert pack([wide.estimators_[0], narrow.estimators_[0]]) is None  # 6 and 3 input columns
    assert isinstance(pack(wide.estimators_), PackedTrees)


@pytest.fixture(scope="module")
def material(tmp_path_factory):
    """An AutoModel ensemble of forests on 150 rows of the bundled Matbench expt_gap."""
    ds = load("matbench_expt_gap")
    frame = ds.frame.sample(200, random_state=3).reset_index(drop=True)
    candidates = {"rf": RandomForestRegressor(30, random_state=0, noise="oob"),
                  "et": ExtraTreesRegressor(30, max_features=0.5, random_state=0, noise="local")}
    model = MaterialModel(AutoModel(candidates=candidates, cv=3, cv_repeats=1, redundancy=1.0),
                          kind="composition").fit(frame[ds.input].iloc[:150], frame[ds.target].iloc[:150])
    folder = tmp_path_factory.mktemp("codec")
    path = save_model(model, folder / "gap.model")
    return model, frame[ds.input].iloc[150:], path


def test_bundled_data_predict_table_and_std_are_unchanged(material, tmp_path):
    model, new, path = material
    loaded = load_model(path)
    before, after = model.predict_table(new), loaded.predict_table(new)
    assert list(after.columns) == list(before.columns)
    numbers = before.select_dtypes("number").columns
    assert {"prediction", "std"} <= set(numbers)
    np.testing.assert_allclose(after[numbers].to_numpy(float), before[numbers].to_numpy(float), rtol=0, atol=1e-9)
    assert (after["in_domain"] == before["in_domain"]).all()
    for a, b in zip(loaded.predict(new, return_std=True), model.predict(new, return_std=True), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)
    old = tmp_path / "v2.model"
    save_model(model, old, pack_trees=False)
    assert path.stat().st_size < 0.6 * old.stat().st_size
    pd.testing.assert_frame_equal(load_model(old).predict_table(new), before)  # format 2 files still load


def test_preorder_children_follow_from_the_leaf_flags():
    # root(0) -> 1, 4; node 1 -> 2, 3; node 4 -> 5, 6; then a single-leaf tree
    leaf = np.array([0, 0, 1, 1, 0, 1, 1, 1], dtype=bool)
    left, right = preorder_children(leaf, np.array([7, 1]))
    assert left.tolist() == [1, 2, -1, -1, 5, -1, -1, -1] and right.tolist() == [4, 3, -1, -1, 6, -1, -1, -1]
    for bad in ([0, 1], [1, 1, 0], [0, 1, 1, 1]):  # incomplete, or the tree ends before its last node
        with pytest.raises(ValueError):
            preorder_children(np.array(bad, dtype=bool), np.array([len(bad)]))


# ------------------------------------------------------------------------------------------- tampering
def _forge_packed(path, source, edit) -> None:
    """Re-write ``source`` (a saved format-3 file) with its packed trees edited, both checksums
    recomputed as a forger would."""
    with zipfile.ZipFile(source) as archive:
        header = json.loads(archive.read("matloop.json"))
    model = pack_model(load_model(source))
    packed = next(v for v in _walk(model) if isinstance(v, PackedTrees))
    edit(packed)
    payload = sio.dumps(model, compression=zipfile.ZIP_DEFLATED)
    header = dict(header, payload_sha256=hashlib.sha256(payload).hexdigest())
    header["header_sha256"] = header_digest(header)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("matloop.json", json.dumps(header))
        archive.writestr("model.skops", payload)


def _walk(model):
    from matloop.models.model_checks import walk_objects

    return list(walk_objects(model))


def _reencode(packed, change) -> None:
    trees = decode_trees(packed.layout_, packed.blob_.tobytes(), 2**40)
    state = trees[0].__getstate__()
    change(state)
    trees[0].__setstate__(state)
    packed.layout_, blob = encode_trees(trees)
    packed.blob_ = np.frombuffer(blob, dtype=np.uint8).copy()


def _feature_out_of_range(packed):
    def change(state):
        state["nodes"]["feature"][0] = 10_000

    _reencode(packed, change)


def _child_out_of_range(packed):
    def change(state):
        state["nodes"]["right_child"][0] = 10**6  # no longer pre-order: stored explicitly

    _reencode(packed, change)


def _flipped_byte(packed):
    packed.blob_ = packed.blob_.copy()
    packed.blob_[len(packed.blob_) // 2] ^= 0x40


def _bomb_counts(packed):
    packed.layout_ = dict(packed.layout_, node_counts=[10**9] * len(packed.layout_["node_counts"]))


def _short_stream(packed):
    packed.layout_ = dict(packed.layout_, raw_bytes=packed.layout_["raw_bytes"] + 100)


def _not_a_tree(packed):
    raw = bytearray(lzma.decompress(packed.blob_.tobytes()))
    raw[0] ^= 0x80  # the root's leaf flag: the pre-order bits no longer describe complete trees
    packed.blob_ = np.frombuffer(lzma.compress(bytes(raw)), dtype=np.uint8).copy()


def _missing_column(packed):
    packed.layout_ = dict(packed.layout_, columns=packed.layout_["columns"][:-1])


def _fewer_trees(packed):
    packed.varying_ = {key: values[:-1] for key, values in packed.varying_.items()}


def _template_with_a_tree(packed):
    packed.varying_ = dict(packed.varying_, tree_=[None] * len(packed.layout_["node_counts"]))


def _object_in_variations(packed):
    packed.varying_ = {key: [{"a": 1}] * len(values) for key, values in packed.varying_.items()}


EDITS = [_feature_out_of_range, _child_out_of_range, _flipped_byte, _bomb_counts, _short_stream, _not_a_tree,
         _missing_column, _fewer_trees, _template_with_a_tree, _object_in_variations]


@pytest.mark.parametrize("edit", EDITS, ids=lambda f: f.__name__.strip("_"))
def test_tampered_packed_trees_are_refused(material, edit, tmp_path):
    _, _, path = material
    forged = tmp_path / "forged.model"
    _forge_packed(forged, path, edit)
    with pytest.raises(UntrustedModelError) as info:
        load_model(forged)
    assert isinstance(info.value, ModelFileError)
    if edit in (_feature_out_of_range, _child_out_of_range):
        assert "out-of-range" in str(info.value)
    if edit is _bomb_counts:
        assert "MATLOOP_MAX_MODEL_BYTES" in str(info.value)


def test_the_forger_helper_itself_keeps_a_valid_file_loadable(material, tmp_path):
    model, new, path = material
    forged = tmp_path / "same.model"
    _forge_packed(forged, path, lambda packed: None)
    pd.testing.assert_frame_equal(load_model(forged).predict_table(new), model.predict_table(new))
