"""Failed experiments in a table: the ``status`` column and the ``--failed-if`` rule.

A synthesis that fails (no crystals, phase separation, a film that peels off) is data, not a
missing value: it must be neither proposed again nor read as a measurement of the target. A row
is a failure when

- its ``status`` cell is ``failed`` (``ok`` or an empty cell: not a failure; any other text is a
  bad row), with an optional ``reason`` cell saying why; or
- its outcome matches the campaign's failure rule, e.g. ``crystal_score == 'clear_solution'``
  (:class:`FailureRule`).

:class:`FailureRule` parses the rule with :mod:`ast` into a whitelisted expression (as the design
space's constraints, :class:`matloop.design.space.Constraint`), never ``eval``: column names,
numbers and quoted text, ``== != < <= > >=``, ``in`` / ``not in`` a list or tuple of constants, and
``and`` / ``or`` / ``not``. A column name that is not a Python identifier (``gap expt``) is written
as it is: the known column names are matched in the text, longest first, before parsing.
"""

from __future__ import annotations

import ast
import math
import operator

import numpy as np
import pandas as pd

from matloop.design.expression_names import protect_names
from matloop.errors import InputError, error_table

STATUS_COLUMN = "status"
REASON_COLUMN = "reason"
STATUS_VALUES = ("ok", "failed")

_CMP = {ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge}


def _rule_error(text: str, reason: str) -> InputError:
    return InputError(f"cannot use the failure rule {text!r}: {reason}",
                      error_table([{"row": 0, "column": "--failed-if", "value": text, "reason": reason}]))


