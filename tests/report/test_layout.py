"""Every HTML output (report, campaign report, demo report) fits a 1280 px and an 800 px window in
headless Chromium: nothing wider than the page, no text cut off.

A test-only copy of each page gets a script that, after layout, lists (1) a page wider than the
window, (2) an element sticking out to the right of ``<main>`` and (3) an element whose text is
clipped (``overflow`` hidden/clip or ``text-overflow: ellipsis`` with ``scrollWidth >
clientWidth``). Wide tables live in a ``.table-wrap`` box that scrolls by itself, which is allowed.
The probe is checked on a page built to overflow, so the test can fail.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from matloop.report.html import Report

CHROMIUM = "/usr/bin/chromium"
WIDTHS = (1280, 800)
needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")

PROBE = """<script>window.addEventListener('load', () => {
  const main = document.querySelector('main') || document.body;
  const right = main.getBoundingClientRect().right;
  const name = e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : '') +
                    (e.textContent ? ' "' + e.textContent.trim().slice(0, 40) + '"' : '');
  const problems = [];
  if (document.documentElement.scrollWidth > window.innerWidth + 1)
    problems.push('page ' + document.documentElement.scrollWidth + ' px wide in a ' + window.innerWidth + ' px window');
  for (const e of main.querySelectorAll('*')) {
    if (e.closest('.table-wrap') && !e.classList.contains('table-wrap')) continue;  // scrolls on purpose
    const r = e.getBoundingClientRect();
    if (r.width > 0 && r.right > right + 1) problems.push('sticks out ' + Math.round(r.right - right) + ' px: ' + name(e));
    const s = getComputedStyle(e);
    const clips = ['hidden', 'clip'].includes(s.overflowX) || s.textOverflow === 'ellipsis';
    if (clips && e.scrollWidth > e.clientWidth + 1) problems.push('text cut: ' + name(e));
  }
  const out = document.createElement('pre'); out.id = 'layout-probe';
  out.textContent = JSON.stringify({width: window.innerWidth, problems: problems});
  document.body.appendChild(out);
});</script>"""


def layout_problems(page: Path, tmp: Path, width: int) -> list[str]:
    """Problems the probe finds in ``page`` at ``width`` px (a screenshot is kept beside the copy)."""
    probe = tmp / f"{page.stem}-{width}-probe.html"
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    profile = tmp / f"profile-{page.stem}-{width}"
    base = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
            "--hide-scrollbars", f"--user-data-dir={profile}", f"--window-size={width},1600"]
    try:
        run = subprocess.run([*base, "--dump-dom", probe.resolve().as_uri()], capture_output=True, text=True,
                             timeout=120)
        subprocess.run([*base, f"--screenshot={tmp / f'{page.stem}-{width}.png'}", page.resolve().as_uri()],
                       capture_output=True, timeout=120)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    match = re.search(r'<pre id="layout-probe">(.*?)</pre>', run.stdout, re.S)
    assert match, run.stderr[-2000:]
    found = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<")
                       .replace("&gt;", ">"))
    assert found["width"] == width
    return found["problems"]


def _wide_report() -> Report:
    """A report with a long unbroken subtitle and a 19-column table (the demo report's case)."""
    rng = np.random.default_rng(0)
    report = Report("matloop demo: liang_p3ht", "P3HT/carbon-nanotube composite films " * 4 + "x" * 150)
    report.add_section("Summary", "A" * 300)
    report.add_table(pd.DataFrame(rng.normal(size=(5, 19)) * 1e4, columns=[f"column number {i}" for i in range(19)]),
                     "A wide table")
    report.add_settings({"a very long setting name without any space at all " * 2: "v" * 300})
    return report


@needs_chromium
def test_the_probe_finds_overflow_and_cut_text(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head><body><main>'
                    '<table><tr>' + "<td>wide cell content</td>" * 60 + '</tr></table>'
                    '<p style="white-space:nowrap;overflow:hidden;text-overflow:ellipsis;width:200px">'
                    + "cut off subtitle " * 20 + "</p></main></body></html>")
    problems = layout_problems(page, tmp_path, 800)
    assert any(p.startswith("page ") for p in problems)
    assert any(p.startswith("text cut: p") for p in problems)


@needs_chromium
def test_wide_tables_and_long_text_fit_the_window(tmp_path):
    page = _wide_report().write(tmp_path / "wide.html")
    for width in WIDTHS:
        assert layout_problems(page, tmp_path, width) == [], width


@needs_chromium
def test_report_fits_1280_and_800_px(built_report, tmp_path):
    _, page = built_report
    for width in WIDTHS:
        assert layout_problems(page, tmp_path, width) == [], width


@needs_chromium
def test_campaign_report_fits_1280_and_800_px(tmp_path):
    from matloop.design.acquisition import Objective
    from matloop.design.campaign import Campaign
    from matloop.io.dataset import Dataset
    from matloop.report.campaign import campaign_report

    rng = np.random.default_rng(0)
    f = pd.DataFrame({"temperature": rng.uniform(300, 900, 30), "time": rng.uniform(1, 10, 30),
                      "precursor concentration (mol/L)": rng.uniform(0.1, 2, 30)})
    f["yield"] = -((f["temperature"] - 700) / 200) ** 2 - ((f["time"] - 3) / 3) ** 2
    f.loc[14:, "yield"] = np.nan
    ds = Dataset(frame=f, input=None, kind="parameters", targets=["yield"],
                 parameters=["temperature", "time", "precursor concentration (mol/L)"])
    camp = Campaign.create("proc", str(tmp_path / "c.db"), Objective("max"), "yield", pool=ds)
    page = campaign_report(camp, interpret=False).write(tmp_path / "campaign.html")
    for width in WIDTHS:
        assert layout_problems(page, tmp_path, width) == [], width


@needs_chromium
def test_demo_report_fits_1280_and_800_px(tmp_path, capsys):
    from matloop.cli.main import main

    page = tmp_path / "demo.html"
    assert main(["demo", "--runs", "1", "--budget", "6", "-o", str(page)]) == 0
    html = page.read_text(encoding="utf-8")
    subtitle = re.search(r"<header><h1>.*?</h1><p>(.*?)</p></header>", html, re.S).group(1)
    assert subtitle.endswith(".")  # a whole sentence, not cut mid-word
    for width in WIDTHS:
        assert layout_problems(page, tmp_path, width) == [], width
