"""The `optimade` package's reference server with its built-in test data, started on loopback for tests.

Tests of the OPTIMADE client talk to a real OPTIMADE implementation (Materials-Consortia's
optimade-python-tools, in-memory mongomock backend with 17 test structures), never to the internet.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def reference_server(tmp: Path) -> Iterator[str]:
    """Start the reference server on a free loopback port; yield its base URL (without ``/v1``)."""
    port = free_port()
    config = tmp / "optimade_config.json"  # the aliases the package's own tests use for its test data
    config.write_text(json.dumps({
        "insert_test_data": True,
        "aliases": {"structures": {"id": "task_id", "immutable_id": "_id", "chemical_formula_descriptive": "pretty_formula",
                                   "chemical_formula_reduced": "pretty_formula",
                                   "chemical_formula_anonymous": "formula_anonymous"}},
        "provider_fields": {"structures": ["chemsys"]},
    }))
    env = {**os.environ, "OPTIMADE_CONFIG_FILE": str(config)}
    log = (tmp / "optimade-server.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "optimade.server.main:app", "--host", "127.0.0.1",
                             "--port", str(port), "--log-level", "warning"], env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/v1/info", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the OPTIMADE reference server did not start: "
                                       f"{(tmp / 'optimade-server.log').read_text()[-2000:]}") from None
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
