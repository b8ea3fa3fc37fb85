"""``read_table``: a user's CSV/TSV/XLSX/JSON/Parquet file -> a validated :class:`Dataset`.

What happens, in order:

1. The file is read as written (:mod:`matloop.io.files`); wholly numeric text columns get a numeric
   dtype, nothing else is converted.
2. The input column is found (:mod:`matloop.io.detect`): formulas, SMILES or structure-file paths;
   without one, the table is a parameter table whose numeric columns are the inputs.
3. Every row is checked (:mod:`matloop.io.validate`): the input, each target (an empty target cell
   marks a candidate of the pool; ``NaN``/``inf``/text are errors) and, for parameter tables, every
   input column. All problems are collected into one :class:`matloop.InputError` table.
4. Repeated materials with conflicting targets are handled by the ``duplicates`` policy
   (:mod:`matloop.io.duplicates`).

``skip_invalid=True`` leaves bad rows out instead of raising, and keeps them, with their reasons and
their original cells, in :attr:`Dataset.skipped`.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from matloop.errors import ERROR_COLUMNS, InputError, error_table, format_error_table
from matloop.io.categorical import CASE_NOTE, case_variants, categorical_problem
from matloop.io.dataset import INPUT_KINDS, TASKS, Dataset
from matloop.io.detect import KIND_WORDS, detect_input, missing_column_message
from matloop.io.duplicates import DUPLICATE_POLICIES, Duplicates, average_replicates, find_duplicates
from matloop.io.files import other_sheets_hint, read_raw, table_stem
from matloop.io.validate import (
    NOT_A_VALUE,
    convert_numeric_columns,
    convert_target,
    number_hint,
    number_share,
    validate_categorical,
    validate_formulas,
    validate_parameters,
    validate_smiles,
    validate_structure_paths,
)

__all__ = ["TableReport", "inspect_table", "read_table"]

# status/reason: an experiment's outcome (ok | failed) and why (matloop.design.outcomes), not inputs
_BOOKKEEPING = re.compile(r"^(unnamed: ?\d+|id|index|idx|row|fold|n_replicates|status|reason|no\.?|nr\.?|#|entry"
                          r"|(sample|run|experiment|exp|row)[ _.-]?(id|no\.?|nr\.?|number|#))$", re.IGNORECASE)


@dataclass
class TableReport:
    """What :func:`inspect_table` found: the decisions it took and the problems it saw."""

    path: str
    n_read: int
    input: str | None
    kind: str
    how: str
    targets: list[str]
    tasks: dict[str, str]
    n_rows: int = 0
    n_labelled: int = 0
    n_pool: int = 0
    parameters: list[str] = field(default_factory=list)
    ignored: dict[str, str] = field(default_factory=dict)
    fold_column: str | None = None
    duplicates: Duplicates | None = None
    duplicate_policy: str = "keep"
    n_merged: int = 0
    skipped: pd.DataFrame = field(default_factory=error_table)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """A few lines for a terminal."""
        lines = [f"table:      {self.path} ({_n(self.n_read, 'data row')})"]
        if self.input is None:
            lines.append(f"input:      parameter table ({self.how}), {_n(len(self.parameters), 'input column')}: "
                         + ", ".join(self.parameters))
        else:
            lines.append(f"input:      column {self.input!r}: {KIND_WORDS[self.kind]}, kind {self.kind!r} ({self.how})")
        for col, why in self.ignored.items():
            lines.append(f"not used:   {col!r}: {why}")
        if self.targets:
            tasks = ", ".join(f"{t!r} ({self.tasks[t]})" for t in self.targets)
            lines.append(f"targets:    {tasks}")
        else:
            lines.append("targets:    none given (every row is a candidate); name them with --target")
        if self.fold_column:
            lines.append(f"folds:      column {self.fold_column!r}")
        lines.append(f"rows:       {self.n_rows} kept: {self.n_labelled} labelled, {self.n_pool} in the pool "
                     "(empty target)")
        dup = self.duplicates
        if dup is not None and dup.n_groups:
            what = "parameter setting" if self.kind == "parameters" else "material"
            lines.append(f"duplicates: {_n(dup.n_groups, what)} {'appears' if dup.n_groups == 1 else 'appear'} "
                         f"more than once ({_n(dup.n_rows, 'repeat row')}, {len(dup.conflicts)} with a different "
                         f"target); policy {self.duplicate_policy!r}"
                         + (f", {_n(self.n_merged, 'row')} merged" if self.n_merged else ""))
        else:
            lines.append("duplicates: none")
        n_skip = self.skipped["row"].nunique() if len(self.skipped) else 0
        lines.append(f"skipped:    {_n(n_skip, 'row')} with problems" if n_skip else "skipped:    none")
        lines += [f"note:       {note}" for note in self.notes]
        return "\n".join(lines)


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def read_table(
    path: str | Path,
    input: str | None = None,
    target: str | Sequence[str] | None = None,
    *,
    kind: str | None = None,
    task: str | None = None,
    skip_invalid: bool = False,
    duplicates: str = "keep",
    extra_inputs: Sequence[str] = (),
    structures_root: str | Path | None = None,
) -> Dataset:
    """Read and validate a table of materials or experiments.

    Parameters
    ----------
    path : str or Path
        A ``.csv``, ``.tsv``, ``.xlsx``, ``.json`` (or ``.jsonl``) or ``.parquet`` file; text formats
        may be compressed (``.gz``, ``.bz2``, ``.xz``).
    input : str, optional
        The column holding the material. Detected when not given: formulas, SMILES, or paths to
        CIF/POSCAR/``.vasp``/pymatgen-JSON files (relative to the table's folder). A table without
        such a column is a parameter table: its numeric non-target columns are the inputs.
    target : str or list of str, optional
        Target column(s). Empty target cells mark candidates (the pool), not errors.
    kind : {"composition", "molecule", "structure", "parameters"}, optional
        What the input is, when detection should not decide.
    task : {"regression", "classification"}, optional
        Force the task of every target (default: bools and 0/1 are classification, numbers regression).
    skip_invalid : bool
        Leave bad rows out (they are kept in :attr:`Dataset.skipped` with their reasons) instead of
        raising.
    duplicates : {"keep", "error", "mean"}
        What to do with a material that appears in several rows with different targets: keep all
        rows and emit a :class:`matloop.io.DuplicateWarning`; report them as errors; or average
        replicates into one row (adds an ``n_replicates`` column).
    extra_inputs : sequence of str
        Columns that models use beside the material's features: processing conditions (annealing
        temperature, pressure), a measured descriptor, a space-group number (numbers), or labels.
        Rows with the same material but different extra inputs are not duplicates. In a parameter
        table (no material column) they name its inputs: the other columns are not used.
    structures_root : str or Path, optional
        The folder structure files must lie in (default: the table's folder). Paths that lead
        outside it, through ``..`` or symlinks, are bad rows.

    Raises
    ------
    matloop.InputError
        With one line per problem (row, column, value, reason) for every bad row at once.
    FileNotFoundError
        When the file does not exist.
    """
    dataset, _ = inspect_table(path, input, target, kind=kind, task=task, skip_invalid=skip_invalid,
                               duplicates=duplicates, extra_inputs=extra_inputs,
                               structures_root=structures_root)
    return dataset


def _targets(target: str | Sequence[str] | None) -> list[str]:
    if target is None:
        return []
    if isinstance(target, str):
        return [target]
    return [str(t) for t in target]


def _check_options(kind: str | None, task: str | None, duplicates: str) -> None:
    if kind is not None and kind not in INPUT_KINDS:
        raise ValueError(f"kind must be one of {INPUT_KINDS}, got {kind!r}")
    if task is not None and task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if duplicates not in DUPLICATE_POLICIES:
        raise ValueError(f"duplicates must be one of {DUPLICATE_POLICIES}, got {duplicates!r}")


def _extra_inputs(names: Sequence[str], columns: pd.Index, targets: list[str], input: str | None) -> list[str]:
    """The extra input columns, checked: present, listed once, neither a target nor the input."""
    extra = [str(n) for n in ([names] if isinstance(names, str) else names)]
    missing = [n for n in extra if n not in columns]
    if missing:
        raise InputError(missing_column_message("extra input", missing, columns))
    clash = [n for n in extra if n in targets or n == input]
    if clash:
        raise InputError(f"column {clash[0]!r} cannot be both an extra input and the input or a target")
    if len(set(extra)) < len(extra):
        raise InputError(f"an extra input column is listed twice: {', '.join(extra)}")
    return extra


#: rows after the first compared with it by :func:`refuse_units_row` (a sample: tables may be huge)
UNITS_SAMPLE = 200


def refuse_units_row(raw: pd.DataFrame, rows, name: str, min_rows: int = 4, rename: bool = True) -> None:
    """A first data row holding short text in two or more columns whose next rows are numbers ('°C', 'h',
    'mol%') is a row of units under the header: refused (exit 2), since read as data it turns numeric
    columns into text and the table would be read as something else. Tables of fewer than ``min_rows``
    rows are not judged (a results file, whose columns are known, may ask with fewer); ``rename=False``:
    the column names are fixed (a campaign's results), so the advice is only to remove the row."""
    if len(raw) < min_rows:
        return
    first = raw.iloc[0]
    number = pd.to_numeric(first.astype(str).str.strip(), errors="coerce").notna().to_numpy()
    hits = []
    for i, c in enumerate(raw.columns):
        text = str(first.iloc[i]).strip() if pd.notna(first.iloc[i]) else ""
        if (not text or len(text) > 15 or number[i]
                or number_hint(text) or text.lower() in NOT_A_VALUE):  # '12,5', '<5', 'n.d.', 'n/a': not units
            continue
        rest = raw[c].iloc[1:UNITS_SAMPLE + 1]
        present = int((rest.notna() & (rest.astype(str).str.strip() != "")).sum())
        if present and pd.to_numeric(rest, errors="coerce").notna().sum() >= 0.9 * present:
            hits.append((c, text))
    if len(hits) >= 2:
        advice = (f"Put each unit in its column's name (e.g. '{hits[0][0]} ({hits[0][1]})') and remove the row"
                  if rename else "Remove the row (keep the column names as they are)")
        raise InputError(f"{name}: row {rows[0]} holds text ({', '.join(repr(t) for _, t in hits[:6])}) in columns "
                         f"whose next rows are numbers: a row of units? {advice}",
                         error_table([{"row": int(rows[0]), "column": c, "value": t,
                                       "reason": "text above numbers (a unit?)"} for c, t in hits]))


def _fold_column(frame: pd.DataFrame, exclude: set[str]) -> str | None:
    for col in frame.columns:
        if col.lower() == "fold" and col not in exclude:
            s = frame[col]
            if pd.api.types.is_integer_dtype(s) and s.notna().all() and (s >= 0).all():
                return col
    return None


def _parameter_columns(frame: pd.DataFrame, exclude: set[str]) -> tuple[list[str], dict[str, str]]:
    params, ignored = [], {}
    for col in frame.columns:
        if col in exclude:
            continue
        s = frame[col]
        if _BOOKKEEPING.match(col):
            ignored[col] = "identifier or bookkeeping column, not an input"
        elif s.isna().all():
            ignored[col] = "empty column"
        elif pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            params.append(col)
        elif number_share(s) >= 0.5:
            params.append(col)  # mostly numbers: an input, and its odd cells are row errors
        elif (why := categorical_problem(s)) is None:
            params.append(col)  # repeated labels or SMILES: a categorical input (design.encode encodes it)
        else:
            ignored[col] = why
    return params, ignored


def inspect_table(
    path: str | Path,
    input: str | None = None,
    target: str | Sequence[str] | None = None,
    *,
    kind: str | None = None,
    task: str | None = None,
    skip_invalid: bool = False,
    duplicates: str = "keep",
    extra_inputs: Sequence[str] = (),
    structures_root: str | Path | None = None,
    pattern_options: dict | None = None,
) -> tuple[Dataset, TableReport]:
    """:func:`read_table`, also returning a :class:`TableReport` of what was decided and found.

    ``pattern_options`` (``unit``, ``wavelength``) say how pattern files (kind ``pattern``) are read."""
    _check_options(kind, task, duplicates)
    path = Path(path)
    raw, rows = read_raw(path)
    if raw.empty:
        raise InputError(f"{path.name} has no data rows")
    refuse_units_row(raw, rows, path.name)
    targets = _targets(target)
    missing = [t for t in targets if t not in raw.columns]
    if missing:
        raise InputError(missing_column_message("target", missing, raw.columns) + other_sheets_hint(path, missing))
    if input is not None and input in targets:
        raise InputError(f"column {input!r} cannot be both the input and a target")

    extra = _extra_inputs(extra_inputs, raw.columns, targets, input)
    frame = convert_numeric_columns(raw, skip=set(targets) | ({input} if input else set()))
    fold = _fold_column(frame, set(targets) | {input})
    exclude = set(targets) | ({fold} if fold else set()) | set(extra)
    column, kind, how = detect_input(frame, exclude, input, kind, extra_inputs=bool(extra))

    records: list[dict] = []
    tasks: dict[str, str] = {}
    for t in targets:
        frame[t], tasks[t], recs = convert_target(raw[t], t, rows, task)
        records += recs

    ignored: dict[str, str] = {}
    params: list[str] = []
    if kind == "parameters":
        params, ignored = _parameter_columns(frame, exclude - set(extra))
        if extra:  # a process table's inputs named: the other columns (a property recorded, notes) are not used
            ignored = {**{c: "not among the inputs named by --extra-inputs" for c in params if c not in extra},
                       **{c: why for c, why in ignored.items() if c not in extra}}
            params, extra = extra, []
        if not params:
            raise InputError(
                "found no input: no column holds formulas, SMILES or structure file paths, and no numeric "
                f"column is left for a parameter table (columns: {', '.join(map(repr, raw.columns))}); "
                "name the input column with --input COL (Python: input='COL')"
            )
        numeric = [p for p in params if categorical_problem(frame[p]) is not None or number_share(frame[p]) >= 0.5]
        frame, recs = validate_parameters(frame, numeric, rows)
        records += recs + validate_categorical(frame, [p for p in params if p not in numeric], rows)
        shown = pd.Series([", ".join(f"{p}={v:g}" if isinstance(v, float) else f"{p}={v}" for p, v in zip(
            params, vals, strict=True)) for vals in frame[params].itertuples(index=False)], dtype=object)
        keys = [tuple(vals) for vals in frame[params].itertuples(index=False)]
        shown_column = "parameters"
    else:
        values = raw[column]
        if kind == "composition":
            keys, recs = validate_formulas(values, column, rows)
        elif kind == "molecule":
            keys, recs = validate_smiles(values, column, rows)
        elif kind == "pattern":  # every file is read now: a bad file or line is a row error (io.pattern_table)
            from matloop.io.pattern_table import validate_pattern_paths

            keys, recs = validate_pattern_paths(values, column, rows, path.resolve().parent,
                                                skip_invalid=skip_invalid, **(pattern_options or {}))
            frame[column] = [k if k is not None else v for k, v in zip(keys, values, strict=True)]
        else:
            keys, recs = validate_structure_paths(values, column, rows, path.resolve().parent,
                                                  root=structures_root)
            frame[column] = [k if k is not None else v for k, v in zip(keys, values, strict=True)]
        records += recs
        shown, shown_column = values, column
        for col in frame.columns:  # say so: a number beside the material is not used unless asked
            if col not in exclude and col != column and not _BOOKKEEPING.match(str(col)) and \
                    pd.api.types.is_numeric_dtype(frame[col]) and not pd.api.types.is_bool_dtype(frame[col]):
                ignored[col] = ("numeric column beside the material, not used; --extra-inputs COL adds it to the "
                                "features, --kind parameters reads the table as a process table")
        if extra:  # numbers, or categorical labels (encoded by the model: represent.parameter_encoder)
            labels = [c for c in extra if number_share(frame[c]) < 0.5 and categorical_problem(frame[c]) is None]
            frame, recs = validate_parameters(frame, [c for c in extra if c not in labels], rows, extra=True)
            records += recs + validate_categorical(frame, labels, rows)
            keys = [None if k is None else (k, *vals) for k, vals in
                    zip(keys, frame[extra].itertuples(index=False), strict=True)]

    bad = np.isin(rows, [r["row"] for r in records])
    if bad.any():
        keys = [None if b else k for k, b in zip(keys, bad, strict=True)]
    dup = find_duplicates(keys, frame[targets], rows, shown_column, shown)
    if duplicates == "error":
        records += dup.conflicts.to_dict("records")
    elif duplicates == "mean":  # numbers are averaged; differing class labels cannot be
        clf = [t for t in targets if tasks[t] == "classification"]
        clash = find_duplicates(keys, frame[clf], rows, shown_column, shown).conflicts if clf else error_table()
        records += [{**r, "reason": r["reason"] + "; class labels cannot be averaged"}
                    for r in clash.to_dict("records")]
    elif len(dup.conflicts):
        warnings.warn(dup.warning("parameter setting" if kind == "parameters" else "material"), stacklevel=3)

    records.sort(key=lambda r: (r["row"], str(r["column"])))
    if records and not skip_invalid:
        n_rows = len({r["row"] for r in records})
        hint = ""
        if kind == "parameters" and any(r["column"] in params for r in records):
            hint = (" (parameter tables use every numeric column except the targets as an input, unless "
                    "--extra-inputs names the inputs)")
        if hint:
            hint += _outcome_hint(frame, params, targets)
        raise InputError(
            f"{path.name}: {n_rows} of {len(frame)} rows have problems{hint}; fix them, or leave them out "
            "with --skip-invalid (Python: skip_invalid=True)", error_table(records))

    skipped = _skipped_table(records, raw, rows)
    keep = ~np.isin(rows, [r["row"] for r in records])
    frame, kept_rows = frame.loc[keep].reset_index(drop=True), rows[keep]
    if not keep.all():  # (a list of 10^6 keys costs more than reading them)
        keys = [k for k, b in zip(keys, keep, strict=True) if b]
    shown = pd.Series(shown).loc[keep].reset_index(drop=True)
    n_merged = 0
    if duplicates == "mean":
        dup_kept = find_duplicates(keys, frame[targets], kept_rows, shown_column, shown)
        n_before = len(frame)
        frame, kept_rows = average_replicates(frame, kept_rows, dup_kept.groups,
                                              [t for t in targets if tasks[t] == "regression"])
        n_merged = n_before - len(frame)

    dataset = Dataset(
        frame=frame, input=column, kind=kind, targets=targets,
        task=tasks[targets[0]] if targets else "regression",
        name=table_stem(path), provenance=f"read from {path}", fold_column=fold,
        rows=kept_rows, skipped=skipped, parameters=params if kind == "parameters" else None,
        extra_inputs=extra,
        pattern_options={**(pattern_options or {}), "skip_invalid": skip_invalid} if kind == "pattern" else None,
    )
    labelled = int(dataset.labelled.sum()) if targets else 0
    report = TableReport(
        path=str(path), n_read=len(raw), input=column, kind=kind, how=how, targets=targets, tasks=tasks,
        n_rows=len(frame), n_labelled=labelled, n_pool=len(frame) - labelled, parameters=params,
        ignored=ignored, fold_column=fold, duplicates=dup, duplicate_policy=duplicates, n_merged=n_merged,
        skipped=skipped, notes=_label_notes(frame, params if kind == "parameters" else list(extra)),
    )
    return dataset, report


def _label_notes(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    """Text input columns whose labels differ only in upper/lower case (``matloop check`` says so)."""
    out = []
    for col in columns:
        if col in frame and categorical_problem(frame[col]) is None and (alike := case_variants(frame[col].dropna())):
            out.append(f"{col}: {alike} {CASE_NOTE}")
    return out


def _skipped_table(records: list[dict], raw: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    """The error records followed by each bad row's original cells."""
    errors = error_table(records)
    position = {int(r): i for i, r in enumerate(rows)} if records else {}
    original = raw.iloc[[position[int(r)] for r in errors["row"]]].reset_index(drop=True)
    original.columns = [f"{c} (original)" if c in ERROR_COLUMNS else c for c in original.columns]
    return pd.concat([errors, original], axis=1)


def format_skipped(skipped: pd.DataFrame) -> str:
    """The reasons part of a skipped table, for a terminal."""
    return format_error_table(skipped[ERROR_COLUMNS])


def _outcome_hint(frame: pd.DataFrame, params: list[str], targets: list[str]) -> str:
    """A parameter column that is empty in most rows, or on every candidate (a row whose targets are empty),
    reads like an outcome not measured yet: say so, since the usual cause is an objective the command was
    not told about (a second goal, a wrong goal column) or a property recorded but not optimised."""
    open_rows = frame[targets].isna().all(axis=1).to_numpy() if targets else np.zeros(len(frame), dtype=bool)
    blank = [c for c in params if c in frame and (frame[c].isna().mean() > 0.5 or (
        open_rows.any() and frame[c].isna().to_numpy()[open_rows].all()))]
    if not blank:
        return ""
    names = ", ".join(map(repr, blank[:5])) + (f" and {len(blank) - 5} more" if len(blank) > 5 else "")
    return (f". {names} {'is' if len(blank) == 1 else 'are'} empty on the candidates or most rows, as an outcome "
            "not measured yet would be: if so, name each objective (--goal COL:max, --goal COL:min) or target, or the inputs with "
            "--extra-inputs COL,COL..., so that it is not read as an input")
