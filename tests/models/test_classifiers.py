"""Calibrated classifiers: honest probabilities on imbalanced data, uncertainty of the probability."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import balanced_accuracy_score, roc_auc_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from matloop import InputError
from matloop.models import CalibratedBoostingClassifier, CalibratedForestClassifier


@pytest.fixture(scope="module")
def imbalanced():
    """Binary problem with 15% positives and 5% flipped labels: 600 training, 1,500 test rows."""
    X, y = make_classification(n_samples=2100, n_features=10, n_informative=5, weights=[0.85, 0.15],
                               flip_y=0.05, class_sep=0.8, random_state=0)
    return X[:600], y[:600], X[600:], y[600:]


def calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: mean |observed rate - mean probability| over equal-count bins."""
    order = np.argsort(p)
    return float(np.mean([abs(y[idx].mean() - p[idx].mean()) for idx in np.array_split(order, bins)]))


@pytest.mark.parametrize("cls", [CalibratedForestClassifier, CalibratedBoostingClassifier])
def test_probabilities_are_calibrated_on_imbalanced_data(imbalanced, cls):
    X, y, X_test, y_test = imbalanced
    kwargs = {"n_estimators": 100} if cls is CalibratedForestClassifier else {"max_iter": 30, "learning_rate": 0.2}
    model = cls(random_state=0, **kwargs).fit(X, y)
    assert model.method_ == "sigmoid"  # fewer than 1,000 rows
    p = model.predict_proba(X_test)[:, 1]
    assert roc_auc_score(y_test, p) > 0.85
    assert abs(p.mean() - y_test.mean()) < 0.03
    raw = RandomForestClassifier(100, class_weight="balanced", random_state=0).fit(X, y).predict_proba(X_test)[:, 1]
    assert calibration_error(y_test, p) < 0.05
    assert calibration_error(y_test, p) < calibration_error(y_test, raw)
    assert balanced_accuracy_score(y_test, model.predict(X_test)) > 0.7


def test_uncertainty_of_the_probability(imbalanced):
    X, y, X_test, _ = imbalanced
    model = CalibratedForestClassifier(50, cv=3, random_state=0).fit(X, y)
    p = model.predict_proba(X_test)[:, 1]
    trees = model.predict_std(X_test)
    assert trees.shape == (len(X_test),) and (trees >= 0).all() and trees.mean() > 0.05
    np.testing.assert_allclose(model.predict_std(X_test, kind="bernoulli"), np.sqrt(p * (1 - p)))
    folds = model.predict_std(X_test, kind="folds")
    assert folds.shape == (len(X_test),) and folds.mean() > 0
    # the trees disagree more where the calibrated probability is undecided
    undecided = np.abs(p - 0.5) < np.quantile(np.abs(p - 0.5), 0.2)
    assert trees[undecided].mean() > trees[~undecided].mean()
    with pytest.raises(ValueError, match="kind"):
        CalibratedBoostingClassifier(max_iter=5, cv=2).fit(X[:100], y[:100]).predict_std(X_test, kind="trees")


def test_multiclass_text_labels_and_isotonic():
    X, y = make_classification(n_samples=300, n_features=6, n_informative=4, n_classes=3, random_state=1)
    labels = np.array(["metal", "semiconductor", "insulator"])[y]
    model = CalibratedForestClassifier(30, method="isotonic", cv=3, random_state=0).fit(pd.DataFrame(X), labels)
    assert model.method_ == "isotonic"
    assert list(model.classes_) == ["insulator", "metal", "semiconductor"]
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert set(model.predict(X)) <= set(labels) and np.mean(model.predict(X) == labels) > 0.8
    assert model.predict_std(X).shape == (300, 3)


def test_bad_labels_are_reported():
    X = np.random.default_rng(0).normal(size=(12, 3))
    with pytest.raises(InputError) as info:
        CalibratedForestClassifier(10).fit(X, pd.Series([0, 1] * 5 + [None, 1], name="is_metal"))
    assert info.value.table["row"].tolist() == [11] and info.value.table["column"].tolist() == ["is_metal"]
    with pytest.raises(InputError, match="class 2 has 1 sample"):
        CalibratedForestClassifier(10).fit(X, [0, 1] * 5 + [1, 2])
    with pytest.raises(ValueError, match="1 class"):
        CalibratedForestClassifier(10).fit(X, np.zeros(12))


# check_class_weight_classifiers expects extreme class weights to push predictions to one class;
# our calibrator is fitted on held-out, unweighted rows precisely to undo that shift.
CALIBRATION_UNDOES_WEIGHTS = {"check_class_weight_classifiers"}


@parametrize_with_checks([CalibratedForestClassifier(10, cv=3, random_state=0),
                          CalibratedBoostingClassifier(max_iter=20, cv=3, random_state=0)])
def test_scikit_learn_compatible(estimator, check):
    if getattr(check, "func", check).__name__ in CALIBRATION_UNDOES_WEIGHTS:
        pytest.skip("calibration on held-out rows deliberately undoes the class weights' shift of probabilities")
    check(estimator)
