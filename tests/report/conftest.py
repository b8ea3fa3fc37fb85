"""A small but complete report, built once per test session for the HTML and browser checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.ensemble import RandomForestRegressor


class TreeSpreadForest(RandomForestRegressor):
    """scikit-learn forest with ``predict(X, return_std=True)`` from the spread of its trees (a stand-in)."""

    def predict(self, X, return_std: bool = False):
        mean = super().predict(X)
        if not return_std:
            return mean
        per_tree = np.stack([t.predict(np.asarray(X, dtype=np.float32)) for t in self.estimators_])
        return mean, per_tree.std(axis=0) + 1e-9


@pytest.fixture(scope="session")
def steels():
    """120 rows of the bundled Matbench steels set (formulas and yield strength)."""
    from matloop.datasets import load

    ds = load("matbench_steels")
    return ds.subset(np.arange(120))


@pytest.fixture(scope="session")
def built_report(steels, tmp_path_factory) -> tuple[object, Path]:
    """``build_report`` on the steels subset with a 30-tree stand-in forest; the report and its HTML file."""
    from matloop.report.build import build_report

    messages: list[str] = []
    report = build_report(steels, model=TreeSpreadForest(n_estimators=30, random_state=0, n_jobs=1),
                          umap=False, time_budget=120, progress=messages.append)
    report.messages = messages
    path = report.write(tmp_path_factory.mktemp("report") / "steels.html")
    return report, path
