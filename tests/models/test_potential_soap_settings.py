"""The SOAP Δ-correction's shipped settings (models/potentials/soap_delta.py) agree with what the README and the
docstring promise, and the noise-level search starts inside its own grids. Needs no dscribe: these are plain data."""

from __future__ import annotations

import re
from pathlib import Path

from matloop.models.potentials import soap_delta
from matloop.models.potentials.soap_delta import BASE_SEARCH, DEFAULTS, SEARCH, START

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_and_docstring_state_the_shipped_kernel_exponent():
    stated = re.findall(r"\(q \. q'\)\^(\d+)", README.read_text(encoding="utf-8"))
    assert stated and {int(z) for z in stated} == {DEFAULTS["zeta"]}
    assert f"exponent zeta {DEFAULTS['zeta']}," in " ".join(soap_delta.__doc__.split())


def test_the_search_starts_inside_sorted_grids():
    for name, grid in {**SEARCH, **BASE_SEARCH}.items():
        assert list(grid) == sorted(set(grid)), name
        assert START[name] in grid, name
    assert min(SEARCH["sigma_E"]) < 0.0001  # Si at zeta 12 chose the old grid's edge, 0.0001
