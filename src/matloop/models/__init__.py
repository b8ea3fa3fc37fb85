"""matloop.models: estimators that report their uncertainty, and safe persistence.

Regressors follow scikit-learn and add ``predict(X, return_std=True) -> (mean, std)`` and
``predict_interval(X, alpha)``; classifiers give calibrated ``predict_proba`` and a
``predict_std`` of the probability. All take numeric feature matrices (NaN allowed, imputed
inside the model on training statistics). Models are saved with :func:`save_model` and loaded
with :func:`load_model`, which never unpickles and refuses tampered or foreign files.
"""

from matloop.models.boosting import GradientBoostingEnsembleRegressor
from matloop.models.classifiers import CalibratedBoostingClassifier, CalibratedForestClassifier
from matloop.models.forest import ExtraTreesRegressor, RandomForestRegressor
from matloop.models.gp import GaussianProcessRegressor
from matloop.models.neural import NeuralEnsembleRegressor
from matloop.models.persistence import (
    ForeignModelFileError,
    ModelFileError,
    ModelVersionError,
    UntrustedModelError,
    load_model,
    read_model_metadata,
    register_trusted_types,
    save_model,
)
from matloop.models.preprocessing import FeatureCleaner

__all__ = [
    "CalibratedBoostingClassifier",
    "CalibratedForestClassifier",
    "ExtraTreesRegressor",
    "FeatureCleaner",
    "ForeignModelFileError",
    "GaussianProcessRegressor",
    "GradientBoostingEnsembleRegressor",
    "ModelFileError",
    "ModelVersionError",
    "NeuralEnsembleRegressor",
    "RandomForestRegressor",
    "UntrustedModelError",
    "load_model",
    "read_model_metadata",
    "register_trusted_types",
    "save_model",
]
