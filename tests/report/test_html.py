"""The HTML report is one self-contained file; it loads in a real headless Chromium without errors."""

from __future__ import annotations

import base64
import importlib.util
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from matloop.report import plots
from matloop.report.html import Report, write_figures

CHROMIUM = "/usr/bin/chromium"
PNG = b"\x89PNG\r\n\x1a\n"


def _small_report() -> Report:
    rep = Report("Test <report>", "subtitle & more")
    rep.add_section("Data overview", "Intro <b>not bold</b>.")
    rep.add_warning("something is off")
    rep.add_figure(plots.plot_target_histogram(np.arange(50.0), "y"), name="hist")
    rep.add_table(pd.DataFrame({"a": [1.23456, 2.0], "b": ["x", "<y>"]}), "a table")
    rep.add_section("Model diagnostics")
    fig, text = plots.plot_parity(np.arange(30.0), np.arange(30.0) + 1, np.ones(30))
    rep.add_figure(fig, text, name="parity", caption="caption text")
    rep.add_note("a note")
    rep.add_settings({"model": "rf", "seed": 0})
    return rep


def _assert_self_contained(html: str, n_figures: int) -> None:
    """No resource is loaded from anywhere: every src/href is inline data or an in-page anchor."""
    refs = re.findall(r'\b(?:src|href|srcset|poster|data|action)\s*=\s*"([^"]*)"', html, flags=re.I)
    assert not [r for r in refs if re.match(r"\s*(https?:|//|file:|ftp:)", r, flags=re.I)]
    assert not re.search(r"(src|href)\s*=\s*'?https?://", html, flags=re.I)
    assert not re.search(r"<(script|iframe|object|embed|video|audio|source)\b", html, flags=re.I)
    assert re.findall(r"<link\b[^>]*>", html) == ['<link rel="icon" href="data:,">']  # no favicon request
    assert "url(" not in html and "@import" not in html and "@font-face" not in html  # no CSS resources
    text_urls = re.findall(r"https?://\S+", html)  # allowed only as visible text (e.g. a DOI in a citation)
    assert all(html[html.index(u) - 1] not in "\"'=(" for u in text_urls)
    srcs = re.findall(r'<img src="([^"]+)"', html)
    assert len(srcs) == n_figures
    for src in srcs:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == PNG
    assert set(re.findall(r'(?:src|href)="([^"#][^"]*)"', html)) <= {*srcs, "data:,"}


def test_report_is_self_contained_escaped_and_ordered():
    rep = _small_report()
    html = rep.to_html()
    _assert_self_contained(html, 2)
    assert "Test &lt;report&gt;" in html and "Intro &lt;b&gt;not bold&lt;/b&gt;." in html and "&lt;y&gt;" in html
    assert html.index('id="data-overview"') < html.index('id="model-diagnostics"')
    assert html.index('href="#data-overview"') < html.index('href="#model-diagnostics"')
    assert "1.23" in html and "1.23456" not in html  # 3 significant digits
    assert "y spans 0 to 49" in html and "caption text" in html
    assert [name for name, _, _ in rep.figures] == ["hist", "parity"]


def test_figures_need_a_takeaway():
    rep = Report("r")
    fig, _ = plots.plot_target_histogram(np.arange(10.0))
    with pytest.raises(ValueError, match="takeaway"):
        rep.add_figure(fig)
    with pytest.raises(ValueError, match="takeaway"):
        rep.add_figure(fig, "  ")


def test_write_figures_writes_pngs_and_their_takeaways(tmp_path):
    paths = _small_report().write_figures(tmp_path / "figs")
    assert [p.name for p in paths] == ["01_hist.png", "02_parity.png"]
    assert all(p.read_bytes()[:8] == PNG for p in paths)
    lines = (tmp_path / "figs" / "takeaways.txt").read_text().splitlines()
    assert lines[0].startswith("01_hist.png: y spans") and lines[1].startswith("02_parity.png: Cross-validated MAE")
    loose = write_figures([("pareto", plots.plot_pareto_front([[1, 2], [2, 1]], [True, True]))], tmp_path / "b")
    assert loose[0].name == "01_pareto.png"


