"""Metrics of classifiers with three or more classes, under the binary metrics' names.

:func:`multiclass_metrics` returns the keys of :data:`matloop.evaluate.metrics.CLASSIFICATION_METRICS`
so that cross-validation summaries, JSON reports and the CLI treat both alike: ``balanced_accuracy``
(mean recall over classes, the headline for imbalanced labels), ``accuracy``, and macro averages
(every class weighs the same) of ``precision``, ``recall``, ``f1``, one-vs-rest ``roc_auc`` and
``pr_auc`` (average precision). A class absent from the scored rows has no ROC/PR curve; it is
left out of those two averages (NaN if fewer than two classes are present).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from matloop.errors import InputError


def aligned(proba: np.ndarray, classes: Sequence, all_classes: Sequence) -> np.ndarray:
    """Probability columns reordered (and zero-filled) to ``all_classes``."""
    out = np.zeros((proba.shape[0], len(all_classes)))
    index = {c: j for j, c in enumerate(all_classes)}
    for j, c in enumerate(classes):
        out[:, index[c]] = proba[:, j]
    return out


def multiclass_metrics(y_true: object, proba: np.ndarray, classes: Sequence, labels: object) -> dict[str, float]:
    """Macro-averaged metrics; ``proba`` is (rows, classes) in the order of ``classes``."""
    from sklearn import metrics as skm

    y = np.asarray(y_true).reshape(-1)
    hard = np.asarray(labels).reshape(-1)
    P = np.asarray(proba, dtype=float)
    if P.ndim != 2 or P.shape != (len(y), len(classes)) or len(hard) != len(y):
        raise InputError(f"{len(y)} labels, {len(hard)} predictions and probabilities of shape {P.shape} "
                         f"for {len(classes)} classes do not match")
    if len(y) == 0:
        raise InputError("cannot score an empty set of predictions")
    present = [j for j, c in enumerate(classes) if np.any(y == c)]
    aucs, aps = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for j in present:
            positive = (y == classes[j]).astype(int)
            if 0 < positive.sum() < len(y):
                aucs.append(skm.roc_auc_score(positive, P[:, j]))
                aps.append(skm.average_precision_score(positive, P[:, j]))
        kept = [classes[j] for j in present]
        out = {
            "roc_auc": float(np.mean(aucs)) if len(present) > 1 else float("nan"),
            "pr_auc": float(np.mean(aps)) if len(present) > 1 else float("nan"),
            "balanced_accuracy": float(skm.balanced_accuracy_score(y, hard)),
            "precision": float(skm.precision_score(y, hard, labels=kept, average="macro", zero_division=0)),
            "recall": float(skm.recall_score(y, hard, labels=kept, average="macro", zero_division=0)),
            "f1": float(skm.f1_score(y, hard, labels=kept, average="macro", zero_division=0)),
            "accuracy": float(np.mean(y == hard)),
        }
    return out
