"""Element property tables bundled with matloop (offline), indexed by atomic number.

Two sources, built by ``scripts/build_element_data.py`` from data that installs from PyPI; the
provenance of every property is in ``data/ELEMENTS_PROVENANCE.md``:

- ``"magpie"``: every scalar Magpie table shipped with matminer, raw (NaN where matminer has NaN),
  under matminer's names (``Number``, ``Electronegativity``, ``NsValence``, ``GSvolume_pa``, ...).
  The first 22 columns are the properties of matminer's ``magpie`` preset.
- ``"xenonpy"``: XenonPy's 58 ``elements_completed`` properties (``atomic_number``, ``en_pauling``,
  ...), complete for H..Pu (gaps imputed at build time), NaN where no source has a value beyond Pu.

Tables are read once per process and cached; callers get a copy they may modify.
"""

from __future__ import annotations

import functools
import warnings
from importlib import resources
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # imported where a frame is built: element_array reads the tables without pandas
    import pandas as pd

SOURCES = ("magpie", "xenonpy")
N_Z = 118  # rows 1..118; row 0 is an unused placeholder so that row Z is element Z


def element_table(source: str) -> pd.DataFrame:
    """The property table of a source: index Z 0..118 (row 0 unused, NaN), one column per property.

    Values are float64 as sourced; missing values are NaN (see :func:`impute_mean`).
    """
    return _load(_check(source)).copy()


def element_array(source: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """The values of :func:`element_table` (row Z, row 0 NaN) as a read-only float64 array, and the
    property names of its columns; read without pandas, so that ``matloop featurize`` on a list of
    formulas need not import it. The same numbers bit for bit: Python's ``float`` and pandas'
    round-trip parser both round every decimal correctly (tests/represent/test_element_array.py).
    """
    return _load_array(_check(source))


def property_info(source: str) -> pd.DataFrame:
    """Per-property metadata of a source, indexed by property name.

    Columns: ``label`` (human-readable), ``unit``, ``package``, ``version``, ``attribute`` (file or
    attribute read), ``licence``, ``n_source`` (elements with a source value), ``n_imputed``
    (values imputed at build time).
    """
    return _info(_check(source)).copy()


def impute_mean(table: pd.DataFrame | np.ndarray) -> np.ndarray:
    """Replace NaN in rows 1..118 by the mean of the column over the elements that have a value.

    This is matminer's ``impute_nan=True`` rule (``np.nanmean`` over the 118 elements), so
    features computed from the result equal matminer's. A column with no value at all stays NaN.
    Row 0 is left as it is. Returns a new float64 array.
    """
    values = np.array(table, dtype=np.float64, copy=True)
    body = values[1 : N_Z + 1]
    missing = np.isnan(body)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a column with no value: mean is NaN
        # np.nanmean of each contiguous column, bit for bit what matminer computes
        means = np.array([np.nanmean(np.ascontiguousarray(col)) for col in body.T])
    body[missing] = np.broadcast_to(means, body.shape)[missing]
    return values


def _check(source: str) -> str:
    if source not in SOURCES:
        raise ValueError(f"unknown element data source {source!r}; known: {', '.join(SOURCES)}")
    return source


def _data_path(name: str):
    return resources.files("matloop.represent").joinpath("data", name)


@functools.cache
def _load_array(source: str) -> tuple[np.ndarray, tuple[str, ...]]:
    import csv
    import gzip
    import io

    with _data_path(f"elements_{source}.csv.gz").open("rb") as handle:
        rows = list(csv.reader(io.StringIO(gzip.decompress(handle.read()).decode("utf-8"))))
    header, body = rows[0], rows[1:]
    keep = [i for i, name in enumerate(header) if name not in ("Z", "symbol")]
    if [row[header.index("Z")] for row in body] != [str(z) for z in range(1, N_Z + 1)] or \
            any(len(row) != len(header) for row in body):
        raise RuntimeError(f"bundled table elements_{source}.csv.gz is damaged: rows are not Z 1..{N_Z}")
    values = np.full((N_Z + 1, len(keep)), np.nan)
    values[1:] = [[float(row[i]) if row[i] else np.nan for i in keep] for row in body]
    values.flags.writeable = False
    return values, tuple(header[i] for i in keep)


@functools.cache
def _load(source: str) -> pd.DataFrame:
    import pandas as pd

    from matloop.io.compat import EXACT_FLOATS

    with _data_path(f"elements_{source}.csv.gz").open("rb") as handle:
        frame = pd.read_csv(handle, compression="gzip", index_col="Z", **EXACT_FLOATS)
    frame = frame.drop(columns="symbol").astype(np.float64)
    if not frame.index.equals(pd.RangeIndex(1, N_Z + 1)):
        raise RuntimeError(f"bundled table elements_{source}.csv.gz is damaged: rows are not Z 1..{N_Z}")
    placeholder = pd.DataFrame(np.nan, index=[0], columns=frame.columns)
    table = pd.concat([placeholder, frame])
    table.index = pd.RangeIndex(0, N_Z + 1, name="Z")
    table.columns.name = source
    return table


@functools.cache
def _info(source: str) -> pd.DataFrame:
    import pandas as pd

    with _data_path("elements_properties.csv.gz").open("rb") as handle:
        info = pd.read_csv(handle, compression="gzip", keep_default_na=False,
                           dtype={"unit": str, "label": str})
    info = info[info["source"] == source].drop(columns="source").set_index("property")
    return info
