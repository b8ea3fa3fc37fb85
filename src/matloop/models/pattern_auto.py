"""The default classifier for diffraction patterns: a 1-D CNN ensemble, a peak-feature forest, a
search-match nearest-reference model, or the mean of their probabilities, chosen by cross-validation
inside the fit (so that ``matloop validate`` is nested CV).

:class:`PatternAutoClassifier` takes the frame of :class:`~matloop.represent.pattern_features.PatternFeatureSet`
(curve columns ``I(2θ=...)`` and peak columns) and scores the candidates on held-out training patterns:

- ``cnn``: :class:`~matloop.models.diffraction_cnn.PatternCNNClassifier` on the curve (its members *are*
  the fold models, so its out-of-fold probabilities cost no extra training); skipped, with a note,
  when PyTorch is not installed;
- ``forest``: extra trees (300, balanced class weights) on the peak columns, out-of-fold probabilities
  from the same stratified folds;
- ``match``: :class:`~matloop.models.pattern_match.PatternMatchClassifier`, the nearest shift-tolerant
  reference pattern of each class (leave-one-out probabilities: exact and cheap for it).

Each candidate's out-of-fold probabilities are temperature-scaled (one parameter, Guo et al. 2017).
A further candidate, ``blend``, is the mean of the candidates' probabilities, temperature-scaled again
on its own out-of-fold probabilities (the mean of calibrated models is under-confident where they
disagree); its out-of-fold probabilities are the (rescaled) mean of theirs, so scoring it costs no
training. The one with the lowest out-of-fold log loss is kept (``chosen_``, ``scores_`` hold the
comparison).
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

__all__ = ["PatternAutoClassifier", "PatternBlendClassifier", "PeakForestClassifier", "blend_proba",
           "build_pattern_model"]


def _log_loss(proba: np.ndarray, target: np.ndarray) -> float:
    return float(-np.mean(np.log(np.clip(proba[np.arange(len(target)), target], 1e-12, None))))


def blend_proba(probas) -> np.ndarray:
    """The mean of several models' calibrated class probabilities (same classes, same order)."""
    return np.mean(np.stack([np.asarray(p, dtype=float) for p in probas]), axis=0)


class PatternBlendClassifier(ClassifierMixin, BaseEstimator):
    """The mean of fitted pattern classifiers' probabilities (the CNN on the curve, the forest on peak
    features and the nearest-reference match make different errors). Built from already fitted ``models_``
    by :class:`PatternAutoClassifier`; ``recalibrate`` fits one temperature on the mean of their
    out-of-fold probabilities (``temperature_``; 1 without)."""

    def __init__(self, names: tuple[str, ...] = ("cnn", "forest"), recalibrate: bool = False):
        self.names, self.recalibrate = names, recalibrate

    def fit(self, X, y) -> PatternBlendClassifier:
        """Fit each named candidate as :class:`PatternAutoClassifier` would (its defaults) and blend them."""
        return self.from_models([PatternAutoClassifier(candidates=(name,), blend=False).fit(X, y).model_
                                 for name in self.names], y)

    def from_models(self, models: list, y=None) -> PatternBlendClassifier:
        """Blend already fitted models (same classes, same order); with ``recalibrate`` and the training
        labels ``y``, one temperature is fitted on the mean of their out-of-fold probabilities."""
        from matloop.models.diffraction_cnn import apply_temperature, fit_temperature

        self.models_ = list(models)
        self.classes_ = self.models_[0].classes_
        self.n_features_in_ = self.models_[0].n_features_in_
        mean = blend_proba([m.oof_proba_ for m in self.models_])
        self.temperature_ = 1.0
        if self.recalibrate and y is not None:
            target = np.searchsorted(self.classes_, np.asarray(y))
            self.temperature_ = fit_temperature(np.log(np.clip(mean, 1e-12, None)), target)
            mean = apply_temperature(mean, self.temperature_)
        self.oof_proba_ = mean
        return self

    def predict_proba(self, X) -> np.ndarray:
        from matloop.models.diffraction_cnn import apply_temperature

        check_is_fitted(self, "models_")
        mean = blend_proba([m.predict_proba(X) for m in self.models_])
        temperature = float(getattr(self, "temperature_", 1.0))
        return mean if temperature == 1.0 else apply_temperature(mean, temperature)

    def predict(self, X) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def cam(self, X) -> np.ndarray | None:
        """The CNN member's class activation maps (None without one)."""
        for m in self.models_:
            if hasattr(m, "cam"):
                return m.cam(X)
        return None


