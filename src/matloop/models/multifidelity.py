"""Multi-fidelity regression: a cheap property as a prior for an expensive one.

Experimental band gaps are expensive; DFT (PBE) gaps are cheap and strongly related (PBE
underestimates gaps by a roughly proportional amount). :class:`MultiFidelityRegressor` uses a
cheap property, either predicted by pre-trained library models (``mp_gap``, ``oqmd_bandgap``,
``aflow_egap``, ...) or supplied by the user in a column (their own DFT values), in one of two
ways:

* ``mode="residual"`` (default; Delta-learning with a scale, the autoregressive model of Kennedy
  & O'Hagan 2000): ``y = rho . c(x) + beta + delta(x)``. ``rho`` and ``beta`` come from a
  least-squares fit of ``y`` on the cheap values ``c``; the discrepancy ``delta`` is learned by
  the base model (a forest with uncertainty by default) from the composition features and ``c``.
  The prediction is the scaled cheap value plus the predicted discrepancy; its std is that of
  the discrepancy model. With ``base_model="gp"`` this is a GP whose prior mean is the scaled
  cheap property.
* ``mode="feature"``: the cheap values are simply extra features of the base model.

Where the composition is in the computed database a library model was trained on (``lookup=True``,
the default), its computed value replaces the model's prediction: the database is the cheap
property itself, the model only its approximation. On 100 Matbench expt_gap rows this lowered the
MAE from 0.467 to 0.404 eV (PBE gaps of 73 % of the compositions are in the bundled MP set).

With few expensive data the residual form wins: the discrepancy is smaller and smoother than the
property itself, so it needs fewer points to learn (tested on synthetic data in the test suite,
benchmarked on Matbench ``expt_gap`` in ``benchmarks/transfer.py``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.utils.validation import check_is_fitted

from matloop.errors import InputError, error_table
from matloop.models.base import check_min_samples, check_target, gaussian_interval
from matloop.models.pretrained import composition_inputs
from matloop.models.pretrained.lookup import can_look_up, computed_values
from matloop.models.pretrained.network import N_MAGPIE
from matloop.models.transfer import linear_fit, make_base_model
from matloop.models.transfer_features import TransferFeaturizer, compositions_from, resolve_sources

MODES = ("residual", "feature")
FEATURES = ("magpie", "transfer", "predictions", "none")


class MultiFidelityRegressor(RegressorMixin, BaseEstimator):
    """Learn an expensive property from a cheap one plus a learned discrepancy, with uncertainty.

    Parameters
    ----------
    cheap : str, list of str or None, default="mp_gap"
        Library model(s) predicting the cheap property (``matloop models list``); ``None`` when
        the cheap values come only from ``cheap_column``.
    cheap_column : str, optional
        Column of a DataFrame ``X`` with user-supplied cheap values. Missing values are filled
        from the ``cheap`` models' prediction, or refused (InputError listing the rows) if there
        are none. With both, the column is the cheap property and the models add a second one.
    mode : {"residual", "feature"}, default="residual"
    features : str, default="magpie+predictions"
        What else the base model sees besides the cheap values: ``"magpie"`` statistics,
        ``"transfer"`` (the cheap models' last hidden layers), ``"predictions"`` (the predictions
        of every other library model, e.g. the probability of being a metal), ``"none"``, or a
        combination such as ``"magpie+predictions"`` (the default: on 100 Matbench expt_gap rows
        the library's other predictions, notably the probability of being a metal, lowered the
        MAE from 0.477 to 0.474 eV, with magpie statistics 0.466 vs 0.479 without).
    lookup : bool, default=True
        Use the computed value of the cheap property where the composition is in the bundled
        dataset the library model was trained on (median over polymorphs; :mod:`matloop.models.
        pretrained.lookup`), the model's prediction elsewhere; a ``SOURCE:in_database`` column
        tells the base model which rows were looked up. Off, every cheap value is predicted.
    base_model : str or estimator, default="auto"
        A name of :data:`matloop.models.transfer.BASE_MODELS` (``"auto"``: extra trees with the
        median point prediction) or a regressor with ``predict(X, return_std=True)``.
    formula_column : str, optional
        Formula column of a DataFrame ``X``.
    library : path, optional
    random_state : int, default=0

    Attributes
    ----------
    rho_ : ndarray
        Scale of each cheap column (``residual`` mode); ``intercept_`` the offset.
    cheap_names_ : list of str
        Cheap columns: ``column:NAME`` and/or, per library model, ``NAME:pred`` (predicted) or
        ``NAME:lookup`` (computed value where known, predicted elsewhere).
    model_ : the fitted base model (of the discrepancy in ``residual`` mode)
    """

    def __init__(self, cheap="mp_gap", *, cheap_column: str | None = None, mode: str = "residual",
                 prior_loss: str = "l2",
                 features: str = "magpie+predictions", lookup: bool = True, base_model="auto",
                 formula_column: str | None = None,
                 library: str | Path | None = None, random_state=0):
        self.cheap = cheap
        self.cheap_column = cheap_column
        self.mode = mode
        self.prior_loss = prior_loss
        self.features = features
        self.lookup = lookup
        self.base_model = base_model
        self.formula_column = formula_column
        self.library = library
        self.random_state = random_state

    def _parts(self) -> list[str]:
        parts = [p.strip() for p in str(self.features).split("+")]
        bad = [p for p in parts if p not in FEATURES]
        if bad:
            raise ValueError(f"features must be {' or '.join(FEATURES)} or a '+' combination, got {self.features!r}")
        return [p for p in parts if p != "none"]

    def _cheap_and_features(self, X) -> tuple[np.ndarray, pd.DataFrame, list[str]]:
        """The cheap columns, the base model's features (cheap columns first) and the cheap names."""
        if self.cheap_column is not None and not (isinstance(X, pd.DataFrame) and self.cheap_column in X.columns):
            raise ValueError(f"cheap_column={self.cheap_column!r}: X must be a DataFrame with that column")
        comps, _ = compositions_from(X, self.formula_column)
        inputs = composition_inputs(comps)
        parts = self._parts()
        columns, names, blocks = [], [], []
        if self.sources_:
            featurizer = TransferFeaturizer(self.sources_, layer="both", library=self.library).fit()
            values = featurizer.transform_inputs(inputs)
            block = values.shape[1] // len(self.sources_)
            for k, source in enumerate(self.sources_):
                predicted = values[:, (k + 1) * block - 1]
                if self.lookup and can_look_up(source):
                    computed = computed_values(source, comps)
                    known = ~np.isnan(computed)
                    columns.append(np.where(known, computed, predicted))
                    names.append(f"{source}:lookup")
                    blocks.append(pd.DataFrame({f"{source}:in_database": known.astype(float)}))
                else:
                    columns.append(predicted)
                    names.append(f"{source}:pred")
                if "transfer" in parts:
                    blocks.append(pd.DataFrame(values[:, k * block:(k + 1) * block - 1],
                                               columns=featurizer.blocks_[source][:-1]))
        if self.cheap_column is not None:
            user = self._user_column(X[self.cheap_column], columns[0] if columns else None)
            columns.insert(0, user)
            names.insert(0, f"column:{self.cheap_column}")
        if "predictions" in parts:
            others = [s for s in resolve_sources("all", self.library) if s not in self.sources_]
            if others:
                featurizer = TransferFeaturizer(others, layer="prediction", library=self.library,
                                                lookup=self.lookup).fit()
                blocks.append(pd.DataFrame(featurizer.transform_inputs(inputs, comps),
                                           columns=featurizer.get_feature_names_out()))
        if "magpie" in parts:
            from matloop.represent.element_property import magpie

            blocks.append(pd.DataFrame(inputs[:, :N_MAGPIE], columns=magpie().get_feature_names_out()))
        cheap = np.column_stack(columns)
        return cheap, pd.concat([pd.DataFrame(cheap, columns=names), *blocks], axis=1), names

    def _user_column(self, series: pd.Series, fill: np.ndarray | None) -> np.ndarray:
        values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
        bad_text = np.flatnonzero(np.isnan(values) & series.notna().to_numpy())
        missing = np.flatnonzero(np.isnan(values) & series.isna().to_numpy())
        records = [{"row": int(i) + 1, "column": self.cheap_column, "value": series.iloc[i],
                    "reason": "cheap property is not a number"} for i in bad_text]
        if fill is None:
            records += [{"row": int(i) + 1, "column": self.cheap_column, "value": None,
                         "reason": "cheap property is missing (give cheap= models to fill it)"} for i in missing]
        if records:
            raise InputError(f"column '{self.cheap_column}' has unusable values",
                             error_table(sorted(records, key=lambda r: r["row"])))
        if fill is not None and missing.size:
            values = values.copy()
            values[missing] = fill[missing]
        return values

    def fit(self, X, y) -> MultiFidelityRegressor:
        """Fit the scale of the cheap property and the discrepancy model (or the feature model)."""
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        parts = self._parts()
        if self.cheap is None and self.cheap_column is None:
            raise ValueError("give cheap= (library models) and/or cheap_column= (user-supplied values)")
        if "transfer" in parts and self.cheap is None:
            raise ValueError("features='transfer' needs cheap= library models")
        self.sources_ = resolve_sources(self.cheap, self.library) if self.cheap is not None else []
        y = check_target(y, len(y) if hasattr(y, "__len__") else 0)
        check_min_samples(len(y), 4)
        cheap, frame, self.cheap_names_ = self._cheap_and_features(X)
        if len(frame) != len(y):
            raise ValueError(f"X has {len(frame)} rows but y has {len(y)}")
        target = y
        if self.mode == "residual":
            coef = linear_fit(np.column_stack([cheap, np.ones(len(y))]), y, self.prior_loss)
            self.rho_, self.intercept_ = coef[:-1], float(coef[-1])
            target = y - self._prior(cheap)
        base = make_base_model(self.base_model, "regression", self.random_state) \
            if isinstance(self.base_model, str) else clone(self.base_model)
        self.feature_names_out_ = np.asarray(frame.columns, dtype=object)
        self.model_ = base.fit(frame, target)
        return self

    def _prior(self, cheap: np.ndarray) -> np.ndarray:
        return cheap @ self.rho_ + self.intercept_

    def predict_cheap(self, X) -> pd.DataFrame:
        """The cheap values used for ``X`` (one column per cheap source)."""
        check_is_fitted(self, "model_")
        cheap, _, names = self._cheap_and_features(X)
        return pd.DataFrame(cheap, columns=names)

    def predict(self, X, return_std: bool = False):
        """Predicted expensive property; with ``return_std=True`` also its std."""
        check_is_fitted(self, "model_")
        cheap, frame, _ = self._cheap_and_features(X)
        mean, std = self.model_.predict(frame, return_std=True)
        if self.mode == "residual":
            mean = mean + self._prior(cheap)
        return (mean, std) if return_std else mean

    def predict_interval(self, X, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds of the central ``1 - alpha`` Gaussian interval (``alpha``: miscoverage)."""
        mean, std = self.predict(X, return_std=True)
        return gaussian_interval(mean, std, 1.0 - alpha)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        return tags

