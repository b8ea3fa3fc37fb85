"""``matloop design molecules``: writes the molecules, rejects bad tables and options with exit 2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("rdkit")

from matloop.cli.main import main  # noqa: E402
from matloop.datasets import load  # noqa: E402
from matloop.design.molecules.chem import canonical_or_none  # noqa: E402

FAST = ["--featurizer", "morgan", "--steps", "2", "--population", "20", "--no-corpus", "--quiet"]


@pytest.fixture(scope="module")
def train_csv(tmp_path_factory) -> Path:
    frame = load("esol").frame[["smiles", "measured log solubility in mols per litre"]].head(150)
    frame = frame.rename(columns={"measured log solubility in mols per litre": "logS"})
    path = tmp_path_factory.mktemp("design") / "train.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("generator", ["smc", "ga"])
def test_design_molecules_writes_new_molecules_with_predictions(train_csv, tmp_path, capsys, generator):
    out_path = tmp_path / "hits.csv"
    code = main(["design", "molecules", "--train", str(train_csv), "--target", "logS=-3:-2", "--n", "6",
                 "--generator", generator, "-o", str(out_path), *FAST])
    assert code == 0
    out = pd.read_csv(out_path)
    assert 1 <= len(out) <= 6
    assert {"smiles", "logS_pred", "logS_std", "logS_p_window", "likelihood", "in_window", "in_domain"} <= set(out)
    known = {canonical_or_none(s.strip()) for s in pd.read_csv(train_csv)["smiles"]}
    assert not set(out["smiles"]) & known and out["smiles"].is_unique
    assert all(canonical_or_none(s) == s for s in out["smiles"])
    assert f"wrote {len(out)} to {out_path}" in capsys.readouterr().out


def test_bad_smiles_rows_exit_2_with_the_row_table(train_csv, tmp_path, capsys):
    frame = pd.read_csv(train_csv)
    frame.loc[2, "smiles"] = "C1CC"
    frame.loc[5, "smiles"] = "CC(C)(C)(C)(C)C"
    bad = tmp_path / "bad.csv"
    frame.to_csv(bad, index=False)
    code = main(["design", "molecules", "--train", str(bad), "--target", "logS=-3:-2", "-o", str(tmp_path / "x.csv"),
                 "--input", "smiles", *FAST])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    lines = err.splitlines()
    assert lines[1].split() == ["row", "column", "value", "reason"]
    assert any(line.split()[:3] == ["3", "smiles", "'C1CC'"] for line in lines)
    assert any(line.split()[:2] == ["6", "smiles"] and "valence" in line for line in lines)
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.parametrize("window, message", [
    ("logS=-2", "expected COL=LO:HI"),
    ("logS=-1:-2", "the window is empty"),
    ("logS=a:b", "is not a number"),
    ("logS=:", "at least one bound"),
    ("nope=0:1", "nope"),
])
def test_bad_target_windows_exit_2(train_csv, tmp_path, capsys, window, message):
    code = main(["design", "molecules", "--train", str(train_csv), "--target", window, "-o", str(tmp_path / "x.csv"),
                 *FAST])
    assert code == 2 and message in capsys.readouterr().err


def test_design_alone_shows_the_kinds(capsys):
    assert main(["design"]) == 0
    assert "molecules" in capsys.readouterr().out


def test_a_saved_model_replaces_training(train_csv, tmp_path, capsys):
    pipeline = pytest.importorskip("matloop.models.pipeline")
    from matloop.models.forest import RandomForestRegressor
    from matloop.models.persistence import save_model

    frame = pd.read_csv(train_csv)
    model = pipeline.MaterialModel(RandomForestRegressor(n_estimators=20, random_state=0), kind="molecule",
                                   featurizer="morgan", recalibrate=False, domain=False)
    model.fit(frame["smiles"].str.strip().tolist(), frame["logS"])
    path = save_model(model, tmp_path / "logS.model", metadata={"target_name": "logS"})
    table = tmp_path / "smiles_only.csv"
    frame[["smiles"]].to_csv(table, index=False)  # no target column needed with --model
    out_path = tmp_path / "hits.csv"
    code = main(["design", "molecules", "--train", str(table), "--target", "logS=-3:-2", "--model", str(path),
                 "--n", "4", "-o", str(out_path), *FAST])
    assert code == 0
    out = pd.read_csv(out_path)
    assert len(out) >= 1 and (out["logS_std"] > 0).all()


@pytest.fixture(scope="module")
def two_target_csv(tmp_path_factory) -> Path:
    frame = load("esol").frame[["smiles", "measured log solubility in mols per litre", "Polar Surface Area"]]
    frame = frame.head(150).rename(columns={"measured log solubility in mols per litre": "logS",
                                            "Polar Surface Area": "psa"})
    path = tmp_path_factory.mktemp("design2") / "two.csv"
    frame.to_csv(path, index=False)
    return path


def test_two_target_windows_on_the_fly(two_target_csv, tmp_path):
    out_path = tmp_path / "hits.csv"
    assert main(["design", "molecules", "--train", str(two_target_csv), "--target", "logS=-3:-1",
                 "--target", "psa=20:40", "--n", "5", "--generator", "ga", "-o", str(out_path), *FAST]) == 0
    out = pd.read_csv(out_path)
    assert {"logS_pred", "logS_std", "logS_p_window", "psa_pred", "psa_std", "psa_p_window"} <= set(out)
    prod = out["logS_p_window"] * out["psa_p_window"]
    # outputs carry 6 significant digits: the product of the rounded columns agrees to that precision
    assert np.allclose(out["likelihood"], prod, rtol=1e-5, atol=1e-9) and out["likelihood"].is_monotonic_decreasing
    inside = out["logS_pred"].between(-3, -1) & out["psa_pred"].between(20, 40)
    assert (inside == out["in_window"]).all()
    known = {canonical_or_none(s) for s in pd.read_csv(two_target_csv)["smiles"]}
    assert out["smiles"].is_unique and not set(out["smiles"]) & known


def test_models_saved_by_fit_know_their_targets(two_target_csv, tmp_path, capsys):
    frame = pd.read_csv(two_target_csv)
    from matloop.models.forest import RandomForestRegressor
    from matloop.models.persistence import save_model
    from matloop.models.pipeline import MaterialModel

    paths = {}
    for target in ("psa", "logS"):  # saved as 'matloop fit' saves, which records the target: no COL= needed
        model = MaterialModel(RandomForestRegressor(n_estimators=15, random_state=0), kind="molecule",
                              featurizer="morgan", recalibrate=False, domain=False)
        model.fit(frame["smiles"].tolist(), frame[target].to_numpy())
        paths[target] = save_model(model, tmp_path / f"{target}.model",
                                   metadata={"input": "smiles", "kind": "molecule", "target": target})
    table = tmp_path / "smiles.csv"
    frame[["smiles"]].to_csv(table, index=False)
    out_path = tmp_path / "hits.csv"
    assert main(["design", "molecules", "--train", str(table), "--target", "logS=-3:-1", "--target", "psa=20:40",
                 "--model", str(paths["psa"]), "--model", str(paths["logS"]), "--n", "4", "-o", str(out_path),
                 *FAST, "--population", "10"]) == 0
    out = pd.read_csv(out_path)
    from matloop.models.persistence import load_model

    logs = load_model(paths["logS"]).predict(out["smiles"].tolist())
    assert np.allclose(logs, out["logS_pred"], rtol=1e-5, atol=1e-9)  # each model went to its own target
    import argparse

    from matloop.cli.commands.design import _models

    capsys.readouterr()
    models = _models(argparse.Namespace(model=[str(paths["psa"])]), ["logS"])
    assert list(models) == ["logS"]  # one target: the model is used as asked, but the mismatch is said
    assert "fitted on the target 'psa'; it is used for 'logS'" in capsys.readouterr().err


@pytest.fixture(scope="module")
def steel_files(tmp_path_factory):
    """A small forest on 120 steels saved as 'matloop fit' saves it, and the steels as a seeds table."""
    from matloop.models.forest import RandomForestRegressor
    from matloop.models.persistence import save_model
    from matloop.models.pipeline import MaterialModel

    ds = load("matbench_steels")
    frame = ds.frame.sample(120, random_state=0)
    model = MaterialModel(RandomForestRegressor(n_estimators=20, noise="oob", random_state=0), featurizer="magpie",
                          recalibrate=False).fit(frame[ds.input].tolist(), frame[ds.target].to_numpy())
    folder = tmp_path_factory.mktemp("steels")
    path = save_model(model, folder / "steel.model", metadata={"input": ds.input, "kind": "composition",
                                                                "target": ds.target})
    seeds = folder / "steels.csv"
    frame.to_csv(seeds, index=False)
    return path, seeds, model, float(frame[ds.target].max())


def test_design_compositions_compares_with_the_best_seed(steel_files, tmp_path, capsys):
    path, seeds, model, best = steel_files
    out_path = tmp_path / "designs.csv"
    assert main(["design", "compositions", "--model", str(path), "--seeds", str(seeds), "--maximize", "--n", "5",
                 "-o", str(out_path)]) == 0
    out = pd.read_csv(out_path)
    for col in ("formula", "prediction", "std", "lower_95", "upper_95", "in_domain", "domain_distance", "score",
                "p_above_best"):
        assert col in out.columns
    again = model.predict(out["formula"].tolist())
    # the written formulas are the designs (fractions and predictions carry 6 significant digits)
    assert (abs(again - out["prediction"]) < 1e-5 * abs(again)).all()
    printed = capsys.readouterr().out
    above = int(((out["prediction"] > best) & out["in_domain"]).sum())
    assert f"best measured yield strength: {best:.4g}; in-domain designs predicted above it: {above}," in printed
    rnd_path = tmp_path / "random.csv"
    assert main(["design", "compositions", "--model", str(path), "--seeds", str(seeds), "--maximize", "--n", "5",
                 "--method", "random", "--budget", "300", "--best", "1000", "-o", str(rnd_path)]) == 0
    assert "random: 300 model evaluations" in capsys.readouterr().out
    rnd = pd.read_csv(rnd_path)
    assert rnd["prediction"].max() < out["prediction"].max()
    assert ((rnd["p_above_best"] >= 0) & (rnd["p_above_best"] <= 1)).all()


@pytest.mark.parametrize(("args", "message"), [
    (["--bounds", "Fe=0.5:0.9,Xx=0:0.5"], "unknown element"),
    (["--bounds", "Fe=0.1:0.2,Ni=0:0.3"], "sum to 1"),
    (["--bounds", "Fe=0.5:1,Ni=0:0.5", "--acquisition", "nope"], "unknown acquisition"),
    (["--bounds", "Fe=0.5:1,Ni=0:0.5", "--n", "0"], "--n"),
    (["--bounds", "Fe=0.5:1,Ni=0:0.5", "--constraint", "Ni +"], "constraint"),
])
def test_design_compositions_bad_input_exits_2(steel_files, tmp_path, capsys, args, message):
    path = steel_files[0]
    try:
        code = main(["design", "compositions", "--model", str(path), *args, "--maximize", "-o", str(tmp_path / "d.csv")])
    except SystemExit as exc:  # argparse rejects a bad option value itself (exit 2, naming the option)
        code = exc.code
    assert code == 2
    assert message in capsys.readouterr().err