class PeakForestClassifier(ClassifierMixin, BaseEstimator):
    """Extra trees on the peak columns (every column not ``I(...)``), temperature-calibrated on
    out-of-fold probabilities of ``cv`` stratified folds."""

    def __init__(self, n_estimators: int = 300, cv: int = 4, random_state: int | None = 0):
        self.n_estimators, self.cv, self.random_state = n_estimators, cv, random_state

    def _select(self, X, fit: bool = False) -> np.ndarray:
        import pandas as pd

        from matloop.represent.pattern_features import curve_columns

        if fit:
            self.n_features_in_ = int(np.shape(X)[1])
            curve = set(curve_columns(X.columns).tolist()) if isinstance(X, pd.DataFrame) else set()
            self.columns_ = np.array([j for j in range(self.n_features_in_) if j not in curve], dtype=int)
        values = X.to_numpy(dtype=float) if isinstance(X, pd.DataFrame) else np.asarray(X, dtype=float)
        return np.nan_to_num(values[:, self.columns_])

    def _forest(self):
        from sklearn.ensemble import ExtraTreesClassifier

        return ExtraTreesClassifier(n_estimators=int(self.n_estimators), class_weight="balanced",
                                    random_state=self.random_state, n_jobs=1)

    def fit(self, X, y, folds=None) -> PeakForestClassifier:
        from sklearn.base import clone
        from sklearn.model_selection import StratifiedKFold

        from matloop.models.diffraction_cnn import apply_temperature, fit_temperature

        F = self._select(X, fit=True)
        self.classes_, target = np.unique(np.asarray(y), return_inverse=True)
        if folds is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                folds = list(StratifiedKFold(int(self.cv), shuffle=True, random_state=self.random_state).split(F, target))
        oof = np.zeros((len(target), len(self.classes_)))
        for train, test in folds:
            est = clone(self._forest()).fit(F[train], target[train])
            oof[np.ix_(test, est.classes_)] = est.predict_proba(F[test])
        oof = (oof + 1e-3) / (1 + 1e-3 * len(self.classes_))
        self.temperature_ = fit_temperature(np.log(oof), target)
        self.oof_proba_ = apply_temperature(oof, self.temperature_)
        self.forest_ = self._forest().fit(F, target)
        return self

    def predict_proba(self, X) -> np.ndarray:
        from matloop.models.diffraction_cnn import apply_temperature

        check_is_fitted(self, "forest_")
        raw = np.zeros((len(X), len(self.classes_)))
        raw[:, self.forest_.classes_] = self.forest_.predict_proba(self._select(X))
        return apply_temperature((raw + 1e-3) / (1 + 1e-3 * len(self.classes_)), self.temperature_)

    def predict(self, X) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class PatternAutoClassifier(ClassifierMixin, BaseEstimator):
    """CNN ensemble, peak forest, nearest-reference match or their blend, whichever has the lowest
    out-of-fold log loss (module docs).

    Parameters
    ----------
    cv : int
        Stratified folds shared by both candidates (also the CNN's ensemble size).
    candidates : tuple of str
        Among ``"cnn"``, ``"forest"`` and ``"match"``.
    epochs, augment, n_threads : see :class:`~matloop.models.diffraction_cnn.PatternCNNClassifier`.
    blend : bool
        Also score the mean of the candidates' probabilities (:class:`PatternBlendClassifier`) as a candidate.
    recalibrate_blend : bool
        Fit one temperature on the blend's out-of-fold probabilities (see the module docs).
    random_state : int or None
    """

    def __init__(self, cv: int = 4, candidates: tuple[str, ...] = ("cnn", "forest", "match"), epochs: int = 30,
                 augment: bool = True, n_threads: int | None = 1, blend: bool = True,
                 recalibrate_blend: bool = True, random_state: int | None = 0):
        self.cv, self.candidates, self.epochs, self.augment = cv, candidates, epochs, augment
        self.n_threads, self.blend, self.random_state = n_threads, blend, random_state
        self.recalibrate_blend = recalibrate_blend

    def fit(self, X, y) -> PatternAutoClassifier:
        from sklearn.model_selection import StratifiedKFold

        from matloop.models.diffraction_cnn import PatternCNNClassifier
        from matloop.progress import say

        self.classes_, target = np.unique(np.asarray(y), return_inverse=True)
        self.n_features_in_ = int(np.shape(X)[1])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            folds = list(StratifiedKFold(int(self.cv), shuffle=True, random_state=self.random_state).split(
                np.zeros(len(target)), target))
        fitted, self.scores_ = {}, {}
        names = list(self.candidates)
        if "cnn" in names:
            try:
                import torch  # noqa: F401
            except ImportError:
                say("PyTorch is not installed: the CNN candidate is skipped (pip install \"matloop[torch]\")")
                names.remove("cnn")
        for name in names:
            if name == "cnn":
                model = PatternCNNClassifier(n_members=int(self.cv), epochs=self.epochs, augment=self.augment,
                                             n_threads=self.n_threads, random_state=self.random_state).fit(X, y)
            elif name == "forest":
                model = PeakForestClassifier(cv=int(self.cv), random_state=self.random_state).fit(X, y, folds=folds)
            elif name == "match":
                from matloop.models.pattern_match import PatternMatchClassifier

                model = PatternMatchClassifier().fit(X, y)
            else:
                raise ValueError(f"unknown candidate {name!r}; known: cnn, forest, match")
            fitted[name] = model
            oof = model.oof_proba_
            self.scores_[name] = {"log_loss": _log_loss(oof, target),
                                  "accuracy": float(np.mean(np.argmax(oof, axis=1) == target))}
        if not fitted:
            raise ValueError("no candidate model to fit")
        if self.blend and len(fitted) > 1:  # the mean of the candidates: its out-of-fold probabilities are theirs
            fitted["blend"] = PatternBlendClassifier(tuple(fitted), bool(self.recalibrate_blend)).from_models(
                list(fitted.values()), y)
            oof = fitted["blend"].oof_proba_
            self.scores_["blend"] = {"log_loss": _log_loss(oof, target),
                                     "accuracy": float(np.mean(np.argmax(oof, axis=1) == target))}
        self.chosen_ = min(self.scores_, key=lambda n: self.scores_[n]["log_loss"])
        self.model_ = fitted[self.chosen_]
        self.oof_proba_ = self.model_.oof_proba_
        say("pattern models by out-of-fold log loss: " + ", ".join(
            f"{n} {s['log_loss']:.3f} (accuracy {s['accuracy']:.2f})" for n, s in self.scores_.items())
            + f"; chosen: {self.chosen_}")
        return self

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self, "model_")
        return self.model_.predict_proba(X)

    def predict(self, X) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def cam(self, X) -> np.ndarray | None:
        """Class activation maps of the CNN (None when the chosen model has no CNN)."""
        return self.model_.cam(X) if hasattr(self.model_, "cam") else None


