"""Point-prediction metrics for regression and classification, keyed by fixed names.

Every validation run, the CLI's ``validate --json`` and the benchmark report the same keys, so
scripts can rely on them:

- regression: ``mae, rmse, r2, mape, max_error, spearman`` plus the uncertainty keys of
  :mod:`matloop.evaluate.uncertainty_metrics` (``miscalibration_area, nll, sharpness, coverage_68,
  coverage_95, spearman_error_std``), NaN where no standard deviation was given;
- classification: ``roc_auc, pr_auc, balanced_accuracy, precision, recall, f1, accuracy``.

A metric that is undefined on the data (R2 of one point, ROC-AUC with one class present, MAPE with a
zero target) is NaN rather than an error, so one bad fold does not abort a whole validation.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from matloop.errors import InputError, error_table

__all__ = [
    "REGRESSION_METRICS",
    "CLASSIFICATION_METRICS",
    "mae",
    "rmse",
    "r2",
    "mape",
    "max_error",
    "spearman",
    "regression_metrics",
    "classification_metrics",
    "confusion_matrix",
    "positive_proba",
]

REGRESSION_METRICS = (
    "mae", "rmse", "r2", "mape", "max_error", "spearman",
    "miscalibration_area", "nll", "sharpness", "coverage_68", "coverage_95", "spearman_error_std",
)
CLASSIFICATION_METRICS = ("roc_auc", "pr_auc", "balanced_accuracy", "precision", "recall", "f1", "accuracy")

# metrics where a larger value is better (the rest: smaller is better, coverage: closer to nominal)
HIGHER_IS_BETTER = {"r2", "spearman", "spearman_error_std", *CLASSIFICATION_METRICS}


def as_float_array(values: object, name: str) -> np.ndarray:
    """A 1-D float array; non-numeric or non-finite entries raise :class:`InputError` with their rows."""
    arr = np.asarray(values.to_numpy() if isinstance(values, pd.Series | pd.DataFrame) else values)
    arr = arr.reshape(-1) if arr.ndim > 1 and 1 in arr.shape else arr
    if arr.ndim != 1:
        raise InputError(f"{name} must be one-dimensional, got shape {arr.shape}")
    try:
        out = arr.astype(np.float64)
    except (TypeError, ValueError):
        out = pd.to_numeric(pd.Series(arr, dtype=object), errors="coerce").to_numpy(np.float64)
    bad = ~np.isfinite(out)
    if bad.any():
        records = [{"row": int(i) + 1, "column": name, "value": arr[i], "reason": "not a finite number"}
                   for i in np.flatnonzero(bad)]
        raise InputError(f"{name} has values that are not finite numbers", error_table(records))
    return out


def _pair(y_true: object, y_pred: object) -> tuple[np.ndarray, np.ndarray]:
    y = as_float_array(y_true, "y_true")
    p = as_float_array(y_pred, "y_pred")
    if len(y) != len(p):
        raise InputError(f"y_true has {len(y)} values but y_pred has {len(p)}")
    if len(y) == 0:
        raise InputError("cannot score an empty set of predictions")
    return y, p


def mae(y_true: object, y_pred: object) -> float:
    """Mean absolute error."""
    y, p = _pair(y_true, y_pred)
    return float(np.mean(np.abs(y - p)))


def rmse(y_true: object, y_pred: object) -> float:
    """Root mean squared error."""
    y, p = _pair(y_true, y_pred)
    return float(np.sqrt(np.mean((y - p) ** 2)))


def r2(y_true: object, y_pred: object) -> float:
    """Coefficient of determination; NaN with fewer than two points or a constant target."""
    y, p = _pair(y_true, y_pred)
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    if len(y) < 2 or ss_tot == 0.0:
        return float("nan")
    return 1.0 - float(np.sum((y - p) ** 2)) / ss_tot


def mape(y_true: object, y_pred: object) -> float:
    """Mean absolute percentage error as a fraction (0.1 = 10 %), as scikit-learn reports it.

    NaN when any true value is zero: the relative error of such a point is undefined, and
    scikit-learn's epsilon substitute would report numbers of order 1e15.
    """
    y, p = _pair(y_true, y_pred)
    if np.any(y == 0):
        return float("nan")
    return float(np.mean(np.abs((y - p) / y)))


def max_error(y_true: object, y_pred: object) -> float:
    """The largest absolute error."""
    y, p = _pair(y_true, y_pred)
    return float(np.max(np.abs(y - p)))


def spearman(a: object, b: object) -> float:
    """Spearman rank correlation; NaN with fewer than three points or a constant input."""
    x, y = _pair(a, b)
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(stats.spearmanr(x, y).statistic)


def regression_metrics(
    y_true: object,
    y_pred: object,
    std: object | None = None,
    lower: object | None = None,
    upper: object | None = None,
) -> dict[str, float]:
    """All regression metrics, keyed by :data:`REGRESSION_METRICS`.

    Parameters
    ----------
    y_true, y_pred : array-like
        Measured and predicted values.
    std : array-like, optional
        Predicted standard deviations; without them the uncertainty metrics are NaN.
    lower, upper : array-like, optional
        An explicit 95 % prediction interval (e.g. conformal). When given, ``coverage_95`` is the
        fraction of true values inside it instead of inside ``pred +- 1.96 std``.
    """
    import matloop.evaluate.uncertainty_metrics as um

    y, p = _pair(y_true, y_pred)
    out = {
        "mae": mae(y, p), "rmse": rmse(y, p), "r2": r2(y, p), "mape": mape(y, p),
        "max_error": max_error(y, p), "spearman": spearman(y, p),
    }
    if std is not None:
        out.update(um.uncertainty_metrics(y, p, std))
    else:
        out.update({k: float("nan") for k in um.UNCERTAINTY_METRICS})
    if (lower is None) != (upper is None):
        raise InputError("give both lower and upper interval bounds, or neither")
    if lower is not None:
        out["coverage_95"] = um.interval_coverage(y, lower, upper)
    return out


# --------------------------------------------------------------------------- classification
def positive_proba(proba: object) -> np.ndarray:
    """The positive-class probability from a 1-D array or an ``(n, 2)`` ``predict_proba`` output."""
    arr = np.asarray(proba.to_numpy() if isinstance(proba, pd.Series | pd.DataFrame) else proba, dtype=float)
    if arr.ndim == 2:
        if arr.shape[1] != 2:
            raise InputError(f"expected binary probabilities with 2 columns, got {arr.shape[1]}")
        arr = arr[:, 1]
    out = as_float_array(arr, "probability")
    outside = (out < 0) | (out > 1)
    if outside.any():
        records = [{"row": int(i) + 1, "column": "probability", "value": out[i], "reason": "not in [0, 1]"}
                   for i in np.flatnonzero(outside)]
        raise InputError("probabilities must lie in [0, 1]", error_table(records))
    return out


def _binary_labels(y_true: object, classes: Sequence | None) -> np.ndarray:
    """Labels as 0/1 integers; ``classes`` gives (negative, positive), default the sorted labels."""
    y = np.asarray(y_true.to_numpy() if isinstance(y_true, pd.Series) else y_true).reshape(-1)
    if classes is None:
        uniq = pd.unique(pd.Series(y)).tolist()
        if set(uniq) <= {0, 1} or set(uniq) <= {False, True}:
            classes = [0, 1]
        else:
            classes = sorted(uniq, key=str)
    if len(classes) != 2:
        raise InputError(f"binary classification needs two classes, got {list(classes)}")
    known = pd.Series(y).isin(classes).to_numpy()
    if not known.all():
        records = [{"row": int(i) + 1, "column": "y_true", "value": y[i],
                    "reason": f"label is not one of {list(classes)}"} for i in np.flatnonzero(~known)]
        raise InputError("unknown class labels", error_table(records))
    return (pd.Series(y) == classes[1]).to_numpy().astype(np.int64)


def classification_metrics(
    y_true: object, proba: object, threshold: float = 0.5, classes: Sequence | None = None,
    labels: object | None = None,
) -> dict[str, float]:
    """Binary classification metrics, keyed by :data:`CLASSIFICATION_METRICS`.

    ``proba`` is the probability of the positive class (or a ``predict_proba`` array); the hard
    label is the model's own ``labels`` when given (its ``predict``, which may use another
    threshold, e.g. :class:`~matloop.models.automodel.AutoClassifier`'s balanced one), else
    ``proba >= threshold``. ``roc_auc`` and ``pr_auc`` (average precision) use the
    probabilities; the rest use the hard labels. Precision, recall and F1 are of the positive class;
    they are 0 when undefined (scikit-learn's ``zero_division=0``), ROC-AUC and PR-AUC are NaN when
    only one class is present.
    """
    from sklearn import metrics as skm

    y = _binary_labels(y_true, classes)
    p = positive_proba(proba)
    if len(y) != len(p):
        raise InputError(f"y_true has {len(y)} values but proba has {len(p)}")
    if len(y) == 0:
        raise InputError("cannot score an empty set of predictions")
    hard = (p >= threshold).astype(np.int64) if labels is None else _binary_labels(labels, classes)
    if len(hard) != len(y):
        raise InputError(f"y_true has {len(y)} values but labels has {len(hard)}")
    both = len(np.unique(y)) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = {
            "roc_auc": float(skm.roc_auc_score(y, p)) if both else float("nan"),
            "pr_auc": float(skm.average_precision_score(y, p)) if both else float("nan"),
            "balanced_accuracy": float(skm.balanced_accuracy_score(y, hard)),
            "precision": float(skm.precision_score(y, hard, zero_division=0)),
            "recall": float(skm.recall_score(y, hard, zero_division=0)),
            "f1": float(skm.f1_score(y, hard, zero_division=0)),
            "accuracy": float(np.mean(y == hard)),
        }
    return out


def confusion_matrix(
    y_true: object, proba: object, threshold: float = 0.5, classes: Sequence | None = None
) -> pd.DataFrame:
    """2x2 confusion matrix as a DataFrame: rows ``true 0/1``, columns ``predicted 0/1``.

    ``proba`` may also be hard 0/1 predictions (they are thresholded unchanged).
    """
    y = _binary_labels(y_true, classes)
    hard = (positive_proba(proba) >= threshold).astype(np.int64)
    if len(y) != len(hard):
        raise InputError(f"y_true has {len(y)} values but proba has {len(hard)}")
    counts = np.bincount(2 * y + hard, minlength=4).reshape(2, 2)
    names = ["0", "1"] if classes is None else [str(c) for c in classes]
    return pd.DataFrame(counts, index=[f"true {n}" for n in names], columns=[f"predicted {n}" for n in names])
