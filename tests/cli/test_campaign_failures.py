"""Failed experiments, --failed-if, --retry-failed, veto, add and history through the CLI."""

import numpy as np
import pandas as pd
import pytest

from matloop.cli.main import main
from matloop.datasets import load

ORDINAL = {"clear_solution": 0, "fine_powder": 1, "small_crystallites": 2, "large_crystallites": 3}


@pytest.fixture
def vapdiff(tmp_path):
    """The bundled vapour-diffusion crystallisation table: 40 experiments done (crystal_score and its
    ordinal rank), the rest candidates; 'clear_solution' (nothing grew) is a failure. The text
    labels organic/solvent are left out (their encoding is tested elsewhere)."""
    f = load("vapdiff_crystal").frame.drop(columns=["organic", "solvent"])
    rng = np.random.default_rng(0)
    f = f.iloc[rng.choice(len(f), 160, replace=False)].reset_index(drop=True)
    f["score"] = f["crystal_score"].map(ORDINAL).astype(float)
    f.loc[40:, ["score", "crystal_score"]] = np.nan
    path = tmp_path / "vap.csv"
    f.to_csv(path, index=False)
    return path, f


def _run(*args):
    return main([str(a) for a in args])


def test_suggest_failed_if_leaves_failures_out_and_weights_by_p_success(vapdiff, tmp_path, capsys):
    path, frame = vapdiff
    out = tmp_path / "next.csv"
    assert _run("suggest", path, "--target", "score", "--maximize", "--failed-if",
                "crystal_score == 'clear_solution'", "--batch", "4", "--model", "rf", "-o", out, "--quiet") == 0
    s = pd.read_csv(out)
    assert "p_success" in s.columns and s["p_success"].between(0, 1).all()
    assert s["crystal_score"].isna().all()  # candidates only, never a failed (or measured) row
    text = capsys.readouterr().out
    n_failed = int((frame["crystal_score"] == "clear_solution").sum())
    assert f"{n_failed} failed rows" in text and f"trained on {40 - n_failed} measured rows" in text


def test_status_column_failed_rows_are_not_candidates_unless_retry(tmp_path, capsys):
    rng = np.random.default_rng(1)
    f = pd.DataFrame({"x": rng.uniform(0, 1, 30).round(3), "y": rng.uniform(0, 1, 30).round(3)})
    f["target"] = (f["x"] - f["y"]).round(4)
    f.loc[10:, "target"] = np.nan
    f["status"] = None
    f.loc[10:15, "status"] = "failed"
    f.loc[10:15, "reason"] = "precipitate"
    path = tmp_path / "t.csv"
    f.to_csv(path, index=False)
    out = tmp_path / "n.csv"
    assert _run("suggest", path, "--target", "target", "--maximize", "--batch", "20", "--model", "rf", "-o", out,
                "--quiet") == 0
    s = pd.read_csv(out)
    assert len(s) == 14 and s["status"].isna().all()  # 20 open rows, 6 of them failed
    assert _run("suggest", path, "--target", "target", "--maximize", "--batch", "20", "--model", "rf", "-o", out,
                "--quiet", "--retry-failed") == 0
    assert (pd.read_csv(out)["status"] == "failed").sum() == 6


@pytest.mark.parametrize("rule, words", [
    ("no_such_column == 1", "no column 'no_such_column'"),
    ("open('x')", "not allowed"),
    ("crystal_score > 2", "not a number"),
])
def test_bad_failed_if_exits_2_with_a_table(vapdiff, tmp_path, capsys, rule, words):
    path, _ = vapdiff
    code = _run("suggest", path, "--target", "score", "--maximize", "--failed-if", rule, "-o", tmp_path / "n.csv",
                "--quiet")
    err = capsys.readouterr().err
    assert code == 2 and words in err and "Traceback" not in err