def test_built_report_is_self_contained_with_sections_in_reading_order(built_report):
    report, path = built_report
    html = path.read_text(encoding="utf-8")
    _assert_self_contained(html, len(report.figures))
    titles = [s.title for s in report.sections]
    assert titles == ["Summary", "Data overview", "Coverage and bias", "Validation: random vs cluster vs extrapolation",
                      "Model diagnostics", "Interpretation: what the model learned", "Provenance and settings"]
    names = [name for name, _, _ in report.figures]
    for expected in ("target-histogram", "element-frequency", "pca-by-target", "pca-by-cluster", "density-map",
                     "error-vs-density", "cv-schemes", "parity", "calibration", "residuals-vs-sigma", "learning-curve",
                     "applicability-domain", "permutation-importance", "shap-summary", "partial-dependence"):
        if expected == "shap-summary" and importlib.util.find_spec("shap") is None:
            continue  # the 'explain' extra is not installed (a plain install)
        assert expected in names
    assert all(takeaway.strip() for _, _, takeaway in report.figures)
    assert "leave-one-cluster-out" in html and "1-nearest-neighbour" in html and "TreeSpreadForest" in html
    assert report.messages[:2] == ["auditing the data", "featurizing"] and report.messages[-1].startswith("done in")


# --------------------------------------------------------------------------- real browser
needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")


def _chromium(page: Path, tmp: Path, *extra: str) -> subprocess.CompletedProcess:
    profile = tmp / f"profile-{page.stem}-{len(extra)}"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
           f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *extra, page.resolve().as_uri()]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def _console_errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


PROBE = """<script>window.addEventListener('load', () => {
  const imgs = [...document.images];
  const decoded = imgs.filter(i => i.complete && i.naturalWidth > 0);
  const nonblank = decoded.filter(i => {
    const c = document.createElement('canvas'); c.width = i.naturalWidth; c.height = i.naturalHeight;
    const g = c.getContext('2d'); g.drawImage(i, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data;
    let other = 0;
    for (let k = 0; k < d.length; k += 4) if (d[k] !== d[0] || d[k + 1] !== d[1] || d[k + 2] !== d[2]) other++;
    return other > 0.01 * c.width * c.height;
  });
  document.body.dataset.decoded = decoded.length + '/' + imgs.length;
  document.body.dataset.nonblank = nonblank.length + '/' + imgs.length;
});</script>"""


@needs_chromium
def test_the_probe_flags_a_blank_figure(tmp_path):
    """The non-blank check can fail: a uniformly white PNG is counted as blank."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (60, 40), "white").save(buf, format="PNG")
    blank = base64.b64encode(buf.getvalue()).decode("ascii")
    page = tmp_path / "blank.html"
    page.write_text(f'<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head><body>'
                    f'<img src="data:image/png;base64,{blank}">{PROBE}</body></html>')
    dom = _chromium(page, tmp_path, "--dump-dom")
    assert 'data-decoded="1/1"' in dom.stdout and 'data-nonblank="0/1"' in dom.stdout


@needs_chromium
def test_the_console_check_catches_a_broken_page(tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head><body>'
                   "<script>undefinedFunction();</script></body></html>")
    errors = _console_errors(_chromium(bad, tmp_path, "--dump-dom").stderr)
    assert any("Uncaught ReferenceError" in e for e in errors)


@needs_chromium
def test_report_renders_in_headless_chromium_without_console_errors(built_report, tmp_path):
    from PIL import Image

    report, path = built_report
    shot = tmp_path / "shot.png"
    run = _chromium(path, tmp_path, f"--screenshot={shot}", "--window-size=1200,3000")
    assert run.returncode == 0, run.stderr[-2000:]
    assert _console_errors(run.stderr) == []
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=float)
    assert pixels.shape[:2] == (3000, 1200)
    assert pixels.var() > 100  # not blank
    colourful = np.mean(pixels.max(axis=2) - pixels.min(axis=2) > 60)  # figures are in colour, the page is not
    assert colourful > 0.01

    # every embedded figure decodes and is not blank: a test-only copy adds a script that draws each image on a
    # canvas and counts those with more than one colour in at least 1% of their pixels
    probe = tmp_path / "probe.html"
    probe.write_text(path.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = _chromium(probe, tmp_path, "--dump-dom")
    assert _console_errors(dom.stderr) == []
    n = len(report.figures)
    assert f'data-decoded="{n}/{n}"' in dom.stdout
    assert f'data-nonblank="{n}/{n}"' in dom.stdout
