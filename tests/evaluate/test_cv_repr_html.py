"""Validation results render in Jupyter (``_repr_html_``): the metrics over folds and the per-fold table."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import KFold

from matloop.evaluate.cross_validation import cross_validate


def test_cv_result_renders_as_html_with_its_metrics():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=60)
    result = cross_validate(LinearRegression(), X, y, KFold(4, shuffle=True, random_state=0))
    html = result._repr_html_()
    assert html.startswith('<div class="matloop-cv">') and "4 folds of 60 rows" in html
    assert html.count("<table") == 2  # summary and per fold
    assert ">mae<" in html and ">r2<" in html
    assert f"{result.mean['mae']:.4g}" in html
    # a model without a std has no calibration metrics: they are left out rather than shown as nan
    assert "miscalibration_area" not in html.split("<details>")[0]
