"""The simulated-campaign report says in words when no strategy reached half of the top set."""

import numpy as np
import pandas as pd

from matloop.report.campaign import simulation_report


class _Result:
    n_pool, n_top = 200, 10

    def __init__(self, evals):
        self.curves = {"default": np.zeros((2, 5))}
        self._evals = evals

    def mean_curve(self, name):
        return np.linspace(0, 0.3, 5)

    def random_curve(self, n):
        return np.linspace(0, 0.05, n)

    def summary(self):
        return pd.DataFrame([{"strategy": "default", "evals_to_50pct": self._evals}])


def test_no_nan_experiments_in_the_takeaway():
    html = simulation_report(_Result(float("nan")), "t", "s").to_html()
    assert "nan experiments" not in html
    assert "No strategy found half of the top candidates" in html
    html = simulation_report(_Result(12.0), "t", "s").to_html()
    assert "after 12 experiments" in html
