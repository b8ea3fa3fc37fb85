"""Estimators by name, as the CLI and campaigns refer to them.

Regression: ``auto`` (:class:`~matloop.models.automodel.AutoModel`), ``rf``, ``et``, ``rf-median``
and ``et-median`` (the forests with the trees' median as the point prediction), ``gp``, ``gbm``
(bootstrap ensemble), ``gbm-quantile``, ``nn`` (deep ensemble). Classification: ``auto``,
``rf``, ``gbm`` (calibrated classifiers). Imports are lazy so torch loads only for ``nn``.
"""

from __future__ import annotations

REGRESSORS = ("auto", "rf", "et", "rf-median", "et-median", "gp", "gbm", "gbm-quantile", "nn")
CLASSIFIERS = ("auto", "rf", "gbm")


def make_model(name: str = "auto", task: str = "regression", random_state: int | None = 0, **params):
    """A fresh, unfitted estimator; raises ValueError listing the names valid for ``task``."""
    if task == "classification":
        return _classifier(name, random_state, **params)
    if task != "regression":
        raise ValueError(f"task must be 'regression' or 'classification', got {task!r}")
    if name == "auto":
        from matloop.models.automodel import AutoModel

        return AutoModel(random_state=random_state, **params)
    if name in ("rf", "et", "rf-median", "et-median"):
        from matloop.models.forest import ExtraTreesRegressor, RandomForestRegressor

        if name.endswith("-median"):
            params = {"point": "median", **params}
        cls = RandomForestRegressor if name.startswith("rf") else ExtraTreesRegressor
        return cls(random_state=random_state, **params)
    if name == "gp":
        from matloop.models.gp import GaussianProcessRegressor

        return GaussianProcessRegressor(random_state=random_state, **params)
    if name in ("gbm", "gbm-quantile"):
        from matloop.models.boosting import GradientBoostingEnsembleRegressor

        method = "quantile" if name == "gbm-quantile" else "bootstrap"
        return GradientBoostingEnsembleRegressor(method=method, random_state=random_state, **params)
    if name == "nn":
        from matloop.models.neural import NeuralEnsembleRegressor

        return NeuralEnsembleRegressor(random_state=random_state, **params)
    raise ValueError(f"unknown regression model {name!r}; known: {', '.join(REGRESSORS)}")


def _classifier(name: str, random_state, **params):
    from matloop.models import classifiers

    if name == "auto":
        from matloop.models.automodel import AutoClassifier

        return AutoClassifier(random_state=random_state, **params)
    if name == "rf":
        return classifiers.CalibratedForestClassifier(random_state=random_state, **params)
    if name == "gbm":
        return classifiers.CalibratedBoostingClassifier(random_state=random_state, **params)
    raise ValueError(f"unknown classification model {name!r}; known: {', '.join(CLASSIFIERS)}")
