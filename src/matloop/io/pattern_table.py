"""Tables whose input is a diffraction pattern file per row (the ``pattern`` input kind).

:func:`validate_pattern_paths` is what :func:`matloop.io.read_table` does with a pattern column: every
cell is resolved against the table's folder and the file is read (:func:`matloop.io.patterns.read_pattern`)
so that a missing file, a bad line or an axis that is not rising is a row error at once (row, column,
value, reason with the file's line number), never a failure halfway through a fit. With
``skip_invalid`` bad data *lines* are dropped and counted per file (a warning says how many and which),
and files that still cannot be read are bad rows.

:func:`folder_table` makes the table for ``--patterns DIR``: one row per pattern file, labelled by the
sub-folder it sits in; files that are not patterns are returned for the caller to report.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from matloop.io.patterns import CU_KALPHA1, PatternProblem, read_pattern

__all__ = ["PatternLinesDropped", "folder_table", "validate_pattern_paths"]


class PatternLinesDropped(UserWarning):
    """Bad data lines left out of pattern files with ``skip_invalid`` (the message lists them per file)."""


def validate_pattern_paths(values: pd.Series, column: str, rows: np.ndarray, base_dir: Path,
                           unit: str = "2theta", wavelength: float | None = CU_KALPHA1,
                           skip_invalid: bool = False) -> tuple[list[str | None], list[dict]]:
    """(absolute path or None per row, error records); see the module docs."""
    keys: list[str | None] = []
    records: list[dict] = []
    dropped: list[str] = []
    for row, value in zip(rows, values, strict=True):
        reason = None
        path = None
        if not isinstance(value, str) or not value.strip():
            reason = "empty cell: no pattern file named"
        else:
            path = Path(value.strip())
            if not path.is_absolute():
                path = base_dir / path
            try:
                if not path.is_file():
                    reason = f"pattern file not found: {path}" if not path.exists() else f"not a file: {path}"
                else:
                    pattern = read_pattern(path, unit=unit, wavelength=wavelength, skip_invalid=skip_invalid)
                    lines = pattern.meta.get("dropped_lines") or []
                    if lines:
                        shown = ", ".join(map(str, lines[:10])) + (" ..." if len(lines) > 10 else "")
                        dropped.append(f"row {int(row)} {path.name}: {len(lines)} line{'s' if len(lines) != 1 else ''} "
                                       f"({shown})")
            except (PatternProblem, OSError, ValueError) as exc:
                reason = f"{path.name}: {exc}" if not isinstance(exc, OSError) else \
                    f"cannot read {path}: {exc.strerror or exc}"
            except Exception as exc:  # an InputError of the guard (size, encoding)
                reason = getattr(exc, "message", None) or str(exc)
        if reason is not None:
            records.append({"row": int(row), "column": column, "value": value, "reason": reason})
            keys.append(None)
        else:
            keys.append(str(path.resolve()))
    if dropped:
        total = len(dropped)
        warnings.warn(PatternLinesDropped(
            f"--skip-invalid left out bad data lines of {total} pattern file{'s' if total != 1 else ''}: "
            + "; ".join(dropped[:20]) + (f"; ... and {total - 20} more files" if total > 20 else "")), stacklevel=2)
    return keys, records


def folder_table(folder: str | Path, target: str) -> tuple[pd.DataFrame, list[str]]:
    """A ``file, <target>`` table of the pattern files under ``folder`` (label = sub-folder name) and
    the other files found there (relative paths), which the caller must report."""
    from matloop.errors import InputError
    from matloop.io.patterns import index_folder

    files, labels, other = index_folder(folder)
    if all(label is None for label in labels):
        raise InputError(f"{folder}: the pattern files are not in sub-folders, so they have no labels; put each "
                         "class's files in a sub-folder named after the class, or give a table with a file column")
    return pd.DataFrame({"file": [str(Path(f).resolve()) for f in files], target: labels}), other
