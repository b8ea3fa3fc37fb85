"""A campaign as a chemist runs it from the batch files: the batch holds the goal columns to fill in,
a failed row needs no goal value, and a mistyped result is retracted (``campaign retract``), kept in the
history, and left out of the model."""

import numpy as np
import pandas as pd
import pytest

from matloop.cli.main import main


def _run(*args):
    return main([str(a) for a in args])


def _pool(tmp_path):
    rows = [(t, e, b) for t in (60, 80, 100) for e in (1, 1.5, 2) for b in ("K2CO3", "Cs2CO3", "DBU")]
    f = pd.DataFrame(rows, columns=["temperature", "equiv", "base"])
    f["yield"] = np.nan
    f["cost"] = np.nan
    path = tmp_path / "pool.csv"
    f.to_csv(path, index=False)
    return path


def test_fill_in_the_batch_record_it_and_retract_a_typo(tmp_path, capsys):
    db = tmp_path / "rx.db"
    assert _run("campaign", "new", "rx", "--pool", _pool(tmp_path), "--goal", "yield:max", "--goal", "cost:min",
                "--db", db) == 0
    batch = tmp_path / "b1.csv"
    assert _run("campaign", "suggest", "rx", "--batch", "4", "-o", batch, "--db", db) == 0
    b = pd.read_csv(batch)
    cols = list(b.columns)
    assert cols[:5] == ["temperature", "equiv", "base", "yield", "cost"] and cols.index("cost") < cols.index("yield_pred")
    assert b[["yield", "cost"]].isna().all().all()
    # the chemist fills the file in: one row failed (no goal values), one yield mistyped (5.5 for 55)
    b["yield"] = [5.5, 70, None, 35]
    b["cost"] = [3, 5, None, 2]
    b["status"] = ["ok", "ok", "failed", "ok"]
    b.to_csv(batch, index=False)
    capsys.readouterr()
    assert _run("campaign", "record", "rx", batch, "--db", db) == 0
    assert "1 failed experiment" in capsys.readouterr().out

    assert _run("campaign", "history", "rx", "--db", db) == 0
    shown = capsys.readouterr().out
    typo = next(line.split()[0] for line in shown.splitlines() if " 5.5 " in f" {line} ")
    assert typo.startswith("m")
    assert _run("campaign", "retract", "rx", typo, "--reason", "typo: 55, not 5.5", "--db", db, "--by", "ana") == 0
    out = capsys.readouterr().out
    assert out.startswith("retracted 1 entry")
    # the right value, recorded as usual; the whole file again records nothing twice and says the typo stays out
    fix = b.iloc[[0]].assign(yield_=55).drop(columns="yield").rename(columns={"yield_": "yield"})
    fix.to_csv(tmp_path / "fix.csv", index=False)
    assert _run("campaign", "record", "rx", tmp_path / "fix.csv", "--db", db) == 0
    assert _run("campaign", "record", "rx", batch, "--db", db) == 0
    out = capsys.readouterr().out
    assert f"was retracted ({typo}) and stays so" in out and "measurement_id" in out
    hist = tmp_path / "h.csv"
    assert _run("campaign", "history", "rx", "-o", hist, "--db", db) == 0
    h = pd.read_csv(hist)
    assert h.loc[h["entry"] == typo, "event"].item() == "measured (retracted)"
    last = h[h["event"] == "retracted"].iloc[0]
    assert (last["recorded_by"], last["reason"], last["value"]) == ("ana", f"{typo}: typo: 55, not 5.5", 5.5)
    ex = tmp_path / "ex.csv"
    assert _run("campaign", "export", "rx", "-o", ex, "--db", db) == 0
    e = pd.read_csv(ex)
    assert sorted(e.loc[(e["target"] == "yield") & (e["status"] == "ok"), "measured_value"]) == [35, 55, 70]
    assert e.loc[e["status"] == "retracted", "measured_value"].tolist() == [5.5]
    assert _run("campaign", "report", "rx", "-o", tmp_path / "r.html", "--db", db) == 0
    html = (tmp_path / "r.html").read_text()
    assert "Retracted entries" in html and "typo: 55, not 5.5" in html


