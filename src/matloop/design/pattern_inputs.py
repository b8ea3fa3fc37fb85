"""Diffraction patterns as inputs of design (``suggest``, ``campaign``): phase-aware campaigns.

In a combinatorial or thin-film campaign every sample gets a diffraction pattern quickly (minutes),
while the property that matters (conductivity, activity) is slow to measure. A pool table then has
one pattern file per row, the process and composition columns, and the target measured on some rows;
the pattern says which phases each sample holds, so it informs which sample to measure next.

:func:`pattern_features` is what :func:`matloop.design.surrogate.featurize` does with such a table:

- the pattern part: the peak features of :class:`~matloop.represent.pattern_features.PatternFeatureSet`
  (the strongest peaks' position, height and width, and the highest processed intensity in bins of 1°
  2θ or 0.05 Å⁻¹). The processed curve itself (one column per grid point, hundreds of them) is left
  out: beside a handful of process columns it would decide every distance of the surrogate's GP.
  The featurizer is fitted once per dataset on all its rows (measured and candidates; no target is
  used), so candidates of a second table get the same grid and columns. ``suggest --featurizer NAME``
  uses that featurizer's columns instead, all of them.
- the ``extra_inputs`` of the dataset (``--extra-inputs``: process conditions, composition
  fractions), numbers as given and labels encoded (:class:`matloop.design.encode.ParameterEncoder`,
  fitted once per dataset), appended after the pattern columns.

A pattern file that cannot be read, or a bad data line, is a row error of the user's file (the table
reader checks every file before any fit; candidates of a second table too).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["extra_input_features", "pattern_features", "pattern_keys"]


def _options(dataset) -> dict:
    """How the dataset's pattern files were read (``unit``, ``wavelength``, ``skip_invalid``)."""
    opts = dict(getattr(dataset, "pattern_options", None) or {})
    return {"unit": opts.get("unit") or "2theta", "wavelength": opts.get("wavelength") or 1.5406,
            "skip_invalid": bool(opts.get("skip_invalid", False))}


def _fitted_featurizer(dataset):
    """The pattern featurizer of ``dataset``, fitted once on its own rows and kept on it."""
    fitted = getattr(dataset, "_pattern_featurizer", None)
    if fitted is not None:
        return fitted
    from matloop.io.rows import attach_source_rows

    named = getattr(dataset, "_featurizer_name", None)
    if named:
        from matloop.represent.registry import get_featurizer

        featurizer = get_featurizer(named)
    else:
        from matloop.represent.pattern_features import PatternFeatureSet

        featurizer = PatternFeatureSet(**_options(dataset))
    values = attach_source_rows(dataset.frame[dataset.input].reset_index(drop=True), np.asarray(dataset.rows))
    featurizer.fit(values)
    dataset._pattern_featurizer = featurizer
    return featurizer


def pattern_features(dataset, frame: pd.DataFrame, rows: np.ndarray | None = None) -> pd.DataFrame:
    """Surrogate inputs of pattern rows: peak features of each row's pattern file, then the dataset's
    extra inputs (see the module docs). ``rows`` are the 1-based rows of the user's file, for errors."""
    from matloop.io.rows import attach_source_rows
    from matloop.represent.pattern_features import PatternFeatureSet, curve_columns

    featurizer = _fitted_featurizer(dataset)
    values = frame[dataset.input].reset_index(drop=True)
    if rows is not None:
        values = attach_source_rows(values, np.asarray(rows))
    out = pd.DataFrame(featurizer.transform(values)).reset_index(drop=True)
    if isinstance(featurizer, PatternFeatureSet):
        keep = np.setdiff1d(np.arange(out.shape[1]), curve_columns(out.columns))
        out = out.iloc[:, keep]
    extra = extra_input_features(dataset, frame, rows)
    if extra is None:
        return out
    clash = [c for c in extra.columns if c in out.columns]
    if clash:
        from matloop.errors import InputError

        raise InputError(f"extra input {clash[0]!r} has the name of a pattern feature; rename the column")
    return pd.concat([out, extra], axis=1)


def extra_input_features(dataset, frame: pd.DataFrame, rows: np.ndarray | None = None) -> pd.DataFrame | None:
    """The dataset's ``extra_inputs`` columns of ``frame`` as numbers (labels one-hot), or None when it
    has none; the encoder is fitted once, on the dataset's own rows. A column missing from ``frame``
    (a second candidates table without it) is an :class:`matloop.InputError`."""
    cols = list(getattr(dataset, "extra_inputs", None) or [])
    if not cols:
        return None
    from matloop.errors import InputError, error_table

    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise InputError(f"the extra input column(s) {', '.join(map(repr, missing))} are missing from the candidates",
                         error_table([{"row": 0, "column": c, "value": None,
                                       "reason": "an extra input of the measured table; every candidate needs it"}
                                      for c in missing]))
    encoder = getattr(dataset, "_extra_encoder", None)
    if encoder is None:
        from matloop.represent.parameter_encoder import ParameterEncoder

        encoder = ParameterEncoder(columns=cols).fit(dataset.frame[cols])
        dataset._extra_encoder = encoder
    from matloop.io.rows import attach_source_rows

    sub = frame[cols].reset_index(drop=True)
    if rows is not None:
        sub = attach_source_rows(sub, np.asarray(rows))
    return pd.DataFrame(encoder.transform(sub)).reset_index(drop=True)


def pattern_keys(dataset, frame: pd.DataFrame) -> list[str]:
    """Identity of pattern rows for replicates and the ledger: the pattern file's path, plus the extra
    inputs' values (one sample measured under two conditions is two candidates)."""
    from matloop.design.surrogate import parameter_keys

    paths = [str(v) for v in frame[dataset.input]]
    cols = [c for c in (getattr(dataset, "extra_inputs", None) or []) if c in frame.columns]
    if not cols:
        return paths
    return [f"{p}|{k}" for p, k in zip(paths, parameter_keys(frame, cols), strict=True)]
