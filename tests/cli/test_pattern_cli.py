"""The ``pattern`` input kind end to end: fit / predict / validate on generated diffraction patterns,
``--patterns DIR``, and bad files reported per row (exit 2)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from matloop.cli.main import main
from matloop.models.persistence import read_model_metadata
from matloop.represent.diffraction import Grid
from matloop.represent.diffraction_sim import render_peaks

PEAKS = {"cubic": [20.0, 28.0, 36.0], "tetra": [20.0, 31.0, 36.0], "hexa": [20.0, 28.0, 39.0]}


def write_patterns(folder: Path, n_per_class: int = 8, seed: int = 0) -> pd.DataFrame:
    """Noisy .xy files of three classes that differ by one peak; a table of them (file, space_group),
    and the same files in a class-per-sub-folder tree under ``folder/tree``."""
    rng = np.random.default_rng(seed)
    grid = Grid(15.0, 45.0, 0.05)
    records = []
    for label, peaks in PEAKS.items():
        (folder / "tree" / label).mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            pos = np.array(peaks) + rng.normal(0, 0.08, 3)
            y = render_peaks(pos, np.array([100, 60, 80]) * rng.uniform(0.7, 1.3, 3), grid) * 40 + 15
            y = np.clip(y + rng.normal(0, 1.0, len(grid.points)), 0, None)
            data = np.column_stack([grid.points, y])
            name = f"{label}_{i}.xy"
            np.savetxt(folder / name, data, fmt="%.4f", header="2theta counts")  # a header line, as instruments write
            np.savetxt(folder / "tree" / label / name, data, fmt="%.4f")
            records.append({"file": name, "space_group": label})
    table = pd.DataFrame(records)
    table.to_csv(folder / "patterns.csv", index=False)
    return table


@pytest.fixture(scope="module")
def patterns(tmp_path_factory):
    folder = tmp_path_factory.mktemp("patterns")
    write_patterns(folder)
    (folder / "tree" / "notes.txt.bak").write_text("not a pattern")
    return folder


def test_fit_predict_on_a_pattern_table(patterns, capsys):
    model, out = patterns / "sg.model", patterns / "pred.csv"
    assert main(["fit", str(patterns / "patterns.csv"), "--target", "space_group", "-o", str(model)]) == 0
    meta = read_model_metadata(model)["metadata"]
    assert meta["kind"] == "pattern" and meta["input"] == "file"
    new = pd.DataFrame({"file": ["cubic_1.xy", "tetra_2.xy", "hexa_3.xy"]})
    new.to_csv(patterns / "new.csv", index=False)
    assert main(["predict", str(model), str(patterns / "new.csv"), "-o", str(out)]) == 0
    pred = pd.read_csv(out)
    assert pred["prediction"].tolist() == ["cubic", "tetra", "hexa"]
    probs = pred[[f"probability_{c}" for c in ("cubic", "hexa", "tetra")]].to_numpy()
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-6)


def test_validate_from_a_folder_reports_other_files(patterns, capsys):
    report = patterns / "v.json"
    assert main(["validate", "--patterns", str(patterns / "tree"), "--target", "space_group", "--model", "rf",
                 "--folds", "2", "--json", str(report)]) == 0
    captured = capsys.readouterr()
    assert "notes.txt.bak" in captured.err and "not a pattern file" in captured.err
    assert '"balanced_accuracy"' in report.read_text()
    import json

    assert json.loads(report.read_text())["mean"]["balanced_accuracy"] > 0.8


def test_bad_files_are_row_errors_and_skip_invalid_drops_lines(patterns, capsys):
    lines = [f"{15 + 0.1 * i:.2f} {10 + i % 7}" for i in range(40)]
    bad = list(lines)
    bad[5] = "15.50 abc"  # a junk line inside the data
    (patterns / "junk.xy").write_text("\n".join(bad) + "\n")
    (patterns / "falling.xy").write_text("\n".join(lines[:20] + lines[10:15]) + "\n")  # axis goes back
    table = pd.read_csv(patterns / "patterns.csv")
    extra = pd.DataFrame({"file": ["missing.xy", "junk.xy", "falling.xy"], "space_group": ["cubic", "tetra", "hexa"]})
    pd.concat([table, extra]).to_csv(patterns / "bad.csv", index=False)
    rc = main(["fit", str(patterns / "bad.csv"), "--target", "space_group", "--model", "rf",
               "-o", str(patterns / "bad.model")])
    err = capsys.readouterr().err
    assert rc == 2
    assert "25" in err and "missing.xy" in err and "not found" in err  # data rows 25-27
    assert "line 6" in err and "junk.xy" in err
    assert "not strictly increasing" in err and "Traceback" not in err
    rc = main(["fit", str(patterns / "bad.csv"), "--target", "space_group", "--model", "rf", "--skip-invalid",
               "-o", str(patterns / "bad.model")])
    err = capsys.readouterr().err
    assert rc == 0
    assert "junk.xy: 1 line (6)" in err  # the bad line dropped and said, the file kept
    skipped = pd.read_csv(patterns / "bad.skipped.csv")
    assert sorted(skipped["row"].tolist()) == [25, 27]


def test_kind_pattern_and_q_axis(patterns, capsys):
    q = patterns / "q"
    q.mkdir(exist_ok=True)
    table = pd.read_csv(patterns / "patterns.csv")
    from matloop.represent.diffraction import two_theta_to_q

    for name in table["file"]:
        data = np.loadtxt(patterns / name)
        np.savetxt(q / name.replace(".xy", ".csv"), np.column_stack([two_theta_to_q(data[:, 0], 1.5406), data[:, 1]]),
                   delimiter=",", fmt="%.5f")
    table.assign(curve=table["file"].str.replace(".xy", ".csv"))[["curve", "space_group"]].to_csv(
        q / "t.csv", index=False)
    # a column of .csv names is not recognised by name alone: --kind pattern says so; --x-unit q reads Q
    rc = main(["fit", str(q / "t.csv"), "--target", "space_group", "--kind", "pattern", "--x-unit", "q",
               "--model", "rf", "-o", str(q / "m.model")])
    assert rc == 0, capsys.readouterr().err
    from matloop.models.persistence import load_model

    model = load_model(q / "m.model")
    assert model.featurizer_params["unit"] == "q" and model.feature_names_[0].startswith("I(Q=")


@pytest.mark.slow
def test_simulate_from_structures_joins_the_training_patterns(tmp_path, capsys):
    pytest.importorskip("pymatgen")
    from pymatgen.core import Lattice, Structure

    from matloop.represent.diffraction_sim import simulate_patterns

    rocksalt = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    cscl = Structure.from_spacegroup("Pm-3m", Lattice.cubic(4.12), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    for label, structure in (("rocksalt", rocksalt), ("cscl", cscl)):
        (tmp_path / "cifs" / label).mkdir(parents=True)
        structure.to(filename=str(tmp_path / "cifs" / label / f"{label}.cif"))
    grid = Grid(20.0, 60.0, 0.04)
    rng = np.random.default_rng(0)
    records = []
    for label, structure in (("rocksalt", rocksalt), ("cscl", cscl)):
        base = simulate_patterns([structure], grid)[0]
        for i in range(5):
            y = np.clip(base * 500 + 20 + rng.normal(0, 3, len(base)), 0, None)
            np.savetxt(tmp_path / f"{label}_{i}.xy", np.column_stack([grid.points, y]), fmt="%.4f")
            records.append({"file": f"{label}_{i}.xy", "phase": label})
    pd.DataFrame(records).to_csv(tmp_path / "t.csv", index=False)
    rc = main(["fit", str(tmp_path / "t.csv"), "--target", "phase", "--model", "rf", "--simulate-from",
               str(tmp_path / "cifs"), "-o", str(tmp_path / "m.model")])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "simulated 2 structures x 6 patterns" in err
    assert not list(tmp_path.glob("matloop-simulated-*"))
