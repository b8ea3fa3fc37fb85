"""``matloop screen`` end to end with a saved model file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from matloop import datasets
from matloop.cli.main import main


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """A MaterialModel (small forest on magpie features of 200 band gaps) saved like 'matloop fit' does."""
    from matloop.models.forest import RandomForestRegressor
    from matloop.models.persistence import save_model
    from matloop.models.pipeline import MaterialModel

    ds = datasets.load("matbench_expt_gap")
    frame = ds.frame.sample(200, random_state=0)
    forest = RandomForestRegressor(n_estimators=15, min_samples_leaf=2, noise="oob", random_state=0)
    model = MaterialModel(forest, featurizer="magpie", recalibrate=False).fit(frame[ds.input], frame[ds.target])
    path = tmp_path_factory.mktemp("models") / "gap.model"
    save_model(model, path, metadata={"target_name": ds.target})
    return path, model


def test_screen_elements_writes_ranked_hits(model_file, tmp_path, capsys):
    path, model = model_file
    out = tmp_path / "hits.csv"
    code = main(["screen", "--elements", "Li,Fe,Mn,P,O", "--max-atoms", "10", "--model", str(path),
                 "--top", "12", "--exclude-toxic", "--objective", "max", "--objective", "hhi=0.5",
                 "--chunk-size", "2000", "-o", str(out)])
    assert code == 0
    hits = pd.read_csv(out)
    assert list(hits.columns) == ["rank", "formula", "prediction", "std", "in_domain", "domain_distance", "score",
                                  "hhi_production", "hhi_reserve", "price_usd_per_kg", "toxic", "radioactive",
                                  "oxidation_states"]
    assert hits["rank"].tolist() == list(range(1, 13)) and hits["score"].is_monotonic_decreasing
    # the CSV carries 6 significant digits of every computed number
    assert (hits["score"] - (hits["prediction"] - 0.5 * hits["hhi_production"] / 1e4)).abs().max() < 2e-5
    assert max(len(f"{v:.15g}".replace(".", "").lstrip("0")) for v in hits["prediction"]) <= 6
    mean = model.predict(hits["formula"].tolist())
    np.testing.assert_allclose(hits["prediction"], mean, rtol=5e-6)
    printed = capsys.readouterr()
    assert "passed chemistry rules" in printed.out and "SMACT rules" in printed.err


def test_screen_candidate_table_keeps_its_columns(model_file, tmp_path):
    path, _ = model_file
    table = tmp_path / "ideas.csv"
    pd.DataFrame({"id": ["a", "b", "c", "d"], "composition": ["LiFePO4", "Fe2O3", "NaCl", "LiMn2O4"],
                  "note": ["x", "y", "z", "w"]}).to_csv(table, index=False)
    out = tmp_path / "best.json"
    assert main(["screen", "--candidates", str(table), "--input", "composition", "--model", str(path),
                 "--top", "3", "--objective", "min", "-o", str(out)]) == 0
    hits = pd.read_json(out)
    assert list(hits.columns[:5]) == ["rank", "formula", "row", "id", "note"]
    assert len(hits) == 3 and hits["prediction"].is_monotonic_increasing
    by_row = dict(zip(hits["row"], hits["formula"], strict=True))
    assert all({1: "LiFePO4", 2: "Fe2O3", 3: "NaCl", 4: "LiMn2O4"}[r] == f for r, f in by_row.items())


@pytest.mark.parametrize(("args", "message"), [
    (["--elements", "Li,Xx,O"], "unknown element"),
    (["--elements", "Li,O", "--objective", "sideways"], "--objective"),
    (["--elements", "Li,O", "--acquisition", "ei"], "best"),
    (["--ranges", "Li=2:1,O=1"], "range"),
    (["--elements", "Li,O", "--featurizer", "magpie"], "drop --featurizer"),
    (["--elements", "Li,O", "--acquisition", "nope"], "unknown acquisition"),
    (["--elements", "Li,O", "--objective", "1:2", "--acquisition", "ucb"], "does not apply"),
    (["--elements", "Li,O", "--objective", "toxic=-1"], "not negative"),
    (["--elements", "Li,O", "--objective", "lead=1"], "toxic=W"),
])
def test_bad_input_exits_2(model_file, tmp_path, capsys, args, message):
    path, _ = model_file
    try:
        code = main(["screen", *args, "--model", str(path), "-o", str(tmp_path / "x.csv")])
    except SystemExit as exc:  # argparse rejects a bad option value itself (exit 2, naming the option)
        code = exc.code
    assert code == 2
    assert message in capsys.readouterr().err


def test_missing_model_and_bad_output(tmp_path, capsys):
    assert main(["screen", "--elements", "Li,O", "--model", str(tmp_path / "none.model"),
                 "-o", str(tmp_path / "x.csv")]) == 2  # a missing input file is bad input
    assert main(["screen", "--elements", "Li,O", "--model", "m", "-o", str(tmp_path / "x.docx")]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_candidate_table_with_bad_rows(model_file, tmp_path, capsys):
    path, _ = model_file
    table = tmp_path / "ideas.csv"
    pd.DataFrame({"formula": ["LiFePO4", "Xx2O", "NiO", "", "Li2O"], "id": range(5)}).to_csv(table, index=False)
    out = tmp_path / "hits.csv"
    args = ["screen", "--candidates", str(table), "--model", str(path), "--top", "5", "-o", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "Xx2O" in err and "--skip-invalid" in err and not out.exists()
    assert main([*args, "--skip-invalid", "--objective", "max", "--objective", "toxic=100"]) == 0
    hits = pd.read_csv(out)
    assert sorted(hits["row"]) == [1, 3, 5] and sorted(hits["id"]) == [0, 2, 4]  # rows survive the skipping
    assert hits["formula"].iloc[-1] == "NiO"  # half toxic: a penalty of 50 eV puts it last
    skipped = pd.read_csv(tmp_path / "ideas.skipped.csv")
    assert sorted(skipped["row"]) == [2, 4]
