"""Cold start, design-space campaigns, --history and replicates through the CLI."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import matloop.datasets as datasets
from matloop.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
SPACE = ROOT / "docs" / "examples" / "anneal_space.yaml"


def test_suggest_with_nothing_measured_gives_a_first_batch(tmp_path, capsys):
    f = datasets.load("liang_p3ht").frame.head(60).copy()
    target = "Conductivity (measured) (S/cm)"
    f[target] = np.nan
    f.to_csv(tmp_path / "p.csv", index=False)
    assert main(["suggest", str(tmp_path / "p.csv"), "--target", target, "--maximize", "--batch", "4",
                 "-o", str(tmp_path / "n.csv")]) == 0
    io = capsys.readouterr()
    assert "cold start" in io.err and "space-filling" in io.err
    out = pd.read_csv(tmp_path / "n.csv")
    assert len(out) == 4 and out["reason"].str.contains("space-filling first batch").all()
    assert out["prediction"].isna().all()


def test_design_space_campaign_from_the_shipped_example(tmp_path, capsys):
    db = str(tmp_path / "c.db")
    assert main(["campaign", "new", "film", "--space", str(SPACE), "--target", "conductivity", "--maximize",
                 "--db", db]) == 0
    assert main(["campaign", "suggest", "film", "--batch", "5", "-o", str(tmp_path / "n.csv"), "--db", db]) == 0
    assert "cold start" in capsys.readouterr().err
    batch = pd.read_csv(tmp_path / "n.csv")
    assert len(batch) == 5 and (batch["temperature"] % 5 == 0).all()  # step: 5
    assert np.allclose(batch["time"], batch["time"].round(1)) and batch["layers"].dtype.kind == "i"
    # a point the campaign never suggested, inside the space: accepted without --allow-new
    mine = pd.DataFrame({"temperature": [500], "time": [4.0], "layers": [2], "solvent": ["water"], "Ni": [0.5],
                         "Fe": [0.3], "Co": [0.2], "conductivity": [3.2]})
    mine.to_csv(tmp_path / "mine.csv", index=False)
    capsys.readouterr()
    assert main(["campaign", "record", "film", str(tmp_path / "mine.csv"), "--db", db]) == 0
    assert "1 new candidate added (not in the pool before)" in capsys.readouterr().out
    outside = mine.assign(temperature=[950], conductivity=[1.0])
    outside.to_csv(tmp_path / "out.csv", index=False)
    assert main(["campaign", "record", "film", str(tmp_path / "out.csv"), "--db", db]) == 2
    err = capsys.readouterr().err
    assert "outside the campaign's design space" in err and "temperature" in err and "Traceback" not in err


def test_history_on_suggest_and_campaign_new(tmp_path, capsys):
    a = datasets.load("oer_plate_3496").frame.iloc[::5].copy()
    b = datasets.load("oer_plate_3851").frame.iloc[::3]
    a.loc[a.index[6:], "overpotential"] = np.nan  # fewer than 8 results: the safeguard has nothing to check
    a.to_csv(tmp_path / "pool.csv", index=False)
    b.to_csv(tmp_path / "hist.csv", index=False)
    assert main(["suggest", str(tmp_path / "pool.csv"), "--target", "overpotential", "--minimize", "--history",
                 str(tmp_path / "hist.csv"), "--model", "rf", "--batch", "3", "-o", str(tmp_path / "n.csv")]) == 0
    out = capsys.readouterr().out
    assert "history: history used as the prior" in out and "hist.csv" in out and "Ce/Co/Cu/Fe/La/Mn/Ni/Ta" in out
    assert pd.read_csv(tmp_path / "n.csv")["reason"].str.contains("history").all()
    db = str(tmp_path / "c.db")
    assert main(["campaign", "new", "p", "--pool", str(tmp_path / "pool.csv"), "--target", "overpotential",
                 "--minimize", "--history", str(tmp_path / "hist.csv"), "--db", db]) == 0
    assert main(["campaign", "suggest", "p", "--batch", "2", "--model", "rf", "-o", str(tmp_path / "m.csv"),
                 "--db", db]) == 0
    assert "history" in capsys.readouterr().out
    b.drop(columns=["overpotential"]).to_csv(tmp_path / "nohist.csv", index=False)
    assert main(["suggest", str(tmp_path / "pool.csv"), "--target", "overpotential", "--minimize", "--history",
                 str(tmp_path / "nohist.csv"), "-o", str(tmp_path / "x.csv")]) == 2
    assert "no column 'overpotential'" in capsys.readouterr().err


def test_history_of_process_settings_read_from_a_file_is_a_two_task_prior(tmp_path, capsys):
    """A history file's numbers are numbers (read as text, they were one-hot labels and the history knew nothing),
    and a campaign column the history lacks (conc) reaches the campaign's GP."""
    rng = np.random.default_rng(0)
    hist = pd.DataFrame({"temp": rng.uniform(300, 500, 80).round(1), "time": rng.uniform(1, 10, 80).round(2)})
    hist["yield"] = np.sin(hist["temp"] / 40) + hist["time"] / 5
    pool = pd.DataFrame({"temp": rng.uniform(300, 500, 60).round(1), "time": rng.uniform(1, 10, 60).round(2),
                         "conc": rng.uniform(0.1, 1.0, 60).round(3)})
    pool["yield"] = np.sin(pool["temp"] / 40) + pool["time"] / 5 - pool["conc"]
    pool.loc[pool.index[10:], "yield"] = np.nan
    hist.to_csv(tmp_path / "last_year.csv", index=False)
    pool.to_csv(tmp_path / "pool.csv", index=False)
    assert main(["suggest", str(tmp_path / "pool.csv"), "--target", "yield", "--maximize", "--history",
                 str(tmp_path / "last_year.csv"), "--batch", "3", "-o", str(tmp_path / "n.csv")]) == 0
    out = capsys.readouterr().out
    assert "history used as the prior of a two-task GP" in out and "missing from the history" in out
    lengths = out.split("lengths ")[1].split(")")[0]
    assert len(lengths.split(", ")) == 2  # one length per history input: temp and time as numbers
    assert pd.read_csv(tmp_path / "n.csv")["reason"].str.contains("two-task GP").all()
    assert "two-task GP" in _campaign_with_history(tmp_path, capsys, "pool.csv", "yield", "last_year.csv")


