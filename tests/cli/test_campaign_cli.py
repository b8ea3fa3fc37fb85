"""suggest, campaign and demo through the CLI on a generated process table."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from matloop.cli.main import main


@pytest.fixture
def process_table(tmp_path):
    rng = np.random.default_rng(0)
    f = pd.DataFrame({"temperature": rng.uniform(300, 900, 40).round(1), "time": rng.uniform(1, 10, 40).round(2)})
    f["yield"] = (-((f["temperature"] - 700) / 200) ** 2 - ((f["time"] - 3) / 3) ** 2).round(4)
    f.loc[14:, "yield"] = np.nan
    path = tmp_path / "process.csv"
    f.to_csv(path, index=False)
    return path


def test_suggest_writes_ranked_candidates_with_reasons(process_table, tmp_path, capsys):
    out = tmp_path / "next.csv"
    assert main(["suggest", str(process_table), "--target", "yield", "--maximize", "--batch", "3",
                 "--model", "rf", "-o", str(out)]) == 0
    s = pd.read_csv(out)
    assert list(s.columns) == ["temperature", "time", "yield", "prediction", "std", "acquisition", "rank", "reason"]
    assert s["rank"].tolist() == [1, 2, 3] and s["yield"].isna().all() and s["reason"].str.len().min() > 10


# _text_only: in this test process pandas' own float parser (xstrtod) crashed with SIGSEGV on files
# that read fine in any other process; reading as text and converting with numpy sidesteps it.
def _cli(*args, expect=0):
    """Each step in its own process, as a person runs the commands."""
    proc = subprocess.run([sys.executable, "-m", "matloop.cli.main", *map(str, args)], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == expect, proc.stderr
    return proc


def test_campaign_loop_through_the_cli(process_table, tmp_path):
    db = tmp_path / "ledger.db"
    _cli("campaign", "new", "proc", "--pool", process_table, "--target", "yield", "--maximize", "--db", db)
    nxt = tmp_path / "next.csv"
    _cli("campaign", "suggest", "proc", "--batch", "2", "--model", "rf", "-o", nxt, "--db", db)
    batch = pd.read_csv(nxt, dtype=str)  # see _text_only below
    results = batch[["temperature", "time"]].astype(float)
    results["yield"] = [-0.5, -0.7]
    res_path = tmp_path / "results.csv"
    results.to_csv(res_path, index=False)
    assert "recorded 2 new measurements" in _cli("campaign", "record", "proc", res_path, "--db", db).stdout
    assert "2 already recorded" in _cli("campaign", "record", "proc", res_path, "--db", db).stdout  # idempotent
    assert "measured:   16" in _cli("campaign", "status", "proc", "--db", db).stdout
    allp = tmp_path / "all.csv"
    _cli("campaign", "export", "proc", "-o", allp, "--db", db)
    assert pd.read_csv(allp, dtype=str)["measured_value"].notna().sum() == 16
    rep = tmp_path / "report.html"
    _cli("campaign", "report", "proc", "-o", rep, "--db", db, "--pareto-with", "time:min")
    html = rep.read_text()
    assert "<img" in html and "http://" not in html and "what the model learned" in html.lower()
    assert "pareto" in html.lower()
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"temperature": [1.0], "time": [2.0], "yield": [0.1]}).to_csv(bad, index=False)
    err = _cli("campaign", "record", "proc", bad, "--db", db, expect=2).stderr
    assert "not a candidate of this campaign" in err and "Traceback" not in err


def test_benchmark_campaign_cli(process_table, tmp_path, capsys):
    full = pd.read_csv(process_table)
    full["yield"] = -((full["temperature"] - 700) / 200) ** 2 - ((full["time"] - 3) / 3) ** 2
    path = tmp_path / "full.csv"
    full.to_csv(path, index=False)
    js = tmp_path / "b.json"
    assert main(["benchmark", "campaign", str(path), "--target", "yield", "--maximize", "--runs", "2",
                 "--budget", "15", "--strategies", "rf-ei", "random", "--json", str(js),
                 "--plot", str(tmp_path / "b.png")]) == 0
    out = capsys.readouterr().out
    assert "rf-ei" in out and "AF_50pct" in out and js.exists() and (tmp_path / "b.png").exists()


def test_demo_runs_and_reports(tmp_path, capsys):
    rep = tmp_path / "demo.html"
    assert main(["demo", "--runs", "1", "--budget", "12", "-o", str(rep)]) == 0
    out = capsys.readouterr().out
    assert "top materials" in out and rep.exists()


@pytest.mark.parametrize("name", ["bogus", "rf-bogus"])
def test_demo_unknown_strategy_is_bad_input(tmp_path, capsys, name):
    assert main(["demo", "--strategy", name, "-o", str(tmp_path / "d.html")]) == 2
    assert name in capsys.readouterr().err
    assert not (tmp_path / "d.html").exists()


def test_cli_surrogate_choices_match_the_design_layer():
    """The parser spells the surrogate names out (no modelling imports at start-up): keep them equal."""
    from matloop.cli import goal
    from matloop.design import surrogate
    from matloop.design.simulate import DEFAULT_STRATEGY

    assert set(goal.SURROGATE_CHOICES) == set(surrogate.SURROGATES)
    assert goal.DEFAULT_SURROGATE == surrogate.DEFAULT_SURROGATE == DEFAULT_STRATEGY.split("-")[0]


def test_campaign_suggest_to_an_unwritable_output_stores_nothing(process_table, tmp_path, capsys):
    """Issue 16 item 9: the output is checked before the batch is committed."""
    db = str(tmp_path / "ledger.db")
    assert main(["campaign", "new", "proc", "--pool", str(process_table), "--target", "yield", "--maximize",
                 "--db", db]) == 0
    for bad in (tmp_path / "next.weird", tmp_path / "missing" / "next.csv"):
        assert main(["campaign", "suggest", "proc", "--batch", "2", "--model", "rf", "-o", str(bad), "--db", db]) == 2
        assert "Traceback" not in capsys.readouterr().err
    capsys.readouterr()
    assert main(["campaign", "status", "proc", "--db", db]) == 0
    assert "suggested:  0 (0 awaiting results)" in capsys.readouterr().out


def test_campaign_record_keeps_two_measurements_with_empty_ids(process_table, tmp_path, capsys):
    """Issue 16 item 2: ``X,100,`` and ``X,200,`` both land (an empty measurement_id is no id)."""
    db = str(tmp_path / "ledger.db")
    assert main(["campaign", "new", "proc", "--pool", str(process_table), "--target", "yield", "--maximize",
                 "--db", db]) == 0
    row = pd.read_csv(process_table).iloc[20]
    res = tmp_path / "results.csv"
    res.write_text(f"temperature,time,yield,measurement_id\n{row['temperature']},{row['time']},100,\n"
                   f"{row['temperature']},{row['time']},200,\n")
    capsys.readouterr()
    assert main(["campaign", "record", "proc", str(res), "--db", db]) == 0
    assert "recorded 2 new measurements" in capsys.readouterr().out
    res.write_text(f"time,temperature,yield,note\n{row['time']},{row['temperature']:.1f}0,100.0,re-export\n")
    assert main(["campaign", "record", "proc", str(res), "--db", db]) == 0
    assert "1 already recorded" in capsys.readouterr().out


def test_suggest_without_candidates_says_how_to_give_them(process_table, tmp_path, capsys):
    """Issue 15: a fully measured table has no candidates; the message says exactly what to do."""
    full = pd.read_csv(process_table).dropna()
    path = tmp_path / "measured.csv"
    full.to_csv(path, index=False)
    assert main(["suggest", str(path), "--target", "yield", "--maximize", "--model", "rf",
                 "-o", str(tmp_path / "n.csv")]) == 2
    err = capsys.readouterr().err
    assert "leave the target blank" in err and "--candidates" in err and not (tmp_path / "n.csv").exists()


def test_suggest_ranks_a_second_table_of_candidates(process_table, tmp_path, capsys):
    f = pd.read_csv(process_table)
    measured, open_rows = f.dropna(), f[f["yield"].isna()].drop(columns=["yield"])
    train, cands = tmp_path / "measured.csv", tmp_path / "candidates.csv"
    measured.to_csv(train, index=False)
    # the candidates table repeats two measured settings (left out) and carries a column of its own
    pd.concat([open_rows, measured.iloc[:2, :2]]).assign(batch_no=7).to_csv(cands, index=False)
    out = tmp_path / "next.csv"
    assert main(["suggest", str(train), "--target", "yield", "--maximize", "--model", "rf", "--batch", "3",
                 "--candidates", str(cands), "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"ranked {len(open_rows)} candidates (2 rows of {cands} already measured were left out)" in text
    s = pd.read_csv(out)
    assert len(s) == 3 and (s["batch_no"] == 7).all()
    chosen = set(map(tuple, s[["temperature", "time"]].round(6).to_numpy()))
    assert chosen <= set(map(tuple, open_rows[["temperature", "time"]].round(6).to_numpy()))


def test_suggest_refuses_measured_candidates(process_table, tmp_path, capsys):
    f = pd.read_csv(process_table)
    train, cands = tmp_path / "measured.csv", tmp_path / "candidates.csv"
    f.dropna().to_csv(train, index=False)
    f.iloc[:3].assign(temperature=lambda d: d["temperature"] + 1).to_csv(cands, index=False)  # measured targets
    assert main(["suggest", str(train), "--target", "yield", "--maximize", "--model", "rf",
                 "--candidates", str(cands), "-o", str(tmp_path / "n.csv")]) == 2
    err = capsys.readouterr().err
    assert "measured rows belong in the table" in err and "Traceback" not in err


@pytest.mark.parametrize("goals", [["--target", "yield", "--maximize"], ["--goal", "yield:max", "--goal", "cost:min"]])
def test_a_batch_larger_than_what_is_left_says_so(tmp_path, capsys, goals):
    """Fewer candidates than --batch: the batch holds them and says so; with every candidate measured or
    awaiting results the error counts them (it was "no candidates to choose from ... leave the target blank")."""
    table = pd.DataFrame({"temperature": [40, 60, 80, 100, 120], "time": [1, 2, 3, 4, 5],
                          "yield": [10, None, None, 20, None], "cost": [1, None, None, 2, None]})
    table[[c for c in table if c != "cost" or len(goals) == 4]].to_csv(tmp_path / "p.csv", index=False)
    db = str(tmp_path / "c.db")
    assert main(["campaign", "new", "c", "--pool", str(tmp_path / "p.csv"), *goals, "--db", db, "-q"]) == 0
    assert main(["campaign", "suggest", "c", "--batch", "5", "-o", str(tmp_path / "n.csv"), "--db", db]) == 0
    assert "suggested 3 experiments (3 of the 5 asked for: no more candidates)" in capsys.readouterr().out
    assert main(["campaign", "suggest", "c", "--batch", "1", "-o", str(tmp_path / "m.csv"), "--db", db]) == 2
    err = capsys.readouterr().err
    assert "no candidate is left to suggest: of the campaign's 5 candidates 2 are measured, 3 await results" in err
    assert main(["suggest", str(tmp_path / "p.csv"), *goals, "--batch", "5", "-o", str(tmp_path / "s.csv")]) == 0
    assert "wrote the best 3 to" in (out := capsys.readouterr().out) and "(3 of the 5 asked for: no more candidates)" in out


def test_results_with_the_goal_spelt_otherwise_point_to_it(tmp_path, capsys):
    pd.DataFrame({"temperature": [40, 60, 80, 100], "yield": [10, None, None, 20]}).to_csv(tmp_path / "p.csv", index=False)
    db = str(tmp_path / "c.db")
    assert main(["campaign", "new", "c", "--pool", str(tmp_path / "p.csv"), "--target", "yield", "--maximize",
                 "--db", db, "-q"]) == 0
    pd.DataFrame({"temperature": [60], "Yield": [12.0]}).to_csv(tmp_path / "r.csv", index=False)
    capsys.readouterr()
    assert main(["campaign", "record", "c", str(tmp_path / "r.csv"), "--db", db]) == 2
    assert "results column 'yield' not found (did you mean 'Yield'? names are case-sensitive)" in capsys.readouterr().err


def test_campaign_list_shows_every_campaign_of_the_ledger(process_table, tmp_path, capsys):
    db = str(tmp_path / "team.db")
    assert main(["campaign", "new", "heat", "--pool", str(process_table), "--target", "yield", "--maximize",
                 "--db", db, "--by", "ana"]) == 0
    assert main(["campaign", "new", "both", "--pool", str(process_table), "--goal", "yield:max", "--goal",
                 "time:min", "--db", db]) == 2  # time is an input of the table, not a goal: refused
    assert main(["campaign", "new", "cold", "--pool", str(process_table), "--target", "yield", "--minimize",
                 "--db", db]) == 0
    from matloop.design.campaign import Campaign
    from matloop.design.ledger_events import campaign_log, retract

    cold = Campaign("cold", db)
    entries = campaign_log(cold)["entry"].tolist()
    assert entries[0] == "m15"  # entry numbers run over the whole ledger: m1-m14 are heat's
    with pytest.raises(Exception, match="not an entry of this campaign"):
        retract(cold.ledger, ["m1"], "wrong campaign")
    retract(cold.ledger, entries[:3], "wrong furnace")
    capsys.readouterr()
    assert main(["campaign", "list", "--db", db]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["name", "goals", "kind", "created_at", "created_by", "candidates", "measured", "values"]
    heat, cold = lines[1].split(), lines[2].split()
    assert heat[:3] == ["heat", "maximise", "yield"] and "ana" in heat and heat[-2:] == ["40", "14"]
    assert cold[:3] == ["cold", "minimise", "yield"] and cold[-2:] == ["40", "11"]  # 3 retracted
