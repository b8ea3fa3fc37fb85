"""``matloop potential fit --correction soap`` (CHGNet + SOAP Δ-correction) on bundled mlearn Li data, then
eval, relax and md with the corrected .pot file; and its exit-2 path without the extras."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pandas as pd
import pytest

from matloop.cli.main import main
from matloop.datasets.potential_sets import open_potential_set
from matloop.io.potential_data import records_to_json

HAS_CHGNET = importlib.util.find_spec("chgnet") is not None
HAS_DSCRIBE = importlib.util.find_spec("dscribe") is not None


@pytest.fixture()
def small(tmp_path):
    """Eight small Li training structures and four small Li test structures as mlearn JSON."""
    train = [r for r in open_potential_set("mlearn_li_train") if r.n_atoms <= 6][:8]
    test = [r for r in open_potential_set("mlearn_li_test") if r.n_atoms <= 12][:4]
    (tmp_path / "train.json").write_text(json.dumps(records_to_json(train)))
    (tmp_path / "test.json").write_text(json.dumps(records_to_json(test)))
    return tmp_path


@pytest.mark.skipif(HAS_CHGNET and HAS_DSCRIBE, reason="checks the message of an install without the extras")
def test_without_the_extras_the_correction_exits_2(small, capsys):
    assert main(["potential", "fit", str(small / "train.json"), "-o", str(small / "x.pot"), "--correction", "soap"]) == 2
    assert "matloop[" in capsys.readouterr().err
    assert not (small / "x.pot").exists()


@pytest.mark.skipif(not (HAS_CHGNET and HAS_DSCRIBE), reason="needs the chgnet and soap extras")
def test_fit_eval_relax_md_with_the_correction(small, capsys):
    pot, data = str(small / "li.pot"), str(small / "test.json")
    assert main(["potential", "fit", str(small / "train.json"), "-o", pot, "--correction", "soap", "--sparse", "30",
                 "--folds", "4", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "CHGNet (pre-trained) + SOAP correction fitted on 8 structures" in out and "4-fold cross-validation" in out
    card = json.loads(bytes(np.load(pot, allow_pickle=False)["__card__"]).decode())
    assert card["version"] == 2 and card["correction"]["kind"] == "soap" and card["correction"]["species"] == ["Li"]
    assert sorted(np.bincount(card["correction"]["meta"]["groups"])) == [2, 2, 2, 2]
    scale = 1 + card["correction"]["base_scale"]
    assert f"CHGNet's own energies and forces scaled by {scale:.3f} (chosen by the same validation)" in out
    assert "delta_base" in card["correction"]["meta"]["chosen"]
    # the training stresses join the search (sigma_S, None = left out) and their held-out error is kept
    grid = card["correction"]["meta"]["grid"]
    assert {g["sigma_S"] for g in grid} > {None} and all(g["val_stress_mae"] >= 0 for g in grid)
    kept = str(small / "kept.pot")
    assert main(["potential", "fit", str(small / "train.json"), "-o", kept, "--correction", "soap", "--sparse", "30",
                 "--folds", "2", "--second-kernel", "0", "--keep-base", "--no-stress-fit", "--quiet"]) == 0
    assert "scaled by 1.000 (--keep-base)" in capsys.readouterr().out
    kept_card = json.loads(bytes(np.load(kept, allow_pickle=False)["__card__"]).decode())["correction"]
    assert kept_card["base_scale"] == 0 and "sigma_S" not in kept_card["meta"]["chosen"]
    assert main(["potential", "eval", pot, data, "--json", str(small / "e.json")]) == 0
    corrected = json.loads((small / "e.json").read_text())
    assert main(["potential", "eval", "chgnet", data, "--json", str(small / "z.json")]) == 0
    zero = json.loads((small / "z.json").read_text())
    # the correction carries the energy reference: far closer than raw zero-shot CHGNet on the DFT scale
    assert corrected["energy_mae"] < 0.5 * zero["energy_mae"]
    assert 0 <= corrected["force_mae"] < 0.2 and corrected["n_structures"] == 4
    assert main(["potential", "relax", pot, data, "-o", str(small / "r.csv"), "--steps", "3", "--records", "1-2"]) == 0
    table = pd.read_csv(small / "r.csv")
    assert len(table) == 2 and table["energy_per_atom"].between(-3, -1).all()  # Li: about -1.9 eV/atom (DFT)
    traj = small / "md.extxyz"
    assert main(["potential", "md", pot, data, "--record", "1", "--steps", "4", "--interval", "2", "-o",
                 str(traj)]) == 0
    assert "NVT (Langevin) at 300 K" in capsys.readouterr().out
    from matloop.io.potential_data import read_potential_data

    frames = read_potential_data(traj)
    assert len(frames) == 3 and frames[0].forces is not None
