"""``matloop design molecules``: writes the molecules, rejects bad tables and options with exit 2."""

from __future__ import annotations

from pathlib import Path

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
