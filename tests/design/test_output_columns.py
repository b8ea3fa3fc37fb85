"""A table's own columns named like the columns a suggestion writes (rank, reason, std, ...) are never
silently replaced: an input of that name is an error (exit 2), any other column keeps its values under
'<name> (table)', a campaign refuses them at creation; the failure 'reason' column is not in the way."""

import numpy as np
import pandas as pd
import pytest

from matloop.cli.main import main


def _table(tmp_path, **extra) -> str:
    rng = np.random.default_rng(0)
    f = pd.DataFrame({"temperature": np.repeat([40, 60, 80, 100], 5), "time": np.tile([1, 2, 4, 6, 8], 4),
                      "solvent": np.tile(["EtOH", "water"], 10)})
    f["yield"] = np.nan
    f.loc[[0, 6, 12, 18], "yield"] = rng.uniform(5, 60, 4).round(1)
    for name, values in extra.items():
        f[name] = values
    path = tmp_path / "t.csv"
    f.to_csv(path, index=False)
    return str(path)


def test_an_input_named_rank_is_an_error(tmp_path, capsys):
    table = _table(tmp_path, rank=np.arange(20))  # numeric: an input of a process table
    assert main(["suggest", table, "--target", "yield", "--maximize", "-o", str(tmp_path / "n.csv")]) == 2
    err = capsys.readouterr().err
    assert "the input column 'rank' has the name of a column suggest writes" in err and "Traceback" not in err
    assert not (tmp_path / "n.csv").exists()
    assert main(["campaign", "new", "c", "--pool", table, "--target", "yield", "--maximize",
                 "--db", str(tmp_path / "c.db")]) == 2
    assert "'rank' has the name of a column campaign suggest writes" in capsys.readouterr().err


@pytest.mark.parametrize("goals", [["--target", "yield", "--maximize"], ["--goal", "yield:max", "--goal", "purity:max"]])
def test_other_columns_keep_their_values(tmp_path, capsys, goals):
    notes = ["batch A"] * 20
    table = _table(tmp_path, std=notes, purity=np.where(np.arange(20) % 6 == 0, 90.0, np.nan))
    args = ["--extra-inputs", "temperature,time,solvent"]
    assert main(["suggest", table, *goals, *args, "--batch", "3", "-o", str(tmp_path / "n.csv")]) == 0
    out = pd.read_csv(tmp_path / "n.csv")
    assert (out["std (table)"] == "batch A").all()  # the table's text column, kept
    assert "rank" in out and "reason" in out
    std_col = "std" if len(goals) == 3 else "yield_std"
    assert pd.api.types.is_numeric_dtype(out[std_col])  # matloop's own
    assert "keep their values under these names" in capsys.readouterr().err


def test_a_failure_reason_column_is_not_in_the_way(tmp_path, capsys):
    status = [""] * 20
    reason = [""] * 20
    status[3], reason[3] = "failed", "phase separation"
    table = _table(tmp_path, status=status, reason=reason)
    assert main(["suggest", table, "--target", "yield", "--maximize", "--batch", "3", "-o", str(tmp_path / "n.csv")]) == 0
    out = pd.read_csv(tmp_path / "n.csv")
    assert "reason (table)" not in out and out["reason"].str.contains("expected improvement").all()
    # asked to retry the failed row: its failure reason stays beside matloop's reason when it is chosen
    assert main(["suggest", table, "--target", "yield", "--maximize", "--batch", "19", "--retry-failed",
                 "-o", str(tmp_path / "r.csv")]) == 0
    out = pd.read_csv(tmp_path / "r.csv")
    assert out["reason (table)"].eq("phase separation").sum() == 1
    assert main(["campaign", "new", "c", "--pool", table, "--target", "yield", "--maximize",
                 "--db", str(tmp_path / "c.db")]) == 0
