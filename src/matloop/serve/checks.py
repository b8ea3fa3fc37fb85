"""Checks of what a client sends before anything is written (:mod:`matloop.serve.service` runs them):
campaign names the API can address, row cells (nested values, non-finite numbers, unknown columns, goal
cells that are not numbers), failed rows of several-goal campaigns, and ``Idempotency-Key`` values.
Each raises :class:`~matloop.errors.InputError` with every problem at once (rows 1-based)."""

from __future__ import annotations

import json
import math

import pandas as pd

from matloop.errors import InputError, error_table
from matloop.io.validate import number_hint

#: columns a results row may carry beside the campaign's own
BOOKKEEPING = ("status", "reason", "measurement_id")
MAX_KEY_CHARS = 200
MAX_NAME_CHARS = 200


def check_name(name: str) -> str:
    """A campaign name the API can address: 1-200 characters, no ``/``, no control characters."""
    reason = None
    if not isinstance(name, str) or not name.strip():
        reason = "a name is needed"
    elif len(name) > MAX_NAME_CHARS:
        reason = f"at most {MAX_NAME_CHARS} characters"
    elif "/" in name or any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        reason = "no '/' and no control characters (the name is part of the campaign's URL)"
    if reason:
        raise InputError("bad campaign name", error_table([{"row": 0, "column": "name", "value": name,
                                                            "reason": reason}]))
    return name


def check_cells(rows: list[dict], camp, strict: bool = True) -> None:
    """Every problem of the rows at once: a row that is not an object, nested values, non-finite numbers;
    with a campaign also unknown columns and goal cells that are not numbers."""
    problems: list[dict] = []
    allowed = numeric = None
    if camp is not None:
        from matloop.design.campaign_multi import outcome_columns

        cfg = camp.config
        numeric = set(outcome_columns(cfg))
        allowed = set(cfg.get("columns") or []) | numeric | set(BOOKKEEPING) | set(cfg.get("parameter_columns") or [])
        if cfg.get("input"):
            allowed.add(cfg["input"])
        if cfg.get("failed_if"):
            from matloop.design.outcomes import FailureRule

            allowed |= set(FailureRule(cfg["failed_if"], None).columns())
    for i, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            problems.append({"row": i, "column": "(row)", "value": row, "reason": "a row must be an object"})
            continue
        for col, v in row.items():
            if allowed is not None and col not in allowed:
                shown = sorted(allowed)
                problems.append({"row": i, "column": col, "value": v, "reason": "unknown column (the campaign's "
                                 f"columns are {', '.join(shown[:20])}{' ...' if len(shown) > 20 else ''})"})
            elif isinstance(v, dict | list):
                problems.append({"row": i, "column": col, "value": json.dumps(v, default=str)[:200],
                                 "reason": "a cell must be a number, text or null"})
            elif isinstance(v, float) and not math.isfinite(v):
                problems.append({"row": i, "column": col, "value": v, "reason": "not a finite number"})
            elif numeric is not None and col in numeric and v is not None and (
                    isinstance(v, bool) or (strict and not isinstance(v, int | float))):
                problems.append({"row": i, "column": col, "value": v, "reason": "not a number" + number_hint(v)})
    if problems:
        raise InputError("Nothing was recorded" if camp is not None else "Bad rows", error_table(problems))


def check_failed_rows_known(camp, frame: pd.DataFrame, rows: list[int]) -> None:
    """Several goals with failed rows are recorded in two transactions (measurements, then failures:
    :func:`matloop.design.campaign_multi.record_multi`); the second can only fail on a material the
    campaign does not know, so that is checked first (candidates are never deleted), keeping the request
    all or nothing."""
    cfg = camp.config
    if not (len(camp.goals) > 1 or cfg.get("constraints")):
        return
    from matloop.design.outcomes import STATUS_COLUMN, failure_outcomes

    if STATUS_COLUMN not in frame.columns and not cfg.get("failed_if"):
        return
    failed, _ = failure_outcomes(frame, rows, cfg.get("failed_if"))
    if not failed.any():
        return
    from matloop.design.surrogate import material_keys, parameter_keys

    part = frame.loc[failed]
    numbers = [r for r, f in zip(rows, failed, strict=True) if f]
    if cfg["kind"] == "parameters":
        if any(c not in part.columns for c in cfg["parameter_columns"]):
            return  # the campaign's own check names the missing columns
        keys = parameter_keys(part, cfg["parameter_columns"])
    else:
        if cfg.get("input") not in part.columns:
            return
        keys = material_keys(camp._dataset(part), part, rows=numbers)
    known = set(camp.ledger.candidates()["key"])
    problems = [{"row": r, "column": "(material)", "value": k,
                 "reason": "not a candidate of this campaign (use --allow-new to add it)"}
                for r, k in zip(numbers, keys, strict=True) if k not in known]
    if problems:
        raise InputError("Nothing was recorded", error_table(problems))


def check_key(key: str) -> str:
    key = str(key).strip()
    if not key or len(key) > MAX_KEY_CHARS or any(ord(ch) < 32 for ch in key):
        raise InputError("bad Idempotency-Key", error_table([{"row": 0, "column": "Idempotency-Key", "value": key,
                                                              "reason": f"1-{MAX_KEY_CHARS} printable characters"}]))
    return key
