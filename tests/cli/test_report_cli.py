"""``matloop report``: help, bad input, an HTML report and PNG figures from a real table."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from matloop.cli.main import main


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> Path:
    """60 steels (formula, yield strength) from the bundled Matbench set, as a user's CSV."""
    from matloop.datasets import load

    ds = load("matbench_steels")
    path = tmp_path_factory.mktemp("cli") / "steels.csv"
    ds.frame.iloc[:60][[ds.input, ds.target]].to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def small_model(tmp_path_factory) -> Path:
    """A saved 10-tree scikit-learn forest (its settings are reused; it is refitted per fold)."""
    from sklearn.ensemble import RandomForestRegressor

    from matloop.models.persistence import save_model

    rng = np.random.default_rng(0)
    model = RandomForestRegressor(n_estimators=10, random_state=0).fit(rng.normal(size=(20, 3)), rng.normal(size=20))
    return save_model(model, tmp_path_factory.mktemp("model") / "rf.skops")


def test_help_lists_the_sections_and_options(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["report", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for text in ("--target", "--model", "--format {html,png}", "-o PATH", "leave-one-cluster-out", "periodic table",
                 "--time-budget"):
        assert text in out


def test_bad_output_name_is_bad_input(table, tmp_path, capsys):
    assert main(["report", str(table), "--target", "yield strength", "-o", str(tmp_path / "r.txt")]) == 2
    assert "must end in .html" in capsys.readouterr().err


def test_unknown_model_is_bad_input(table, tmp_path, capsys):
    code = main(["report", str(table), "--target", "yield strength", "--model", "nonsense", "-q",
                 "-o", str(tmp_path / "r.html")])
    assert code == 2
    assert "unknown regression model 'nonsense'" in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists()


def test_html_report_from_a_saved_model(table, small_model, tmp_path, capsys):
    out = tmp_path / "sub" / "report.html"
    code = main(["report", str(table), "--target", "yield strength", "--model", str(small_model), "--no-umap",
                 "--time-budget", "60", "-o", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert re.search(r"wrote .*report\.html \(\d+\.\d MB, \d+ figures\)", captured.out)
    # progress lines (matloop.progress): command, elapsed seconds, step
    assert re.search(r"^report \[\s*[\d.]+ s\] featurizing$", captured.err, re.M)
    assert re.search(r"^report \[\s*[\d.]+ s\] done in \d+ s$", captured.err, re.M)
    html = out.read_text(encoding="utf-8")
    assert html.count('<img src="data:image/png;base64,') >= 10
    assert "RandomForestRegressor from" in html and "rf.skops" in html
    assert "The model gives no standard deviation" in html  # a plain scikit-learn forest has no std


def test_png_format_writes_the_figures_alone(table, small_model, tmp_path, capsys):
    folder = tmp_path / "figures"
    code = main(["report", str(table), "--target", "yield strength", "--model", str(small_model), "--no-umap",
                 "--no-interpret", "--format", "png", "-q", "-o", str(folder)])
    assert code == 0
    pngs = sorted(folder.glob("*.png"))
    assert len(pngs) >= 8 and all(p.read_bytes()[:4] == b"\x89PNG" for p in pngs)
    assert pngs[0].name == "01_target-histogram.png"
    takeaways = (folder / "takeaways.txt").read_text().splitlines()
    assert len(takeaways) == len(pngs) and all(": " in line for line in takeaways)
    assert not any("importance" in p.name for p in pngs)  # --no-interpret
    assert f"wrote {len(pngs)} figures" in capsys.readouterr().out
