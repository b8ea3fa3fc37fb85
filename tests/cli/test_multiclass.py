"""Small or odd data (issue 16 item 13): clear exit-2 messages where a model is impossible, and
multi-class classification that simply works: fit, predict with class probabilities, validate."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification

from matloop.cli.main import main
from matloop.datasets import load
from matloop.evaluate.multiclass import multiclass_metrics
from matloop.models.automodel import AutoClassifier


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    folder = tmp_path_factory.mktemp("multiclass")
    frame = load("matbench_jdft2d").frame
    # six crystal systems as a text target; 20 rows of each of the four commonest
    frame = frame[frame["crys_sys"].isin(["trigonal", "monoclinic", "orthorhombic", "tetragonal"])]
    sample = frame.groupby("crys_sys").sample(20, random_state=0)
    sample[["composition", "crys_sys"]].to_csv(folder / "systems.csv", index=False)
    sample[["composition"]].head(12).to_csv(folder / "new.csv", index=False)
    pd.DataFrame({"formula": ["Fe2O3"], "y": [1.0]}).to_csv(folder / "one.csv", index=False)
    pd.DataFrame({"formula": ["Fe2O3", "NiO", "ZnO"], "y": [1.0, 2.0, 3.0]}).to_csv(folder / "three.csv", index=False)
    return folder


def run(capsys, *argv) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_autoclassifier_learns_three_classes_with_calibrated_probabilities():
    X, y = make_classification(n_samples=300, n_features=8, n_informative=5, n_classes=3, n_clusters_per_class=1,
                               weights=[0.6, 0.3, 0.1], random_state=0)
    labels = np.array(["low", "mid", "high"])[y]
    model = AutoClassifier(ensemble_rounds=5).fit(X[:200], labels[:200])
    proba = model.predict_proba(X[200:])
    assert list(model.classes_) == ["high", "low", "mid"] and proba.shape == (100, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    pred = model.predict(X[200:])
    scores = multiclass_metrics(labels[200:], proba, list(model.classes_), pred)
    assert scores["balanced_accuracy"] > 0.6 and scores["roc_auc"] > 0.8
    assert model.predict_std(X[200:]).shape == (100, 3)
    assert 0.05 < model.temperature_ < 20


def test_autoclassifier_binary_rule_is_unchanged():
    X, y = make_classification(n_samples=160, n_features=6, random_state=1)
    model = AutoClassifier(ensemble_rounds=3).fit(X[:120], y[:120])
    p = model.predict_proba(X[120:])
    assert p.shape == (40, 2)
    np.testing.assert_array_equal(model.predict(X[120:]), (p[:, 1] >= model.threshold_).astype(int))


def test_text_target_with_four_classes_fits_predicts_and_validates(tables, capsys):
    model, out = tables / "systems.model", tables / "pred.csv"
    code, _, err = run(capsys, "fit", tables / "systems.csv", "--target", "crys_sys", "-o", model)
    assert code == 0, err
    code, _, err = run(capsys, "predict", model, tables / "new.csv", "-o", out)
    assert code == 0, err
    pred = pd.read_csv(out)
    classes = ["monoclinic", "orthorhombic", "tetragonal", "trigonal"]
    columns = [f"probability_{c}" for c in classes]
    assert set(columns) <= set(pred.columns) and pred["prediction"].isin(classes).all()
    np.testing.assert_allclose(pred[columns].sum(axis=1), 1.0, atol=1e-6)
    picked = pred.apply(lambda r: r[f"probability_{r['prediction']}"], axis=1)
    np.testing.assert_allclose(pred["probability"], picked)
    js = tables / "v.json"
    code, text, err = run(capsys, "validate", tables / "systems.csv", "--target", "crys_sys", "--model", "rf",
                          "--folds", "3", "--json", js)
    assert code == 0, err
    report = json.loads(js.read_text())
    assert 0 <= report["mean"]["balanced_accuracy"] <= 1 and "f1" in report["pooled"]
    assert "balanced_accuracy" in text


@pytest.mark.parametrize("argv, message", [
    (["fit", "one.csv", "--target", "y", "-o", "x.model"], "at least 8 labelled rows, got 1"),
    (["validate", "three.csv", "--target", "y", "--model", "auto"], "at least 8 labelled rows, got 3"),
    (["fit", "systems.csv", "--target", "crys_sys", "--model", "gp", "-o", "x.model"], "classification"),
    (["validate", "systems.csv", "--target", "crys_sys", "--model", "nn"], "classification"),
])
def test_impossible_requests_exit_2_with_a_plain_message(tables, capsys, argv, message):
    argv = [str(tables / a) if a.endswith((".csv", ".model")) else a for a in argv]
    code, _, err = run(capsys, *argv)
    assert code == 2 and message in err and "Traceback" not in err


def test_validate_with_too_few_rows_per_fold_names_the_number_needed(tables, capsys):
    frame = pd.DataFrame({"formula": ["Fe2O3", "NiO", "ZnO", "GaAs", "TiO2", "MgO", "CaO", "CuO", "SnO2"],
                          "y": np.arange(9.0)})
    frame.to_csv(tables / "nine.csv", index=False)
    code, _, err = run(capsys, "validate", tables / "nine.csv", "--target", "y", "--model", "rf")
    assert code == 2 and "at least 10 labelled rows" in err

