"""fit / predict / validate through the CLI, on a bundled dataset subset."""

import json

import numpy as np
import pandas as pd
import pytest

from matloop.cli.main import main
from matloop.datasets import load


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    d = tmp_path_factory.mktemp("model_cli")
    ds = load("matbench_steels")
    f = ds.frame.sample(80, random_state=0).reset_index(drop=True)
    f[["composition", "yield strength"]].to_csv(d / "train.csv", index=False)
    f[["composition"]].head(10).to_csv(d / "new.csv", index=False)
    return d


def test_fit_then_predict_adds_the_promised_columns(tables, capsys):
    model = tables / "steel.model"
    assert main(["fit", str(tables / "train.csv"), "--target", "yield strength", "--model", "rf",
                 "-o", str(model)]) == 0
    assert model.exists() and "saved" in capsys.readouterr().out
    out = tables / "pred.csv"
    assert main(["predict", str(model), str(tables / "new.csv"), "-o", str(out)]) == 0
    pred = pd.read_csv(out)
    assert {"composition", "prediction", "std", "lower_95", "upper_95", "in_domain"} <= set(pred.columns)
    assert len(pred) == 10 and (pred["std"] > 0).all()
    assert np.allclose(pred["upper_95"] - pred["prediction"], 1.959964 * pred["std"], rtol=1e-4)
    assert pred["prediction"].between(500, 3000).all()  # yield strengths of steels, MPa


def test_validate_writes_json_keyed_by_metric_and_predictions(tables, capsys):
    js, pr = tables / "v.json", tables / "v.csv"
    assert main(["validate", str(tables / "train.csv"), "--target", "yield strength", "--model", "rf",
                 "--cv", "extrapolation", "--json", str(js), "--predictions", str(pr)]) == 0
    report = json.loads(js.read_text())
    for key in ("mae", "rmse", "r2", "miscalibration_area", "coverage_95"):
        assert key in report["mean"]
    assert report["folds"] and "fit_seconds" in report["folds"][0]
    preds = pd.read_csv(pr)
    assert {"row", "composition", "prediction", "std", "lower_95", "upper_95"} <= set(preds.columns)
    # extrapolation: every test row is above every training row
    assert preds["y_true"].min() >= pd.read_csv(tables / "train.csv")["yield strength"].quantile(0.85)


def test_validate_rejects_unknown_split(tables, capsys):
    assert main(["validate", str(tables / "train.csv"), "--target", "yield strength", "--cv", "nonsense"]) != 0


def test_design_compositions_from_a_saved_model(tables, capsys):
    model = tables / "design.model"
    assert main(["fit", str(tables / "train.csv"), "--target", "yield strength", "--model", "rf",
                 "-o", str(model)]) == 0
    out = tables / "designs.csv"
    assert main(["design", "compositions", "--model", str(model), "--seeds", str(tables / "train.csv"),
                 "--maximize", "--n", "4", "-o", str(out)]) == 0
    d = pd.read_csv(out)
    assert len(d) == 4 and {"formula", "prediction", "std", "in_domain"} <= set(d.columns)
    assert d["prediction"].is_monotonic_decreasing
    train = pd.read_csv(tables / "train.csv")
    assert d["prediction"].iloc[0] >= 0.85 * train["yield strength"].max()  # near the best known steels
    assert main(["design", "compositions", "--model", str(model), "--maximize", "-o", str(out)]) == 2
    assert "--bounds or --seeds" in capsys.readouterr().err


def test_cli_model_choices_are_the_registry_regressors():
    from matloop.cli.commands.fit import MODELS
    from matloop.models.registry import REGRESSORS

    assert MODELS == (*REGRESSORS, "cnn")  # and cnn, the classifier of diffraction patterns


def test_transfer_auto_through_fit_predict_and_validate(tmp_path, capsys):
    frame = load("matbench_expt_gap").frame.sample(60, random_state=1).reset_index(drop=True)
    frame[["composition", "gap expt"]].to_csv(tmp_path / "gaps.csv", index=False)
    pd.DataFrame({"composition": ["NaCl", "GaAs", "Cu"]}).to_csv(tmp_path / "new.csv", index=False)
    model = tmp_path / "gap.model"
    assert main(["fit", str(tmp_path / "gaps.csv"), "--target", "gap expt", "--transfer", "auto",
                 "-o", str(model)]) == 0
    assert main(["predict", str(model), str(tmp_path / "new.csv"), "-o", str(tmp_path / "p.csv")]) == 0
    pred = pd.read_csv(tmp_path / "p.csv")
    assert {"prediction", "std", "lower_95", "upper_95", "in_domain"} <= set(pred.columns)
    # the computed PBE gaps of NaCl and GaAs are known: an insulator far above a metal and a semiconductor
    assert pred["prediction"].iloc[0] > pred["prediction"].iloc[1] > pred["prediction"].iloc[2]
    js = tmp_path / "v.json"
    assert main(["validate", str(tmp_path / "gaps.csv"), "--target", "gap expt", "--transfer", "mp_gap",
                 "--folds", "3", "--json", str(js)]) == 0
    report = json.loads(js.read_text())
    assert report["mean"]["mae"] < 0.9 * np.mean(np.abs(frame["gap expt"] - frame["gap expt"].median()))


def test_extra_inputs_through_fit_validate_and_predict(tmp_path, capsys):
    frame = load("matbench_jdft2d").frame.sample(120, random_state=0).reset_index(drop=True)
    frame[["composition", "spg_num", "exfoliation_en"]].to_csv(tmp_path / "train.csv", index=False)
    frame[["composition", "spg_num"]].head(8).to_csv(tmp_path / "new.csv", index=False)
    frame[["composition"]].head(8).to_csv(tmp_path / "no_spg.csv", index=False)
    model = tmp_path / "m.model"
    assert main(["fit", str(tmp_path / "train.csv"), "--target", "exfoliation_en", "--model", "et",
                 "--extra-inputs", "spg_num", "-o", str(model)]) == 0
    assert main(["predict", str(model), str(tmp_path / "new.csv"), "-o", str(tmp_path / "p.csv")]) == 0
    pred = pd.read_csv(tmp_path / "p.csv")
    assert len(pred) == 8 and pred["prediction"].notna().all() and "spg_num" in pred
    capsys.readouterr()
    assert main(["predict", str(model), str(tmp_path / "no_spg.csv"), "-o", str(tmp_path / "q.csv")]) == 2
    assert "extra input column 'spg_num' not found" in capsys.readouterr().err
    js = tmp_path / "v.json"
    assert main(["validate", str(tmp_path / "train.csv"), "--target", "exfoliation_en", "--model", "et",
                 "--extra-inputs", "spg_num", "--folds", "3", "--json", str(js)]) == 0
    assert json.loads(js.read_text())["mean"]["mae"] > 0
    assert main(["fit", str(tmp_path / "train.csv"), "--target", "exfoliation_en", "--extra-inputs", "spg_num",
                 "--transfer", "auto", "-o", str(model)]) == 2
