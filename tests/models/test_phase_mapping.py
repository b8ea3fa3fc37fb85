"""Shift-tolerant phase mapping recovers the phase fractions of a library whose peaks move with composition."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linear_sum_assignment

from matloop.cli.main import main
from matloop.models.phase_mapping import PhaseMapper
from matloop.represent.diffraction import q_to_two_theta

PHASES = {  # peak positions in Q (1/Å) and heights of three made-up phases
    "A": ([1.8, 2.6, 3.1], [1.0, 0.6, 0.3]),
    "B": ([2.0, 2.9, 3.5], [1.0, 0.8, 0.4]),
    "C": ([2.3, 3.3], [1.0, 0.5]),
}


def _library(n: int = 48, seed: int = 0):
    """Fractions on the ternary triangle; phase A's lattice expands by up to 3 % with its fraction."""
    rng = np.random.default_rng(seed)
    fractions = rng.dirichlet([0.6, 0.6, 0.6], size=n)
    q = np.linspace(1.5, 4.0, 700)
    X = np.zeros((n, len(q)))
    for i, f in enumerate(fractions):
        for k, (pos, height) in enumerate(PHASES.values()):
            scale = 1 / (1 + 0.03 * f[0]) if k == 0 else 1.0  # Vegard: Q shrinks as the lattice grows
            for p, h in zip(pos, height, strict=True):
                X[i] += f[k] * h * np.exp(-4 * np.log(2) * ((q - p * scale) / 0.02) ** 2)
    X += rng.normal(0, 0.005, X.shape).clip(0)
    return q, X, fractions


def _matched_correlations(estimate: np.ndarray, truth: np.ndarray) -> np.ndarray:
    C = np.array([[np.corrcoef(estimate[:, a], truth[:, b])[0, 1] for b in range(truth.shape[1])]
                  for a in range(estimate.shape[1])])
    r, c = linear_sum_assignment(-np.nan_to_num(C))
    return C[r, c]


def test_shift_tolerant_mapping_beats_plain_nmf():
    from sklearn.decomposition import NMF

    q, X, truth = _library()
    mapper = PhaseMapper(n_components=3, n_restarts=2, max_iter=300, n_bootstrap=5).fit(X, q)
    ours = _matched_correlations(mapper.fractions_, truth)
    assert ours.min() > 0.95, ours
    assert np.allclose(mapper.fractions_.sum(axis=1), 1) and (mapper.fractions_std_ >= 0).all()
    plain = NMF(3, init="nndsvda", max_iter=1000, random_state=0).fit(X / X.max(axis=1, keepdims=True))
    H = plain.transform(X / X.max(axis=1, keepdims=True)) * plain.components_.sum(axis=1)
    assert _matched_correlations(H / H.sum(axis=1, keepdims=True), truth).min() < ours.min() - 0.05
    new = mapper.transform(X[:5], q)  # bases fixed: the same fractions for the same patterns
    assert np.abs(new - mapper.fractions_[:5]).max() < 0.05


def test_auto_finds_three_phases_and_references_name_them():
    q, X, truth = _library(seed=1)
    mapper = PhaseMapper(n_components="auto", max_components=5, n_restarts=1, max_iter=200, n_bootstrap=0).fit(X, q)
    assert mapper.n_components_ == 3 and set(mapper.cv_errors_) == {2, 3, 4, 5}
    refs = np.array([sum(h * np.exp(-4 * np.log(2) * ((q - p) / 0.02) ** 2) for p, h in zip(*v, strict=True))
                     for v in PHASES.values()])
    matches = mapper.match_references(refs, list(PHASES), q)
    assert sorted(name for name, _ in matches) == ["A", "B", "C"] and min(c for _, c in matches) > 0.8


def test_cli_writes_fractions_and_components(tmp_path, capsys):
    q, X, truth = _library(n=30, seed=2)
    two_theta = q_to_two_theta(q, 1.5406)
    rows = []
    for i, y in enumerate(X):
        name = f"s{i:02d}.xy"
        pd.DataFrame({"tt": two_theta, "y": 1000 * y}).to_csv(tmp_path / name, sep=" ", header=False, index=False)
        rows.append({"file": name, "x_al": truth[i, 0]})
    pd.DataFrame(rows).to_csv(tmp_path / "library.csv", index=False)
    out = tmp_path / "phases.csv"
    code = main(["phases", "map", str(tmp_path / "library.csv"), "--input", "file", "--components", "3",
                 "--restarts", "1", "--bootstrap", "3", "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    table = pd.read_csv(out)
    assert {"file", "x_al", "phase_1", "phase_3", "phase_3_std"} <= set(table.columns) and len(table) == 30
    got = table[["phase_1", "phase_2", "phase_3"]].to_numpy()
    assert _matched_correlations(got, truth).min() > 0.9
    components = pd.read_csv(tmp_path / "phases.components.csv")
    assert list(components.columns) == ["q", "phase_1", "phase_2", "phase_3"]
    assert "phases: 3 (as given)" in capsys.readouterr().out


def test_cli_rejects_a_bad_pattern_file(tmp_path, capsys):
    (tmp_path / "bad.xy").write_text("not numbers\n")
    pd.DataFrame({"file": ["bad.xy", "missing.xy"]}).to_csv(tmp_path / "lib.csv", index=False)
    assert main(["phases", "map", str(tmp_path / "lib.csv"), "--input", "file", "-o", str(tmp_path / "o.csv")]) == 2
    err = capsys.readouterr().err
    assert "bad.xy" in err and "no such file" in err


@pytest.mark.parametrize("bad", ["0", "x", "21"])
def test_components_option_is_checked(bad, tmp_path):
    with pytest.raises(SystemExit) as info:
        main(["phases", "map", "lib.csv", "--input", "file", "--components", bad, "-o", str(tmp_path / "o.csv")])
    assert info.value.code == 2