class FailureRule:
    """A safe boolean rule over a table's outcome columns; ``rule(frame)`` is the mask of failures.

    Text is compared as text (cells stripped), numbers as numbers; an empty cell never matches. A
    numeric comparison (``<``, ``>``, ``== 3``) on a cell that is not a number is a bad row (an
    :class:`InputError` naming it), never a silent ``False``.
    """

    def __init__(self, text: str, columns: list[str] | None = None):
        self.text = str(text).strip()
        if not self.text:
            raise _rule_error(text, "the rule is empty")
        # placeholder -> column name: columns that are not identifiers or are Python keywords (``yield``)
        source, self.names = protect_names(self.text, columns or ())
        try:
            self.tree = ast.parse(source, mode="eval").body
        except SyntaxError as exc:
            raise _rule_error(self.text, f"not a valid expression ({exc.msg}); write e.g. "
                                         "\"crystal_score == 'clear_solution'\" or \"yield < 5\"") from None
        self._check(self.tree, None if columns is None else set(map(str, columns)))

    def column(self, name: str) -> str:
        return self.names.get(name, name)

    def columns(self) -> list[str]:
        """The columns the rule reads."""
        return sorted({self.column(n.id) for n in ast.walk(self.tree) if isinstance(n, ast.Name)})

    def _check(self, node, known: set[str] | None) -> None:
        allowed = (ast.Compare, ast.BoolOp, ast.UnaryOp, ast.Not, ast.USub, ast.Name, ast.Constant, ast.Load,
                   ast.And, ast.Or, ast.List, ast.Tuple, ast.Eq, ast.NotEq, ast.In, ast.NotIn, *_CMP)
        for sub in ast.walk(node):
            if not isinstance(sub, allowed):
                raise _rule_error(self.text, f"{type(sub).__name__} is not allowed (only comparisons of columns "
                                             "with numbers or quoted text, 'in', 'and', 'or', 'not')")
            if isinstance(sub, ast.Name) and known is not None and self.column(sub.id) not in known:
                raise _rule_error(self.text, f"no column {self.column(sub.id)!r} (columns: {sorted(known)})")
            if isinstance(sub, ast.Constant) and (isinstance(sub.value, bool) or
                                                  not isinstance(sub.value, int | float | str)):
                raise _rule_error(self.text, "constants must be numbers or quoted text")
            if isinstance(sub, ast.UnaryOp) and isinstance(sub.op, ast.USub) and not (
                    isinstance(sub.operand, ast.Constant) and isinstance(sub.operand.value, int | float)):
                raise _rule_error(self.text, "a minus sign may only precede a number")
            if isinstance(sub, ast.Compare):
                for left, op, right in zip([sub.left, *sub.comparators[:-1]], sub.ops, sub.comparators, strict=True):
                    if isinstance(op, ast.In | ast.NotIn):
                        if not isinstance(right, ast.List | ast.Tuple) or not isinstance(left, ast.Name):
                            raise _rule_error(self.text, "write 'COLUMN in (value, value, ...)'")
                    elif not (isinstance(left, ast.Name) ^ isinstance(right, ast.Name)):
                        both = isinstance(left, ast.Name) and isinstance(right, ast.Name)  # phase == amorphous
                        hint = (f"; is {self.column(right.id)!r} a label? put text in quotes: "
                                f"{self.column(left.id)} == '{self.column(right.id)}'") if both else ""
                        raise _rule_error(self.text, "each comparison needs one column and one constant" + hint)
        if not isinstance(node, ast.Compare | ast.BoolOp) and not (
                isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)):
            raise _rule_error(self.text, "the rule must be a comparison such as \"yield < 5\"")

    def __call__(self, frame: pd.DataFrame, rows: list[int] | np.ndarray | None = None) -> np.ndarray:
        """The failures among ``frame``'s rows (``rows``: their 1-based file rows, for errors)."""
        missing = [c for c in self.columns() if c not in frame.columns]
        if missing:
            raise InputError(f"the failure rule {self.text!r} reads columns the table lacks", error_table(
                [{"row": 0, "column": c, "value": None,
                  "reason": f"column missing (columns: {list(map(str, frame.columns))})"} for c in missing]))
        rows = np.arange(1, len(frame) + 1) if rows is None else np.asarray(rows)
        problems: list[dict] = []
        out = np.asarray(self._eval(self.tree, frame, rows, problems), dtype=bool) & np.ones(len(frame), dtype=bool)
        if problems:
            unique = {(p["row"], p["column"]): p for p in problems}
            raise InputError(f"the failure rule {self.text!r} compares numbers with cells that are not numbers",
                             error_table(list(unique.values())))
        return out

    # ------------------------------------------------------------------ evaluation
    def _const(self, node):
        if isinstance(node, ast.UnaryOp):
            return -float(node.operand.value)
        return node.value

    def _eval(self, node, frame, rows, problems):
        if isinstance(node, ast.BoolOp):
            vals = [self._eval(v, frame, rows, problems) for v in node.values]
            out = vals[0]
            for v in vals[1:]:
                out = (out & v) if isinstance(node.op, ast.And) else (out | v)
            return out
        if isinstance(node, ast.UnaryOp):  # not: an empty cell still never matches
            out = ~np.asarray(self._eval(node.operand, frame, rows, problems), dtype=bool)
            for sub in ast.walk(node.operand):
                if isinstance(sub, ast.Name):
                    out &= ~_empty(frame[self.column(sub.id)].to_numpy(dtype=object))
            return out
        result = np.ones(len(frame), dtype=bool)
        for left, op, right in zip([node.left, *node.comparators[:-1]], node.ops, node.comparators, strict=True):
            result &= self._compare(left, op, right, frame, rows, problems)
        return result

    def _compare(self, left, op, right, frame, rows, problems) -> np.ndarray:
        if isinstance(op, ast.In | ast.NotIn):
            values = [self._const(e) for e in right.elts]
            hit = np.zeros(len(frame), dtype=bool)
            for v in values:
                hit |= self._equal(left.id, v, frame, rows, problems)
            empty = _empty(frame[self.column(left.id)].to_numpy(dtype=object))
            return hit if isinstance(op, ast.In) else (~hit & ~empty)
        flip = not isinstance(left, ast.Name)
        name, const = (right.id, self._const(left)) if flip else (left.id, self._const(right))
        if isinstance(op, ast.Eq | ast.NotEq):
            eq = self._equal(name, const, frame, rows, problems)
            if isinstance(op, ast.Eq):
                return eq
            return ~eq & ~_empty(frame[self.column(name)].to_numpy(dtype=object))
        if isinstance(const, str):
            raise _rule_error(self.text, f"<, <=, > and >= compare numbers, not the text {const!r}")
        x = self._numbers(name, frame, rows, problems)
        func = _CMP[type(op)]
        with np.errstate(invalid="ignore"):
            out = func(const, x) if flip else func(x, const)
        return out & np.isfinite(x)

    def _equal(self, name, const, frame, rows, problems) -> np.ndarray:
        cells = frame[self.column(name)].to_numpy(dtype=object)
        if isinstance(const, str):
            return np.array([not _is_empty(v) and str(v).strip() == const.strip() for v in cells], dtype=bool)
        x = self._numbers(name, frame, rows, problems)
        return np.isfinite(x) & np.isclose(x, float(const), rtol=1e-12, atol=0.0)

    def _numbers(self, name, frame, rows, problems) -> np.ndarray:
        column = self.column(name)
        cells = frame[column].to_numpy(dtype=object)
        out = np.full(len(cells), np.nan)
        for i, v in enumerate(cells):
            if _is_empty(v):
                continue
            try:
                out[i] = float(str(v).strip()) if isinstance(v, str) else float(v)
            except (TypeError, ValueError):
                problems.append({"row": int(rows[i]), "column": column, "value": v,
                                 "reason": f"not a number, but the rule {self.text!r} compares it with one"})
        return out


