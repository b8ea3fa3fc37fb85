"""Bundled pattern datasets export as an index table plus real files that the pattern reader reads."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from matloop.cli.main import main
from matloop.errors import InputError
from matloop.io.patterns import read_patterns


def test_oviedo_patterns_export_as_files_with_space_groups(tmp_path, capsys):
    assert main(["datasets", "export", "xrd_oviedo2019", "-o", str(tmp_path / "xrd.csv")]) == 0
    index = pd.read_csv(tmp_path / "xrd.csv")
    assert len(index) == 88 and index["space_group"].value_counts().to_dict() == {
        "Pm-3m": 47, "I4/mcm": 17, "P-3m1": 13, "Fm-3m": 4, "P6_3/mmc": 4, "Pc": 2, "P2_1/a": 1}
    with pytest.raises(InputError) as info:  # the instruments' glued numbers and lone angles, reported
        read_patterns(index["file"].tolist(), base_dir=tmp_path)
    assert len(info.value.table) == 4
    patterns = read_patterns(index["file"].tolist(), base_dir=tmp_path, skip_invalid=True)
    assert min(len(p) for p in patterns) > 100
    assert main(["datasets", "export", "xrd_oviedo2019", "-o", str(tmp_path / "xrd.csv")]) == 2  # it exists
    assert "exists" in capsys.readouterr().err


def test_library_export_has_compositions_and_true_fractions(tmp_path):
    assert main(["datasets", "export", "xrd_alli_fe_o", "-o", str(tmp_path / "lib.csv")]) == 0
    index = pd.read_csv(tmp_path / "lib.csv")
    truth = index[[f"true_fraction_{k}" for k in range(1, 7)]].to_numpy()
    weights = index[[f"true_weight_{k}" for k in range(1, 7)]].to_numpy()
    assert len(index) == 231 and np.allclose(truth.sum(axis=1), 1, atol=1e-5) and np.allclose(weights.sum(axis=1), 1, atol=1e-5)
    assert not np.allclose(truth, weights)  # the concentrations are the readme's ground truth, not the weights
    assert np.allclose(index[["Al", "Li", "Fe"]].sum(axis=1), 1, atol=1e-5)
    patterns = read_patterns(index["file"].tolist()[:3], base_dir=tmp_path, unit="q")
    assert patterns[0].x[0] == pytest.approx(1.5) and patterns[0].x[-1] == pytest.approx(7.99) and len(patterns[0]) == 650


def test_pattern_sets_are_listed_and_described(capsys):
    assert main(["datasets", "list", "--kind", "pattern"]) == 0
    out = capsys.readouterr().out
    assert "xrd_oviedo2019" in out and "xrd_alli_fe_o" in out and "2 datasets" in out
    assert main(["datasets", "info", "xrd_alli_fe_o"]) == 0
    assert "Nat. Mach. Intell. 3, 812" in capsys.readouterr().out
