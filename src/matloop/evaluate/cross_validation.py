"""Run a cross-validation and keep everything a scientist needs to judge the model.

:func:`cross_validate` fits a fresh copy of the estimator per fold (``sklearn.base.clone``, or a
call of a factory), predicts the held-out rows with their standard deviation (and a prediction
interval when the estimator has ``predict_interval``), scores each fold with the fixed metric names
of :mod:`matloop.evaluate.metrics`, and times fitting and prediction. The result serialises to JSON
(:meth:`CVResult.to_dict`) for ``matloop validate --json``.

Featurisation: matloop's featurizers are stateless, so featurise once and pass the matrix. A
featurizer that learns from data (scaling, feature selection) belongs inside the estimator (a
scikit-learn ``Pipeline``), which is then refitted per fold and cannot leak test information.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from matloop import progress
from matloop.errors import InputError
from matloop.evaluate.metrics import (
    CLASSIFICATION_METRICS,
    REGRESSION_METRICS,
    as_float_array,
    classification_metrics,
    regression_metrics,
)

__all__ = ["CVResult", "cross_validate", "fit_predict", "take_rows"]


def take_rows(X: object, idx: np.ndarray) -> object:
    """Rows ``idx`` (positions) of a DataFrame, Series, array or list."""
    if isinstance(X, pd.DataFrame | pd.Series):
        return X.iloc[idx]
    if isinstance(X, np.ndarray) or hasattr(X, "shape"):
        return X[idx]
    return [X[i] for i in idx]


def _new_estimator(estimator_or_factory: object) -> object:
    if hasattr(estimator_or_factory, "fit"):
        from sklearn.base import clone

        return clone(estimator_or_factory)
    if callable(estimator_or_factory):
        return estimator_or_factory()
    raise TypeError("expected an estimator with fit() or a factory returning one")


def fit_predict(
    estimator: object, X_train: object, y_train: object, X_test: object, task: str = "regression",
    alpha: float = 0.05,
) -> dict[str, object]:
    """Fit ``estimator`` and predict ``X_test``; returns arrays and timings.

    Regression: ``prediction``, ``std`` (None if the estimator has no ``return_std``), ``lower`` and
    ``upper`` (None without ``predict_interval``). Classification: ``probability`` of the positive
    class and ``prediction`` (the estimator's own ``predict``: most classifiers take the likelier
    label, :class:`~matloop.models.automodel.AutoClassifier` its balanced threshold).
    """
    t0 = time.perf_counter()
    estimator.fit(X_train, y_train)
    t1 = time.perf_counter()
    out: dict[str, object] = {}
    if task == "classification":
        proba = np.asarray(estimator.predict_proba(X_test), dtype=float)
        classes = np.asarray(getattr(estimator, "classes_", np.arange(proba.shape[1])))
        if proba.ndim != 2 or proba.shape[1] < 2 or proba.shape[1] != len(classes):
            raise InputError(f"the classifier gives probabilities of shape {proba.shape} for {len(classes)} classes")
        # binary: the positive class's probability; 3+ classes: every class's (matloop.evaluate.multiclass)
        out["probability"] = proba[:, 1] if proba.shape[1] == 2 else proba
        out["prediction"] = np.asarray(estimator.predict(X_test)).reshape(-1)
        out["classes"] = classes
    else:
        try:
            pred, std = estimator.predict(X_test, return_std=True)
            out["std"] = np.asarray(std, dtype=float).reshape(-1)
        except TypeError:
            pred = estimator.predict(X_test)
            out["std"] = None
        out["prediction"] = np.asarray(pred, dtype=float).reshape(-1)
        if hasattr(estimator, "predict_interval"):
            lo, hi = estimator.predict_interval(X_test, alpha=alpha)
            out["lower"], out["upper"] = np.asarray(lo, float).reshape(-1), np.asarray(hi, float).reshape(-1)
        else:
            out["lower"] = out["upper"] = None
        # a predictive distribution that is not N(pred, std^2) (AutoModel's): scored as itself
        out["distribution"] = (estimator.predict_distribution(X_test)
                               if callable(getattr(estimator, "predict_distribution", None)) else None)
    t2 = time.perf_counter()
    out["fit_seconds"], out["predict_seconds"] = t1 - t0, t2 - t1
    return out


def describe_splitter(splitter: object) -> str:
    """``Name(param=value, ...)`` from the constructor parameters that are plain values.

    Array-like parameters (compositions, fold labels) are summarised by their length, so a JSON
    report names the split and its settings, never ``<... object at 0x...>``.
    """
    import inspect

    params = {}
    try:
        names = [p for p in inspect.signature(type(splitter).__init__).parameters if p != "self"]
    except (TypeError, ValueError):
        names = []
    for name in names:
        if not hasattr(splitter, name):
            continue
        value = getattr(splitter, name)
        if value is None or isinstance(value, bool | int | float | str | np.generic):
            params[name] = value.item() if isinstance(value, np.generic) else value
        elif hasattr(value, "__len__"):
            params[name] = f"<{len(value)} values>"
    return f"{type(splitter).__name__}({', '.join(f'{k}={v!r}' for k, v in params.items())})"


def _json_value(v: object) -> object:
    if isinstance(v, dict):
        return {str(k): _json_value(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_json_value(x) for x in v]
    if isinstance(v, np.ndarray):
        return [_json_value(x) for x in v.tolist()]
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None  # JSON has no NaN/inf
    return v


def _summarise(fold_metrics: list[dict[str, float]], names: tuple[str, ...]) -> tuple[dict, dict]:
    mean, std = {}, {}
    for k in names:
        vals = np.array([m[k] for m in fold_metrics], dtype=float)
        vals = vals[np.isfinite(vals)]
        mean[k] = float(np.mean(vals)) if len(vals) else float("nan")
        std[k] = float(np.std(vals, ddof=1)) if len(vals) > 1 else float("nan")
    return mean, std


@dataclass
class CVResult:
    """Outcome of :func:`cross_validate`.

    Attributes
    ----------
    task : str
    splitter : str
        The splitter's class name and parameters, e.g. ``LeaveOneClusterOut(n_clusters=5, seed=0, scale=True)``
        (:func:`describe_splitter`; never an object repr with a memory address).
    n_samples : int
    folds : list of dict
        Per fold: ``fold``, ``n_train``, ``n_test``, ``fit_seconds``, ``predict_seconds``, ``metrics``.
    mean, std : dict
        Mean and sample standard deviation of each metric over folds (folds where the metric is
        undefined, e.g. ROC-AUC with one class, are left out).
    pooled : dict
        Metrics over all held-out predictions at once.
    predictions : pandas.DataFrame or None
        One row per held-out prediction: ``fold``, ``index`` (0-based row position in ``X``),
        ``y_true``, ``prediction`` and ``std``, ``lower``, ``upper`` (regression) or
        ``probability`` (classification). Rows appear once per split that tests them.
    """

    task: str
    splitter: str
    n_samples: int
    folds: list[dict] = field(default_factory=list)
    mean: dict[str, float] = field(default_factory=dict)
    std: dict[str, float] = field(default_factory=dict)
    pooled: dict[str, float] = field(default_factory=dict)
    predictions: pd.DataFrame | None = None

    @property
    def fold_metrics(self) -> pd.DataFrame:
        """Per-fold metrics and timings as a table (one row per fold)."""
        rows = [{"fold": f["fold"], "n_train": f["n_train"], "n_test": f["n_test"], **f["metrics"],
                 "fit_seconds": f["fit_seconds"], "predict_seconds": f["predict_seconds"]} for f in self.folds]
        return pd.DataFrame(rows)

    def oof(self) -> pd.DataFrame:
        """Out-of-fold predictions, one per row, ordered by ``index`` (rows never tested are absent).

        For splitters that test a row more than once (repeated k-fold, leave-one-element-out) the
        numeric columns are averaged over the splits that tested it.
        """
        if self.predictions is None:
            raise ValueError("predictions were not kept (return_predictions=False)")
        numeric = self.predictions.drop(columns=["fold"]).select_dtypes("number")
        return numeric.groupby("index", sort=True).mean().reset_index()

    def _repr_html_(self) -> str:
        """Jupyter display: the mean ± std of every metric over folds, pooled values, and the per-fold table."""
        import html as _html

        names = [k for k in self.mean if np.isfinite(self.mean[k]) or np.isfinite(self.pooled.get(k, np.nan))]
        summary = pd.DataFrame({
            "metric": names,
            "mean over folds": [f"{self.mean[k]:.4g}" for k in names],
            "std": [f"{self.std.get(k, float('nan')):.2g}" for k in names],
            "pooled": [f"{self.pooled.get(k, float('nan')):.4g}" for k in names],
        })
        folds = self.fold_metrics.round(4) if self.folds else pd.DataFrame()
        head = (f"<p><strong>{_html.escape(self.task)} cross-validation</strong>: {len(self.folds)} folds of "
                f"{self.n_samples} rows; split {_html.escape(str(self.splitter))}</p>")
        return (f'<div class="matloop-cv">{head}{summary.to_html(index=False, border=0)}'
                f"<details><summary>per fold</summary>{folds.to_html(index=False, border=0)}</details></div>")

    def to_dict(self) -> dict:
        """JSON-ready summary (NaN and inf become ``null``); predictions are not included."""
        return _json_value({
            "task": self.task,
            "splitter": self.splitter,
            "n_samples": self.n_samples,
            "n_folds": len(self.folds),
            "mean": self.mean,
            "std": self.std,
            "pooled": self.pooled,
            "fit_seconds": float(sum(f["fit_seconds"] for f in self.folds)),
            "predict_seconds": float(sum(f["predict_seconds"] for f in self.folds)),
            "folds": self.folds,
        })


def cross_validate(
    estimator_factory_or_estimator: object | Callable[[], object],
    X: object,
    y: object,
    splitter: object,
    groups: object = None,
    task: str = "regression",
    return_predictions: bool = True,
    alpha: float = 0.05,
) -> CVResult:
    """Cross-validate an estimator with any splitter; see :class:`CVResult`.

    Parameters
    ----------
    estimator_factory_or_estimator : estimator or callable
        Cloned per fold (an estimator) or called per fold (a zero-argument factory).
    X, y : array-like
        Features (already featurised) and target. Classification targets are binary labels.
    splitter : object with ``split(X, y, groups)``
        E.g. one of :mod:`matloop.evaluate.splitters` or a scikit-learn splitter.
    groups : array-like, optional
        Passed to ``splitter.split``.
    task : {"regression", "classification"}
    alpha : float
        Miscoverage of intervals from estimators with ``predict_interval`` (0.05: 95 % intervals,
        scored as ``coverage_95``).
    """
    if task not in ("regression", "classification"):
        raise ValueError(f"task must be 'regression' or 'classification', got {task!r}")
    n = X.shape[0] if hasattr(X, "shape") else len(X)
    if task == "regression":
        y_arr = as_float_array(y, "target")
    else:
        y_arr = np.asarray(y.to_numpy() if isinstance(y, pd.Series) else y).reshape(-1)
        if pd.isna(pd.Series(y_arr)).any():
            raise InputError("classification target has missing labels")
    if len(y_arr) != n:
        raise InputError(f"{len(y_arr)} target values for {n} rows of features")
    names = REGRESSION_METRICS if task == "regression" else CLASSIFICATION_METRICS

    try:
        splits = list(splitter.split(X, y_arr, groups))
    except InputError:
        raise
    except ValueError as exc:  # e.g. scikit-learn: more folds than rows
        raise InputError(f"cannot split the data: {exc}") from exc
    folds, parts = [], []
    steps = progress.steps(splits, "cross-validation fold",
                           describe=lambda s: f"({len(s[0])} training rows, {len(s[1])} test rows)")
    for k, (train, test) in enumerate(steps):
        train, test = np.asarray(train), np.asarray(test)
        if len(train) == 0 or len(test) == 0:
            raise InputError(f"split {k} has an empty training or test set")
        est = _new_estimator(estimator_factory_or_estimator)
        res = fit_predict(est, take_rows(X, train), y_arr[train], take_rows(X, test), task=task, alpha=alpha)
        y_test = y_arr[test]
        if task == "regression":
            metrics = regression_metrics(y_test, res["prediction"], res["std"], res["lower"], res["upper"])
            if res.get("distribution") is not None:
                from matloop.evaluate.uncertainty_metrics import distribution_metrics

                metrics.update(distribution_metrics(y_test, res["prediction"], res["distribution"], res["std"]))
            part = {"fold": k, "index": test, "y_true": y_test, "prediction": res["prediction"],
                    "std": res["std"] if res["std"] is not None else np.full(len(test), np.nan)}
            if res["lower"] is not None:
                part.update(lower=res["lower"], upper=res["upper"])
        elif np.ndim(res["probability"]) == 2 or len(np.unique(y_arr)) > 2:
            from matloop.evaluate.multiclass import aligned, multiclass_metrics

            classes = np.unique(y_arr)
            proba = np.asarray(res["probability"], dtype=float)
            proba = aligned(np.column_stack([1 - proba, proba]) if proba.ndim == 1 else proba,
                            list(res["classes"]), list(classes))
            metrics = multiclass_metrics(y_test, proba, list(classes), res["prediction"])
            part = {"fold": k, "index": test, "y_true": y_test, "prediction": res["prediction"],
                    "probability": proba.max(axis=1),
                    **{f"probability_{c}": proba[:, j] for j, c in enumerate(classes)}}
        else:
            classes = res["classes"]
            metrics = classification_metrics(y_test, res["probability"], classes=list(classes),
                                             labels=res["prediction"])
            part = {"fold": k, "index": test, "y_true": y_test, "prediction": res["prediction"],
                    "probability": res["probability"]}
        parts.append(pd.DataFrame(part))
        folds.append({"fold": k, "n_train": len(train), "n_test": len(test),
                      "fit_seconds": res["fit_seconds"], "predict_seconds": res["predict_seconds"],
                      "metrics": metrics})
    if not folds:
        raise InputError("the splitter produced no splits")

    mean, std = _summarise([f["metrics"] for f in folds], names)
    preds = pd.concat(parts, ignore_index=True)
    if task == "regression":
        has_std = preds["std"].notna().all()
        has_interval = "lower" in preds and preds["lower"].notna().all()
        pooled = regression_metrics(preds["y_true"], preds["prediction"],
                                    preds["std"] if has_std else None,
                                    preds["lower"] if has_interval else None,
                                    preds["upper"] if has_interval else None)
    elif len(classes) > 2:
        from matloop.evaluate.multiclass import multiclass_metrics

        pooled = multiclass_metrics(preds["y_true"], preds[[f"probability_{c}" for c in classes]].to_numpy(),
                                    list(classes), preds["prediction"])
    else:
        pooled = classification_metrics(preds["y_true"], preds["probability"], classes=list(classes),
                                        labels=preds["prediction"])
    return CVResult(task=task, splitter=describe_splitter(splitter), n_samples=n, folds=folds, mean=mean, std=std,
                    pooled=pooled, predictions=preds if return_predictions else None)