def _is_empty(value) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    try:
        if pd.isna(value):
            return True
    except (TypeError, ValueError):
        pass
    return isinstance(value, str) and not value.strip()


def _empty(cells: np.ndarray) -> np.ndarray:
    return np.array([_is_empty(v) for v in cells], dtype=bool)


def check_rule_text(text: str) -> str:
    """Parse-time check of ``--failed-if`` (column names are checked against the table later)."""
    if not str(text).strip():
        raise ValueError("the rule is empty")
    return str(text).strip()


def failure_outcomes(frame: pd.DataFrame, rows: list[int] | np.ndarray | None = None,
                     rule: str | FailureRule | None = None) -> tuple[np.ndarray, list[str]]:
    """``(failed, reasons)`` for every row of ``frame``: the ``status`` column (``ok`` / ``failed``,
    case and spaces ignored, empty = ok) and the failure ``rule``; a failed row's reason is its
    ``reason`` cell, else the rule it matched, else ``"status failed"``.

    Any other status text is a bad row (:class:`InputError` with every such row).
    """
    n = len(frame)
    rows = np.arange(1, n + 1) if rows is None else np.asarray(rows)
    failed = np.zeros(n, dtype=bool)
    by_rule = np.zeros(n, dtype=bool)
    problems = []
    if STATUS_COLUMN in frame.columns:
        for i, v in enumerate(frame[STATUS_COLUMN].to_numpy(dtype=object)):
            if _is_empty(v):
                continue
            text = str(v).strip().lower()
            if text == "failed":
                failed[i] = True
            elif text != "ok":
                problems.append({"row": int(rows[i]), "column": STATUS_COLUMN, "value": v,
                                 "reason": "status must be 'ok' or 'failed' (or empty for ok)"})
    if problems:
        raise InputError("Cannot read the status column", error_table(problems))
    if rule is not None:
        rule = rule if isinstance(rule, FailureRule) else FailureRule(rule, list(frame.columns))
        by_rule = rule(frame, rows)
        failed |= by_rule
    notes = (frame[REASON_COLUMN].to_numpy(dtype=object) if REASON_COLUMN in frame.columns
             else np.full(n, None, dtype=object))
    reasons = []
    for i in range(n):
        if not failed[i]:
            reasons.append("")
        elif not _is_empty(notes[i]):
            reasons.append(str(notes[i]).strip())
        elif by_rule[i]:
            reasons.append(f"failed-if: {rule.text}")
        else:
            reasons.append("status failed")
    return failed, reasons


def outcome_columns(frame_columns, rule: str | None, target: str | None = None,
                    frame: pd.DataFrame | None = None) -> list[str]:
    """Columns that describe an experiment's outcome, not its inputs: ``status``, ``reason`` and the
    columns the failure rule reads (other than the target). With ``frame``, a rule column filled on
    every row is an input the rule happens to read (``temperature > 900``), not an outcome: an
    outcome is empty where the experiment has not been done."""
    cols = [c for c in (STATUS_COLUMN, REASON_COLUMN) if c in frame_columns]
    if rule is not None:
        cols += [c for c in FailureRule(rule, list(frame_columns)).columns() if c != target and c not in cols
                 and (frame is None or frame[c].isna().any())]
    return cols


def without_outcome_columns(dataset, rule: str | None):
    """``dataset`` whose parameter columns leave out the outcome columns (a copy only when needed), so
    that ``crystal_score`` in ``--failed-if "crystal_score == 'clear_solution'"`` is never an input."""
    import dataclasses

    if dataset.kind != "parameters":
        return dataset
    drop = set(outcome_columns(list(dataset.frame.columns), rule, dataset.target, dataset.frame))
    params = dataset.parameter_columns
    if not drop & set(params):
        return dataset
    return dataclasses.replace(dataset, parameters=[c for c in params if c not in drop], encoding=None)