def test_a_history_the_results_contradict_is_set_aside_and_said_so(tmp_path, capsys):
    rng = np.random.default_rng(2)
    hist = pd.DataFrame({"temp": rng.uniform(300, 500, 150).round(1)})
    hist["y"] = np.sin(hist["temp"] / 40)
    pool = pd.DataFrame({"temp": rng.uniform(300, 500, 120).round(1)})
    pool["y"] = -np.sin(pool["temp"] / 40)  # this campaign runs against its history
    pool.loc[pool.index[25:], "y"] = np.nan
    hist.to_csv(tmp_path / "h.csv", index=False)
    pool.to_csv(tmp_path / "c.csv", index=False)
    assert main(["suggest", str(tmp_path / "c.csv"), "--target", "y", "--maximize", "--history", str(tmp_path / "h.csv"),
                 "--batch", "2", "-o", str(tmp_path / "n.csv")]) == 0
    out = capsys.readouterr().out
    assert "history: history set aside for this batch (its learnt weight a = -" in out and "h.csv" in out
    reasons = pd.read_csv(tmp_path / "n.csv")["reason"]
    assert reasons.str.endswith("history set aside for this batch").all()
    assert "history set aside for this batch" in _campaign_with_history(tmp_path, capsys, "c.csv", "y", "h.csv")


def _campaign_with_history(tmp_path, capsys, pool: str, target: str, history: str) -> str:
    """``campaign new --history`` then ``campaign suggest`` (maximise ``target``): what the suggestion printed."""
    db = str(tmp_path / "c.db")
    assert main(["campaign", "new", "c", "--pool", str(tmp_path / pool), "--target", target, "--maximize",
                 "--history", str(tmp_path / history), "--db", db]) == 0
    capsys.readouterr()
    assert main(["campaign", "suggest", "c", "--batch", "2", "-o", str(tmp_path / "m.csv"), "--db", db]) == 0
    return capsys.readouterr().out


def test_replicates_and_best_measured_rule(tmp_path, capsys):
    f = pd.DataFrame({"t": [1.0, 1.0, 2.0, 3.0, 1.0, 4.0, 5.0], "p": [0.1, 0.1, 0.2, 0.3, 0.1, 0.4, 0.5],
                      "y": [9.0, 1.0, 2.0, 3.0, np.nan, np.nan, np.nan]})
    f.to_csv(tmp_path / "r.csv", index=False)
    assert main(["suggest", str(tmp_path / "r.csv"), "--target", "y", "--maximize", "--model", "rf", "--batch", "5",
                 "-o", str(tmp_path / "n.csv")]) == 0
    out = capsys.readouterr().out
    assert "best measured: 5 (rule: each input's mean of its replicates; here 2 measurements)" in out
    assert len(pd.read_csv(tmp_path / "n.csv")) == 2  # the blank copy of (1, 0.1) is not a candidate
    assert main(["suggest", str(tmp_path / "r.csv"), "--target", "y", "--maximize", "--model", "rf", "--batch", "5",
                 "--allow-replicates", "-o", str(tmp_path / "n.csv")]) == 0
    assert len(pd.read_csv(tmp_path / "n.csv")) == 3


