"""``--bounds`` on fit / validate, and intervals of a band gap that never go below zero."""

import json

import pandas as pd
import pytest

from matloop.cli.main import main
from matloop.datasets import load
from matloop.models.persistence import read_model_metadata


@pytest.fixture(scope="module")
def gaps(tmp_path_factory):
    """120 experimental band gaps (a third are metals at exactly 0 eV) and 30 compositions to predict."""
    d = tmp_path_factory.mktemp("bounds_cli")
    f = load("matbench_expt_gap").frame.sample(150, random_state=1).reset_index(drop=True)
    f.head(120)[["composition", "gap expt"]].to_csv(d / "train.csv", index=False)
    f.tail(30)[["composition"]].to_csv(d / "new.csv", index=False)
    return d


def test_band_gap_intervals_stay_nonnegative_and_bounds_are_saved(gaps, capsys):
    model, out = gaps / "gap.model", gaps / "pred.csv"
    assert main(["fit", str(gaps / "train.csv"), "--target", "gap expt", "--model", "rf", "-o", str(model)]) == 0
    assert read_model_metadata(model)["metadata"]["bounds"] == [0.0, None]  # detected: all gaps >= 0
    assert main(["predict", str(model), str(gaps / "new.csv"), "-o", str(out)]) == 0
    pred = pd.read_csv(out)
    assert (pred["lower_95"] >= 0).all() and (pred["prediction"] >= 0).all()
    # without the bound, the Gaussian interval of some metal would have gone below zero
    assert (pred["prediction"] - 1.959964 * pred["std"] < 0).any()
    assert (pred["lower_95"] == 0).any()


def test_explicit_bounds_and_none(gaps, capsys):
    model = gaps / "free.model"
    assert main(["fit", str(gaps / "train.csv"), "--target", "gap expt", "--model", "rf", "--bounds", "none",
                 "-o", str(model)]) == 0
    assert read_model_metadata(model)["metadata"]["bounds"] == [None, None]
    out = gaps / "free.csv"
    assert main(["predict", str(model), str(gaps / "new.csv"), "-o", str(out)]) == 0
    assert (pd.read_csv(out)["lower_95"] < 0).any()
    capped = gaps / "capped.model"
    assert main(["fit", str(gaps / "train.csv"), "--target", "gap expt", "--model", "rf", "--bounds", "0:12",
                 "-o", str(capped)]) == 0
    assert read_model_metadata(capped)["metadata"]["bounds"] == [0.0, 12.0]


def test_validate_with_bounds_writes_nonnegative_intervals(gaps, capsys):
    js, pr = gaps / "v.json", gaps / "v.csv"
    assert main(["validate", str(gaps / "train.csv"), "--target", "gap expt", "--model", "rf", "--bounds", "0:",
                 "--folds", "3", "--json", str(js), "--predictions", str(pr)]) == 0
    preds = pd.read_csv(pr)
    assert (preds["lower_95"] >= 0).all() and (preds["prediction"] >= 0).all()
    assert 0 <= json.loads(js.read_text())["mean"]["coverage_95"] <= 1


@pytest.mark.parametrize("bad", ["abc", "5", "3:1"])
def test_bad_bounds_exit_2(gaps, capsys, bad):
    with pytest.raises(SystemExit) as err:
        main(["fit", str(gaps / "train.csv"), "--target", "gap expt", "--bounds", bad, "-o", str(gaps / "x.model")])
    assert err.value.code == 2
    assert "--bounds" in capsys.readouterr().err


def test_targets_outside_given_bounds_exit_2(gaps, capsys):
    code = main(["fit", str(gaps / "train.csv"), "--target", "gap expt", "--model", "rf", "--bounds", "0:1",
                 "-o", str(gaps / "y.model")])
    assert code == 2
    assert "outside the bounds 0:1" in capsys.readouterr().err
