"""``matloop potential fit|eval|relax|md`` on bundled mlearn Li data, and its exit-2 paths."""

from __future__ import annotations

import importlib.util
import json

import pandas as pd
import pytest

from matloop.cli.main import main
from matloop.datasets.potential_sets import open_potential_set
from matloop.io.potential_data import records_to_json

HAS_CHGNET = importlib.util.find_spec("chgnet") is not None


@pytest.fixture()
def small(tmp_path):
    """Six small Li training structures and four small Li test structures as mlearn JSON."""
    train = [r for r in open_potential_set("mlearn_li_train") if r.n_atoms <= 6][:6]
    test = [r for r in open_potential_set("mlearn_li_test") if r.n_atoms <= 12][:4]
    (tmp_path / "train.json").write_text(json.dumps(records_to_json(train)))
    (tmp_path / "test.json").write_text(json.dumps(records_to_json(test)))
    return tmp_path


def test_bad_records_exit_2_with_a_table(small, capsys):
    recs = json.loads((small / "train.json").read_text())
    recs[2]["outputs"]["forces"] = [[0, 0]]
    (small / "bad.json").write_text(json.dumps(recs))
    assert main(["potential", "fit", str(small / "bad.json"), "-o", str(small / "x.pot")]) == 2
    err = capsys.readouterr().err
    assert "1 of 6 records are invalid" in err and "outputs.forces" in err
    assert not (small / "x.pot").exists()


def test_bundled_records_export(tmp_path, capsys):
    assert main(["datasets", "export", "mlearn_li_test", "-o", str(tmp_path / "li.json")]) == 0
    assert len(json.loads((tmp_path / "li.json").read_text())) == 29
    assert main(["datasets", "export", "mlearn_li_test", "-o", str(tmp_path / "li.csv")]) == 2
    assert "JSON records" in capsys.readouterr().err


@pytest.mark.skipif(HAS_CHGNET, reason="checks the message of an install without chgnet")
def test_without_chgnet_the_commands_name_the_extra(small, capsys):
    for words in (["eval", "chgnet", str(small / "test.json")],
                  ["fit", str(small / "train.json"), "-o", str(small / "x.pot")],
                  ["relax", "chgnet", str(small / "test.json"), "-o", str(small / "r.csv")]):
        assert main(["potential", *words]) == 2
        assert 'matloop[chgnet]' in capsys.readouterr().err


@pytest.mark.skipif(not HAS_CHGNET, reason="needs the chgnet extra")
def test_fit_eval_relax_md(small, capsys):
    pot, data = str(small / "li.pot"), str(small / "test.json")
    assert main(["potential", "fit", str(small / "train.json"), "-o", pot, "--epochs", "1", "--quiet"]) == 0
    assert "fine-tuned on 5 structures" in capsys.readouterr().out
    assert main(["potential", "eval", pot, data, "--json", str(small / "e.json")]) == 0
    out = json.loads((small / "e.json").read_text())
    assert {"energy_mae", "force_mae", "stress_mae", "energy_mae_offset"} <= set(out)
    assert out["units"]["energy_mae"] == "meV/atom" and out["units"]["force_mae"] == "eV/Å"
    assert 0 <= out["energy_mae"] < 200 and 0 <= out["force_mae"] < 1 and out["n_structures"] == 4
    assert "meV/atom" in capsys.readouterr().out
    assert main(["potential", "eval", "chgnet", data]) == 0  # zero-shot: raw and offset-corrected
    assert "after per-element offsets" in capsys.readouterr().out
    assert main(["potential", "relax", pot, data, "-o", str(small / "r.csv"), "--steps", "3"]) == 0
    table = pd.read_csv(small / "r.csv")
    assert len(table) == 4 and {"energy_per_atom", "converged", "max_force", "structure"} <= set(table.columns)
    assert table["energy_per_atom"].between(-3, -1).all()  # Li: about -1.9 eV/atom on the DFT scale
    traj = small / "md.extxyz"
    assert main(["potential", "md", pot, data, "--record", "2", "--steps", "4", "--interval", "2", "-o",
                 str(traj)]) == 0
    assert "NVT (Langevin) at 300 K" in capsys.readouterr().out
    from matloop.io.potential_data import read_potential_data

    frames = read_potential_data(traj)  # the trajectory is itself readable labelled data
    assert len(frames) == 3 and frames[0].forces is not None
    assert main(["potential", "eval", str(small / "missing.pot"), data]) == 2
    assert main(["potential", "md", pot, data, "--record", "9", "-o", str(traj)]) == 2