def test_retract_of_an_unknown_entry_exits_2_and_retracts_nothing(tmp_path, capsys):
    db = tmp_path / "rx.db"
    assert _run("campaign", "new", "rx", "--pool", _pool(tmp_path), "--target", "yield", "--maximize",
                "--db", db) == 0
    capsys.readouterr()
    assert _run("campaign", "retract", "rx", "m1", "--reason", "x", "--db", db) == 2
    err = capsys.readouterr().err
    assert "Nothing was retracted" in err and "'m1'" in err and "campaign history" in err


def test_a_results_file_with_a_row_of_units_is_refused_saying_to_remove_it(tmp_path, capsys):
    db = tmp_path / "rx.db"
    assert _run("campaign", "new", "rx", "--pool", _pool(tmp_path), "--target", "yield", "--maximize",
                "--db", db) == 0
    batch = tmp_path / "b1.csv"
    assert _run("campaign", "suggest", "rx", "--batch", "3", "-o", batch, "--db", db) == 0
    b = pd.read_csv(batch)[["temperature", "equiv", "base", "yield"]].assign(yield_=[50, 60, 70])
    b = b.drop(columns="yield").rename(columns={"yield_": "yield"}).astype(object)
    units = pd.DataFrame([["°C", "eq", "", "%"]], columns=b.columns)
    pd.concat([units, b]).to_csv(tmp_path / "r.csv", index=False)
    capsys.readouterr()
    assert _run("campaign", "record", "rx", tmp_path / "r.csv", "--db", db) == 2
    err = capsys.readouterr().err
    assert "row 1 holds text ('°C', 'eq', '%')" in err and "Remove the row (keep the column names" in err
    pd.concat([units, b.iloc[:1]]).to_csv(tmp_path / "r1.csv", index=False)  # one result: not judged (too little)
    assert _run("campaign", "record", "rx", tmp_path / "r1.csv", "--db", db) == 2
    assert "Nothing was recorded" in capsys.readouterr().err
    b.to_csv(tmp_path / "r.csv", index=False)  # the row removed: recorded
    assert _run("campaign", "record", "rx", tmp_path / "r.csv", "--db", db) == 0
    assert capsys.readouterr().out.startswith("recorded 3 new measurements")


def test_abandon_frees_suggestions_that_will_not_be_run(tmp_path, capsys):
    db = tmp_path / "rx.db"
    assert _run("campaign", "new", "rx", "--pool", _pool(tmp_path), "--target", "yield", "--maximize",
                "--db", db) == 0
    assert _run("campaign", "suggest", "rx", "--batch", "27", "-o", tmp_path / "all.csv", "--db", db) == 0
    assert _run("campaign", "suggest", "rx", "--batch", "1", "-o", tmp_path / "none.csv", "--db", db) == 2
    assert "matloop campaign abandon" in capsys.readouterr().err
    assert _run("campaign", "abandon", "rx", "--candidate", "temperature=60, equiv=1, base=DBU", "--reason",
                "no DBU this week", "--db", db, "--by", "ana") == 0
    out = capsys.readouterr().out
    assert out.startswith("abandoned 1 suggestion") and "26 awaiting results" in out
    assert _run("campaign", "suggest", "rx", "--batch", "3", "-o", tmp_path / "n.csv", "--db", db) == 0
    again = pd.read_csv(tmp_path / "n.csv")
    assert again[["temperature", "equiv", "base"]].values.tolist() == [[60, 1, "DBU"]]
    assert _run("campaign", "abandon", "rx", "--all-pending", "--reason", "plate dropped", "--db", db) == 0
    out = capsys.readouterr().out
    assert "abandoned 27 suggestions" in out and "28 (0 awaiting results, 28 abandoned)" in out
    assert _run("campaign", "abandon", "rx", "--all-pending", "--reason", "plate dropped", "--db", db) == 0
    assert capsys.readouterr().out.startswith("nothing was abandoned: no suggestion is awaiting results")
    assert _run("campaign", "abandon", "rx", "--candidate", "#99", "--reason", "x", "--db", db) == 2
    with pytest.raises(SystemExit) as stop:  # which ones: argparse says
        _run("campaign", "abandon", "rx", "--reason", "x", "--db", db)
    assert stop.value.code == 2 and "one of the arguments --candidate --all-pending is required" in capsys.readouterr().err