def build_pattern_model(dataset, args):
    """The :class:`~matloop.models.pipeline.MaterialModel` ``matloop fit`` builds for pattern input."""
    from matloop.models.pipeline import MaterialModel
    from matloop.models.registry import make_model

    params = {"unit": getattr(args, "x_unit", None) or "2theta",
              "wavelength": getattr(args, "wavelength", None) or 1.5406,
              "skip_invalid": bool(getattr(args, "skip_invalid", False))}
    if dataset.task == "classification" and args.model == "auto":
        estimator = PatternAutoClassifier(random_state=args.seed)
    elif dataset.task == "classification" and args.model == "cnn":
        from matloop.models.diffraction_cnn import PatternCNNClassifier, _import_torch

        _import_torch()
        estimator = PatternCNNClassifier(n_threads=1, random_state=args.seed)
    else:
        extra = {"time_budget": getattr(args, "time_budget", None) or 600.0, "n_jobs": -1} \
            if args.model == "auto" and dataset.task == "regression" else {}
        estimator = make_model(args.model, dataset.task, random_state=args.seed, **extra)
    return MaterialModel(estimator, kind="pattern", featurizer=args.featurizer or "pattern", task=dataset.task,
                         featurizer_params=params if (args.featurizer or "pattern") == "pattern" else None,
                         bounds=getattr(args, "bounds", "auto"))
