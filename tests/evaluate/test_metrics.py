"""Point metrics against scikit-learn / scipy and hand values."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn import metrics as skm

from matloop import InputError
from matloop.evaluate import metrics as M


@pytest.fixture
def reg():
    rng = np.random.default_rng(0)
    y = rng.normal(3, 2, 200)
    return y, y + rng.normal(0, 0.7, 200)


def test_regression_metrics_match_sklearn(reg):
    y, p = reg
    m = M.regression_metrics(y, p)
    assert tuple(m) == M.REGRESSION_METRICS
    assert m["mae"] == pytest.approx(skm.mean_absolute_error(y, p))
    assert m["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y, p)))
    assert m["r2"] == pytest.approx(skm.r2_score(y, p))
    assert m["mape"] == pytest.approx(skm.mean_absolute_percentage_error(y, p))
    assert m["max_error"] == pytest.approx(skm.max_error(y, p))
    assert m["spearman"] == pytest.approx(stats.spearmanr(y, p).statistic)
    assert all(np.isnan(m[k]) for k in ("miscalibration_area", "nll", "coverage_95", "spearman_error_std"))


def test_hand_values():
    y, p = [1.0, 2.0, 4.0], [2.0, 2.0, 2.0]
    assert M.mae(y, p) == pytest.approx(1.0)
    assert M.rmse(y, p) == pytest.approx(np.sqrt(5 / 3))
    assert M.max_error(y, p) == 2.0
    assert M.mape(y, p) == pytest.approx((1 + 0 + 0.5) / 3)
    assert np.isnan(M.mape([0.0, 1.0], [1.0, 1.0]))  # undefined with a zero target
    assert np.isnan(M.r2([1.0], [1.0]))
    assert np.isnan(M.spearman([1, 1, 1], [1, 2, 3]))


def test_explicit_interval_sets_coverage_95(reg):
    y, p = reg
    lower, upper = p - 0.1, p + 0.1
    m = M.regression_metrics(y, p, std=np.full(len(y), 0.7), lower=lower, upper=upper)
    assert m["coverage_95"] == pytest.approx(np.mean((y >= lower) & (y <= upper)))
    with pytest.raises(InputError):
        M.regression_metrics(y, p, lower=lower)


def test_bad_input_reports_rows():
    with pytest.raises(InputError) as err:
        M.regression_metrics([1.0, np.nan, 3.0, np.inf], [1, 2, 3, 4])
    assert err.value.table["row"].tolist() == [2, 4]
    with pytest.raises(InputError):
        M.mae([1.0, 2.0], [1.0])


def test_classification_metrics_match_sklearn():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    proba = np.clip(0.3 * y + rng.uniform(0, 0.7, 300), 0, 1)
    hard = (proba >= 0.5).astype(int)
    m = M.classification_metrics(y, proba)
    assert tuple(m) == M.CLASSIFICATION_METRICS
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba))
    assert m["pr_auc"] == pytest.approx(skm.average_precision_score(y, proba))
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, hard))
    assert m["precision"] == pytest.approx(skm.precision_score(y, hard))
    assert m["recall"] == pytest.approx(skm.recall_score(y, hard))
    assert m["f1"] == pytest.approx(skm.f1_score(y, hard))
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, hard))
    # a predict_proba matrix gives the same answer
    assert M.classification_metrics(y, np.c_[1 - proba, proba]) == m
    # threshold moves the hard labels
    m2 = M.classification_metrics(y, proba, threshold=0.7)
    assert m2["recall"] == pytest.approx(skm.recall_score(y, (proba >= 0.7).astype(int)))
    assert m2["roc_auc"] == m["roc_auc"]


def test_string_labels_and_one_class():
    y = np.array(["metal", "nonmetal", "metal", "nonmetal"])
    proba = [0.2, 0.9, 0.4, 0.3]  # probability of the second (sorted) class: 'nonmetal'
    m = M.classification_metrics(y, proba)
    assert m["roc_auc"] == pytest.approx(0.75)  # 3 of 4 (nonmetal, metal) pairs ranked right
    assert m["recall"] == pytest.approx(0.5)
    one = M.classification_metrics([1, 1, 1], [0.9, 0.8, 0.2])
    assert np.isnan(one["roc_auc"]) and one["accuracy"] == pytest.approx(2 / 3)
    with pytest.raises(InputError):
        M.classification_metrics([0, 1], [0.5, 1.5])
    with pytest.raises(InputError):
        M.classification_metrics(["a", "b", "c"], [0.1, 0.2, 0.3])


def test_confusion_matrix_matches_sklearn():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 100)
    proba = rng.uniform(size=100)
    cm = M.confusion_matrix(y, proba)
    assert isinstance(cm, pd.DataFrame)
    np.testing.assert_array_equal(cm.to_numpy(), skm.confusion_matrix(y, (proba >= 0.5).astype(int)))
    assert list(cm.index) == ["true 0", "true 1"]
