"""Process campaigns as a chemist brings them (#17): design-space campaigns with several goals, outcome
constraints and failures; the short form of a space file; a table with a property recorded but not
optimised."""

import numpy as np
import pandas as pd

from matloop.cli.main import main
from matloop.design.space import DesignSpace

SHORT_SPACE = """\
temperature: {low: 60, high: 180, step: 5}
time_h: {low: 1, high: 12, step: 0.5}
solvent: [CCO, Cc1ccccc1, CN(C)C=O, O]
catalyst: [Pd, Ni, Cu]
constraints: ["temperature * time_h <= 1800"]
"""


def _runs(n: int = 14, seed: int = 1) -> pd.DataFrame:
    """Generated syntheses inside SHORT_SPACE: yield and purity trade off with temperature; hot ones fail."""
    rng = np.random.default_rng(seed)
    t = rng.choice(np.arange(60, 181, 5), n).astype(float)
    h = rng.choice(np.arange(1, 10.5, 0.5), n)
    h = np.minimum(h, np.floor(1800 / t * 2) / 2)
    solvent = rng.choice(["CCO", "Cc1ccccc1", "CN(C)C=O", "O"], n)
    frame = pd.DataFrame({"temperature": t, "time_h": h, "solvent": solvent, "catalyst": rng.choice(["Pd", "Ni"], n),
                          "yield_pct": 40 + 0.25 * t - 2 * abs(h - 6) + 8 * (solvent == "CN(C)C=O"),
                          "purity": 95 - 0.12 * t + rng.normal(0, 1, n), "status": "ok", "reason": ""})
    frame.loc[frame["temperature"] >= 170, ["yield_pct", "purity", "status", "reason"]] = [np.nan, np.nan, "failed",
                                                                                           "decomposed"]
    return frame


def test_short_form_space_file():
    space = DesignSpace.from_dict({"temperature": {"low": 60, "high": 180, "step": 5}, "solvent": ["a", "b"],
                                   "film": {"elements": {"Ni": [0, 1], "Fe": [0, 1]}}, "min_separation": 0.1})
    assert [(p.name, p.type) for p in space.parameters] == [("temperature", "continuous"), ("solvent", "categorical"),
                                                             ("film", "composition")]
    assert space.min_separation == 0.1 and space.parameters[0].step == 5
    old_ledger = {"parameters": [{"name": "x", "type": "continuous", "low": 0, "high": 1, "note": "?"}], "name": "a"}
    assert DesignSpace.from_dict(old_ledger, strict=False).columns == ["x"]  # stored copies open as before
    same = DesignSpace.from_dict({"parameters": {"n": {"type": "integer", "low": 1, "high": 4, "unit": "layers"}}})
    assert same.parameters[0].type == "integer"
    for bad, words in [({"x": 3}, "expected a mapping"), ({}, "short form"), ([1, 2], "short form"),
                       ({"parameters": [{"name": "x", "type": "continuous", "low": 0, "high": 1, "stepsize": 2}]},
                        "unknown key(s) ['stepsize']"),
                       ({"x": {"low": 0, "high": 1}, "constraint": ["x < 0.5"]}, "misspelt"),
                       ({"parameters": [{"name": "x", "type": "continuous", "low": 0, "high": 1}],
                         "constraint": ["x < 0.5"]}, "unknown key(s) ['constraint'] beside 'parameters'")]:
        try:
            DesignSpace.from_dict(bad)
        except Exception as exc:  # noqa: BLE001 - the message is what is checked
            assert words in str(exc), (bad, str(exc))
        else:
            raise AssertionError(f"{bad} was accepted")


