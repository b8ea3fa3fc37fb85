"""The columns a suggestion writes, and the table's own columns that share their names.

A batch file holds every column of the chosen rows as given, then ``prediction``, ``std``,
``acquisition``, ``rank``, ``reason`` (and ``p_success``, ``p_feasible``, ``p_nondominated``, ``ehvi``,
``{goal}_pred``/``{goal}_std`` where they apply). A table column of one of those names would be
overwritten: an input of that name is refused (:func:`check_input_names`; its values in the batch
would be replaced, and a campaign could not match its results), any other is kept as
``'<name> (table)'`` (:func:`keep_table_columns`, :func:`table_columns_kept`). A campaign's batch file
also holds each goal (and outcome-constraint) column, blank, before matloop's columns
(:func:`with_result_columns`): the file is filled in and recorded as it is.
"""

from __future__ import annotations

import pandas as pd

from matloop.errors import InputError, error_table

#: the columns every suggestion writes (the CLI contract)
OUTPUT_COLUMNS = ["prediction", "std", "acquisition", "rank", "reason"]
#: columns a suggestion may add besides :data:`OUTPUT_COLUMNS` (failures, constraints, several goals)
MORE_OUTPUT_COLUMNS = ["p_success", "p_feasible", "p_nondominated", "ehvi"]
#: a table's own column named like an output column, kept in the output under this name
TABLE_COLUMN = "{} (table)"


def written_columns(goal_columns=()) -> set[str]:
    """Every column name a suggestion writes beside the table's own (``{goal}_pred``/``_std`` of each goal)."""
    return {*OUTPUT_COLUMNS, *MORE_OUTPUT_COLUMNS, *(f"{g}_{s}" for g in goal_columns for s in ("pred", "std"))}


def check_input_names(inputs, goal_columns=(), what: str = "suggest", role: str = "input column") -> None:
    """An input column named like a column the suggestion writes (``rank``, ``std``, ...) is an error
    (exit 2): its values in the batch would be replaced, and a campaign could not match its results."""
    clash = [c for c in inputs if c in written_columns(goal_columns)]
    if clash:
        raise InputError(f"the {role} {clash[0]!r} has the name of a column {what} writes (its own "
                         f"{', '.join(repr(c) for c in clash)}): rename it in the table (e.g. {clash[0] + '_in_table'!r})",
                         error_table([{"row": 0, "column": c, "value": None, "reason": "name taken by the output"}
                                      for c in clash]))


def check_campaign_columns(frame: pd.DataFrame, outcomes, goals=None) -> None:
    """A campaign keeps every column of its pool table in its batches and reads them back: any of them
    (the goals, constraints and the failure ``status``/``reason`` aside) named like an output column is
    an error (:func:`check_input_names`). So is a goal with a value on every row among several (a cost
    known before the experiment): a campaign records goals as results, so no row would be left to measure."""
    from matloop.design.outcomes import REASON_COLUMN, STATUS_COLUMN

    skip = {*outcomes, STATUS_COLUMN, REASON_COLUMN}
    check_input_names([c for c in map(str, frame.columns) if c not in skip], list(outcomes), "campaign suggest",
                      "pool table's column")
    cols = [g.column for g in goals or []]
    known = [c for c in cols if len(cols) > 1 and pd.to_numeric(frame[c], errors="coerce").notna().all()]
    if known:
        raise InputError(f"the goal {known[0]!r} has a value on every row of the pool table (known before the "
                         "experiment, as a computed cost is): a campaign records goals as results, so no row would be "
                         "left to measure. Use matloop suggest on the table (it takes a known goal as given at each "
                         "candidate), or leave the goal blank on the rows still to measure")


def keep_table_columns(frame: pd.DataFrame, goal_columns=()) -> pd.DataFrame:
    """``frame`` with its own columns named like an output column renamed ``'<name> (table)'``, so the
    batch keeps them beside matloop's instead of losing them (:func:`table_columns_kept`)."""
    clash = [c for c in frame.columns if c in written_columns(goal_columns)]
    return frame.rename(columns={c: TABLE_COLUMN.format(c) for c in clash}) if clash else frame


def output_candidates(dataset, frame: pd.DataFrame, goal_columns=(), targets=()) -> pd.DataFrame:
    """The candidates ``frame`` of ``dataset`` ready for a batch file: its inputs and ``targets`` (the goal
    columns) checked (:func:`check_input_names`), its other columns kept (:func:`keep_table_columns`)."""
    check_input_names([*model_inputs(dataset), *targets, *goal_columns], goal_columns)
    return keep_table_columns(frame, goal_columns)


def table_columns_kept(chosen: pd.DataFrame) -> pd.DataFrame:
    """The batch without the renamed table columns that are blank on every chosen row (a failure ``reason``
    column beside candidates that never failed); a note on stderr names the others."""
    renamed = [c for c in chosen.columns if isinstance(c, str) and c.endswith(TABLE_COLUMN.format(""))]
    blank = [c for c in renamed if (chosen[c].isna() | (chosen[c].astype(str).str.strip() == "")).all()]
    kept = [c for c in renamed if c not in blank]
    if kept:
        from matloop.progress import say

        say(f"note: the table's own column(s) {', '.join(repr(c) for c in kept)} keep their values under these "
            "names (matloop writes its own columns of those names)")
    if not blank:
        return chosen
    out = chosen.drop(columns=blank)
    out.attrs.update(chosen.attrs)
    return out


def model_inputs(dataset) -> list[str]:
    """The columns a model of ``dataset`` reads: the parameters of a process table, else the material
    column and the ``--extra-inputs``."""
    if dataset.kind == "parameters":
        return list(dataset.parameter_columns)
    return [c for c in [dataset.input, *dataset.extra_inputs] if c]


def with_result_columns(chosen: pd.DataFrame, columns) -> pd.DataFrame:
    """``chosen`` with a blank column for each of ``columns`` it lacks (the results to fill in), placed
    before the first column matloop writes."""
    missing = [c for c in columns if c not in chosen.columns]
    if not missing:
        return chosen
    ours = written_columns(columns)
    at = next((i for i, c in enumerate(chosen.columns) if c in ours), len(chosen.columns))
    out = chosen.copy()
    for j, c in enumerate(missing):
        out.insert(at + j, c, float("nan"))
    return out


def multi_output_columns(goals, constrained: bool = False) -> list[str]:
    """Columns a multi-goal suggestion adds to the chosen rows, in order."""
    cols = [c for g in goals for c in (f"{g.column}_pred", f"{g.column}_std")]
    return [*cols, "p_nondominated", "ehvi", *(["p_feasible"] if constrained else []), "acquisition", "rank",
            "reason"]
