"""End-to-end models: raw materials in, calibrated predictions with a domain flag out.

:class:`MaterialModel` joins a featurizer (by registry name, so a saved model can rebuild it safely),
an estimator with uncertainty, and an :class:`~matloop.models.domain.ApplicabilityDomain`. It is
what ``matloop fit`` saves and ``matloop predict`` / ``matloop screen`` load.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.stats import norm
from sklearn.base import BaseEstimator, clone

from matloop.models.domain import ApplicabilityDomain
from matloop.models.preprocessing import FeatureCleaner


class MaterialModel(BaseEstimator):
    """Featurize, predict with uncertainty, flag points outside the applicability domain.

    Parameters
    ----------
    estimator : estimator
        Regressor with ``predict(X, return_std=True)`` or classifier with ``predict_proba``.
    kind : {"composition", "molecule", "structure", "parameters"}
        What the inputs are; parameters are used as given (numeric columns).
    featurizer : str or None
        Registry name of the featurizer (``None``: the default for ``kind``).
    task : {"regression", "classification"}
    recalibrate : bool
        Rescale the regressor's std on cross-validated residuals (Palmer et al. 2022) unless the
        estimator calibrates itself (AutoModel does).
    domain : bool
        Fit an applicability domain on the training features.
    extra_inputs : list of str or None
        Columns used as features beside the material's own (processing conditions, a space-group
        number, a solvent): ``X`` is then a frame with the material column first and these columns.
        Numbers are used as given; text labels are one-hot encoded and SMILES choices get a chemical
        encoding (:class:`~matloop.represent.parameter_encoder.ParameterEncoder`, saved with the model
        as ``extra_encoding_``; a label not seen in fit is an error at predict time).
    bounds : "auto", None or (lower, upper)
        Known bounds of a regression target (either side None), e.g. ``(0, None)`` for a band gap or
        ``(0, 1)`` for a fraction. ``"auto"``: a lower bound of 0 when every training value is
        non-negative. Predictions and intervals stay inside them; ``bounds_`` holds the pair used.
    featurizer_params : dict or None
        Keyword parameters of the featurizer (plain values), e.g. how pattern files are read
        (``{"unit": "q"}``); saved with the model.
    """

    def __init__(self, estimator=None, kind: str = "composition", featurizer: str | None = None,
                 task: str = "regression", recalibrate: bool = True, domain: bool = True,
                 extra_inputs: list[str] | None = None, bounds: str | tuple | None = "auto",
                 featurizer_params: dict | None = None):
        self.estimator = estimator
        self.kind = kind
        self.featurizer = featurizer
        self.task = task
        self.recalibrate = recalibrate
        self.domain = domain
        self.extra_inputs = extra_inputs
        self.bounds = bounds
        self.featurizer_params = featurizer_params

    # ------------------------------------------------------------------ features
    def _make_featurizer(self):
        from matloop.represent.registry import DEFAULT_FOR_KIND, get_featurizer

        if self.kind == "parameters":
            return None
        return get_featurizer(self.featurizer or DEFAULT_FOR_KIND[self.kind], **(self.featurizer_params or {}))

    def features(self, X, fit: bool = False, y=None) -> pd.DataFrame:
        """The feature matrix of raw inputs (a column of materials, or parameter columns); ``y`` reaches a
        featurizer whose features depend on the target (``uses_target``: the structure AutoModel's network)."""
        if self.kind == "parameters":  # text labels and SMILES choices are encoded (represent.parameter_encoder)
            frame = pd.DataFrame(X)
            if fit:
                self.parameter_columns_ = [str(c) for c in frame.columns]
                self.parameter_encoding_ = _fit_encoding(frame[self.parameter_columns_])
            return _encode(getattr(self, "parameter_encoding_", None), frame[self.parameter_columns_])
        extra = list(self.extra_inputs or [])
        if extra:
            missing = [c for c in extra if not isinstance(X, pd.DataFrame) or c not in X.columns]
            if missing:
                raise ValueError(f"the model also needs the extra input column(s) {', '.join(map(repr, missing))} "
                                 "beside the material column")
        values = X.iloc[:, 0] if isinstance(X, pd.DataFrame) else X
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # undefined descriptors become NaN: imputed downstream
            if fit:
                self.featurizer_ = self._make_featurizer()
            if self.kind == "structure" and getattr(self.featurizer_, "feature_cache", True):
                from matloop.represent.feature_cache import cached_transform  # rows seen before are read back

                out = cached_transform(self.featurizer_, values, fit=fit)
            elif fit and getattr(self.featurizer_, "uses_target", False):
                out = self.featurizer_.fit_transform(values, y)
            elif fit:
                out = self.featurizer_.fit_transform(values)
            else:
                out = self.featurizer_.transform(values)
        out = pd.DataFrame(out).reset_index(drop=True)
        from matloop.io.rows import source_rows
        from matloop.io.validate import check_finite_features

        # a row whose features overflowed is a bad row (named by its file row), never imputed
        check_finite_features(out, values, str(getattr(values, "name", None) or self.kind), source_rows(values, len(out)))
        if not extra:
            return out
        if fit:  # a categorical extra input (a solvent, an atmosphere) is encoded, numbers are used as given
            self.extra_encoding_ = _fit_encoding(X[extra])
        encoding = getattr(self, "extra_encoding_", None)
        extra_frame = _numeric(X[extra]) if encoding is None else _encode(encoding, X[extra])
        clash = [c for c in extra_frame.columns if c in out.columns]
        if clash:
            raise ValueError(f"extra input {clash[0]!r} has the name of a feature the featurizer makes; rename the column")
        return pd.concat([out, extra_frame.reset_index(drop=True)], axis=1)

    # ------------------------------------------------------------------ fit / predict
    def fit(self, X, y) -> MaterialModel:
        """Featurize ``X``, fit the estimator (recalibrated) and the applicability domain."""
        F = self.features(X, fit=True, y=y)
        self.feature_names_ = [str(c) for c in F.columns]
        est = clone(self.estimator) if self.estimator is not None else _default(self.task)
        if self.task == "regression" and self.recalibrate and not getattr(est, "_calibrates_itself", False):
            from matloop.models.calibration import RecalibratedRegressor

            est = RecalibratedRegressor(est, method="scale", cv=5)
        y = np.asarray(y)
        if self.task == "regression":
            from matloop.models.predictive import detect_bounds

            self.bounds_ = detect_bounds(y, self.bounds)
            if "bounds" in est.get_params(deep=False):  # AutoModel: its distribution is censored there
                est.set_params(bounds=self.bounds_)
        self.estimator_ = est.fit(F, y)
        if self.domain:
            self.cleaner_ = FeatureCleaner(scale=False).fit(F.to_numpy(dtype=float))
            inner = getattr(self.estimator_, "estimator_", self.estimator_)
            weights = getattr(inner, "feature_importances_", None)
            if weights is not None:
                weights = np.asarray(weights)[self.cleaner_.keep_]
                if not np.any(weights > 0):
                    weights = None
            self.domain_ = ApplicabilityDomain(feature_weights=weights).fit(
                self.cleaner_.transform(F.to_numpy(dtype=float)))
        return self

    def predict(self, X, return_std: bool = False):
        """Predictions (regression: optionally with std; classification: labels)."""
        F = self.features(X)
        if self.task == "classification":
            return self.estimator_.predict(F)
        out = self.estimator_.predict(F, return_std=return_std)
        if return_std:
            return self._clip(out[0]), out[1]
        return self._clip(out)

    def _clip(self, values: np.ndarray) -> np.ndarray:
        from matloop.models.predictive import clip_to_bounds

        return clip_to_bounds(values, getattr(self, "bounds_", None))

    @property
    def predict_distribution(self):
        """The estimator's predictive distribution of raw inputs, inside the bounds (AutoModel has one;
        None for an estimator without, so that callers can test for it)."""
        if self.task != "regression" or not hasattr(getattr(self, "estimator_", None), "predict_distribution"):
            return None

        def predict_distribution(X, features: pd.DataFrame | None = None):
            F = self.features(X) if features is None else features
            return self.estimator_.predict_distribution(F)

        return predict_distribution

    def predict_interval(self, X, alpha: float = 0.05, features: pd.DataFrame | None = None
                         ) -> tuple[np.ndarray, np.ndarray]:
        """Central ``1 - alpha`` prediction interval inside the bounds: the estimator's own (AutoModel's
        predictive distribution) where it has one, else the Gaussian ``mean +- z std`` clipped."""
        if self.task != "regression":
            raise TypeError("prediction intervals are for regression models")
        F = self.features(X) if features is None else features
        if hasattr(self.estimator_, "predict_interval"):
            lower, upper = self.estimator_.predict_interval(F, alpha=alpha)
        else:
            mean, std = self.estimator_.predict(F, return_std=True)
            z = norm.ppf(1 - alpha / 2)
            lower, upper = mean - z * std, mean + z * std
        return self._clip(lower), self._clip(upper)

    @property
    def classes_(self) -> np.ndarray:
        """Class labels of a fitted classifier."""
        return self.estimator_.classes_

    def predict_proba(self, X) -> np.ndarray:
        return self.estimator_.predict_proba(self.features(X))

    def in_domain(self, X, features: pd.DataFrame | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(in-domain flag, distance score) per row; all in domain when no domain was fitted."""
        F = self.features(X) if features is None else features
        if getattr(self, "domain_", None) is None:
            return np.ones(len(F), dtype=bool), np.zeros(len(F))
        Z = self.cleaner_.transform(F.to_numpy(dtype=float))
        return self.domain_.in_domain(Z), self.domain_.relative_score(Z)

    def predict_table(self, X, confidence: float = 0.95) -> pd.DataFrame:
        """The columns ``matloop predict`` adds: regression ``prediction, std, lower_95, upper_95,
        in_domain``; classification ``probability, prediction, in_domain`` (binary: the probability of the
        second class; three or more classes: of the predicted class, then ``probability_<class>`` for
        every class)."""
        F = self.features(X)
        flag, score = self.in_domain(X, features=F)
        if self.task == "classification":
            proba = self.estimator_.predict_proba(F)
            classes = self.estimator_.classes_
            labels = self.estimator_.predict(F)
            if len(classes) == 2:
                out = pd.DataFrame({"probability": proba[:, 1], "prediction": labels})
            else:
                column = np.searchsorted(classes, labels)
                out = pd.DataFrame({"probability": proba[np.arange(len(labels)), column], "prediction": labels,
                                    **{f"probability_{c}": proba[:, j] for j, c in enumerate(classes)}})
        else:
            mean, std = self.estimator_.predict(F, return_std=True)
            if hasattr(self.estimator_, "predict_distribution"):  # AutoModel: one prediction pass, not two
                dist = self.estimator_.predict_distribution(F, mean_std=(mean, std))
                lower, upper = (self._clip(v) for v in dist.interval(confidence))
            else:
                lower, upper = self.predict_interval(X, alpha=1 - confidence, features=F)
            pct = int(round(confidence * 100))
            out = pd.DataFrame({"prediction": self._clip(mean), "std": std, f"lower_{pct}": lower,
                                f"upper_{pct}": upper})
        out["in_domain"] = flag
        out["domain_distance"] = score
        return out


def _fit_encoding(frame: pd.DataFrame) -> dict | None:
    """The fitted parameter encoding of ``frame`` as plain data (saved with the model, no pickle), or
    ``None`` when every column is a number used as given (models stay exactly as before)."""
    from matloop.represent.parameter_encoder import ParameterEncoder

    encoder = ParameterEncoder().fit(frame)
    if encoder.trivial:
        return None
    from matloop.progress import say

    say(encoder.summary())
    return encoder.to_dict()


def _encode(encoding: dict | None, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` encoded as at fit time: unseen labels are an error naming the rows (see ParameterEncoder)."""
    if encoding is None:
        return frame.astype(float).reset_index(drop=True)
    from matloop.represent.parameter_encoder import ParameterEncoder

    return ParameterEncoder.from_dict(encoding).transform(frame)


def _numeric(frame: pd.DataFrame) -> pd.DataFrame:
    """Extra input columns as floats; a cell that is not a number is an error naming it."""
    out = {}
    for col in frame.columns:
        values = pd.to_numeric(frame[col], errors="coerce").astype(float)
        bad = ~np.isfinite(values.to_numpy())
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"extra input {col!r}: position {i} holds {frame[col].iloc[i]!r}, not a number "
                             f"({int(bad.sum())} such cells)")
        out[col] = values
    return pd.DataFrame(out)


def _default(task: str):
    from matloop.models.registry import make_model

    return make_model("auto", task)