@pytest.mark.parametrize("command", [["suggest"], ["campaign", "new"], ["design", "compositions"]])
def test_help_documents_the_new_options(command, capsys):
    with pytest.raises(SystemExit):
        main([*command, "--help"])
    text = capsys.readouterr().out
    if command == ["design", "compositions"]:
        assert "default 0.05" in text
    else:
        assert "--history" in text
    if command == ["campaign", "new"]:
        assert "type: composition" in text and "min_separation" in text and "docs/design_spaces.md" in text


def test_several_goals_cold_start_in_suggest_and_campaign(tmp_path, capsys):
    """With 0 or 1 results of a goal, several goals get the same space-filling first batch as one goal."""
    goals = ["abs_lam_diff", "ered", "gsol"]
    f = datasets.load("redoxmers").frame.head(150).copy()
    f[goals] = f[goals].astype(float)
    f.loc[f.index[1:], goals] = np.nan  # one result
    f.to_csv(tmp_path / "one.csv", index=False)
    args = [a for g in goals for a in ("--goal", f"{g}:min")]
    assert main(["suggest", str(tmp_path / "one.csv"), *args, "--batch", "4", "-o", str(tmp_path / "n.csv")]) == 0
    assert "cold start" in capsys.readouterr().out
    out = pd.read_csv(tmp_path / "n.csv")
    assert len(out) == 4 and out["reason"].str.contains("space-filling first batch").all()
    assert out[[f"{g}_pred" for g in goals]].isna().all().all()
    assert len(out.drop_duplicates(["r1_label", "r3_label", "r4_label", "r5_label"])) == 4
    f[goals] = np.nan  # nothing measured: a campaign's first batch
    f.to_csv(tmp_path / "none.csv", index=False)
    db = str(tmp_path / "c.db")
    assert main(["campaign", "new", "r", "--pool", str(tmp_path / "none.csv"), *args, "--db", db]) == 0
    assert main(["campaign", "suggest", "r", "--batch", "3", "-o", str(tmp_path / "m.csv"), "--db", db]) == 0
    assert "cold start" in capsys.readouterr().err
    first = pd.read_csv(tmp_path / "m.csv")
    assert len(first) == 3 and first["reason"].str.contains("nothing is measured yet").all()


def _reaction_pool(tmp_path, goals=("yield",)) -> Path:
    """A full factorial a chemist would list: 4 ligands (SMILES) x 3 bases x 3 temperatures x 3 equivalents."""
    import itertools

    ligands = ["c1ccccc1P(c1ccccc1)c1ccccc1", "CC(C)(C)P(C(C)(C)C)C(C)(C)C", "C1CCC(CC1)P(C1CCCCC1)C1CCCCC1",
               "COc1ccc(cc1)P(c1ccc(OC)cc1)c1ccc(OC)cc1"]
    rows = itertools.product(ligands, ["K2CO3", "Cs2CO3", "K3PO4"], [60, 80, 100], [1.0, 1.5, 2.0])
    f = pd.DataFrame(list(rows), columns=["ligand", "base", "temperature", "equiv"])
    for g in goals:
        f[g] = np.nan
    f.to_csv(tmp_path / "pool.csv", index=False)
    return tmp_path / "pool.csv"


@pytest.mark.parametrize("goals", [("yield",), ("yield", "ee")])
def test_first_batch_of_a_pool_with_categories_spreads_the_numbers(tmp_path, capsys, goals):
    """k-means over one-hot features put all 6 picks at 80 °C and 1.5 equivalents; the first batch now
    spreads the numeric settings and gives every ligand and base out in turn (and writes 60, not 60.0)."""
    pool = _reaction_pool(tmp_path, goals)
    how = ["--target", "yield", "--maximize"] if len(goals) == 1 else [a for g in goals for a in ("--goal", f"{g}:max")]
    assert main(["suggest", str(pool), *how, "--batch", "6", "-o", str(tmp_path / "n.csv")]) == 0
    assert "categories the least used so far" in capsys.readouterr().out
    text = (tmp_path / "n.csv").read_text()
    out = pd.read_csv(tmp_path / "n.csv")
    assert out["temperature"].nunique() >= 2 and out["equiv"].nunique() >= 2
    assert out["ligand"].nunique() == 4 and out["base"].value_counts().tolist() == [2, 2, 2]
    assert all("." not in line.split(",")[2] for line in text.splitlines()[1:])  # temperatures as given: 60
    # the campaign's first batch is the same kind of design
    db = str(tmp_path / "c.db")
    assert main(["campaign", "new", "rx", "--pool", str(pool), *how, "--db", db, "-q"]) == 0
    assert main(["campaign", "suggest", "rx", "--batch", "6", "-o", str(tmp_path / "c.csv"), "--db", db]) == 0
    batch = pd.read_csv(tmp_path / "c.csv")
    assert batch["temperature"].nunique() >= 2 and batch["ligand"].nunique() == 4
    assert batch["base"].value_counts().tolist() == [2, 2, 2]


