"""The dashboard in a real headless Chromium (Debian's, driven by Playwright) against ``matloop serve``
started as a real process on a free loopback port.

One browser session, on a tablet-sized screen: log in with the admin token the server printed on its
first start, create a campaign from an uploaded CSV, ask for a batch, upload results, record a failure,
then an instrument posts a result to the REST API and the open page redraws its plot and tables without
a reload. No console error or uncaught page error at any point, and no horizontal scrolling.
Skipped when Playwright or the browser is missing.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

CHROMIUM = "/usr/bin/chromium"
pytest.importorskip("fastapi")
pytest.importorskip("jinja2")
sync_api = pytest.importorskip("playwright.sync_api")
if not Path(CHROMIUM).exists():  # pragma: no cover - depends on the machine
    pytest.skip("no Chromium at /usr/bin/chromium", allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    """``matloop serve`` on a new ledger: (base URL, the admin token it printed, the process)."""
    port = _free_port()
    cmd = [sys.executable, "-c", "import sys; from matloop.cli.main import main; sys.exit(main())",
           "serve", "--db", str(tmp_path / "lab.db"), "--port", str(port), "--form-wait", "0"]  # batches: the job path
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            cwd=tmp_path)
    token, lines = None, []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.strip().startswith("mlt_"):
                token = line.strip()
            if line.startswith("bound to"):
                break
        assert token, "".join(lines)
        base = f"http://127.0.0.1:{port}"
        while time.monotonic() < deadline:  # until uvicorn answers
            try:
                urllib.request.urlopen(base + "/login", timeout=2).close()
                break
            except OSError:
                time.sleep(0.2)
        yield base, token, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            proc.kill()
        proc.stdout.close()


def _pool(path: Path) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    f = pd.DataFrame({"temperature": rng.uniform(300, 900, 30).round(1), "time": rng.uniform(1, 10, 30).round(2)})
    f["hardness"] = (10 - ((f["temperature"] - 700) / 100) ** 2 - (f["time"] - 3) ** 2 / 4).round(3)
    f.loc[5:, "hardness"] = np.nan
    f.to_csv(path, index=False)
    return f


def _post_results(base: str, token: str, rows: list[dict]) -> dict:
    req = urllib.request.Request(base + "/api/campaigns/glass/results", data=json.dumps({"rows": rows}).encode(),
                                 method="POST", headers={"Authorization": f"Bearer {token}",
                                                         "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status == 201
        return json.loads(r.read())


def test_a_campaign_in_a_real_browser(server, tmp_path):
    base, token, proc = server
    pool = _pool(tmp_path / "pool.csv")
    problems: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 820, "height": 1180})  # a tablet
            page.set_default_timeout(30_000)
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error"
                    else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))

            # log in with the token the server printed
            page.goto(base + "/")
            assert page.url.endswith("/login")
            page.fill("#token", token)
            page.click("button[type=submit]")
            page.wait_for_url(base + "/")
            assert "first admin" in page.inner_text("header")

            # create a campaign from an uploaded table
            page.fill("#c-name", "glass")
            page.fill("#c-goals", "hardness:max")
            page.set_input_files("#c-pool", str(tmp_path / "pool.csv"))
            page.click("#create-form button[type=submit]")
            page.wait_for_url("**/campaigns/glass?done=created")
            assert "Campaign created." in page.inner_text(".flash.ok")
            page.wait_for_selector("#plot-progress canvas")

            # ask for a batch
            page.fill("#batch", "3")
            page.click("#suggest-form button[type=submit]")
            # --form-wait 0: the fit runs in a suggestion worker, the page comes back at once with its job and
            # its poll shows the batch when the worker finishes (a fit done at once redirects with the batch)
            page.wait_for_url(re.compile(r"done=(suggested|fitting)"))
            page.wait_for_function("() => document.querySelectorAll('#suggestions tbody tr').length === 3",
                                   timeout=120_000)
            if "done=fitting" in page.url:
                page.wait_for_function("() => document.getElementById('job-note').textContent.includes('ready')")
                assert "The batch of 3 is ready" in page.inner_text("#job-note")
            pending = page.eval_on_selector_all("#pending option", "els => els.map(e => e.value)")
            assert len(pending) == 3

            # upload results for two of them (their inputs from the server's own export)
            with page.expect_download() as dl:
                page.click("a[download]")
            export = pd.read_csv(dl.value.path())
            chosen = export[export["suggested_rank"].notna()].sort_values("suggested_rank")
            results = chosen[["temperature", "time"]].iloc[:2].copy()
            results["hardness"] = [9.5, 8.0]
            results.to_csv(tmp_path / "results.csv", index=False)
            page.set_input_files("#results-file", str(tmp_path / "results.csv"))
            page.click("#results-form button[type=submit]")
            page.wait_for_url("**done=recorded**")
            assert "2 result(s) recorded" in page.inner_text(".flash.ok")

            # record the third as failed
            third = page.eval_on_selector_all("#pending option", "els => els.map(e => e.value)")
            assert len(third) == 1
            page.fill("#failure-candidate", third[0])
            page.fill("#failure-reason", "the pellet cracked <b>twice</b>")
            page.click("#failure-form button[type=submit]")
            page.wait_for_url("**done=failure**")
            assert "the pellet cracked <b>twice</b>" in page.inner_text("#failures")  # shown as text

            # an instrument posts a better result to the API: the open page redraws without a reload
            page.wait_for_selector("#plot-progress canvas")
            page.evaluate("window.__same_page = true")
            before_version = page.get_attribute("body", "data-version")
            before_canvas = page.eval_on_selector("#plot-progress canvas", "c => c.toDataURL()")
            before_caption = page.inner_text("#cap-progress")
            row = pool[pool["hardness"].isna()].iloc[-1]
            done = _post_results(base, token, [{"temperature": float(row["temperature"]),
                                                "time": float(row["time"]), "hardness": 12.5}])
            assert done["recorded"] == 1
            page.wait_for_function("v => document.body.dataset.version !== v", arg=before_version, timeout=30_000)
            page.wait_for_function("() => document.getElementById('cap-progress').textContent.includes('12.5')")
            assert page.evaluate("window.__same_page") is True  # no reload happened
            assert page.inner_text("#cap-progress") != before_caption
            assert page.eval_on_selector("#plot-progress canvas", "c => c.toDataURL()") != before_canvas
            assert "12.5" in page.inner_text("#history")
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        finally:
            browser.close()
    assert proc.poll() is None, "the server stopped"
    assert not problems, problems
