"""Large pattern libraries on a Dask cluster: reading, resampling and featurizing in batches.

The same path as screening (:func:`matloop.represent.dask_map.map_batches`: the shared settings are
scattered once, at most two tasks per worker are in flight, results are collected as they finish),
so a library of tens of thousands of pattern files streams through a cluster with flat memory here.
Results equal the in-process computation (the same functions run on the same files, batch by batch):

- :func:`library_on_grid`: what ``matloop phases map`` does before the factorisation: read every file,
  put all patterns on their common Q grid (:func:`matloop.represent.diffraction.common_grid`'s rule:
  the range every pattern covers, at the coarsest median step). On a cluster this takes two passes:
  the first returns only each file's range and step (a few numbers), the second the resampled rows.
- :func:`transform_patterns`: a fitted featurizer (e.g.
  :class:`~matloop.represent.pattern_features.PatternFeatureSet`) applied batch by batch.

Every unreadable file or bad line is reported at its 1-based row of the user's table, all of them in
one :class:`matloop.InputError`, as in process. The files must be readable by the workers (a shared
file system); ``dask.distributed`` ships the settings with cloudpickle: use a cluster you control.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from matloop.errors import InputError

__all__ = ["axis_summaries", "current_scheduler", "library_on_grid", "transform_patterns"]

#: pattern files per task
BATCH_SIZE = 64


def _read(options: dict, payload):
    """The patterns of one batch (``payload`` = (values, rows)), or the InputError as data."""
    from matloop.io.patterns import read_patterns

    values, rows = payload
    try:
        return read_patterns(values, rows=rows, **options)
    except InputError as exc:
        return exc


def _summary_task(shared: tuple, payload):
    """Pass 1 on a worker: (first, last, median step on the axis, source, dropped lines) per pattern."""
    from matloop.represent.diffraction import _axis

    options, axis_unit, axis_wavelength = shared
    patterns = _read(options, payload)
    if isinstance(patterns, InputError):
        return patterns
    out = []
    for p in patterns:
        a = _axis(p, axis_unit, axis_wavelength)
        a = a[np.isfinite(a)]
        out.append((float(a[0]), float(a[-1]), float(np.median(np.diff(a))), p.source,
                    list(p.meta.get("dropped_lines") or [])))
    return out


def axis_summaries(values: Sequence[object], rows: Sequence[int], options: dict, axis_unit: str = "q",
                   axis_wavelength: float | None = None, scheduler=None, batch_size: int = BATCH_SIZE) -> list[tuple]:
    """(first, last, median step, source, dropped lines) of every pattern file on ``axis_unit``, read with
    ``options`` (:func:`matloop.io.patterns.read_patterns`' keywords); every problem in one InputError."""
    values, rows = list(values), [int(r) for r in rows]
    batches = [(values[s:s + batch_size], rows[s:s + batch_size]) for s in range(0, len(values), max(int(batch_size), 1))]
    summaries = _run(scheduler, _summary_task, (options, axis_unit, axis_wavelength), batches, lambda b: b)
    _raise_errors(summaries, len(values))
    return [s for part in summaries for s in part]


def current_scheduler():
    """The Dask scheduler of the enclosing :func:`matloop.represent.feature_cache.options` block, or None."""
    from matloop.represent.feature_cache import _OPTIONS

    return (_OPTIONS.get() or {}).get("scheduler")


def _resample_task(shared: tuple, payload):
    """Pass 2 on a worker: the batch's patterns on the grid (rows of a 2-D array)."""
    from matloop.represent.diffraction import resample

    options, grid = shared
    patterns = _read(options, payload)
    return patterns if isinstance(patterns, InputError) else resample(patterns, grid)


def _run(scheduler, func, shared, batches: list, payload) -> list:
    """Results per batch in batch order, in process (scheduler None) or through map_batches."""
    results: dict[int, object] = {}
    if scheduler is None:
        for i, batch in enumerate(batches):
            results[i] = func(shared, payload(batch))
    else:
        from matloop.represent.dask_map import map_batches

        map_batches(scheduler, func, shared, list(range(len(batches))), lambda i: payload(batches[i]),
                    lambda i, result: results.__setitem__(i, result))
    return [results[i] for i in range(len(batches))]


def _raise_errors(results: list, total: int) -> None:
    errors = [r.table for r in results if isinstance(r, InputError)]
    if errors:
        table = pd.concat(errors, ignore_index=True).sort_values("row", kind="stable").reset_index(drop=True)
        raise InputError(f"could not read {len(table)} of {total} patterns", table)


def library_on_grid(values: Sequence[object], rows: Sequence[int] | None = None, *, base_dir=None,
                    unit: str = "2theta", wavelength: float | None = 1.5406, column: str = "file",
                    skip_invalid: bool = False, scheduler=None, batch_size: int = BATCH_SIZE):
    """``(X, grid, dropped)``: every pattern on the common Q grid (one row per file), the
    :class:`~matloop.represent.diffraction.Grid`, and ``{source: dropped line numbers}`` of files whose bad
    lines ``skip_invalid`` left out. ``scheduler``: a Dask address or client (None: in this process)."""
    from pathlib import Path

    from matloop.represent.diffraction import Grid

    values = list(values)
    rows = list(range(1, len(values) + 1)) if rows is None else [int(r) for r in rows]
    options = {"base_dir": None if base_dir is None else str(Path(base_dir)), "unit": unit,
               "wavelength": wavelength, "column": column, "skip_invalid": skip_invalid}
    flat = axis_summaries(values, rows, options, "q", None, scheduler, batch_size)
    lo, hi = max(s[0] for s in flat), min(s[1] for s in flat)
    if not hi > lo:
        raise InputError(f"the patterns share no common range (q: the latest start {lo:.4g} is after the "
                         f"earliest end {hi:.4g})")
    grid = Grid(float(lo), float(hi), float(max(s[2] for s in flat)), "q", None)
    batches = [(values[s:s + batch_size], rows[s:s + batch_size]) for s in range(0, len(values), max(int(batch_size), 1))]
    parts = _run(scheduler, _resample_task, (options, grid), batches, lambda b: b)
    _raise_errors(parts, len(values))
    dropped = {s[3]: s[4] for s in flat if s[4]}
    return np.vstack(parts), grid, dropped


def _transform_task(featurizer, payload):
    from matloop.io.rows import attach_source_rows

    values, rows, name = payload
    try:
        transform = getattr(featurizer, "transform_here", featurizer.transform)  # not back to the cluster
        return transform(attach_source_rows(pd.Series(values, dtype=object, name=name), np.asarray(rows)))
    except InputError as exc:
        return exc


def transform_patterns(featurizer, values: pd.Series | Sequence[object], rows: Sequence[int] | None = None,
                       scheduler=None, batch_size: int = BATCH_SIZE) -> pd.DataFrame:
    """``featurizer.transform`` of the pattern files ``values``, in batches (on Dask when ``scheduler`` is
    given); the same frame as one in-process call, and the same row errors."""
    from matloop.io.rows import source_rows

    name = str(getattr(values, "name", None) or "file")
    if rows is None:
        rows = source_rows(values, len(values)) if isinstance(values, pd.Series) else range(1, len(values) + 1)
    values, rows = list(values), [int(r) for r in rows]
    batches = [(values[s:s + batch_size], rows[s:s + batch_size], name)
               for s in range(0, len(values), max(int(batch_size), 1))]
    parts = _run(scheduler, _transform_task, featurizer, batches, lambda b: b)
    _raise_errors(parts, len(values))
    return pd.concat([pd.DataFrame(p) for p in parts], ignore_index=True)
