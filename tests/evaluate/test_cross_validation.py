"""cross_validate: cloning per fold, metrics per fold and pooled, predictions, timings, JSON."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import BayesianRidge, LogisticRegression, Ridge
from sklearn.metrics import roc_auc_score

from matloop import InputError
from matloop.evaluate import (
    CLASSIFICATION_METRICS,
    REGRESSION_METRICS,
    FoldColumnSplit,
    KFold,
    LeaveOneElementOut,
    cross_validate,
    regression_metrics,
)
from matloop.models.conformal import ConformalRegressor


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(120, 4)), columns=list("abcd"))
    y = X @ np.array([1.0, -2.0, 0.5, 0.0]) + rng.normal(0, 0.3, 120)
    return X, y.to_numpy()


def test_regression_with_std(data):
    X, y = data
    est = BayesianRidge()
    res = cross_validate(est, X, y, KFold(5, random_state=0))
    assert not hasattr(est, "coef_")  # the given estimator is cloned, never fitted
    assert len(res.folds) == 5 and res.n_samples == 120
    assert set(res.mean) == set(REGRESSION_METRICS)
    preds = res.predictions
    assert np.array_equal(np.sort(preds["index"]), np.arange(120))
    np.testing.assert_allclose(preds["y_true"], y[preds["index"]])
    for fold in res.folds:  # per-fold metrics are those of that fold's predictions
        part = preds[preds["fold"] == fold["fold"]]
        again = regression_metrics(part["y_true"], part["prediction"], part["std"])
        assert fold["metrics"]["mae"] == pytest.approx(again["mae"])
        assert fold["metrics"]["nll"] == pytest.approx(again["nll"])
        assert fold["fit_seconds"] > 0 and fold["predict_seconds"] > 0
    assert res.mean["mae"] == pytest.approx(np.mean([f["metrics"]["mae"] for f in res.folds]))
    assert res.pooled["mae"] == pytest.approx(np.mean(np.abs(preds["y_true"] - preds["prediction"])))
    assert 0.2 < res.mean["mae"] < 0.4  # noise sd 0.3: the linear model is near the noise floor
    assert 0.85 < res.pooled["coverage_95"] <= 1.0
    table = res.fold_metrics
    assert list(table["fold"]) == [0, 1, 2, 3, 4] and "fit_seconds" in table


def test_to_dict_is_strict_json(data):
    X, y = data
    res = cross_validate(Ridge(), X, y, KFold(3))  # no std: uncertainty metrics undefined
    d = res.to_dict()
    text = json.dumps(d, allow_nan=False)
    back = json.loads(text)
    assert back["mean"]["miscalibration_area"] is None and back["mean"]["mae"] > 0
    assert len(back["folds"]) == 3 and back["folds"][0]["metrics"]["coverage_95"] is None
    assert back["fit_seconds"] > 0 and back["n_folds"] == 3


def test_factory_called_per_fold_and_intervals(data):
    X, y = data
    calls = []

    def factory():
        calls.append(1)
        return ConformalRegressor(BayesianRidge(), method="split", alpha=0.05)

    res = cross_validate(factory, X.to_numpy(), y, FoldColumnSplit(np.arange(120) % 4))
    assert len(calls) == 4
    preds = res.predictions
    assert {"lower", "upper"} <= set(preds.columns)
    inside = (preds["y_true"] >= preds["lower"]) & (preds["y_true"] <= preds["upper"])
    assert res.pooled["coverage_95"] == pytest.approx(inside.mean())


def test_overlapping_test_sets():
    formulas = ["FeO", "Fe2O3", "NaCl", "NaF", "FeF2", "NaO2", "FeCl2", "Na2O", "LiF", "LiCl"]
    X = np.random.default_rng(1).normal(size=(10, 2))
    y = X[:, 0]
    sp = LeaveOneElementOut(formulas, elements=["Fe", "Na"], min_samples=2)
    res = cross_validate(Ridge(), X, y, sp)
    assert len(res.folds) == 2
    assert len(res.predictions) == 4 + 4  # Fe rows and Na rows
    oof = res.oof()
    assert len(oof) == 8 and oof["index"].is_monotonic_increasing


def test_classification(data):
    X, y = data
    labels = (y > 0).astype(int)
    res = cross_validate(LogisticRegression(), X, labels, KFold(4), task="classification")
    assert set(res.mean) == set(CLASSIFICATION_METRICS)
    preds = res.predictions
    assert res.pooled["roc_auc"] == pytest.approx(roc_auc_score(preds["y_true"], preds["probability"]))
    assert res.mean["roc_auc"] > 0.9
    assert json.loads(json.dumps(res.to_dict(), allow_nan=False))["task"] == "classification"


def test_bad_input(data):
    X, y = data
    with pytest.raises(InputError):
        cross_validate(Ridge(), X, y[:-1], KFold(3))
    bad = y.copy()
    bad[5] = np.nan
    with pytest.raises(InputError) as err:
        cross_validate(Ridge(), X, bad, KFold(3))
    assert err.value.table["row"].tolist() == [6]
    with pytest.raises(ValueError):
        cross_validate(Ridge(), X, y, KFold(3), task="ranking")
    with pytest.raises(InputError, match="cannot split"):
        cross_validate(Ridge(), X[:3], y[:3], KFold(5))  # more folds than rows
