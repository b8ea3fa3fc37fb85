"""Splitters: partitions, groups never straddle folds, extrapolation, the CLI factory."""

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_blobs

from matloop import InputError
from matloop.evaluate import splitters as S
from matloop.io import Dataset, parse_formulas

FORMULAS = ["Fe2O3", "FeO", "Fe3O4", "NaCl", "Na2Cl2", "LiF", "Li2O", "LiFeO2", "NaFeO2", "Al2O3",
            "AlN", "GaN", "GaAs", "InAs", "InP", "Fe", "Al", "NaF", "Ga2O3", "In2O3"]


def _tests(splitter, X, y=None, groups=None):
    return [test for _, test in splitter.split(X, y, groups)]


def _assert_partition(splits, n):
    tests = np.concatenate([t for _, t in splits])
    assert np.array_equal(np.sort(tests), np.arange(n))
    for train, test in splits:
        assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == n


def test_kfold_shuffles_and_is_deterministic():
    X = np.zeros((23, 2))
    a, b = list(S.KFold(5, random_state=1).split(X)), list(S.KFold(5, random_state=1).split(X))
    _assert_partition(a, 23)
    assert all(np.array_equal(x[1], y[1]) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0][1], np.arange(len(a[0][1])))  # shuffled, not the first rows
    y = np.r_[np.zeros(20), np.ones(10)]
    for _, test in S.StratifiedKFold(5).split(np.zeros((30, 1)), y):
        assert y[test].sum() == 2


def test_fold_column_split():
    folds = np.array([2, 0, 1, 0, 2, 1, 1])
    sp = S.FoldColumnSplit(folds)
    splits = list(sp.split(np.zeros((7, 1))))
    assert sp.get_n_splits() == 3
    _assert_partition(splits, 7)
    np.testing.assert_array_equal(splits[0][1], [1, 3])  # fold 0 first
    np.testing.assert_array_equal(_tests(S.FoldColumnSplit(), np.zeros((7, 1)), groups=folds)[2], [0, 4])
    with pytest.raises(InputError) as err:
        list(S.FoldColumnSplit([0, None, 1, np.nan]).split(np.zeros((4, 1))))
    assert err.value.table["row"].tolist() == [2, 4]
    with pytest.raises(InputError):
        list(sp.split(np.zeros((5, 1))))  # wrong length


def test_loco_recovers_clusters_after_scaling():
    X, labels = make_blobs(n_samples=150, centers=3, cluster_std=0.3, random_state=0)
    X[:, 1] *= 1000.0  # a feature on another scale: clustering must standardise
    sp = S.LeaveOneClusterOut(n_clusters=3, seed=0)
    splits = list(sp.split(X))
    _assert_partition(splits, 150)
    for _, test in splits:  # each test set is exactly one true blob
        assert len(np.unique(labels[test])) == 1 and len(test) == 50
    again = S.LeaveOneClusterOut(n_clusters=3, seed=0).cluster(X)
    np.testing.assert_array_equal(sp.labels_, again)
    with pytest.raises(InputError):
        S.LeaveOneClusterOut(n_clusters=3).cluster(np.array([[1.0, np.nan], [2.0, 3.0], [4.0, 5.0]]))


def test_group_by_chemical_system_never_splits_a_system():
    comps = parse_formulas(FORMULAS)
    systems = np.array(comps.chemical_systems())
    sp = S.GroupByChemicalSystem(n_splits=4, compositions=comps, seed=0)
    splits = list(sp.split(np.zeros((len(FORMULAS), 1))))
    _assert_partition(splits, len(FORMULAS))
    for train, test in splits:
        assert not set(systems[train]) & set(systems[test])
    fe_o = [test for _, test in splits if 0 in test][0]
    assert {0, 1, 2} <= set(fe_o.tolist())  # Fe2O3, FeO, Fe3O4 share a fold
    # formulas as strings work too, and too few systems is an error
    assert len(list(S.GroupByChemicalSystem(4, FORMULAS).split(np.zeros((20, 1))))) == 4
    with pytest.raises(InputError, match="distinct chemical systems"):
        list(S.GroupByChemicalSystem(5, ["FeO", "Fe2O3", "NaCl"]).split(np.zeros((3, 1))))


