"""What users read: JSON outputs without object reprs, dataset info without internal notes, the stated
default feature count, and ``predict --skip-invalid`` with the same side file as other commands."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from matloop.cli.main import main
from matloop.datasets import load
from matloop.evaluate.cross_validation import describe_splitter
from matloop.evaluate.splitters import make_splitter
from matloop.models import RandomForestRegressor, save_model
from matloop.models.pipeline import MaterialModel


@pytest.fixture(scope="module")
def steels(tmp_path_factory):
    folder = tmp_path_factory.mktemp("issue15")
    ds = load("matbench_steels")
    frame = ds.frame.sample(40, random_state=0).reset_index(drop=True)
    frame[["composition", "yield strength"]].to_csv(folder / "train.csv", index=False)
    model = MaterialModel(RandomForestRegressor(20, random_state=0), kind="composition").fit(
        frame["composition"], frame["yield strength"].to_numpy())
    save_model(model, folder / "steel.model", {"input": "composition", "kind": "composition",
                                               "target": "yield strength", "task": "regression",
                                               "extra_inputs": [], "model": "rf", "transfer": "none"})
    return folder


def test_no_json_output_holds_an_object_repr(steels, capsys):
    outputs = []
    js = steels / "v.json"
    assert main(["validate", str(steels / "train.csv"), "--target", "yield strength", "--model", "rf",
                 "--cv", "loco", "--folds", "3", "--json", str(js)]) == 0
    report = json.loads(js.read_text())
    assert report["splitter"].startswith("LeaveOneClusterOut(n_clusters=3")
    outputs.append(js.read_text())
    for argv in (["models", "list", "--format", "json"], ["models", "info", "mp_gap", "--format", "json"],
                 ["datasets", "list", "--format", "json"]):
        capsys.readouterr()
        assert main(argv) == 0
        outputs.append(capsys.readouterr().out)
    pd.DataFrame({"composition": ["Fe0.7Cr0.2Ni0.1", "Fe0.9C0.1"]}).to_csv(steels / "new.csv", index=False)
    assert main(["predict", str(steels / "steel.model"), str(steels / "new.csv"), "-o", str(steels / "p.json")]) == 0
    outputs.append((steels / "p.json").read_text())
    for text in outputs:
        json.loads(text)
        assert " object at 0x" not in text


@pytest.mark.parametrize("name", ["kfold", "loco", "group", "element", "extrapolation", "column:fold", "repeated"])
def test_every_cli_splitter_is_described_by_name_and_parameters(name):
    ds = load("matbench_steels")
    splitter = make_splitter(name, n_splits=3, seed=0, dataset=ds)
    text = describe_splitter(splitter)
    assert " at 0x" not in text and text.startswith(type(splitter).__name__ + "(")


def test_datasets_info_shows_provenance_and_licence_not_collection_notes(capsys):
    assert main(["datasets", "info", "matbench_expt_gap"]) == 0
    out = capsys.readouterr().out
    for text in ("Licence:", "MIT", "Provenance:", "materialsproject/matbench", "936176db", "PROVENANCE.md"):
        assert text in out
    for note in ("Not found", "this machine", "turned up in the index", "## ", "Searches"):
        assert note not in out
    assert len(out) < 3000


def test_stated_default_feature_count_is_the_real_one():
    import matloop.represent as represent
    from matloop.cli.commands import featurize
    from matloop.represent import default_featurizer

    real = len(default_featurizer().get_feature_names_out())
    for text in (featurize.DESCRIPTION, represent.__doc__):
        stated = [int(n) for n in re.findall(r"(\d+) columns", text)]
        assert stated and all(n == real for n in stated), (stated, real)


def test_predict_skip_invalid_writes_the_side_file(steels, capsys):
    new = steels / "mixed.csv"
    pd.DataFrame({"composition": ["Fe0.7Cr0.2Ni0.1", "Xx2O3", "Fe0.9C0.1"]}).to_csv(new, index=False)
    out = steels / "pred.csv"
    assert main(["predict", str(steels / "steel.model"), str(new), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "Xx2O3" in err and "Traceback" not in err
    assert main(["predict", str(steels / "steel.model"), str(new), "-o", str(out), "--skip-invalid"]) == 0
    pred = pd.read_csv(out)
    assert list(pred["composition"]) == ["Fe0.7Cr0.2Ni0.1", "Fe0.9C0.1"] and np.isfinite(pred["prediction"]).all()
    skipped = pd.read_csv(steels / "mixed.skipped.csv")
    assert list(skipped["row"]) == [2] and "Xx2O3" in skipped.to_string()
