"""Inputs and surrogate models for design: material keys, features, and a self-choosing surrogate.

- :func:`material_keys` gives each row a canonical identity (normalised formula, canonical SMILES,
  structure path, or the parameter vector), so the ledger can recognise a material however it is
  written (``Fe2O3`` and ``O3Fe2`` are one candidate).
- :func:`featurize` turns any :class:`~matloop.io.Dataset` into a numeric matrix with the default
  featurizer of its input kind (parameter tables: their numeric columns).
- :class:`AutoSurrogate` is the default model of a campaign: it chooses, by cross-validated
  predictive log-likelihood on the data measured so far, between a Gaussian process (smooth, few
  parameters) and a random forest with jackknife variance (rugged, many features), so the choice
  follows the data rather than a fixed rule.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.model_selection import KFold

from matloop.io.dataset import Dataset

SURROGATES = ("auto", "rf", "gp", "et", "gbm")


def material_keys(dataset: Dataset, frame: pd.DataFrame | None = None) -> list[str]:
    """Canonical identity of each row's material (see module docstring)."""
    frame = dataset.frame if frame is None else frame
    if dataset.kind == "composition":
        from matloop.io.formula import parse_formulas

        return parse_formulas(frame[dataset.input].to_numpy(dtype=object), column=dataset.input).formulas(9)
    if dataset.kind == "molecule":
        from matloop.represent.molecule import canonical_smiles

        return list(canonical_smiles(frame[dataset.input].to_numpy(dtype=object), column=dataset.input))
    if dataset.kind == "structure":
        return [str(v) for v in frame[dataset.input]]
    return parameter_keys(frame, dataset.parameter_columns)


def parameter_keys(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    """JSON of the parameter values (numbers to 10 significant digits: 300 and 300.0 are one key)."""
    def norm(v):
        if isinstance(v, str):  # values read back from a text file: "300" is the number 300
            try:
                v = float(v.strip())
            except ValueError:
                return v.strip()
        if isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool):
            return float(f"{float(v):.10g}")
        return str(v)
    return [json.dumps([norm(v) for v in row], separators=(",", ":"))
            for row in frame[columns].itertuples(index=False, name=None)]


def featurize(dataset: Dataset, frame: pd.DataFrame | None = None, featurizer=None) -> pd.DataFrame:
    """Numeric features of every row of ``frame`` (default: the dataset's own frame)."""
    frame = dataset.frame if frame is None else frame
    if dataset.kind == "parameters":
        cols = dataset.parameter_columns
        return frame[cols].astype(float).reset_index(drop=True)
    if featurizer is None:
        from matloop.represent.registry import default_featurizer_for

        featurizer = default_featurizer_for(dataset.kind)
    values = frame[dataset.input]
    if dataset.kind == "structure":
        from matloop.represent.structure import read_structures

        base = getattr(dataset, "base_dir", None)
        values = read_structures(list(values), column=dataset.input, base_dir=base)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # undefined-descriptor notes: the models impute NaN
        out = featurizer.fit_transform(values) if hasattr(featurizer, "fit_transform") else featurizer.transform(values)
    return pd.DataFrame(out).reset_index(drop=True)


def make_surrogate(name: str = "auto", random_state: int | None = 0):
    """A fresh surrogate by name: ``auto``, ``rf``, ``et``, ``gp`` or ``gbm``."""
    if name == "auto":
        return AutoSurrogate(random_state=random_state)
    if name in ("rf", "et"):
        from matloop.models.forest import ExtraTreesRegressor, RandomForestRegressor

        cls = RandomForestRegressor if name == "rf" else ExtraTreesRegressor
        return cls(n_estimators=200, random_state=random_state)
    if name == "gp":
        from matloop.models.gp import GaussianProcessRegressor

        return GaussianProcessRegressor(random_state=random_state)
    if name == "gbm":
        from matloop.models.boosting import GradientBoostingEnsembleRegressor

        return GradientBoostingEnsembleRegressor(random_state=random_state)
    raise ValueError(f"unknown surrogate {name!r}; known: {', '.join(SURROGATES)}")


class AutoSurrogate(RegressorMixin, BaseEstimator):
    """Chooses a GP or a random forest by cross-validated Gaussian log-likelihood.

    Parameters
    ----------
    candidates : tuple of str
        Surrogate names to choose from.
    cv : int
        Folds of the inner cross-validation (fewer when data is scarce).
    max_cv_rows : int
        With more measured rows than this the choice uses a random subset (speed).
    random_state : int or None

    Attributes
    ----------
    chosen_ : str
        Name of the selected surrogate; ``scores_`` holds each candidate's mean held-out NLL.
    """

    def __init__(self, candidates: tuple[str, ...] = ("gp", "rf"), cv: int = 5, max_cv_rows: int = 400,
                 random_state: int | None = 0):
        self.candidates = candidates
        self.cv = cv
        self.max_cv_rows = max_cv_rows
        self.random_state = random_state

    def fit(self, X, y) -> AutoSurrogate:
        y = np.asarray(y, dtype=float)
        n = len(y)
        self.scores_: dict[str, float] = {}
        if n < 8 or len(self.candidates) == 1:
            self.chosen_ = self.candidates[0]
        else:
            rng = np.random.default_rng(self.random_state)
            rows = np.arange(n) if n <= self.max_cv_rows else np.sort(rng.choice(n, self.max_cv_rows, replace=False))
            Xs = _take(X, rows)
            ys = y[rows]
            folds = KFold(min(self.cv, len(rows) // 2), shuffle=True, random_state=self.random_state)
            for name in self.candidates:
                nll = []
                for train, test in folds.split(Xs):
                    m = make_surrogate(name, self.random_state).fit(_take(Xs, train), ys[train])
                    mu, sd = m.predict(_take(Xs, test), return_std=True)
                    sd = np.maximum(sd, 1e-9 * (np.std(ys) + 1e-12))
                    nll.append(np.mean(0.5 * np.log(2 * np.pi * sd**2) + 0.5 * ((ys[test] - mu) / sd) ** 2))
                self.scores_[name] = float(np.mean(nll))
            self.chosen_ = min(self.scores_, key=self.scores_.get)
        self.model_ = clone(make_surrogate(self.chosen_, self.random_state)).fit(X, y)
        self.n_features_in_ = getattr(self.model_, "n_features_in_", None)
        return self

    def predict(self, X, return_std: bool = False):
        return self.model_.predict(X, return_std=return_std)


def _take(X, rows):
    return X.iloc[rows] if isinstance(X, pd.DataFrame) else np.asarray(X)[rows]
