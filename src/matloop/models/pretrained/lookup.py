"""Computed values looked up in the bundled source datasets, by reduced composition.

A pre-trained model only approximates the computed database it was trained on. When the user's
composition *is* in that database (Fe2O3 in Materials Project), the computed value itself is the
better cheap property: on Matbench expt_gap the looked-up PBE gap correlates 0.87 with the
experimental gap where the library's prediction correlates 0.81 (same rows). Polymorphs share a
reduced composition; their median value is used.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd

from matloop.io.formula import Compositions
from matloop.models.pretrained.network import composition_keys
from matloop.models.pretrained.sources import SOURCES


@cache
def _keys(dataset: str) -> np.ndarray:
    """Reduced-composition key of every row of a bundled dataset (cached per process)."""
    from matloop import datasets
    from matloop.io.formula import parse_formulas

    ds = datasets.load(dataset)
    return composition_keys(parse_formulas(ds.frame[ds.input].to_numpy(dtype=object)))


@cache
def _table(source: str) -> pd.Series:
    """Median computed value per reduced composition of one source dataset (cached per process:
    a few MB per source, built in about a second)."""
    from matloop import datasets

    spec = SOURCES[source]
    frame = datasets.load(spec.dataset).frame
    values = pd.to_numeric(frame[spec.target], errors="coerce").to_numpy(dtype=float)
    return pd.Series(values).groupby(_keys(spec.dataset)).median()


def can_look_up(source: str) -> bool:
    """Whether ``source`` is a built-in library source with a bundled dataset to look values up in."""
    return source in SOURCES


def computed_values(source: str, comps: Compositions) -> np.ndarray:
    """The source dataset's value for each composition (median over polymorphs); NaN where absent.

    For a classification source (``mp_is_metal``) the value is the fraction of polymorphs in the
    positive class.
    """
    if not can_look_up(source):
        raise ValueError(f"{source!r} is not a built-in source with a bundled dataset "
                         f"(built-in: {', '.join(SOURCES)})")
    table = _table(source)
    return pd.Series(composition_keys(comps)).map(table).to_numpy(dtype=float)
