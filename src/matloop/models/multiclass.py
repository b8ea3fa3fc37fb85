"""Multi-class AutoClassifier: out-of-fold ensemble on the multinomial log loss, temperature calibration.

:class:`~matloop.models.automodel.AutoClassifier` handles two classes with a one-column probability,
a Platt/isotonic calibrator and a prevalence threshold. For three or more classes (crystal systems,
"metal / semiconductor / insulator", a text label with a few values) the same recipe is generalised:

* the candidates (a balanced random forest, gradient boosting) predict every class's probability out
  of fold (stratified ``cv`` folds, fewer if the rarest class is smaller);
* greedy ensemble selection with replacement (Caruana et al. 2004) minimises the multinomial log loss;
* the ensemble's probabilities are calibrated by temperature scaling (Guo et al. 2017, ICML): one
  parameter ``T`` fitted on the out-of-fold predictions, ``p_k ∝ p_k^(1/T)``; it cannot overfit a
  small calibration set the way a per-class calibrator would, and it keeps the ranking of classes;
* ``threshold="balanced"`` predicts ``argmax_k p_k / prior_k``, the Bayes rule for balanced accuracy
  (every class counts equally, however rare). With two classes this is exactly the binary rule
  ``p_1 >= prior_1``.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from sklearn.base import clone

EPS = 1e-6


def aligned_proba(estimator, X: np.ndarray, n_classes: int) -> np.ndarray:
    """``predict_proba`` with one column per class index 0..n_classes-1 (a fold may lack a class)."""
    proba = estimator.predict_proba(X)
    out = np.zeros((X.shape[0], n_classes))
    out[:, np.asarray(estimator.classes_, dtype=int)] = proba
    return out


def log_loss_rows(P: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Mean multinomial log loss of each candidate: ``P`` is (candidates, rows, classes)."""
    picked = np.take_along_axis(P, target[None, :, None], axis=2)[..., 0]
    return -np.mean(np.log(np.clip(picked, EPS, 1.0)), axis=1)


def greedy_weights(oof: dict[str, np.ndarray], target: np.ndarray, rounds: int) -> tuple[dict, np.ndarray]:
    """Greedy forward selection with replacement on the log loss; (weights, ensemble probabilities)."""
    names = list(oof)
    P = np.stack([oof[m] for m in names])
    counts = np.zeros(len(names))
    current = np.zeros_like(P[0])
    for r in range(int(rounds)):
        trial = (current * r + P) / (r + 1)
        j = int(np.argmin(log_loss_rows(trial, target)))
        counts[j] += 1
        current = trial[j]
    return {names[j]: float(counts[j] / counts.sum()) for j in np.flatnonzero(counts)}, current


def with_temperature(P: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities ``∝ P^(1/T)``, rows summing to one."""
    logits = np.log(np.clip(P, EPS, 1.0)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(P: np.ndarray, target: np.ndarray) -> float:
    """The temperature minimising the out-of-fold log loss (searched on log T in [-3, 3])."""
    def loss(log_t: float) -> float:
        return float(log_loss_rows(with_temperature(P, float(np.exp(log_t)))[None], target)[0])

    return float(np.exp(minimize_scalar(loss, bounds=(-3.0, 3.0), method="bounded").x))


def fit_multiclass(model, Xc: np.ndarray, target: np.ndarray, candidates: dict, folds) -> None:
    """Fit ``model`` (an AutoClassifier) on class indices ``target``: sets ``weights_``,
    ``temperature_``, ``priors_``, ``calibrator_`` (None) and ``estimators_``."""
    k = len(model.classes_)
    oof = {m: np.zeros((len(target), k)) for m in candidates}
    for tr, te in folds:
        for m, est in candidates.items():
            oof[m][te] = aligned_proba(clone(est).fit(Xc[tr], target[tr]), Xc[te], k)
    model.weights_, current = greedy_weights(oof, target, model.ensemble_rounds)
    model.temperature_ = fit_temperature(current, target)
    model.priors_ = np.bincount(target, minlength=k) / len(target)
    model.calibrator_ = None
    model.estimators_ = {m: clone(candidates[m]).fit(Xc, target) for m in model.weights_}


def predict_proba_multiclass(model, Xc: np.ndarray) -> np.ndarray:
    """Calibrated probabilities (rows, classes) of a multi-class AutoClassifier."""
    k = len(model.classes_)
    raw = sum(w * aligned_proba(model.estimators_[m], Xc, k) for m, w in model.weights_.items())
    return with_temperature(raw, model.temperature_)


def balanced_labels(model, proba: np.ndarray) -> np.ndarray:
    """``argmax_k p_k / prior_k`` (balanced threshold) or ``argmax_k p_k`` (plain accuracy)."""
    if model.threshold == "balanced":
        return model.classes_[np.argmax(proba / np.maximum(model.priors_, EPS), axis=1)]
    return model.classes_[np.argmax(proba, axis=1)]