def test_same_keeps_a_batch_in_one_oven_run(tmp_path, capsys):
    db = tmp_path / "rx.db"
    pool = pd.read_csv(_pool(tmp_path)).drop(columns="cost")
    pool.loc[[0, 13, 26], "yield"] = [20.0, 55.0, 35.0]
    pool.to_csv(tmp_path / "p.csv", index=False)
    assert _run("suggest", tmp_path / "p.csv", "--target", "yield", "--maximize", "--same", "temperature",
                "--batch", "4", "-o", tmp_path / "s.csv") == 0
    s = pd.read_csv(tmp_path / "s.csv")
    assert len(s) == 4 and s["temperature"].nunique() == 1 and s["reason"].str.contains("--same").all()
    assert _run("campaign", "new", "rx", "--pool", tmp_path / "p.csv", "--target", "yield", "--maximize",
                "--db", db) == 0
    assert _run("campaign", "suggest", "rx", "--same", "temperature", "--same", "base", "--batch", "5",
                "-o", tmp_path / "b.csv", "--db", db) == 0
    b = pd.read_csv(tmp_path / "b.csv")
    assert b[["temperature", "base"]].drop_duplicates().shape[0] == 1 and len(b) in (2, 3)  # 3 equivalents a group
    assert f"({len(b)} of the 5 asked for" in capsys.readouterr().out
    assert _run("campaign", "suggest", "rx", "--same", "temp", "-o", tmp_path / "c.csv", "--db", db) == 2
    assert "did you mean 'temperature'" in capsys.readouterr().err


def test_benchmark_campaign_replays_batches_that_share_a_setting(tmp_path, capsys):
    rows = [(t, e, b) for t in (60, 80, 100) for e in (1, 1.5, 2) for b in ("K2CO3", "Cs2CO3", "DBU")]
    f = pd.DataFrame(rows, columns=["temperature", "equiv", "base"])
    f["yield"] = (50 - ((f["temperature"] - 80) / 20) ** 2 * 10 + f["equiv"] * 5).round(2)
    f.to_csv(tmp_path / "full.csv", index=False)
    assert _run("benchmark", "campaign", tmp_path / "full.csv", "--target", "yield", "--maximize", "--batch", "3",
                "--budget", "11", "--runs", "2", "--same", "temperature", "-q", "--json", tmp_path / "b.json") == 0
    assert "every round of 3 shares temperature (--same)" in capsys.readouterr().out
    f["cost"] = (f["equiv"] * 3 + (f["base"] == "Cs2CO3") * 4).round(2)
    f.to_csv(tmp_path / "full2.csv", index=False)
    assert _run("benchmark", "campaign", tmp_path / "full2.csv", "--goal", "yield:max", "--goal", "cost:min",
                "--batch", "3", "--budget", "11", "--runs", "2", "--same", "base", "--strategies", "default", "random",
                "-q", "--json", tmp_path / "m.json") == 0
    assert "every round of 3 shares base (--same)" in capsys.readouterr().out
    import json

    assert set(json.loads((tmp_path / "m.json").read_text())["curves"]) == {"default", "random"}
    assert _run("benchmark", "campaign", tmp_path / "full2.csv", "--target", "yield", "--maximize",
                "--failed-if", "yield < 30", "--same", "temperature", "-q") == 2
    assert "--same replays numeric goals without failures" in capsys.readouterr().err


