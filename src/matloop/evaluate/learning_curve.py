"""Learning curves: how does the error fall as measured data are added?

"How much data do I need?" is answered by training on growing subsets of each training fold and
scoring on the *same* held-out fold every time (fixed test folds), repeated with different random
subsets. Within one fold and repeat the subsets are nested (the first 50 of the 100), which removes
most of the noise between neighbouring sizes. :func:`fit_power_law` fits ``error = a * n^-b + c``
to extrapolate the size that would reach a target error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from matloop.errors import InputError
from matloop.evaluate.cross_validation import _new_estimator, fit_predict, take_rows
from matloop.evaluate.metrics import as_float_array, classification_metrics, regression_metrics
from matloop.evaluate.splitters import KFold, StratifiedKFold

__all__ = ["learning_curve", "summarize_learning_curve", "fit_power_law", "size_for_score"]


def _order(y: np.ndarray, rng: np.random.Generator, stratify: bool) -> np.ndarray:
    """A random order of positions; stratified so that every prefix keeps the class proportions."""
    if not stratify:
        return rng.permutation(len(y))
    codes, _ = pd.factorize(pd.Series(y))
    counts = np.bincount(codes)
    perm = rng.permutation(len(y))
    rank = np.empty(len(y))
    # rank of each item within its class (in the random order), scaled to (0, 1]
    order = perm[np.argsort(codes[perm], kind="stable")]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    within = np.arange(len(y)) - np.repeat(starts, counts)
    rank[order] = (within + 1) / counts[codes[order]]
    return np.lexsort((rng.random(len(y)), rank))


def _sizes(sizes: Sequence[float], n_train: int) -> list[int]:
    out = []
    for s in sizes:
        m = int(round(s * n_train)) if isinstance(s, float) and 0 < s <= 1 else int(s)
        if m < 2 or m > n_train:
            raise InputError(f"training size {s} gives {m} samples; must lie between 2 and {n_train} "
                             "(the smallest training fold)")
        out.append(m)
    return sorted(set(out))


def learning_curve(
    estimator_factory_or_estimator: object | Callable[[], object],
    X: object,
    y: object,
    sizes: Sequence[float] = (0.1, 0.2, 0.4, 0.6, 0.8, 1.0),
    splitter: object | None = None,
    repeats: int = 3,
    seed: int = 0,
    task: str = "regression",
) -> pd.DataFrame:
    """Scores versus training-set size.

    Parameters
    ----------
    sizes : sequence
        Floats in ``(0, 1]`` are fractions of the smallest training fold; integers are counts.
    splitter : splitter, optional
        Defines the fixed test folds (default: shuffled 5-fold, stratified for classification).
    repeats : int
        Random subsets per size and fold (seeds ``seed, seed + 1, ...``). Sizes equal to the whole
        training fold are fitted once per fold.

    Returns
    -------
    pandas.DataFrame
        Tidy: one row per (size, fold, repeat) with ``train_size``, ``fold``, ``repeat``,
        ``n_test``, ``fit_seconds`` and one column per metric.
    """
    if task not in ("regression", "classification"):
        raise ValueError(f"task must be 'regression' or 'classification', got {task!r}")
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    if task == "regression":
        y_arr = as_float_array(y, "target")
    else:
        y_arr = np.asarray(y.to_numpy() if isinstance(y, pd.Series) else y).reshape(-1)
    if splitter is None:
        splitter = (StratifiedKFold if task == "classification" else KFold)(n_splits=5, random_state=seed)
    splits = [(np.asarray(a), np.asarray(b)) for a, b in splitter.split(X, y_arr)]
    if not splits:
        raise InputError("the splitter produced no splits")
    sizes_n = _sizes(sizes, min(len(tr) for tr, _ in splits))

    records = []
    for k, (train, test) in enumerate(splits):
        X_test, y_test = take_rows(X, test), y_arr[test]
        for r in range(repeats):
            rng = np.random.default_rng([seed, k, r])
            order = train[_order(y_arr[train], rng, stratify=task == "classification")]
            for m in sizes_n:
                if m == len(train) and r > 0:
                    continue  # the full fold is the same set in every repeat
                sub = order[:m]
                est = _new_estimator(estimator_factory_or_estimator)
                res = fit_predict(est, take_rows(X, sub), y_arr[sub], X_test, task=task)
                if task == "regression":
                    metrics = regression_metrics(y_test, res["prediction"], res["std"], res["lower"], res["upper"])
                else:
                    metrics = classification_metrics(y_test, res["probability"], classes=list(res["classes"]),
                                                     labels=res["prediction"])
                records.append({"train_size": m, "fold": k, "repeat": r, "n_test": len(test),
                                "fit_seconds": res["fit_seconds"], **metrics})
    return pd.DataFrame(records)


def summarize_learning_curve(curve: pd.DataFrame, metric: str = "mae") -> pd.DataFrame:
    """Mean, standard deviation and count of ``metric`` per training size."""
    if metric not in curve.columns:
        raise KeyError(f"no metric {metric!r} in the learning curve")
    g = curve.groupby("train_size")[metric]
    return pd.DataFrame({"mean": g.mean(), "std": g.std(ddof=1), "count": g.count()}).reset_index()


def fit_power_law(curve: pd.DataFrame, metric: str = "mae") -> dict[str, float]:
    """Fit ``metric = a * n^(-b) + c`` to the mean curve (least squares, ``b >= 0``, ``c >= 0``).

    ``c`` estimates the error floor that more data of the same kind cannot beat (noise, or what the
    features cannot express). Needs at least three sizes.
    """
    from scipy.optimize import curve_fit

    summary = summarize_learning_curve(curve, metric).dropna(subset=["mean"])
    if len(summary) < 3:
        raise InputError("a power law needs the curve at three or more training sizes")
    n = summary["train_size"].to_numpy(float)
    e = summary["mean"].to_numpy(float)

    def law(x: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
        return a * (x / n[0]) ** (-b) + c

    p0 = [max(e[0] - e[-1], 1e-12), 0.5, max(e[-1] * 0.5, 0.0)]
    bounds = ([0.0, 0.0, 0.0], [np.inf, 5.0, np.inf])
    (a, b, c), _ = curve_fit(law, n, e, p0=p0, bounds=bounds, maxfev=20000)
    return {"a": float(a * n[0] ** b), "b": float(b), "c": float(c)}


def size_for_score(params: dict[str, float], target: float) -> float:
    """Training size at which the fitted power law reaches ``target`` (``inf`` if below the floor)."""
    a, b, c = params["a"], params["b"], params["c"]
    if target <= c or a <= 0 or b <= 0:
        return float("inf")
    return float((a / (target - c)) ** (1.0 / b))
