"""Long commands talk on stderr (off with --quiet), and ``fit`` says which model ``auto`` chose and its CV error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from matloop.cli.main import main


@pytest.fixture(scope="module")
def steels(tmp_path_factory):
    """40 rows of the bundled Matbench steels table, as a user's CSV file."""
    from matloop.datasets import load

    frame = load("matbench_steels").frame
    path = tmp_path_factory.mktemp("progress") / "steels.csv"
    frame.iloc[::7].head(40)[["composition", "yield strength"]].to_csv(path, index=False)
    return path


def test_validate_reports_its_folds_unless_quiet(steels, capsys):
    args = ["validate", str(steels), "--target", "yield strength", "--model", "rf", "--folds", "3"]
    assert main(args) == 0
    err = capsys.readouterr().err
    for k in (1, 2, 3):
        assert f"cross-validation fold {k}/3" in err
    assert err.splitlines()[0].startswith("validate [")
    assert main([*args, "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "cross-validation fold" not in captured.err and "mae" in captured.out


def test_fit_reports_candidates_and_names_the_chosen_model_with_its_cv_error(steels, tmp_path, capsys):
    model = tmp_path / "steel.model"
    assert main(["fit", str(steels), "--target", "yield strength", "-o", str(model), "--time-budget", "2"]) == 0
    captured = capsys.readouterr()
    assert "AutoModel:" in captured.err and "candidate 1/" in captured.err
    chosen = next(line for line in captured.out.splitlines() if line.startswith("auto chose "))
    assert "rf" in chosen or "et" in chosen or "gp" in chosen
    cv = next(line for line in captured.out.splitlines() if "inner cross-validation" in line)
    mae = float(cv.split("MAE ")[1].split()[0])
    y = pd.read_csv(steels)["yield strength"].to_numpy()
    assert 0 < mae < np.mean(np.abs(y - np.median(y)))  # an error in the target's units, better than the median
    assert "95% intervals hold" in captured.out

