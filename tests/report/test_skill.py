"""A report says in words when a model has no skill, never prints a meaningless share, and keeps to its
time budget by leaving optional parts out (and saying so)."""

from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
from sklearn.neighbors import KNeighborsRegressor

from matloop.io import Dataset
from matloop.report import build
from matloop.report.skill import memorisation_sentence, skill_warnings


def _memo(nn: float, mean: float) -> SimpleNamespace:
    return SimpleNamespace(nearest_neighbour={"mae": nn}, dummy={"mae": mean}, metric="mae")


def test_no_skill_is_said_in_words():
    warnings = skill_warnings("regression", {"mae": 1.2, "r2": -0.1}, _memo(1.5, 1.1), "eV")
    assert len(warnings) == 1 and warnings[0].startswith("The model has no skill")
    assert "R² -0.10" in warnings[0] and "1.1 eV" in warnings[0]
    # R² just above 0 but the 1-NN lookup is better: no skill beyond looking the material up
    warnings = skill_warnings("regression", {"mae": 1.0, "r2": 0.05}, _memo(0.8, 1.1), "eV")
    assert warnings and "no better than a 1-nearest-neighbour lookup" in warnings[0]
    assert skill_warnings("regression", {"mae": 0.3, "r2": 0.8}, _memo(0.9, 1.1), "eV") == []


def test_memorisation_sentence_never_prints_a_share_outside_0_to_100_percent():
    # the case behind "-817 % of the model's improvement": the model barely beats the mean, the lookup is far worse
    text = memorisation_sentence("regression", {"mae": 1.09}, _memo(1.9, 1.1), "eV")
    assert "%" not in text and "worse than predicting the mean" in text
    text = memorisation_sentence("regression", {"mae": 1.2}, _memo(1.0, 1.1), "eV")
    assert "%" not in text and "does not improve on predicting the mean" in text
    text = memorisation_sentence("regression", {"mae": 0.5}, _memo(0.8, 1.1), "eV")
    assert "achieves 50% of the model's improvement" in text


def test_report_on_noise_warns_that_the_model_has_no_skill():
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(rng.normal(size=(80, 3)), columns=["a", "b", "c"]).assign(y=rng.normal(size=80))
    ds = Dataset(frame=frame, input=None, kind="parameters", targets=["y"], name="noise")
    report = build.build_report(ds, model=KNeighborsRegressor(5), umap=False, interpret=False,
                                learning_curve=False, time_budget=60)
    html = report.to_html()
    assert "The model has no skill" in html
    assert not re.search(r"-\d+\s?% of the model", html)


def test_out_of_time_parts_are_left_out_and_the_report_says_which():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    frame = pd.DataFrame(X, columns=["a", "b", "c"]).assign(y=X[:, 0] + 0.1 * rng.normal(size=200))
    ds = Dataset(frame=frame, input=None, kind="parameters", targets=["y"], name="process")
    report = build.build_report(ds, model=KNeighborsRegressor(5), umap=False, interpret=True, time_budget=0.05)
    html = report.to_html()
    assert "To stay within the 0.05 s time budget, this report leaves out" in html
    assert "the learning curve" in html and "left out: about" in html
    assert re.search(r"The required reference CV alone ended [\d.]+ s past the 0.05 s time budget", html)
    assert "learning_curve" not in [name for name, _, _ in report.figures]
    assert "parity" in [name for name, _, _ in report.figures]  # the random CV is never left out


def test_a_slow_model_is_probed_once_on_a_tight_budget():
    """The larger probe fit is skipped when the smaller one says it would take over 15 % of the budget."""
    from matloop.report.plan import Budget

    class Slow:
        fits: list[int] = []

        def get_params(self, deep=True):
            return {}

        def fit(self, X, y):
            import time

            Slow.fits.append(len(X))
            time.sleep(0.3)
            return self

        def predict(self, X, return_std=False):
            return (np.zeros(len(X)), np.ones(len(X))) if return_std else np.zeros(len(X))

    X = pd.DataFrame({"a": np.arange(1000.0)})
    import time

    budget = Budget(10.0, time.perf_counter())
    budget.probe(Slow(), X, np.zeros(1000), np.arange(1000), "regression")
    assert Slow.fits == [150] and budget.g == 1.0  # linear below the probe: fixed costs are not underestimated
    Slow.fits.clear()
    Budget(1000.0, time.perf_counter()).probe(Slow(), X, np.zeros(1000), np.arange(1000), "regression")
    assert Slow.fits == [150, 600]


def test_a_saved_auto_model_is_refitted_within_the_reports_per_fit_budget(tmp_path):
    from matloop.models.automodel import AutoModel
    from matloop.models.forest import RandomForestRegressor
    from matloop.models.persistence import save_model
    from matloop.models.pipeline import MaterialModel

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(40, 2)), columns=["a", "b"])
    auto = AutoModel(candidates={"rf": RandomForestRegressor(n_estimators=10, random_state=0)}, time_budget=600)
    model = MaterialModel(auto, kind="parameters").fit(X, X["a"].to_numpy())
    path = save_model(model, tmp_path / "m.model")
    est, desc, _ = build.resolve_model(str(path), fit_budget=3.0)
    assert est.time_budget == 3.0 and "within 3.0 s per fit instead of 600 s" in desc
