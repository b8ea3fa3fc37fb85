"""The phase map of a composition library drawn over its composition triangle (``phases map --report``)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from matloop.cli.main import main
from matloop.report.diffraction import phase_map_report, plot_phase_ternary, ternary_xy


def _triangle_grid(step: float = 0.1) -> np.ndarray:
    n = int(round(1 / step))
    return np.array([(i / n, j / n, (n - i - j) / n) for i in range(n + 1) for j in range(n + 1 - i)])


def test_ternary_coordinates_put_each_pure_component_at_its_corner():
    xy = ternary_xy(np.array([[1, 0, 0], [0, 2, 0], [0, 0, 5], [1, 1, 1]]))  # rows are normalised
    assert np.allclose(xy, [[0, 0], [1, 0], [0.5, np.sqrt(3) / 2], [0.5, np.sqrt(3) / 6]])


def test_each_panel_colours_the_samples_by_that_phase_at_their_composition():
    comp = _triangle_grid()
    frac = comp ** 2 / (comp ** 2).sum(axis=1, keepdims=True)  # phase k grows towards element k's corner
    plot = plot_phase_ternary(comp, ["Al", "Li", "Fe"], frac, ["alpha", "beta", "gamma"])
    panels = plot.figure.axes
    for k in range(3):
        points = [c for c in panels[k].collections if len(c.get_offsets()) == len(comp)]
        assert len(points) == 1
        assert np.allclose(points[0].get_offsets(), ternary_xy(comp))
        assert np.allclose(points[0].get_array(), frac[:, k])  # the colour is this phase's fraction
    assert [ax.get_title(loc="left") for ax in panels[:3]] == ["alpha", "beta", "gamma"]
    assert any(ax.get_title(loc="left") == "dominant phase" for ax in panels)
    assert "alpha peaks at Al1.00Li0.00Fe0.00 (1.00)" in plot.takeaway
    assert "gamma peaks at Al0.00Li0.00Fe1.00 (1.00)" in plot.takeaway
    dominant = np.bincount(frac.argmax(axis=1), minlength=3)
    assert f"alpha {dominant[0]}" in plot.takeaway


def test_report_has_the_map_the_summary_and_the_basis_patterns():
    comp = _triangle_grid(0.25)
    table = pd.DataFrame(comp, columns=["A", "B", "C"])
    for k in range(3):
        table[f"phase_{k + 1}"] = comp[:, k]
        table[f"phase_{k + 1}_std"] = 0.01
    q = np.linspace(1, 5, 41)
    components = pd.DataFrame({"q": q, **{f"phase_{k + 1}": np.exp(-((q - 2 - k) / 0.1) ** 2) for k in range(3)}})
    html = phase_map_report(table, ["A", "B", "C"], ["phase_1", "phase_2", "phase_3"], components).to_html()
    assert 'id="fig-phase-map"' in html and 'id="fig-basis-patterns"' in html
    assert "Phase map over the composition triangle" in html and "mean bootstrap std" in html
    assert "phase_2 3" in html  # strongest peak of the second basis pattern at Q = 3


def _library(folder, n_side: int = 7, seed: int = 0):
    """Three made-up phases whose fractions are the sample's composition, written as Q files."""
    rng = np.random.default_rng(seed)
    comp = _triangle_grid(1 / n_side)
    q = np.linspace(1.5, 4.0, 500)
    peaks = ([1.8, 2.6], [2.0, 2.9], [2.3, 3.3])
    rows = []
    for i, f in enumerate(comp):
        y = sum(f[k] * np.exp(-4 * np.log(2) * ((q - p) / 0.02) ** 2) for k in range(3) for p in peaks[k])
        y = y + rng.normal(0, 0.003, len(q)).clip(0)
        pd.DataFrame({"q": q, "y": 1000 * y}).to_csv(folder / f"s{i:02d}.xy", sep=" ", header=False, index=False)
        rows.append({"file": f"s{i:02d}.xy", "x_a": f[0], "x_b": f[1], "x_c": f[2], "thickness": 100 + i})
    pd.DataFrame(rows).to_csv(folder / "library.csv", index=False)
    return comp


def test_phases_map_writes_the_report_with_each_phase_at_its_own_corner(tmp_path, capsys):
    _library(tmp_path)
    out, report = tmp_path / "phases.csv", tmp_path / "map.html"
    code = main(["phases", "map", str(tmp_path / "library.csv"), "--input", "file", "--x-unit", "q",
                 "--components", "3", "--restarts", "1", "--bootstrap", "2", "-o", str(out), "--report", str(report)])
    assert code == 0, capsys.readouterr().err
    html = report.read_text()
    assert 'id="fig-phase-map"' in html and 'id="fig-basis-patterns"' in html
    corners = re.findall(r"phase_\d peaks at x_a([\d.]+)x_b([\d.]+)x_c([\d.]+)", html)
    assert len(corners) >= 3  # (alt text and takeaway)
    # every phase's largest fraction lies at a different pure corner of the triangle
    assert {int(np.argmax(np.array(c, dtype=float))) for c in corners[:3]} == {0, 1, 2}
    again = tmp_path / "again.html"
    assert main(["phases", "report", str(out), "--composition", "x_a,x_b,x_c", "-o", str(again)]) == 0
    assert 'id="fig-phase-map"' in again.read_text()


def test_composition_columns_must_be_three_numeric_columns(tmp_path, capsys):
    _library(tmp_path, n_side=3)
    table = pd.read_csv(tmp_path / "library.csv").astype({"x_b": object})
    table.loc[2, "x_b"] = "lots"
    table.to_csv(tmp_path / "bad.csv", index=False)
    for extra in (["--composition", "x_a,x_b"], ["--composition", "x_a,x_b,x_c"]):
        code = main(["phases", "map", str(tmp_path / "bad.csv"), "--input", "file", "--components", "2",
                     "-o", str(tmp_path / "p.csv"), "--report", str(tmp_path / "r.html"), *extra])
        err = capsys.readouterr().err
        assert code == 2 and "Traceback" not in err
    assert "lots" in err and re.search(r"^3\s+x_b", err, re.M)


def test_composition_columns_are_detected_only_when_unambiguous():
    from matloop.cli.commands.phases import composition_columns
    from matloop.errors import InputError

    frame = pd.DataFrame(_triangle_grid(0.5), columns=["x_a", "x_b", "x_c"])
    frame["thickness"] = 100.0
    assert composition_columns(frame, None) == ["x_a", "x_b", "x_c"]
    with pytest.raises(InputError, match="no sets"):
        composition_columns(frame[["x_a", "x_b", "thickness"]], None)
    frame["x_d"] = frame["x_c"]  # (x_a, x_b, x_d) sums to 1 too: which three?
    with pytest.raises(InputError, match="2 sets"):
        composition_columns(frame, None)