def test_space_campaign_with_two_goals_a_constraint_and_failures(tmp_path, capsys):
    (tmp_path / "space.yaml").write_text(SHORT_SPACE)
    db = str(tmp_path / "c.db")
    assert main(["campaign", "new", "rx", "--space", str(tmp_path / "space.yaml"), "--goal", "yield_pct:max",
                 "--goal", "purity:max", "--constraint", "purity > 70", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "maximise yield_pct; maximise purity; subject to purity > 70" in out  # the second goal is kept
    assert main(["campaign", "suggest", "rx", "--batch", "4", "-o", str(tmp_path / "n0.csv"), "--db", db]) == 0
    first = pd.read_csv(tmp_path / "n0.csv")
    assert list(first.columns[:4]) == ["temperature", "time_h", "solvent", "catalyst"]  # the space's order
    assert len(first) == 4 and first["reason"].str.contains("scrambled Sobol points").all()
    space = DesignSpace.from_dict({"parameters": [
        {"name": "temperature", "type": "continuous", "low": 60, "high": 180, "step": 5},
        {"name": "time_h", "type": "continuous", "low": 1, "high": 12, "step": 0.5},
        {"name": "solvent", "type": "categorical", "values": ["CCO", "Cc1ccccc1", "CN(C)C=O", "O"]},
        {"name": "catalyst", "type": "categorical", "values": ["Pd", "Ni", "Cu"]}],
        "constraints": ["temperature * time_h <= 1800"]})
    assert space.feasible(first).all()
    runs = _runs()
    runs.to_csv(tmp_path / "runs.csv", index=False)
    assert main(["campaign", "record", "rx", str(tmp_path / "runs.csv"), "--db", db]) == 0
    n_failed = int((runs["status"] == "failed").sum())
    assert n_failed >= 1 and f"{n_failed} failed experiment" in capsys.readouterr().out
    # a result measuring only purity, outside the space: refused (the check looks at every goal's column)
    pd.DataFrame({"temperature": [300.0], "time_h": [2.0], "solvent": ["O"], "catalyst": ["Pd"],
                  "purity": [80.0]}).to_csv(tmp_path / "out.csv", index=False)
    assert main(["campaign", "record", "rx", str(tmp_path / "out.csv"), "--db", db]) == 2
    assert "outside the campaign's design space" in capsys.readouterr().err
    assert main(["campaign", "suggest", "rx", "--batch", "4", "-o", str(tmp_path / "n1.csv"), "--db", db]) == 0
    batch = pd.read_csv(tmp_path / "n1.csv")
    for col in ("yield_pct_pred", "purity_std", "p_nondominated", "ehvi", "p_feasible", "p_success"):
        assert batch[col].notna().all(), col
    assert space.feasible(batch).all() and (batch["temperature"] % 5 == 0).all()
    assert "status" not in batch.columns  # a results file's other columns are not parameters
    unit = space.unit(batch)
    assert min(np.abs(unit[i] - unit[j]).max() for i in range(4) for j in range(i)) >= 0.05  # distinct points
    keys = {tuple(r) for r in runs[["temperature", "time_h", "solvent", "catalyst"]].itertuples(index=False)}
    assert not keys & {tuple(r) for r in batch[["temperature", "time_h", "solvent", "catalyst"]]
                       .itertuples(index=False)}
    assert main(["campaign", "status", "rx", "--db", db]) == 0
    assert "Pareto front" in capsys.readouterr().out
    # an expert's idea must lie inside the declared space, like a result
    pd.DataFrame({"temperature": [100.0, 175.0], "time_h": [5.0, 11.0], "solvent": ["CCO", "O"],
                  "catalyst": ["Pd", "Cu"]}).to_csv(tmp_path / "ideas.csv", index=False)
    assert main(["campaign", "add", "rx", str(tmp_path / "ideas.csv"), "--reason", "mine", "--db", db]) == 2
    err = capsys.readouterr().err
    assert "outside the campaign's design space" in err and "constraint not met" in err  # 175 x 11 > 1800
    pd.DataFrame({"temperature": [100.0], "time_h": [5.0], "solvent": ["CCO"], "catalyst": ["Pd"]}).to_csv(
        tmp_path / "idea.csv", index=False)
    assert main(["campaign", "add", "rx", str(tmp_path / "idea.csv"), "--reason", "mine", "--db", db]) == 0


def test_a_goal_cannot_be_a_parameter_of_the_space(tmp_path, capsys):
    (tmp_path / "space.yaml").write_text(SHORT_SPACE)
    assert main(["campaign", "new", "rx", "--space", str(tmp_path / "space.yaml"), "--goal", "temperature:min",
                 "--goal", "purity:max", "--db", str(tmp_path / "c.db")]) == 2
    assert "is a parameter of the design space" in capsys.readouterr().err


def test_a_recorded_property_that_is_not_a_goal_is_left_out_with_extra_inputs(tmp_path, capsys):
    runs = _runs().drop(columns=["reason"])
    cand = runs.head(6).assign(temperature=[65.0, 70, 75, 80, 85, 90], yield_pct=np.nan, purity=np.nan, status="")
    pd.concat([runs, cand]).to_csv(tmp_path / "pool.csv", index=False)
    out = str(tmp_path / "n.csv")
    assert main(["suggest", str(tmp_path / "pool.csv"), "--target", "yield_pct", "--maximize", "-o", out]) == 2
    assert "'purity' is empty on the candidates" in capsys.readouterr().err  # read as an input
    assert main(["suggest", str(tmp_path / "pool.csv"), "--target", "yield_pct", "--maximize", "--batch", "3",
                 "--extra-inputs", "temperature,time_h,solvent,catalyst", "-o", out]) == 0
    batch = pd.read_csv(out)
    assert len(batch) == 3 and set(batch["temperature"]) <= {65.0, 70, 75, 80, 85, 90}


def test_fit_and_predict_a_process_table_whose_other_columns_are_blank(tmp_path, capsys):
    """The model's parameters are predict's inputs: a recorded property blank on the new rows (purity), the
    target column and notes are carried through, not read as inputs."""
    runs = _runs().drop(columns=["reason"])
    new = runs.head(4).assign(temperature=[65.0, 70, 75, 80], yield_pct=np.nan, purity=np.nan, status="")
    table = pd.concat([runs, new])
    table.to_csv(tmp_path / "t.csv", index=False)
    model = str(tmp_path / "m.matloop")
    assert main(["fit", str(tmp_path / "t.csv"), "--target", "yield_pct", "--model", "rf", "--extra-inputs",
                 "temperature,time_h,solvent,catalyst", "-o", model]) == 0
    assert main(["predict", model, str(tmp_path / "t.csv"), "-o", str(tmp_path / "p.csv")]) == 0
    out = pd.read_csv(tmp_path / "p.csv")
    assert len(out) == len(table) and out["prediction"].notna().all() and "purity" in out.columns


def test_several_goals_with_failures_say_p_success_as_one_goal_does(tmp_path, capsys):
    runs = _runs().drop(columns=["reason"])
    cand = runs.head(6).assign(temperature=[65.0, 70, 75, 80, 85, 90], yield_pct=np.nan, purity=np.nan, status="")
    pd.concat([runs, cand]).to_csv(tmp_path / "pool.csv", index=False)
    assert main(["suggest", str(tmp_path / "pool.csv"), "--goal", "yield_pct:max", "--goal", "purity:max",
                 "--batch", "2", "-o", str(tmp_path / "n.csv")]) == 0
    out = capsys.readouterr().out
    n_failed = int((runs["status"] == "failed").sum())
    assert f"{n_failed} failed row{'s' if n_failed != 1 else ''}; P(success) from:" in out
    batch = pd.read_csv(tmp_path / "n.csv")
    assert batch["reason"].str.contains(r"P\(success\) = \d+%").all() and batch["p_success"].between(0, 1).all()


def test_results_of_a_composition_space_match_their_suggestions(tmp_path, capsys):
    """The ledger stores the space as sorted JSON (elements Co, Fe, Ni) and the parameter columns as a list
    (Ni, Fe, Co): suggestions were keyed in one order and results in the other, so every measured suggestion
    stayed 'awaiting results' and came back as a new material."""
    from pathlib import Path

    space = Path(__file__).resolve().parents[2] / "docs" / "examples" / "anneal_space.yaml"
    db = str(tmp_path / "c.db")
    assert main(["campaign", "new", "film", "--space", str(space), "--target", "conductivity", "--maximize",
                 "--db", db]) == 0
    assert main(["campaign", "suggest", "film", "--batch", "4", "-o", str(tmp_path / "n.csv"), "--db", db]) == 0
    batch = pd.read_csv(tmp_path / "n.csv")
    assert [c for c in batch.columns if c in ("Ni", "Fe", "Co")] == ["Ni", "Fe", "Co"]  # the file's order
    done = batch[["Co", "Fe", "Ni", "temperature", "time", "layers", "solvent"]].assign(conductivity=[1.0, 2, 3, 4])
    done.to_csv(tmp_path / "r.csv", index=False)
    capsys.readouterr()
    assert main(["campaign", "record", "film", str(tmp_path / "r.csv"), "--db", db]) == 0
    out = capsys.readouterr().out
    assert "recorded 4 new measurements" in out and "new candidate" not in out
    assert main(["campaign", "status", "film", "--db", db]) == 0
    assert "4 (0 awaiting results)" in capsys.readouterr().out
    # with replicates allowed, the measured points are among the options (the best one is predicted best here)
    from matloop.design.campaign import Campaign

    camp = Campaign("film", db)
    table = camp.table()
    measured = table.loc[table["conductivity"].notna(), camp.space.columns]
    chosen, _, _ = camp._suggest_from_space(measured.assign(conductivity=table["conductivity"].dropna().to_numpy()),
                                            12, None, "fantasy", "rf", 0, measured.iloc[:0], None, "none", True)
    best = measured.iloc[[int(np.argmax(table["conductivity"].dropna().to_numpy()))]]
    assert len(chosen.merge(best, on=list(camp.space.columns))) == 1


def test_pool_options_on_a_space_campaign_are_refused_not_ignored(tmp_path, capsys):
    (tmp_path / "space.yaml").write_text(SHORT_SPACE)
    assert main(["campaign", "new", "rx", "--space", str(tmp_path / "space.yaml"), "--target", "yield_pct",
                 "--maximize", "--extra-inputs", "temperature", "--skip-invalid", "--db", str(tmp_path / "c.db")]) == 2
    assert "--extra-inputs, --skip-invalid read a --pool table" in capsys.readouterr().err


def test_a_chimera_tolerance_on_one_goal_is_refused(tmp_path, capsys):
    runs = _runs()
    runs.to_csv(tmp_path / "t.csv", index=False)
    assert main(["suggest", str(tmp_path / "t.csv"), "--goal", "yield_pct:max@0.1", "-o", str(tmp_path / "n.csv")]) == 2
    assert "--goal yield_pct:max@0.1: @TOL is a Chimera tolerance" in capsys.readouterr().err


def test_a_constraint_on_an_input_is_refused_not_modelled(tmp_path, capsys):
    """--constraint 'temperature < 100' on a table whose candidates all have a temperature: it was read as
    an outcome, dropped from the inputs and given a probability; it is an input, so it is refused."""
    runs = _runs().drop(columns=["reason", "status"]).dropna()
    cand = runs.head(4).assign(temperature=[65.0, 70, 75, 80], yield_pct=np.nan, purity=np.nan)
    pd.concat([runs, cand]).to_csv(tmp_path / "pool.csv", index=False)
    for goals in (["--target", "yield_pct", "--maximize"], ["--goal", "yield_pct:max", "--goal", "purity:max"]):
        assert main(["suggest", str(tmp_path / "pool.csv"), *goals, "--extra-inputs",
                     "temperature,time_h,solvent,catalyst", "--constraint", "temperature < 100",
                     "-o", str(tmp_path / "n.csv")]) == 2
        assert "'temperature' has a value on every candidate" in capsys.readouterr().err
    assert main(["campaign", "new", "c", "--pool", str(tmp_path / "pool.csv"), "--goal", "yield_pct:max",
                 "--constraint", "temperature < 100", "--db", str(tmp_path / "c.db")]) == 2
    # an outcome measured on some rows only stays a constraint
    assert main(["suggest", str(tmp_path / "pool.csv"), "--target", "yield_pct", "--maximize", "--constraint",
                 "purity > 75", "-o", str(tmp_path / "n.csv")]) == 0


def test_a_text_column_left_out_of_the_inputs_is_said(tmp_path, capsys):
    rng = np.random.default_rng(0)
    n = 300
    table = pd.DataFrame({"additive": [f"additive-{i}" for i in rng.integers(0, 400, n)],
                          "temperature": rng.uniform(20, 100, n).round(1), "base": rng.choice(["K2CO3", "DBU"], n),
                          "yield": rng.uniform(0, 100, n).round(1)})
    table.loc[250:, "yield"] = np.nan
    table.to_csv(tmp_path / "t.csv", index=False)
    assert table["additive"].nunique() > 100  # more labels than a categorical input may have
    assert main(["suggest", str(tmp_path / "t.csv"), "--target", "yield", "--maximize", "--batch", "2",
                 "-o", str(tmp_path / "n.csv")]) == 0
    assert "note: column 'additive' is not an input" in capsys.readouterr().err


def test_a_campaign_over_a_log_scale_concentration(tmp_path, capsys):
    """campaign new --space with 'conc: {low: 0.001, high: 1, log: true}': the first batch covers the decades,
    values carry two significant digits, results are recorded and the next batch stays inside the space."""
    space = tmp_path / "space.yaml"
    space.write_text("conc: {low: 0.001, high: 1, log: true, unit: M}\ntemperature: {low: 20, high: 80, step: 5}\n")
    db = str(tmp_path / "c.db")
    assert main(["campaign", "new", "lg", "--space", str(space), "--target", "yield", "--maximize", "--db", db]) == 0
    assert main(["campaign", "suggest", "lg", "--batch", "6", "-o", str(tmp_path / "b1.csv"), "--db", db]) == 0
    b = pd.read_csv(tmp_path / "b1.csv")
    assert (b["conc"] < 0.01).any() and (b["conc"] > 0.1).any()
    assert all(float(f"{c:.2g}") == c for c in b["conc"])  # two significant digits
    b["yield"] = (50 + 10 * np.log10(b["conc"]) + 0.2 * b["temperature"]).round(1)
    b.to_csv(tmp_path / "b1.csv", index=False)
    assert main(["campaign", "record", "lg", str(tmp_path / "b1.csv"), "--db", db]) == 0
    assert main(["campaign", "suggest", "lg", "--batch", "4", "-o", str(tmp_path / "b2.csv"), "--db", db]) == 0
    b2 = pd.read_csv(tmp_path / "b2.csv")
    assert len(b2) == 4 and b2["conc"].between(0.001, 1).all() and b2["temperature"].between(20, 80).all()
