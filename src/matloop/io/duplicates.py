"""The same material measured more than once: find it, and apply the user's policy.

Real tables hold repeated materials legitimately: polymorphs that share a composition (Matbench
jdft2d has 41 such compositions with different exfoliation energies), replicate measurements in
process data. Repeats with *conflicting* targets matter: they leak between cross-validation folds and
cap the achievable error. The policy is the user's choice:

``keep`` (default)
    keep every row; warn with a :class:`DuplicateWarning` that lists the conflicting rows.
``error``
    conflicting rows become rows of the :class:`~matloop.InputError` table.
``mean``
    replicates are averaged into one row (regression targets), with an ``n_replicates`` column.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from matloop.errors import error_table, format_error_table
from matloop.io.compat import writable_array

__all__ = ["DUPLICATE_POLICIES", "DuplicateWarning", "Duplicates", "average_replicates", "find_duplicates"]

DUPLICATE_POLICIES = ("keep", "error", "mean")


class DuplicateWarning(UserWarning):
    """The same material appears in several rows with different targets.

    Attributes
    ----------
    table : pandas.DataFrame
        The conflicting rows (columns row, column, value, reason).
    """

    def __init__(self, message: str, table: pd.DataFrame | None = None):
        super().__init__(message)
        self.table = error_table() if table is None else table


@dataclass
class Duplicates:
    """Groups of rows (positions) that hold the same material, and the conflicts among them."""

    groups: list[np.ndarray]
    conflicts: pd.DataFrame  # error table: one line per row that disagrees with its group's first row

    @property
    def n_groups(self) -> int:
        """Number of materials that appear more than once among the labelled rows."""
        return len(self.groups)

    @property
    def n_rows(self) -> int:
        """Number of labelled rows that repeat an earlier row's material."""
        return int(sum(len(g) - 1 for g in self.groups))

    def warning(self, what: str = "material") -> DuplicateWarning:
        """A readable warning listing the conflicting rows (``what``: material, parameter setting...)."""
        n = len(self.conflicts)
        msg = (f"{n} row{'s' if n != 1 else ''} repeat{'s' if n == 1 else ''} an earlier row's {what} with a "
               f"different target; all rows are kept (duplicates='mean' averages replicates, "
               f"duplicates='error' rejects them):\n{format_error_table(self.conflicts)}")
        return DuplicateWarning(msg, self.conflicts)


def _fmt(value: object) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{float(value):g}"
    return str(value)


def find_duplicates(keys: list, targets: pd.DataFrame, rows: np.ndarray, column: str,
                    shown: pd.Series) -> Duplicates:
    """Group labelled rows by material key and list those whose targets differ from the first.

    Parameters
    ----------
    keys : list
        One hashable key per row (``None`` for rows that are not checked: bad or unlabelled rows).
    targets : DataFrame
        The converted target columns (may have no columns: then nothing can conflict).
    rows : array
        1-based source row numbers.
    column, shown : str, Series
        Column name and per-row value to show in the conflict table (the material as written).
    """
    key_series = pd.Series(keys, dtype=object)
    valid = writable_array(key_series.notna(), dtype=bool)  # copy-on-write: to_numpy() may be read-only
    if len(targets.columns):
        valid &= targets.notna().all(axis=1).to_numpy(dtype=bool)
    codes = np.full(len(keys), -1, dtype=np.int64)
    if valid.any():
        codes[valid] = pd.factorize(key_series[valid])[0]
    counts = np.bincount(codes[valid], minlength=codes.max() + 1) if valid.any() else np.zeros(0, int)
    repeated = np.flatnonzero(counts > 1)
    groups: list[np.ndarray] = []
    records: list[dict] = []
    if len(repeated):
        order = np.argsort(codes, kind="stable")
        order = order[np.isin(codes[order], repeated)]  # members of repeated groups, grouped, in row order
        sorted_codes = codes[order]
        starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
        groups = np.split(order, starts[1:])
        first = order[np.repeat(starts, np.diff(np.r_[starts, len(order)]))]  # group's first row, per member
        later = first != order
        members, firsts = order[later], first[later]
        differs = np.zeros(len(members), dtype=bool)
        cols = {t: targets[t].to_numpy(dtype=object) for t in targets.columns}
        for vals in cols.values():
            differs |= vals[members] != vals[firsts]
        shown_values = shown.to_numpy(dtype=object)
        for m, f in zip(members[differs].tolist(), firsts[differs].tolist(), strict=True):
            diffs = [(t, v[f], v[m]) for t, v in cols.items() if v[f] != v[m]]
            if len(cols) == 1:
                what = f"{_fmt(diffs[0][1])} vs {_fmt(diffs[0][2])}"
            else:
                what = "; ".join(f"{t}: {_fmt(a)} vs {_fmt(b)}" for t, a, b in diffs)
            records.append({"row": int(rows[m]), "column": column, "value": shown_values[m],
                            "reason": f"duplicate of row {int(rows[f])} with a different target ({what})"})
    conflicts = error_table(sorted(records, key=lambda r: r["row"]))
    return Duplicates(groups, conflicts)


def average_replicates(frame: pd.DataFrame, rows: np.ndarray, groups: list[np.ndarray],
                       targets: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """Average the targets of each group into its first row; add ``n_replicates``.

    Other columns keep the first row's values. Returns the new frame and its source row numbers
    (each merged row keeps the number of its first row).
    """
    frame = frame.copy()
    n_rep = np.ones(len(frame), dtype=np.int64)
    drop = np.zeros(len(frame), dtype=bool)
    # whole float columns are assigned: pandas 3 refuses to set 1.5 into an int64 column cell by cell
    means = {t: frame[t].to_numpy(dtype=float, copy=True) for t in targets}
    for members in groups:
        for values in means.values():
            values[members[0]] = float(np.mean(values[members]))  # members are labelled: no NaN
        n_rep[members[0]] = len(members)
        drop[members[1:]] = True
    for t, values in means.items():
        frame[t] = values
    frame["n_replicates"] = n_rep
    keep = ~drop
    return frame.loc[keep].reset_index(drop=True), np.asarray(rows)[keep]
