"""AutoClassifier: the default classifier, a cross-validated and calibrated ensemble (split from
:mod:`matloop.models.automodel`, which re-exports it)."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from matloop.models.base import check_features
from matloop.models.preprocessing import FeatureCleaner

__all__ = ["AutoClassifier"]


class AutoClassifier(BaseEstimator):
    """Cross-validated ensemble of a balanced random forest and gradient boosting, with the
    ensemble's probabilities calibrated on out-of-fold predictions (isotonic from 1,000 rows,
    Platt's sigmoid below), so calibration happens inside CV and costs no extra refits.

    Parameters
    ----------
    cv : int
        Folds of the internal cross-validation.
    ensemble_rounds : int
        Rounds of greedy ensemble selection on the out-of-fold log loss.
    threshold : "balanced" or float
        Probability above which :meth:`predict` says the second class. ``"balanced"`` uses the
        training prevalence of that class: with calibrated probabilities this is the Bayes rule for
        balanced accuracy (both classes count equally, however rare one is), the natural choice for
        imbalanced materials data (few glass formers, few metals). 0.5 maximises plain accuracy.
        Three or more classes (:mod:`matloop.models.multiclass`): ``"balanced"`` predicts the class
        with the largest probability relative to its prevalence, anything else the most probable.
    random_state : int or None
    """

    def __init__(self, cv: int = 3, ensemble_rounds: int = 10, threshold: str | float = "balanced",
                 random_state: int | None = 0):
        self.cv = cv
        self.ensemble_rounds = ensemble_rounds
        self.threshold = threshold
        self.random_state = random_state

    def _candidates(self) -> dict:
        from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

        return {"rf": RandomForestClassifier(n_estimators=300, max_features=0.33, class_weight="balanced",
                                             random_state=self.random_state, n_jobs=1),
                "gbm": HistGradientBoostingClassifier(max_iter=300, learning_rate=0.05, max_leaf_nodes=15,
                                                      class_weight="balanced", random_state=self.random_state)}

    def fit(self, X, y) -> AutoClassifier:
        from sklearn.isotonic import IsotonicRegression
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import StratifiedKFold

        from matloop.models.classifiers import _check_labels
        from matloop.models.multiclass import fit_multiclass

        X = check_features(self, X, reset=True)
        y = _check_labels(y, X.shape[0])
        self.classes_, sizes = np.unique(y, return_counts=True)
        if len(self.classes_) < 2 or sizes.min() < 2:
            from matloop.errors import InputError

            raise InputError("a classifier needs at least 2 classes with at least 2 rows each; got "
                             + ", ".join(f"{c!r}: {n}" for c, n in zip(self.classes_.tolist(), sizes, strict=True)))
        n_folds = int(min(self.cv, sizes.min()))
        if len(self.classes_) > 2:
            self.cleaner_ = FeatureCleaner().fit(X)
            Xc = self.cleaner_._transform_array(X)
            target = np.searchsorted(self.classes_, y)
            folds = StratifiedKFold(n_folds, shuffle=True, random_state=self.random_state).split(Xc, target)
            with threadpool_limits(1):
                fit_multiclass(self, Xc, target, self._candidates(), folds)
            return self
        target = (y == self.classes_[1]).astype(int)
        if self.threshold == "balanced":
            self.threshold_ = float(target.mean())
        elif isinstance(self.threshold, int | float) and 0 < self.threshold < 1:
            self.threshold_ = float(self.threshold)
        else:
            raise ValueError(f"threshold must be 'balanced' or a number between 0 and 1, got {self.threshold!r}")
        self.cleaner_ = FeatureCleaner().fit(X)
        Xc = self.cleaner_._transform_array(X)
        cands = self._candidates()
        folds = StratifiedKFold(n_folds, shuffle=True, random_state=self.random_state).split(Xc, target)
        oof = {m: np.zeros(len(y)) for m in cands}
        with threadpool_limits(1):
            for tr, te in folds:
                for m, est in cands.items():
                    oof[m][te] = clone(est).fit(Xc[tr], target[tr]).predict_proba(Xc[te])[:, 1]
            names = list(oof)
            P = np.clip(np.stack([oof[m] for m in names]), 1e-6, 1 - 1e-6)
            counts = np.zeros(len(names))
            current = np.zeros(len(y))
            for r in range(int(self.ensemble_rounds)):
                trial = (current * r + P) / (r + 1)
                loss = -np.mean(target * np.log(trial) + (1 - target) * np.log(1 - trial), axis=1)
                j = int(np.argmin(loss))
                counts[j] += 1
                current = trial[j]
            self.weights_ = {names[j]: float(counts[j] / counts.sum()) for j in np.flatnonzero(counts)}
            if len(y) >= 1000:
                self.calibrator_ = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(current, target)
            else:
                self.calibrator_ = LogisticRegression().fit(np.log(current / (1 - current))[:, None], target)
            self.estimators_ = {m: clone(cands[m]).fit(Xc, target) for m in self.weights_}
        return self

    def _raw(self, X) -> np.ndarray:
        check_is_fitted(self)
        Xc = self.cleaner_._transform_array(check_features(self, X, reset=False))
        return sum(w * self.estimators_[m].predict_proba(Xc)[:, 1] for m, w in self.weights_.items())

    def predict_proba(self, X) -> np.ndarray:
        """Calibrated probabilities of every class (columns in the order of ``classes_``)."""
        if len(self.classes_) > 2:
            from matloop.models.multiclass import predict_proba_multiclass

            check_is_fitted(self)
            return predict_proba_multiclass(self, self.cleaner_._transform_array(check_features(self, X, reset=False)))
        raw = np.clip(self._raw(X), 1e-6, 1 - 1e-6)
        if hasattr(self.calibrator_, "predict_proba"):
            p = self.calibrator_.predict_proba(np.log(raw / (1 - raw))[:, None])[:, 1]
        else:
            p = self.calibrator_.predict(raw)
        return np.column_stack([1 - p, p])

    def predict(self, X) -> np.ndarray:
        """Class labels: the second class where its probability reaches ``threshold_`` (see ``threshold``)."""
        if len(self.classes_) > 2:
            from matloop.models.multiclass import balanced_labels

            return balanced_labels(self, self.predict_proba(X))
        return self.classes_[(self.predict_proba(X)[:, 1] >= self.threshold_).astype(int)]

    def predict_std(self, X) -> np.ndarray:
        """Bernoulli std of the outcome, ``sqrt(p (1 - p))`` (per class for three or more classes)."""
        p = self.predict_proba(X)
        p = p[:, 1] if p.shape[1] == 2 else p
        return np.sqrt(p * (1 - p))
