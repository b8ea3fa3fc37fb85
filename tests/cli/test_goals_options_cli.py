"""``suggest`` and ``campaign`` with several goals and the single goal's options: --candidates,
--history (a prior per goal), --acquisition, --batch-method, --transfer; never silently ignored."""

import numpy as np
import pandas as pd
import pytest

from matloop.cli.main import main
from matloop.datasets import load

GOALS = ["--goal", "abs_lam_diff:min", "--goal", "ered:min", "--goal", "gsol:min"]
LABELS = ["r1_label", "r3_label", "r4_label", "r5_label"]


@pytest.fixture(scope="module")
def redox(tmp_path_factory):
    """Every 30th redoxmers row as the table (goals blank after 24 rows); other rows as candidates and history."""
    folder = tmp_path_factory.mktemp("redox_opts")
    full = load("redoxmers").frame
    pool = full.iloc[::30].reset_index(drop=True)
    pool.loc[24:, ["abs_lam_diff", "ered", "gsol"]] = np.nan
    pool.to_csv(folder / "pool.csv", index=False)
    rest = full.drop(full.index[::30])
    cands = pd.concat([rest.iloc[:20], full.iloc[[0, 30]]])[LABELS]  # the last two are measured in the table
    cands.to_csv(folder / "cands.csv", index=False)
    rest.iloc[100:220].drop(columns=["abs_lam_diff"]).to_csv(folder / "hist.csv", index=False)
    rest.iloc[:20][LABELS].assign(other=1.0).to_csv(folder / "nogoal.csv", index=False)
    return folder, rest


def test_suggest_with_candidates(redox, capsys):
    folder, rest = redox
    out = folder / "n_cands.csv"
    assert main(["suggest", str(folder / "pool.csv"), *GOALS, "--candidates", str(folder / "cands.csv"),
                 "--batch", "3", "-o", str(out), "-q"]) == 0
    printed = capsys.readouterr().out
    assert "2 of them already measured were left out" in printed and "ranked 43 candidates" in printed
    s = pd.read_csv(out)
    assert len(s) == 3 and {"ered_pred", "ehvi"} <= set(s.columns)


def test_suggest_with_history_per_goal(redox, capsys):
    folder, _ = redox
    out = folder / "n_hist.csv"
    assert main(["suggest", str(folder / "pool.csv"), *GOALS, "--history", str(folder / "hist.csv"),
                 "--batch", "2", "--model", "fastgp", "-o", str(out), "-q"]) == 0
    printed = capsys.readouterr().out
    assert "abs_lam_diff: no history" in printed and "120 rows of hist.csv" in printed
    assert pd.read_csv(out)["reason"].str.contains("none for abs_lam_diff").all()
    assert main(["suggest", str(folder / "pool.csv"), *GOALS, "--history", str(folder / "nogoal.csv"),
                 "-o", str(folder / "x.csv")]) == 2
    assert "measures none of the goals" in capsys.readouterr().err


def test_suggest_acquisition_contract(redox, capsys):
    folder, _ = redox
    out = folder / "n_acq.csv"
    assert main(["suggest", str(folder / "pool.csv"), *GOALS, "--acquisition", "ucb", "--batch", "2", "-o", str(out),
                 "-q"]) == 0
    assert "acquisition ucb applied to ParEGO" in capsys.readouterr().out
    assert pd.read_csv(out)["reason"].str.contains("ParEGO").all()
    for extra, message in [(["--acquisition", "ei", "--scalarize", "ehvi"], "cannot be combined with --scalarize ehvi"),
                           (["--acquisition", "novelty"], "no meaning for several goals"),
                           (["--batch-method", "penalized"], "--batch-method penalized applies to one goal"),
                           (["--transfer", "auto"], "--transfer uses the pre-trained composition library")]:
        assert main(["suggest", str(folder / "pool.csv"), *GOALS, *extra, "-o", str(folder / "y.csv")]) == 2
        assert message in capsys.readouterr().err
    assert not (folder / "y.csv").exists()


def test_campaign_with_history_and_acquisition(redox, tmp_path, capsys):
    folder, _ = redox
    db = str(tmp_path / "h.db")
    assert main(["campaign", "new", "h", "--pool", str(folder / "pool.csv"), *GOALS, "--history",
                 str(folder / "hist.csv"), "--db", db, "-q"]) == 0
    capsys.readouterr()
    nxt = tmp_path / "h.csv"
    assert main(["campaign", "suggest", "h", "--batch", "2", "--acquisition", "ei", "--scalarize", "chimera", "-o",
                 str(nxt), "--model", "fastgp", "--db", db, "-q"]) == 0
    printed = capsys.readouterr().out
    assert "history: abs_lam_diff: no history" in printed and "Chimera merit" in printed
    assert main(["campaign", "suggest", "h", "--batch", "2", "--acquisition", "ei", "--scalarize", "ehvi", "-o",
                 str(tmp_path / "z.csv"), "--db", db, "-q"]) == 2
    assert main(["campaign", "new", "bad", "--pool", str(folder / "pool.csv"), *GOALS, "--history",
                 str(folder / "nogoal.csv"), "--db", db, "-q"]) == 2
    assert "measures none of the goals" in capsys.readouterr().err
