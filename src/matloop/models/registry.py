"""Estimators by name, as the CLI and campaigns refer to them.

Regression: ``auto`` (:class:`~matloop.models.automodel.AutoModel`), ``rf``, ``et``, ``rf-median``
and ``et-median`` (the forests with the trees' median as the point prediction), ``gp``, ``gbm``
(bootstrap ensemble), ``gbm-quantile``, ``nn`` (deep ensemble), ``gnn`` (crystal graph network on structures). Classification: ``auto``,
``rf``, ``gbm`` (calibrated classifiers). Imports are lazy so torch loads only for ``nn``.
"""

from __future__ import annotations

REGRESSORS = ("auto", "rf", "et", "rf-median", "et-median", "gp", "gbm", "gbm-quantile", "nn", "gnn", "chgnet-head")
CLASSIFIERS = ("auto", "rf", "gbm", "cnn")
#: Fewest labelled rows ``matloop fit`` accepts: the uncertainty and the applicability domain are
#: calibrated by 5-fold cross-validation with 5 neighbours, which needs more than 5 rows per fold.
MIN_TRAINING_ROWS = 8


def check_trainable(y, task: str, model: str = "auto", purpose: str = "fit") -> None:
    """Refuse, with a plain :class:`matloop.InputError`, data a model cannot learn from.

    ``y`` holds the training targets; ``purpose`` names the command in the message. Regression and
    classification need :data:`MIN_TRAINING_ROWS` rows; classification needs two classes or more,
    each with at least 2 rows (its probabilities are calibrated by stratified cross-validation).
    """
    import numpy as np
    import pandas as pd

    from matloop.errors import InputError

    y = np.asarray(y)
    n = len(y)
    names = REGRESSORS if task == "regression" else CLASSIFIERS
    if model not in names:
        other = "classification (class labels)" if task == "classification" else "regression (numbers)"
        raise InputError(f"--model {model} cannot be used here: the target is a {other} target; models for it: "
                         f"{', '.join(names)}")
    if n < MIN_TRAINING_ROWS:
        raise InputError(f"{purpose} needs at least {MIN_TRAINING_ROWS} labelled rows, got {n}: the model calibrates "
                         "its uncertainty and applicability domain by 5-fold cross-validation. Measure more "
                         "materials first ('matloop campaign' or 'matloop suggest' can choose them)")
    if task == "classification":
        counts = pd.Series(y).value_counts()
        if len(counts) < 2 or counts.min() < 2:
            shown = ", ".join(f"{k!r}: {v}" for k, v in counts.items())
            raise InputError(f"{purpose} of a classifier needs at least 2 classes with at least 2 rows each; "
                             f"the target has {shown}")


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
    if name == "gnn":  # crystal structures in, not a feature matrix (matloop.models.gnn)
        from matloop.models.gnn.estimator import CrystalGraphRegressor

        return CrystalGraphRegressor(random_state=random_state, **params)
    if name == "chgnet-head":  # an MLP-head ensemble on frozen CHGNet features (matloop.models.potentials.head)
        from matloop.models.potentials.head import chgnet_head

        return chgnet_head(random_state=random_state, **params)
    from matloop.errors import InputError

    raise InputError(f"unknown regression model {name!r}; known: {', '.join(REGRESSORS)}")


def _classifier(name: str, random_state, **params):
    from matloop.models import classifiers

    if name == "auto":
        from matloop.models.autoclassifier import AutoClassifier

        return AutoClassifier(random_state=random_state, **params)
    if name == "rf":
        return classifiers.CalibratedForestClassifier(random_state=random_state, **params)
    if name == "gbm":
        return classifiers.CalibratedBoostingClassifier(random_state=random_state, **params)
    if name == "cnn":  # diffraction patterns (the I(2θ=...) columns of the pattern featurizer)
        from matloop.models.diffraction_cnn import PatternCNNClassifier, _import_torch

        _import_torch()
        return PatternCNNClassifier(random_state=random_state, **params)
    from matloop.errors import InputError

    hint = " (it predicts numbers: this target holds class labels)" if name in REGRESSORS else ""
    raise InputError(f"model {name!r} cannot classify{hint}; classification models: {', '.join(CLASSIFIERS)}")
