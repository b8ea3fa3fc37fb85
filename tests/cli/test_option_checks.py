"""Every command's numeric and named options are checked when they are parsed (issue 16, item 12): a
bad value exits with status 2 and a message naming the option, never a traceback, never a silent
default (``--steps 0``), and never leaves anything behind (``campaign status`` on a mistyped ledger)."""

import argparse

import pytest

from matloop.cli.main import build_parser, main

T = ["--target", "y"]
GOAL = ["--maximize"]

# (command line up to the bad option, the option, bad values)
CASES = [
    (["validate", "t.csv", *T], "--folds", ["0", "1", "-1", "2.5", "x"]),
    (["validate", "t.csv", *T], "--seed", ["-1", "1.5", "4294967296"]),
    (["validate", "t.csv", *T], "--featurizer", ["bogus"]),
    (["fit", "t.csv", *T, "-o", "m.model"], "--seed", ["-3"]),
    (["fit", "t.csv", *T, "-o", "m.model"], "--featurizer", ["magpi"]),
    (["report", "t.csv", *T, "-o", "r.html"], "--folds", ["1"]),
    (["report", "t.csv", *T, "-o", "r.html"], "--time-budget", ["0", "-5", "nan", "inf"]),
    (["report", "t.csv", *T, "-o", "r.html"], "--seed", ["-1"]),
    (["suggest", "t.csv", *T, *GOAL, "-o", "n.csv"], "--batch", ["0", "-3", "two"]),
    (["suggest", "t.csv", *T, *GOAL, "-o", "n.csv"], "--acquisition", ["bogus"]),
    (["suggest", "t.csv", *T, *GOAL, "-o", "n.csv"], "--constraint", ["density <", "density < x", "3 <= d <= 1",
                                                                       "< 8"]),
    (["suggest", "t.csv", *T, *GOAL, "-o", "n.csv"], "--seed", ["-1"]),
    (["suggest", "t.csv", *T, "-o", "n.csv"], "--target-range", [("2", "1"), ("nan", "inf"), ("1", "1"),
                                                                  ("a", "2")]),
    (["campaign", "new", "c", "--pool", "p.csv", *T], "--target-range", [("2", "1"), ("0", "inf")]),
    (["campaign", "new", "c", "--pool", "p.csv", *T, *GOAL], "--db", ["bogus://x", "notadialect+foo://u@h/db",
                                                                      ""]),
    (["campaign", "suggest", "c", "-o", "n.csv"], "--batch", ["0", "-3"]),
    (["campaign", "suggest", "c", "-o", "n.csv"], "--acquisition", ["bogus"]),
    (["campaign", "suggest", "c", "-o", "n.csv"], "--seed", ["-1"]),
    (["campaign", "status", "c"], "--db", ["bogus://x"]),
    (["campaign", "record", "c", "r.csv"], "--db", ["bogus://x"]),
    (["campaign", "export", "c", "-o", "a.csv"], "--db", ["bogus://x"]),
    (["campaign", "report", "c", "-o", "r.html"], "--db", ["bogus://x"]),
    (["benchmark", "campaign", "t.csv", *T, *GOAL], "--initial", ["-1", "x"]),
    (["benchmark", "campaign", "t.csv", *T, *GOAL], "--runs", ["0"]),
    (["benchmark", "campaign", "t.csv", *T, *GOAL], "--budget", ["-1"]),
    (["benchmark", "campaign", "t.csv", *T, *GOAL], "--top-fraction", ["0", "1.5", "nan"]),
    (["benchmark", "campaign", "t.csv", *T, *GOAL], "--batch", ["0"]),
    (["benchmark", "campaign", "t.csv", *T, *GOAL], "--seed", ["-1"]),
    (["benchmark", "campaign", "t.csv", *T], "--target-range", [("5", "5")]),
    (["demo"], "--runs", ["0"]),
    (["demo"], "--budget", ["1", "-4"]),
    (["design", "molecules", "--train", "t.csv", "--target", "y=1:2", "-o", "o.csv"], "--steps", ["-1", "0"]),
    (["design", "molecules", "--train", "t.csv", "--target", "y=1:2", "-o", "o.csv"], "--n", ["0"]),
    (["design", "molecules", "--train", "t.csv", "--target", "y=1:2", "-o", "o.csv"], "--population", ["0", "1"]),
    (["design", "molecules", "--train", "t.csv", "--target", "y=1:2", "-o", "o.csv"], "--seed", ["-1"]),
    (["design", "compositions", "--model", "m", *GOAL, "-o", "o.csv"], "--n", ["0"]),
    (["design", "compositions", "--model", "m", *GOAL, "-o", "o.csv"], "--budget", ["0"]),
    (["design", "compositions", "--model", "m", *GOAL, "-o", "o.csv"], "--min-change", ["-1", "nan"]),
    (["design", "compositions", "--model", "m", *GOAL, "-o", "o.csv"], "--best", ["nan", "inf"]),
    (["design", "compositions", "--model", "m", *GOAL, "-o", "o.csv"], "--acquisition", ["bogus"]),
    (["design", "compositions", "--model", "m", *GOAL, "-o", "o.csv"], "--seed", ["-1"]),
    (["screen", "--elements", "Li,O", "--model", "m", "-o", "h.csv"], "--top", ["0"]),
    (["screen", "--elements", "Li,O", "--model", "m", "-o", "h.csv"], "--jobs", ["0", "-2"]),
    (["screen", "--elements", "Li,O", "--model", "m", "-o", "h.csv"], "--chunk-size", ["0"]),
    (["screen", "--elements", "Li,O", "--model", "m", "-o", "h.csv"], "--max-atoms", ["0"]),
    (["screen", "--elements", "Li,O", "--model", "m", "-o", "h.csv"], "--max-elements", ["-1"]),
    (["screen", "--elements", "Li,O", "--model", "m", "-o", "h.csv"], "--min-elements", ["0"]),
    (["screen", "--elements", "Li,O", "--model", "m", "-o", "h.csv"], "--best", ["inf"]),
    (["screen", "--elements", "Li,O", "--model", "m", "-o", "h.csv"], "--max-hhi", ["-1", "nan"]),
    (["screen", "--elements", "Li,O", "--model", "m", "-o", "h.csv"], "--max-price", ["-0.5"]),
    (["screen", "--elements", "Li,O", "--model", "m", "-o", "h.csv"], "--acquisition", ["bogus"]),
    (["screen", "--elements", "Li,O", "--model", "m", "-o", "h.csv"], "--shortlist", ["-1"]),
    (["screen", "--elements", "Li,O", "--model", "m", "-o", "h.csv"], "--seed", ["-1"]),
    (["screen", "--elements", "Li,O", "--model", "m", "-o", "h.csv"], "--oxidation-states", ["bogus"]),
    (["screen", "--elements", "Li,O", "--model", "m", "-o", "h.csv"], "--featurizer", ["bogus"]),
    (["benchmark", "campaign", "t.csv", *T, *GOAL], "--json", ["no-such-folder/b.json"]),
    (["benchmark", "campaign", "t.csv", *T, *GOAL], "--plot", ["no-such-folder/b.png"]),
    (["validate", "t.csv", *T], "--json", ["no-such-folder/v.json"]),
    (["validate", "t.csv", *T], "--predictions", ["no-such-folder/p.csv"]),
    (["campaign", "report", "c"], "-o", ["no-such-folder/r.html"]),
    (["datasets", "list"], "--kind", ["bogus"]),
    (["models", "list"], "--format", ["bogus"]),
]


