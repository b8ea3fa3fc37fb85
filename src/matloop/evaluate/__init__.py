"""Honest validation: splitters that expose extrapolation failure, metrics, uncertainty metrics,
cross-validation runs and learning curves.

Layer: ``evaluate`` may import ``models`` (never the reverse). The function ``learning_curve`` is
exported here; its module is ``matloop.evaluate.learning_curve`` (import names from it directly).
"""

from matloop.evaluate.cross_validation import CVResult, cross_validate
from matloop.evaluate.learning_curve import (
    fit_power_law,
    learning_curve,
    size_for_score,
    summarize_learning_curve,
)
from matloop.evaluate.metrics import (
    CLASSIFICATION_METRICS,
    REGRESSION_METRICS,
    classification_metrics,
    confusion_matrix,
    regression_metrics,
)
from matloop.evaluate.splitters import (
    ExtrapolationSplit,
    FoldColumnSplit,
    GroupByChemicalSystem,
    KFold,
    LeaveOneClusterOut,
    LeaveOneElementOut,
    RepeatedKFold,
    RepeatedStratifiedKFold,
    StratifiedKFold,
    make_splitter,
)
from matloop.evaluate.uncertainty_metrics import (
    calibration_curve,
    coverage,
    gaussian_nll,
    interval_coverage,
    miscalibration_area,
    sharpness,
)

__all__ = [
    "CLASSIFICATION_METRICS",
    "REGRESSION_METRICS",
    "CVResult",
    "ExtrapolationSplit",
    "FoldColumnSplit",
    "GroupByChemicalSystem",
    "KFold",
    "LeaveOneClusterOut",
    "LeaveOneElementOut",
    "RepeatedKFold",
    "RepeatedStratifiedKFold",
    "StratifiedKFold",
    "calibration_curve",
    "classification_metrics",
    "confusion_matrix",
    "coverage",
    "cross_validate",
    "fit_power_law",
    "gaussian_nll",
    "interval_coverage",
    "learning_curve",
    "make_splitter",
    "miscalibration_area",
    "regression_metrics",
    "sharpness",
    "size_for_score",
    "summarize_learning_curve",
]