def test_campaign_failures_veto_add_history_export_report(vapdiff, tmp_path, capsys):
    path, frame = vapdiff
    db = tmp_path / "l.db"
    assert _run("campaign", "new", "vap", "--pool", path, "--target", "score", "--maximize", "--failed-if",
                "crystal_score == 'clear_solution'", "--db", db, "--by", "alice") == 0
    n_failed = int((frame["crystal_score"] == "clear_solution").sum())
    assert f"{n_failed} failed" in capsys.readouterr().out
    nxt = tmp_path / "next.csv"
    assert _run("campaign", "suggest", "vap", "--batch", "3", "--model", "rf", "-o", nxt, "--db", db, "--quiet") == 0
    batch = pd.read_csv(nxt)
    assert "p_success" in batch.columns
    res = batch.drop(columns=["prediction", "std", "acquisition", "p_success", "rank", "reason"])
    res["crystal_score"] = ["clear_solution", "large_crystallites", "clear_solution"]
    res["score"] = res["crystal_score"].map(ORDINAL)
    res_path = tmp_path / "res.csv"
    res.to_csv(res_path, index=False)
    assert _run("campaign", "record", "vap", res_path, "--db", db, "--by", "bob") == 0
    assert "1 new measurement; 2 failed experiments" in capsys.readouterr().out
    assert _run("campaign", "veto", "vap", "--candidate", "#50", "--reason", "no acid left", "--db", db,
                "--by", "carol") == 0
    ideas = frame.iloc[:2].drop(columns=["score", "crystal_score"]).assign(reaction_time=1.0)
    ideas.to_csv(tmp_path / "ideas.csv", index=False)
    assert _run("campaign", "add", "vap", tmp_path / "ideas.csv", "--reason", "short runs", "--db", db) == 0
    capsys.readouterr()
    assert _run("campaign", "history", "vap", "--db", db, "--tail", "200") == 0
    hist = capsys.readouterr().out
    assert "no acid left" in hist and "carol" in hist and "short runs" in hist and "bob" in hist
    assert "failed-if: crystal_score == 'clear_solution'" in hist
    assert _run("campaign", "history", "vap", "--db", db, "-o", tmp_path / "h.csv") == 0
    h = pd.read_csv(tmp_path / "h.csv")
    assert h["event"].value_counts().to_dict() == {"measured": 40 - n_failed + 1, "failed": n_failed + 2,
                                                   "added": 2, "veto": 1}
    assert _run("campaign", "export", "vap", "-o", tmp_path / "all.csv", "--db", db) == 0
    exp = pd.read_csv(tmp_path / "all.csv")
    assert (exp["status"] == "failed").sum() == n_failed + 2 and exp["vetoed_reason"].eq("no acid left").sum() == 1
    assert _run("campaign", "report", "vap", "-o", tmp_path / "r.html", "--db", db, "--quiet") == 0
    html = (tmp_path / "r.html").read_text()
    assert "Failed experiments" in html and "experiments failed" in html
    # the vetoed and the failed candidates are never suggested again
    assert _run("campaign", "suggest", "vap", "--batch", "200", "--model", "rf", "-o", nxt, "--db", db,
                "--quiet") == 0
    again = pd.read_csv(nxt)
    cands = pd.read_csv(tmp_path / "all.csv")
    vetoed = cands.loc[cands["vetoed_reason"].notna(), ["organic_molarity", "reaction_time"]]
    merged = again.merge(vetoed, on=["organic_molarity", "reaction_time"])
    assert merged.empty
    failed = res.loc[res["crystal_score"] == "clear_solution", ["organic_molarity", "reaction_time"]]
    assert again.merge(failed, on=["organic_molarity", "reaction_time"]).empty


def test_veto_of_an_unknown_candidate_exits_2(tmp_path, capsys):
    f = pd.DataFrame({"x": [0.1, 0.5, 0.9, 0.3], "y": [1.0, 2.0, None, None]})
    f.to_csv(tmp_path / "p.csv", index=False)
    db = tmp_path / "l.db"
    assert _run("campaign", "new", "c", "--pool", tmp_path / "p.csv", "--target", "y", "--maximize", "--db", db) == 0
    assert _run("campaign", "veto", "c", "--candidate", "#9", "--reason", "r", "--db", db) == 2
    assert "candidates 1..4" in capsys.readouterr().err
    assert _run("campaign", "veto", "c", "--candidate", "x=0.3", "--reason", "r", "--db", db) == 0