def test_a_campaign_whose_every_batch_shares_a_setting(tmp_path, capsys):
    """campaign new --same: every campaign suggest shares it unless told otherwise (--same COL, --no-same)."""
    db = tmp_path / "rx.db"
    pool = pd.read_csv(_pool(tmp_path)).drop(columns="cost")
    pool.loc[[0, 13, 26], "yield"] = [20.0, 55.0, 35.0]
    pool.to_csv(tmp_path / "p.csv", index=False)
    assert _run("campaign", "new", "rx", "--pool", tmp_path / "p.csv", "--target", "yield", "--maximize",
                "--same", "temperature", "--db", db) == 0
    assert "batches share: temperature (campaign new --same" in capsys.readouterr().out
    assert _run("campaign", "suggest", "rx", "--batch", "4", "-o", tmp_path / "b1.csv", "--db", db) == 0
    b1 = pd.read_csv(tmp_path / "b1.csv")
    assert len(b1) == 4 and b1["temperature"].nunique() == 1 and b1["reason"].str.contains("--same").all()
    assert _run("campaign", "suggest", "rx", "--batch", "4", "--same", "base", "-o", tmp_path / "b2.csv",
                "--db", db) == 0
    b2 = pd.read_csv(tmp_path / "b2.csv")  # the batch's own column replaces the campaign's
    assert b2["base"].nunique() == 1 and b2["reason"].str.contains("shares base = ").all()
    assert not b2["reason"].str.contains("temperature =").any()
    assert _run("campaign", "suggest", "rx", "--batch", "6", "--no-same", "-o", tmp_path / "b3.csv", "--db", db) == 0
    b3 = pd.read_csv(tmp_path / "b3.csv")
    assert len(b3) == 6 and not b3["reason"].str.contains("--same").any()
    capsys.readouterr()
    assert _run("campaign", "suggest", "rx", "--no-same", "--same", "base", "-o", tmp_path / "b4.csv",
                "--db", db) == 2
    assert "--same and --no-same contradict each other" in capsys.readouterr().err
    assert not (tmp_path / "b4.csv").exists()
    # the column must be an input of the pool (not the goal, not a typo); a design space fixes it in its file
    assert _run("campaign", "new", "r2", "--pool", tmp_path / "p.csv", "--target", "yield", "--maximize",
                "--same", "yield", "--db", db) == 2
    assert "a batch can share only an input" in capsys.readouterr().err
    assert _run("campaign", "new", "r3", "--pool", tmp_path / "p.csv", "--target", "yield", "--maximize",
                "--same", "temp", "--db", db) == 2
    assert "did you mean 'temperature'" in capsys.readouterr().err
    space = tmp_path / "space.yaml"
    space.write_text("parameters:\n  temperature: {type: continuous, low: 60, high: 100}\n")
    assert _run("campaign", "new", "r4", "--space", space, "--target", "yield", "--maximize",
                "--same", "temperature", "--db", db) == 2
    assert "fix the parameter" in capsys.readouterr().err
    assert _run("campaign", "list", "--db", db) == 0
    assert "r2" not in capsys.readouterr().out  # nothing was created by the refused commands


def test_a_failure_rule_on_a_column_named_yield(tmp_path):
    """'yield' is a Python keyword; as a column it works in --failed-if (it once said 'invalid syntax')."""
    pool = pd.read_csv(_pool(tmp_path)).drop(columns="cost")
    pool.loc[[0, 4, 13, 26], "yield"] = [2.0, 45.0, 55.0, 3.0]
    pool.to_csv(tmp_path / "p.csv", index=False)
    assert _run("suggest", tmp_path / "p.csv", "--target", "yield", "--maximize", "--failed-if", "yield < 5",
                "--batch", "3", "-o", tmp_path / "s.csv") == 0
    s = pd.read_csv(tmp_path / "s.csv")
    assert len(s) == 3 and "p_success" in s.columns
