"""Model files are compacted on save (issue 15: 48 MB for expt_gap) and predict exactly as before saving."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from matloop.datasets import load
from matloop.models import ExtraTreesRegressor, RandomForestRegressor, load_model, save_model
from matloop.models.automodel import AutoModel
from matloop.models.pipeline import MaterialModel
from matloop.models.shrink import compact_model, float32_floor


@pytest.fixture(scope="module")
def fitted():
    ds = load("matbench_expt_gap")
    frame = ds.frame.sample(160, random_state=1).reset_index(drop=True)
    candidates = {"rf": RandomForestRegressor(30, random_state=0, noise="oob"),
                  "et": ExtraTreesRegressor(30, max_features=0.5, random_state=0, noise="oob"),
                  "stump": RandomForestRegressor(30, max_depth=1, random_state=0, noise="oob")}
    model = MaterialModel(AutoModel(candidates=candidates, cv=3, cv_repeats=1, redundancy=1.0),
                          kind="composition").fit(frame[ds.input].iloc[:120], frame[ds.target].iloc[:120])
    return model, frame[ds.input].iloc[120:]


def test_saved_model_predicts_exactly_as_before_and_is_smaller(fitted, tmp_path):
    model, new = fitted
    auto = model.estimator_
    assert "stump" not in auto.weights_ and "stump" in auto.estimators_  # a candidate the ensemble left out
    before = model.predict_table(new)
    full, small = tmp_path / "full.model", tmp_path / "small.model"
    save_model(model, full, compact=False)
    save_model(model, small)
    assert small.stat().st_size < 0.95 * full.stat().st_size
    loaded = load_model(small)
    after = loaded.predict_table(new)
    assert list(after.columns) == list(before.columns)
    numbers = before.select_dtypes("number").columns
    np.testing.assert_allclose(after[numbers].to_numpy(float), before[numbers].to_numpy(float), rtol=0, atol=1e-9)
    assert (after["in_domain"] == before["in_domain"]).all()
    assert set(loaded.estimator_.estimators_) == {auto.variants_[v][0] for v in auto.weights_}
    assert "stump" in loaded.estimator_.cv_scores_  # the choice stays documented
    # the model in memory is untouched
    assert "stump" in model.estimator_.estimators_
    pd.testing.assert_frame_equal(model.predict_table(new), before)


def test_compacted_trees_take_the_same_branch_for_every_float32_input(fitted):
    model, _ = fitted
    compact = compact_model(model)
    rf, rf2 = model.estimator_.estimators_["rf"], compact.estimator_.estimators_["rf"]
    t, t2 = rf.estimators_[0].tree_, rf2.estimators_[0].tree_
    split = t.children_left != -1
    assert (t2.threshold[split] <= t.threshold[split]).all() and not np.array_equal(t.threshold, t2.threshold)
    # inputs right at, just below and just above every threshold, in float32 as the trees see them
    x = t.threshold[split].astype(np.float32)
    probes = np.concatenate([x, np.nextafter(x, np.float32(np.inf)), np.nextafter(x, np.float32(-np.inf))])
    X = np.tile(probes[:, None], (1, t.n_features)).astype(np.float32)
    np.testing.assert_array_equal(t.apply(X), t2.apply(X))


def test_float32_floor_is_the_largest_float32_not_above():
    values = np.array([0.1, -0.1, 1.0, 3.0000001, -2.5e-40, 1e39, -1e39, 0.0])
    low = float32_floor(values)
    assert (low <= values).all()
    assert np.array_equal(low.astype(np.float32).astype(np.float64), low)  # float32 numbers
    with np.errstate(over="ignore"):
        above = np.nextafter(low.astype(np.float32), np.float32(np.inf)).astype(np.float64)
    assert (above > values).all()


def test_compacted_node_records_carry_no_allocator_garbage(fitted):
    model, _ = fitted
    tree = compact_model(model).estimator_.estimators_["rf"].estimators_[0].tree_
    nodes = tree.__getstate__()["nodes"]
    used = np.zeros(nodes.dtype.itemsize, dtype=bool)
    for name in nodes.dtype.names:
        field, offset = nodes.dtype.fields[name][:2]
        used[offset:offset + field.itemsize] = True
    raw = np.frombuffer(nodes.tobytes(), dtype=np.uint8).reshape(len(nodes), nodes.dtype.itemsize)
    assert (~used).any() and (raw[:, ~used] == 0).all()