def test_leave_one_element_out():
    sp = S.LeaveOneElementOut(FORMULAS, min_samples=3)
    splits = list(sp.split(np.zeros((20, 1))))
    comps = parse_formulas(FORMULAS)
    dense = comps.to_dense() > 0
    counts = dense.sum(axis=0)
    expected_z = np.flatnonzero((counts >= 3) & (len(FORMULAS) - counts >= 3))
    symbols = {3: "Li", 7: "N", 8: "O", 9: "F", 11: "Na", 13: "Al", 26: "Fe", 31: "Ga", 33: "As", 49: "In"}
    assert sp.elements_ == [symbols[z] for z in expected_z]
    assert "Fe" in sp.elements_ and "O" in sp.elements_
    for z, (train, test) in zip(expected_z, splits, strict=True):
        np.testing.assert_array_equal(test, np.flatnonzero(dense[:, z]))
        np.testing.assert_array_equal(train, np.flatnonzero(~dense[:, z]))
        assert len(test) >= 3 and len(train) >= 3
    assert "Cl" in sp.skipped_ and "P" in sp.skipped_  # too rare
    assert sp.get_n_splits() == len(splits)
    chosen = S.LeaveOneElementOut(FORMULAS, elements=["Fe", "P"], min_samples=3)
    assert len(list(chosen.split(np.zeros((20, 1))))) == 1 and "P" in chosen.skipped_
    with pytest.raises(InputError, match="unknown elements"):
        list(S.LeaveOneElementOut(FORMULAS, elements=["Xx"]).split(np.zeros((20, 1))))
    with pytest.raises(InputError, match="nothing to leave out"):
        list(S.LeaveOneElementOut(FORMULAS, min_samples=50).split(np.zeros((20, 1))))


def test_extrapolation_split():
    y = np.random.default_rng(0).permutation(100).astype(float)
    (train, test), = S.ExtrapolationSplit().split(np.zeros((100, 1)), y)
    assert sorted(y[test]) == list(range(90, 100)) and y[train].max() < y[test].min()
    (train, test), = S.ExtrapolationSplit(direction="min").split(np.zeros((100, 1)), y)
    assert sorted(y[test]) == list(range(10))
    ties = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9.0])  # ties at the boundary go to test
    (train, test), = S.ExtrapolationSplit().split(np.zeros((11, 1)), ties)
    assert set(test) == {8, 9, 10} and ties[train].max() < 9
    with pytest.raises(InputError):
        list(S.ExtrapolationSplit().split(np.zeros((5, 1)), np.ones(5)))
    with pytest.raises(InputError):
        list(S.ExtrapolationSplit().split(np.zeros((2, 1)), [1.0, np.nan]))


def test_make_splitter_names():
    frame = pd.DataFrame({"formula": FORMULAS, "y": np.arange(20.0), "fold": np.arange(20) % 4})
    ds = Dataset(frame=frame, input="formula", kind="composition", targets=["y"], direction={"y": "min"})
    assert isinstance(S.make_splitter("kfold"), S.KFold)
    assert isinstance(S.make_splitter("kfold", task="classification"), S.StratifiedKFold)
    assert S.make_splitter("repeated", n_splits=3, n_repeats=2).get_n_splits() == 6
    assert S.make_splitter("loco", n_splits=4, seed=3).n_clusters == 4
    group = S.make_splitter("group", n_splits=3, dataset=ds)
    assert len(list(group.split(frame))) == 3
    element = S.make_splitter("element", dataset=ds, min_samples=3)
    assert isinstance(element, S.LeaveOneElementOut)
    extra = S.make_splitter("extrapolation", dataset=ds)
    assert extra.direction == "min"
    col = S.make_splitter("column:fold", dataset=ds)
    assert col.get_n_splits() == 4
    with pytest.raises(InputError, match="no column 'nope'"):
        S.make_splitter("column:nope", frame=frame)
    with pytest.raises(InputError, match="unknown cross-validation"):
        S.make_splitter("random")
    with pytest.raises(InputError, match="compositions"):
        S.make_splitter("group")
    holes = frame.assign(fold=[0, None] * 10)
    with pytest.raises(InputError) as err:
        S.make_splitter("column:fold", frame=holes)
    assert err.value.table["row"].tolist()[:2] == [2, 4]
