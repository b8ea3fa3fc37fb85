"""The feasibility model (P(success)), the --failed-if rule, and where failures cluster."""

import numpy as np
import pandas as pd
import pytest

from matloop.design.feasibility import FeasibilityModel, failure_clusters, feasibility_weights
from matloop.design.outcomes import FailureRule, failure_outcomes
from matloop.errors import InputError


def _region(n, seed=0):
    """2-D inputs; every experiment with x0 > 0.6 fails."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 1, (n, 2))
    return X, X[:, 0] > 0.6


def test_no_failures_means_certain_success():
    X, _ = _region(30)
    p, name = feasibility_weights(X, np.zeros(30, dtype=bool), np.random.default_rng(1).uniform(0, 1, (50, 2)))
    assert np.all(p == 1.0) and "no failure" in name


@pytest.mark.parametrize("n", [8, 40, 150])
def test_p_success_is_low_where_every_experiment_failed(n):
    X, failed = _region(n)
    cand = np.random.default_rng(5).uniform(0, 1, (400, 2))
    p, name = feasibility_weights(X, failed, cand)
    bad, good = p[cand[:, 0] > 0.75], p[cand[:, 0] < 0.45]
    assert 0 < p.min() and p.max() <= 1
    assert bad.mean() < good.mean() - (0.05 if n < 12 else 0.4), name
    if n >= 40:  # enough rows for a classifier: the failing region is close to 0, the good one close to 1
        assert bad.mean() < 0.2 and good.mean() > 0.8, name


def test_few_rows_stay_near_the_prior_far_from_the_failures():
    X = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0]])
    p, name = feasibility_weights(X, np.array([False, False, True]), np.array([[5.0, 5.0], [-20.0, 20.0]]))
    assert "prior" in name
    assert p[0] < p[1] and 0.3 < p[1] < 0.9  # far away: the Beta prior (2 of 3 ok), never 0 or 1


def test_calibrated_out_of_fold_on_held_out_rows():
    """Predicted probabilities match observed success frequencies on rows the model never saw."""
    rng = np.random.default_rng(3)
    X = rng.uniform(-2, 2, (900, 3))
    truth = 1 / (1 + np.exp(-(2.5 * X[:, 0] - 1.5 * X[:, 1])))
    ok = rng.uniform(size=900) < truth
    model = FeasibilityModel(seed=0).fit(X[:400], ok[:400])
    p = model.predict(X[400:])
    bins = np.digitize(p, [0.2, 0.4, 0.6, 0.8])
    for b in np.unique(bins):
        inside = bins == b
        if inside.sum() >= 40:
            assert abs(p[inside].mean() - ok[400:][inside].mean()) < 0.12, (b, model.name_)
    assert "calibrated" in model.name_


def test_no_signal_falls_back_to_the_constant_rate():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(80, 4))
    failed = rng.uniform(size=80) < 0.3  # unrelated to the inputs
    p, name = feasibility_weights(X, failed, rng.normal(size=(30, 4)))
    assert p.std() < 0.15 and abs(p.mean() - 0.7) < 0.15, name


# ---------------------------------------------------------------------- the --failed-if rule
FRAME = pd.DataFrame({"crystal_score": ["clear_solution", "large_crystallites", None, "fine_powder"],
                      "yield pct": [0.0, 12.5, None, 3.0], "status": ["ok", "FAILED", "", None],
                      "reason": [None, "film peeled off", None, None]})


@pytest.mark.parametrize("rule, expected", [
    ("crystal_score == 'clear_solution'", [True, False, False, False]),
    ("crystal_score != 'clear_solution'", [False, True, False, True]),
    ("yield pct < 5", [True, False, False, True]),
    ("yield pct >= 5", [False, True, False, False]),
    ("crystal_score in ('clear_solution', 'fine_powder')", [True, False, False, True]),
    ("crystal_score not in ['clear_solution']", [False, True, False, True]),
    ("yield pct < 5 and not crystal_score == 'fine_powder'", [True, False, False, False]),
    ("0 < yield pct <= 12.5", [False, True, False, True]),
])
def test_failure_rule(rule, expected):
    assert FailureRule(rule, list(FRAME.columns))(FRAME).tolist() == expected


@pytest.mark.parametrize("rule, words", [
    ("nonexistent == 1", "no column 'nonexistent'"),
    ("__import__('os').system('true')", "not allowed"),
    ("yield pct + 1 > 2", "one column and one constant"),
    ("crystal_score == clear_solution", "put text in quotes: crystal_score == 'clear_solution'"),
    ("crystal_score < 'b'", "compare numbers"),
    ("crystal_score", "must be a comparison"),
    ("crystal_score ==", "not a valid expression"),
    ("   ", "empty"),
])
def test_bad_rules_are_input_errors(rule, words):
    with pytest.raises(InputError) as err:
        FailureRule(rule, list(FRAME.columns))(FRAME)
    assert words in str(err.value)


def test_columns_named_as_python_keywords():
    """A chemist's 'yield' and a spectroscopist's 'lambda' are columns, with or without the table's columns known."""
    frame = pd.DataFrame({"yield": [3.0, 40.0, None], "lambda": [400, 500, 650], "class": ["a", "b", "yield"]})
    assert FailureRule("yield < 5", list(frame.columns))(frame).tolist() == [True, False, False]
    rule = FailureRule("lambda > 450 and not yield < 5 or class == 'yield'")  # before the table is read (argparse)
    assert rule.columns() == ["class", "lambda", "yield"] and rule(frame).tolist() == [False, True, True]
    with pytest.raises(InputError, match="no column 'if'"):
        FailureRule("if > 3", list(frame.columns))


