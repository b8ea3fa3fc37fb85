"""Ordinal outcomes: a goal given as text labels in a known order (``--target-order``).

A crystallisation screen scores each vial ``clear_solution < fine_powder < small_crystallites <
large_crystallites``; the labels are the measurement, and their order is the scientist's. With
``--target-order clear_solution,fine_powder,small_crystallites,large_crystallites`` (worst to
best) every label becomes its position, 0, 1, 2, ..., and the goal is to maximise that score.

Failures are decided on the labels first (``--failed-if "crystal_score == 'clear_solution'"`` or a
``status`` column), so that the rule reads the table as the user wrote it; only the rows that did
not fail are scored (a failed row keeps its label and is never a measurement). A label that is not
in the order, on a row that did not fail, is a bad row (an :class:`~matloop.errors.InputError`
naming it), never a silent blank: a blank would make a measured row a candidate again.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from matloop.errors import InputError, error_table

__all__ = ["parse_order", "score_labels", "order_words", "text_goal_column", "config_note"]


def parse_order(text: str | list[str]) -> list[str]:
    """``"a,b,c"`` (worst to best) -> ``["a", "b", "c"]``: at least 2 distinct, non-empty labels."""
    order = [s.strip() for s in (text.split(",") if isinstance(text, str) else text) if str(s).strip()]
    if len(order) < 2 or len(set(order)) < len(order):
        raise InputError(f"--target-order needs at least 2 distinct labels, worst to best, separated by commas; "
                         f"got {text!r}")
    return order


def _empty(v) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v)) or (isinstance(v, str) and not v.strip())


def score_labels(frame: pd.DataFrame, column: str, order: list[str], rows=None,
                 failed_if: str | None = None) -> pd.DataFrame:
    """A copy of ``frame`` whose ``column`` holds the labels' scores (0 = worst) on the rows that did
    not fail; failed rows (``status`` or ``failed_if``, decided on the labels) keep their label.

    Raises :class:`InputError` (every bad row) for a label outside ``order`` on a row that did not fail.
    """
    from matloop.design.outcomes import STATUS_COLUMN, failure_outcomes

    if column not in frame.columns:
        raise InputError(f"--target-order: the table has no column {column!r}")
    rows = np.arange(1, len(frame) + 1) if rows is None else np.asarray(rows)
    failed = (failure_outcomes(frame, rows, failed_if)[0] if failed_if is not None or STATUS_COLUMN in frame.columns
              else np.zeros(len(frame), dtype=bool))
    index = {label: i for i, label in enumerate(order)}
    cells = frame[column].to_numpy(dtype=object)
    out = np.empty(len(cells), dtype=object)
    problems = []
    for i, v in enumerate(cells):
        if failed[i]:
            out[i] = v
        elif _empty(v):
            out[i] = np.nan
        elif str(v).strip() in index:
            out[i] = float(index[str(v).strip()])
        else:
            problems.append({"row": int(rows[i]), "column": column, "value": v,
                             "reason": f"not one of the --target-order labels ({', '.join(order)})"})
    if problems:
        raise InputError(f"{len(problems)} rows of {column!r} hold a label outside --target-order (rows that "
                         "failed may hold any label)", error_table(problems[:200]))
    frame = frame.copy()
    frame[column] = pd.to_numeric(pd.Series(out, index=frame.index), errors="coerce") if not failed.any() else out
    return frame


def order_words(column: str, order: list[str]) -> str:
    """``crystal_score scored clear_solution=0 < fine_powder=1 < ...`` (for output and status)."""
    return f"{column} scored " + " < ".join(f"{label}={i}" for i, label in enumerate(order))


def text_goal_column(frame: pd.DataFrame, goal_columns: list[str]) -> str:
    """The goal an order applies to: the only goal, else the only goal column that holds text."""
    if len(goal_columns) == 1:
        return goal_columns[0]
    texty = [c for c in goal_columns if c in frame.columns and not pd.api.types.is_numeric_dtype(frame[c])
             and pd.to_numeric(frame[c], errors="coerce").isna().sum() > frame[c].isna().sum()]
    if len(texty) != 1:
        raise InputError("--target-order applies to the goal whose column holds text labels; "
                         + (f"several do ({', '.join(texty)})" if texty else "none of the goals "
                            f"({', '.join(goal_columns)}) holds text labels"))
    return texty[0]


def config_note(config: dict) -> str:
    """What follows "maximise" in a campaign's goal line when the goal is ordinal (else ``""``):
    `` the ordinal score (clear_solution=0 < fine_powder=1 < ...) of`` (the column name comes next)."""
    order = config.get("target_order")
    if not order:
        return ""
    return " the ordinal score (" + " < ".join(f"{label}={i}" for i, label in enumerate(order["labels"])) + ") of"


def order_labels(config: dict) -> list[str] | None:
    """A campaign's ordinal goal's labels, worst to best (None without ``--target-order``)."""
    return (config.get("target_order") or {}).get("labels")


def top_score(labels, objective) -> float | None:
    """A maximised ordinal goal's best score (its ``labels``, worst to best, scored 0, 1, 2, ...), else None
    (no labels, or minimised): once a result reaches it, :func:`matloop.design.suggest.rank_candidates` ranks
    by the chance of reaching it again. The one rule of ``suggest``, ``campaign`` and ``benchmark campaign``."""
    return len(labels) - 1.0 if labels and objective.direction == "max" else None
