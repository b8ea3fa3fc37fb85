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
    assert main(["campaign", "record", "film", str(tmp_path / "mine.csv"), "--db", db]) == 0
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
