"""Suite-wide test settings.

Feature caches (:mod:`matloop.represent.feature_cache`, CHGNet rows) go to a temporary folder for the
whole session, never into the user's cache directory; a test that needs its own sets
``MATLOOP_CACHE_DIR`` with ``monkeypatch``. Subprocesses (CLI tests) inherit the variable.
"""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True, scope="session")
def _private_feature_cache(tmp_path_factory):
    previous = os.environ.get("MATLOOP_CACHE_DIR")
    os.environ["MATLOOP_CACHE_DIR"] = str(tmp_path_factory.mktemp("matloop-cache"))
    yield
    if previous is None:
        os.environ.pop("MATLOOP_CACHE_DIR", None)
    else:
        os.environ["MATLOOP_CACHE_DIR"] = previous