def test_a_second_candidates_table_leaves_out_failed_settings(tmp_path, capsys):
    f = pd.DataFrame({"x": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], "t": [1.0, 2.0, None, 3.0, None, None],
                      "status": ["ok", "ok", "failed", "ok", "failed", "failed"]})
    f.to_csv(tmp_path / "done.csv", index=False)
    pd.DataFrame({"x": [0.3, 0.55, 0.65, 0.1]}).to_csv(tmp_path / "cands.csv", index=False)
    out = tmp_path / "n.csv"
    args = ["suggest", tmp_path / "done.csv", "--target", "t", "--maximize", "--candidates", tmp_path / "cands.csv",
            "--batch", "10", "--model", "rf", "-o", out, "--quiet"]
    assert _run(*args) == 0
    assert sorted(pd.read_csv(out)["x"]) == [0.55, 0.65]  # 0.3 failed, 0.1 is measured
    assert "2 rows of" in capsys.readouterr().out
    assert _run(*args, "--retry-failed") == 0
    assert set(pd.read_csv(out)["x"]) == {0.3, 0.5, 0.55, 0.6, 0.65}


def test_an_added_composition_must_keep_the_plates_sum(tmp_path, capsys):
    """A plate's loadings sum to 1 in every candidate: an expert's row summing to 1.1 is a typo, refused."""
    rng = np.random.default_rng(0)
    w = rng.dirichlet(np.ones(3), 30).round(2)
    w[:, 2] = 1 - w[:, 0] - w[:, 1]
    f = pd.DataFrame(w, columns=["ni_load", "fe_load", "co_load"])
    f["eta"] = np.where(np.arange(30) < 5, rng.normal(0.4, 0.02, 30), np.nan)
    f.to_csv(tmp_path / "plate.csv", index=False)
    db = tmp_path / "p.db"
    assert _run("campaign", "new", "p", "--pool", tmp_path / "plate.csv", "--target", "eta", "--minimize", "--db", db,
                "-q") == 0
    ideas = pd.DataFrame({"ni_load": [0.5, 0.5], "fe_load": [0.5, 0.6], "co_load": [0.0, 0.0]})
    ideas.to_csv(tmp_path / "ideas.csv", index=False)
    capsys.readouterr()
    assert _run("campaign", "add", "p", tmp_path / "ideas.csv", "--reason", "binary", "--db", db) == 2
    err = capsys.readouterr().err
    assert "Nothing was added" in err and "ni_load+fe_load+co_load '1.1'" in err and "sum to 1" in err
    ideas.iloc[:1].to_csv(tmp_path / "ideas.csv", index=False)
    assert _run("campaign", "add", "p", tmp_path / "ideas.csv", "--reason", "binary", "--db", db) == 0
    assert "added 1 new candidate" in capsys.readouterr().out


def test_a_failure_keeps_no_suggestion_reason_as_its_cause(tmp_path, capsys):
    """The batch file's 'reason' column holds matloop's reason; a chemist who marks a row failed and leaves
    it records 'status failed' (a note says so), and a reason written in its place is kept."""
    rng = np.random.default_rng(1)
    f = pd.DataFrame({"temperature": np.repeat([40.0, 60, 80, 100], 6), "time": np.tile([1.0, 2, 3, 4, 6, 8], 4)})
    f["yield"] = np.nan
    f.loc[[0, 9, 15], "yield"] = rng.uniform(5, 50, 3).round(1)
    f.to_csv(tmp_path / "pool.csv", index=False)
    db = str(tmp_path / "c.db")
    assert _run("campaign", "new", "c", "--pool", tmp_path / "pool.csv", "--target", "yield", "--maximize",
                "--db", db, "-q") == 0
    assert _run("campaign", "suggest", "c", "--batch", "3", "-o", tmp_path / "n.csv", "--db", db) == 0
    batch = pd.read_csv(tmp_path / "n.csv")
    batch["status"] = ["failed", "failed", "ok"]
    batch["yield"] = [np.nan, np.nan, 21.5]
    batch.loc[1, "reason"] = "film peeled off"
    batch.to_csv(tmp_path / "r.csv", index=False)
    capsys.readouterr()
    assert _run("campaign", "record", "c", tmp_path / "r.csv", "--db", db) == 0
    assert "1 failed row kept the suggestion's own reason" in capsys.readouterr().err
    assert _run("campaign", "export", "c", "-o", tmp_path / "e.csv", "--db", db) == 0
    reasons = pd.read_csv(tmp_path / "e.csv")["failure_reason"].dropna().tolist()
    assert sorted(reasons) == ["film peeled off", "status failed"]