def test_numeric_comparison_on_text_cells_names_the_rows():
    with pytest.raises(InputError) as err:
        FailureRule("crystal_score > 2", list(FRAME.columns))(FRAME, rows=[10, 11, 12, 13])
    assert set(err.value.table["row"]) == {10, 11, 13}


def test_status_column_and_rule_together_with_reasons():
    failed, reasons = failure_outcomes(FRAME, None, "crystal_score == 'clear_solution'")
    assert failed.tolist() == [True, True, False, False]
    assert reasons[:2] == ["failed-if: crystal_score == 'clear_solution'", "film peeled off"]
    with pytest.raises(InputError) as err:
        failure_outcomes(FRAME.assign(status=["ok", "broken", None, None]), [5, 6, 7, 8])
    assert err.value.table["row"].tolist() == [6]


def test_failure_clusters_names_the_failing_label_and_range():
    rng = np.random.default_rng(0)
    n = 200
    frame = pd.DataFrame({"solvent": rng.choice(["water", "ethanol", "DMF"], n),
                          "temperature": rng.uniform(20, 200, n)})
    failed = (frame["solvent"] == "DMF").to_numpy() | (frame["temperature"] > 160).to_numpy()
    table, sentence = failure_clusters(frame, failed, ["solvent", "temperature"])
    assert set(table.head(2)["group"]) >= {"DMF"}
    assert "solvent = DMF" in sentence and "temperature in" in sentence
    top_t = table[table["column"] == "temperature"].iloc[0]
    assert top_t["failure_rate"] == 1.0 and float(top_t["group"].split(" .. ")[0]) > 150


def test_several_goals_use_the_same_feasibility_weights():
    """multi_suggest: failed rows are neither data nor candidates, and p_success is lower near them."""
    from matloop.design.goals import parse_goal
    from matloop.design.multi_suggest import suggest_multi
    from matloop.io.dataset import Dataset

    rng = np.random.default_rng(0)
    f = pd.DataFrame({"x": rng.uniform(0, 1, 80), "y": rng.uniform(0, 1, 80)})
    f["a"], f["b"] = f["x"] + f["y"], f["x"] - f["y"]
    f.loc[40:, ["a", "b"]] = np.nan
    tried = np.arange(80) < 40
    f["status"] = np.where(tried & (f["x"] > 0.7), "failed", np.where(tried, "ok", None))
    f.loc[f["status"] == "failed", ["a", "b"]] = np.nan
    ds = Dataset(frame=f, input=None, kind="parameters", targets=["a", "b"])
    out = suggest_multi(ds, [parse_goal("a:max"), parse_goal("b:max")], batch=40, model="rf")
    assert out["status"].isna().all() and len(out) == 40 and "p_success" in out.columns  # the 40 untried rows
    assert out.attrs["n_failed"] == int((f["status"] == "failed").sum()) > 5
    p = out.set_index("x")["p_success"]
    assert p[p.index > 0.8].mean() < p[p.index < 0.6].mean() - 0.3


def test_a_rule_on_an_input_keeps_the_input():
    """'temperature > 800' reads an input (filled on every row): it stays an input; an outcome column
    (empty where nothing was done) does not."""
    from matloop.design.outcomes import without_outcome_columns
    from matloop.io.dataset import Dataset

    f = pd.DataFrame({"temperature": [300.0, 500, 900, 700], "time": [1.0, 2, 3, 4], "y": [1.0, 2, None, None],
                      "phase": ["a", "b", None, None]})
    ds = Dataset(frame=f, input=None, kind="parameters", targets=["y"], parameters=["temperature", "time", "phase"])
    assert without_outcome_columns(ds, "temperature > 800").parameter_columns == ["temperature", "time", "phase"]
    assert without_outcome_columns(ds, "phase == 'b'").parameter_columns == ["temperature", "time"]