def test_benchmark_campaign_replays_a_cold_start(tmp_path, capsys):
    """--initial 0: every run of the default strategy starts with the design suggest gives from nothing
    (the same first batch for every run of one seed), random with random picks; one goal, several goals
    and failures alike."""
    import json

    pool = _reaction_pool(tmp_path, ("yield", "ee"))
    f = pd.read_csv(pool)
    rng = np.random.default_rng(0)
    f["yield"] = (f["temperature"] / 10 + f["equiv"] * 3 + f["ligand"].str.len() / 10 + rng.normal(0, 1, len(f))).round(2)
    f["ee"] = (90 - f["temperature"] / 5 + f["base"].str.len() + rng.normal(0, 1, len(f))).round(2)
    f.to_csv(pool, index=False)
    common = ["--batch", "6", "--budget", "12", "--runs", "2", "--initial", "0", "-q"]
    assert main(["benchmark", "campaign", str(pool), "--target", "yield", "--maximize", *common,
                 "--json", str(tmp_path / "b.json")]) == 0
    assert "default" in capsys.readouterr().out and json.loads((tmp_path / "b.json").read_text())["n_pool"] == 108
    assert main(["benchmark", "campaign", str(pool), "--goal", "yield:max", "--goal", "ee:max", *common]) == 0
    assert "hv_fraction_final" in capsys.readouterr().out
    f.loc[f["temperature"] == 60, "yield"] = np.nan  # nothing happens at 60 °C: a failure
    f.assign(status=np.where(f["yield"].isna(), "failed", "ok")).to_csv(pool, index=False)
    assert main(["benchmark", "campaign", str(pool), "--target", "yield", "--maximize", "--strategies", "default",
                 "random", *common]) == 0
    assert "failed_mean" in capsys.readouterr().out  # a status column is read as suggest reads it
    f.drop(columns=[]).to_csv(pool, index=False)  # the same blanks without a status column: left out, and said
    assert main(["benchmark", "campaign", str(pool), "--target", "yield", "--maximize", *common]) == 0
    io = capsys.readouterr()
    assert "pool 72," in io.out and "note: 36 rows with no 'yield' value are left out of the replay" in io.err


def test_simulate_from_nothing_starts_with_the_cold_start_design():
    from matloop.design.acquisition import Objective
    from matloop.design.coldstart import cold_start_picks
    from matloop.design.simulate import make_strategy, simulate, top_mask

    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, (80, 3))
    y = X @ [1.0, -2.0, 0.5]
    top = top_mask(y, 0.05, Objective("max"))
    run = simulate(X, y, make_strategy("default", 0), top, n_initial=0, budget=10, batch=4, seed=3)
    assert len(run.order) == 10 and len(set(run.order)) == 10
    assert sorted(run.order[:4]) == sorted(cold_start_picks(X, 4, None, 3)[0].tolist())
    random = simulate(X, y, make_strategy("random", 0), top, n_initial=0, budget=4, batch=4, seed=3)
    assert sorted(random.order) != sorted(run.order[:4])


def test_results_a_chemist_writes_get_a_reason_each(tmp_path, capsys):
    """'<5' (a detection limit), '12,5' (a decimal comma) and 'n.d.' are refused with what to write
    instead, by suggest and by campaign record; nothing is recorded."""
    pool = _reaction_pool(tmp_path)
    f = pd.read_csv(pool).astype({"yield": object})
    f.loc[[0, 1, 2], "yield"] = ["<5", "12,5", "n.d."]
    f.to_csv(tmp_path / "bad.csv", index=False)
    assert main(["suggest", str(tmp_path / "bad.csv"), "--target", "yield", "--maximize", "-o",
                 str(tmp_path / "n.csv")]) == 2
    err = capsys.readouterr().err
    assert "a detection limit?" in err and "decimal comma?" in err and "not measured? leave the cell blank" in err
    db = str(tmp_path / "c.db")
    assert main(["campaign", "new", "rx", "--pool", str(pool), "--target", "yield", "--maximize", "--db", db, "-q"]) == 0
    f.iloc[:3].to_csv(tmp_path / "results.csv", index=False)
    capsys.readouterr()
    assert main(["campaign", "record", "rx", str(tmp_path / "results.csv"), "--db", db]) == 2
    err = capsys.readouterr().err
    assert "Nothing was recorded: 3 rows of the results have problems" in err
    assert "a detection limit?" in err and "decimal comma?" in err and "not measured?" in err
