"""Goals of one or several objectives: parsing ``--goal`` text, scores, and the campaign config form."""

import numpy as np
import pytest

from matloop.design.goals import Goal, check_goals, goals_from_config, goals_to_config, parse_goal
from matloop.errors import InputError


@pytest.mark.parametrize("text, expected", [
    ("yield:max", Goal("yield", "max")),
    ("cost:MIN", Goal("cost", "min")),
    ("gap expt:1.1..1.5", Goal("gap expt", "range", 1.1, 1.5)),
    ("gap:-2..3e-1", Goal("gap", "range", -2.0, 0.3)),
    ("a:b:minimise", Goal("a:b", "min")),  # the column is everything before the last colon
    ("yield:max@0.1", Goal("yield", "max", tolerance=0.1)),
    ("gap:1..2@0", Goal("gap", "range", 1.0, 2.0, 0.0)),
])
def test_parse_goal(text, expected):
    goal = parse_goal(text)
    assert goal == expected
    assert parse_goal(goal.text()) == goal  # text() writes what parse_goal reads


@pytest.mark.parametrize("text, reason", [
    ("yield", "no ':'"),
    (":max", "column name is empty"),
    ("yield:mx", "neither max, min nor a range"),
    ("gap:2..1", "LO < HI"),
    ("gap:1..1", "LO < HI"),
    ("yield:max@1.5", "between 0 and 1"),
    ("yield:max@abc", "not a number"),
    ("gap:1..inf", "neither max, min nor a range"),
])
def test_bad_goals_say_why(text, reason):
    with pytest.raises(InputError) as err:
        parse_goal(text)
    assert reason in err.value.message and text in err.value.message
    assert err.value.table["column"].tolist() == ["--goal"]


def test_scores_are_in_the_maximisation_sense():
    v = np.array([0.5, 1.2, 2.0])
    assert Goal("a", "max").score(v).tolist() == [0.5, 1.2, 2.0]
    assert Goal("a", "min").score(v).tolist() == [-0.5, -1.2, -2.0]
    assert np.allclose(Goal("a", "range", 1.0, 1.5).score(v), [-0.5, 0.0, -0.5])  # minus the distance to the window


def test_config_round_trip_and_single_target_campaigns():
    goals = [Goal("a", "max"), Goal("b", "range", 1.0, 2.0, 0.2)]
    assert goals_from_config({"goals": goals_to_config(goals)}) == goals
    legacy = {"target": "gap", "direction": "min", "low": None, "high": None}
    assert goals_from_config(legacy) == [Goal("gap", "min")]


def test_check_goals_lists_every_problem():
    with pytest.raises(InputError) as err:
        check_goals([Goal("a"), Goal("nope"), Goal("a", "min")], ["a", "b"])
    assert err.value.table["column"].tolist() == ["nope", "a"]