def _params():
    for prefix, option, values in CASES:
        for value in values:
            extra = list(value) if isinstance(value, tuple) else [value]
            yield pytest.param(prefix, option, extra, id=f"{' '.join(prefix[:2])} {option} {' '.join(extra)}")


@pytest.mark.parametrize("prefix, option, values", list(_params()))
def test_bad_option_values_exit_2_naming_the_option(prefix, option, values, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may be written; anything that is would show up here
    with pytest.raises(SystemExit) as stop:
        main([*prefix, option, *values])
    err = capsys.readouterr().err
    assert stop.value.code == 2, err
    assert f"argument {option}" in err and "Traceback" not in err, err
    assert list(tmp_path.iterdir()) == []


def _actions(parser: argparse.ArgumentParser, path=("matloop",)):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _actions(sub, (*path, name))
        else:
            yield path, action


def test_no_option_is_an_unchecked_int_or_float():
    """The sweep stays swept: a new ``type=int``/``type=float`` option fails here (use matloop.cli.options)."""
    bare = [f"{' '.join(path)} {'/'.join(a.option_strings)}" for path, a in _actions(build_parser())
            if a.type in (int, float)]
    assert bare == []


def test_featurizer_names_match_the_registry():
    from matloop.cli.options import FEATURIZER_NAMES
    from matloop.represent.registry import FEATURIZERS

    assert set(FEATURIZER_NAMES) == set(FEATURIZERS)


def test_steps_zero_is_refused_not_read_as_the_default(capsys):
    with pytest.raises(SystemExit):
        main(["design", "molecules", "--train", "t.csv", "--target", "y=1:2", "-o", "o.csv", "--steps", "0"])
    assert "--steps" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["status", "c"], ["export", "c", "-o", "all.csv"], ["report", "c", "-o", "r.html"],
                                     ["suggest", "c", "-o", "next.csv"], ["record", "c", "r.csv"]])
def test_campaign_commands_on_a_mistyped_ledger_create_nothing(command, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "r.csv").write_text("x,y\n1,2\n")
    before = set(tmp_path.iterdir())
    assert main(["campaign", *command, "--db", str(tmp_path / "typo.db")]) == 2
    err = capsys.readouterr().err
    assert "--db" in err and "no ledger file" in err and "Traceback" not in err
    assert set(tmp_path.iterdir()) == before


def test_good_values_still_parse():
    args = build_parser().parse_args(["suggest", "t.csv", "--target", "y", "--target-range", "1.1", "1.5",
                                      "--batch", "3", "--acquisition", "UCB", "--constraint", "1 <= d <= 2",
                                      "--seed", "7", "-o", "n.csv"])
    assert (args.target_range, args.batch, args.acquisition, args.seed) == ([1.1, 1.5], 3, "ucb", 7)
    args = build_parser().parse_args(["validate", "t.csv", "--target", "y", "--folds", "2"])
    assert args.folds == 2
