"""Forward models for molecular design: SMILES -> predicted mean and std of each target property.

:class:`PropertyPredictor` holds one regressor per target and, optionally, the featurizer they were
trained on. Generators evaluate the same molecule many times (resampled particles, survivors of a
GA population), so predictions are cached by canonical SMILES and each new molecule is featurized
once for all targets.

Trained on the fly (:meth:`PropertyPredictor.train`) the models are matloop's
:class:`~matloop.models.forest.RandomForestRegressor` (infinitesimal-jackknife variance plus an
out-of-bag noise term) on :func:`~matloop.represent.molecule.default_molecule_featurizer` features.
A fitted model that takes SMILES itself (e.g. a :class:`matloop.models.pipeline.MaterialModel`
loaded with :func:`matloop.models.load_model`) is used as it is when no featurizer is given.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.base import clone

__all__ = ["PropertyPredictor", "default_estimator"]


def default_estimator(random_state: int | None = 0, n_estimators: int = 150):
    """matloop's random forest with uncertainty (a scikit-learn stand-in if the models layer is absent)."""
    try:
        from matloop.models.forest import RandomForestRegressor
    except ImportError:  # pragma: no cover - the models layer ships with matloop
        return _TreeSpreadForest(n_estimators=n_estimators, random_state=random_state)
    return RandomForestRegressor(n_estimators=n_estimators, random_state=random_state)


class _TreeSpreadForest:  # pragma: no cover - fallback only
    """scikit-learn random forest whose std is the spread of its trees."""

    def __init__(self, n_estimators: int = 150, random_state: int | None = 0):
        from sklearn.ensemble import RandomForestRegressor

        self.forest = RandomForestRegressor(n_estimators=n_estimators, max_features=0.33, random_state=random_state)

    def fit(self, X, y):
        self.forest.fit(np.nan_to_num(np.asarray(X, dtype=float)), y)
        return self

    def predict(self, X, return_std: bool = False):
        X = np.nan_to_num(np.asarray(X, dtype=float))
        trees = np.array([t.predict(X) for t in self.forest.estimators_])
        return (trees.mean(axis=0), trees.std(axis=0)) if return_std else trees.mean(axis=0)


class PropertyPredictor:
    """Predicted mean and std of several target properties for SMILES, cached per molecule.

    Parameters
    ----------
    models : mapping of target name -> fitted regressor
        Each has ``predict(X, return_std=True)``. ``X`` is the featurizer's output, or the list of
        SMILES itself when ``featurizer`` is None.
    featurizer : transformer or None
        Turns a list of SMILES into the models' feature matrix.
    """

    def __init__(self, models: Mapping[str, object], featurizer=None):
        if not models:
            raise ValueError("need at least one forward model")
        for name, model in models.items():
            if not hasattr(model, "predict"):
                raise TypeError(f"the model for {name!r} has no predict method")
        self.models = dict(models)
        self.featurizer = featurizer
        self.targets = list(self.models)
        self._cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    @classmethod
    def train(cls, smiles: Sequence[str], targets: pd.DataFrame, featurizer=None, estimator=None,
              random_state: int | None = 0) -> PropertyPredictor:
        """Fit one regressor per column of ``targets`` on the rows where that column is measured.

        ``featurizer`` defaults to the default molecule featurizer, ``estimator`` (cloned per
        target) to :func:`default_estimator`.
        """
        if featurizer is None:
            from matloop.represent.molecule import default_molecule_featurizer

            featurizer = default_molecule_featurizer()
        features = _featurize(featurizer, list(smiles), fit=True)
        models = {}
        for name in targets.columns:
            y = pd.to_numeric(targets[name], errors="coerce").to_numpy(dtype=float)
            rows = np.flatnonzero(np.isfinite(y))
            if len(rows) < 5:
                raise ValueError(f"target {name!r} has {len(rows)} measured rows; need at least 5 to train a model")
            base = default_estimator(random_state) if estimator is None else clone(estimator)
            models[name] = base.fit(features.iloc[rows], y[rows])
        return cls(models, featurizer)

    def predict(self, smiles: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(mean, std), each of shape ``(len(smiles), n_targets)``; new molecules are predicted once."""
        smiles = list(smiles)
        new = list(dict.fromkeys(s for s in smiles if s not in self._cache))
        if new:
            X = _featurize(self.featurizer, new) if self.featurizer is not None else new
            means, stds = [], []
            for name in self.targets:
                mean, std = self.models[name].predict(X, return_std=True)
                means.append(np.asarray(mean, dtype=float).reshape(-1))
                stds.append(np.asarray(std, dtype=float).reshape(-1))
            mean_block, std_block = np.column_stack(means), np.column_stack(stds)
            for i, s in enumerate(new):
                self._cache[s] = (mean_block[i], std_block[i])
        if not smiles:
            return np.empty((0, len(self.targets))), np.empty((0, len(self.targets)))
        mean = np.array([self._cache[s][0] for s in smiles])
        std = np.array([self._cache[s][1] for s in smiles])
        return mean, std

    @property
    def n_predicted(self) -> int:
        """Distinct molecules predicted so far (the generator's evaluation budget)."""
        return len(self._cache)


def _featurize(featurizer, smiles: list[str], fit: bool = False) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # undefined descriptors are NaN and imputed by the models
        out = featurizer.fit_transform(smiles) if fit and hasattr(featurizer, "fit_transform") else \
            featurizer.transform(smiles)
    return pd.DataFrame(out).reset_index(drop=True)
