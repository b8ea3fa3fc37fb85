"""Batches that share a setting (``--same COL``): one furnace run, one plate, one solvent bottle.

A lab often makes a batch in one go, so some settings must be equal across it: the 8 vials of a
batch share the oven's temperature, the wells of a plate its reaction time. ``--same temperature``
on ``suggest`` and ``campaign suggest`` chooses the batch's first experiment as usual (the best
acquisition over every candidate, or the cold start's first pick), then the rest of the batch among
the candidates whose ``--same`` columns hold the first pick's values (the batch method, failures,
constraints and goals unchanged). The batch can then be smaller than asked when that group has
fewer candidates, and the output says so.

Candidate pools only: a design space's parameter is fixed by setting its ``low`` and ``high`` to one
value in the space file.

A campaign whose every batch is made in one go keeps the columns as its default
(``campaign new --same COL``, :func:`campaign_same`): each ``campaign suggest`` then shares them unless
it names others (``--same``) or none (``--no-same``, Python ``same=[]``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from matloop.errors import InputError, error_table


def same_groups(candidates: pd.DataFrame, columns: Sequence[str] | None) -> np.ndarray | None:
    """One integer label per candidate row: rows with equal values in every ``columns`` share it
    (None when no columns are given). A column the candidates lack is an error (exit 2)."""
    if not columns:
        return None
    missing = [c for c in columns if c not in candidates.columns]
    if missing:
        from matloop.io.detect import missing_column_message

        raise InputError("--same names a column the candidates lack", error_table(
            [{"row": 0, "column": "--same", "value": c, "reason": missing_column_message("input", c, candidates.columns)}
             for c in missing]))
    keys = pd.Series(list(zip(*[candidates[c].astype(str).to_numpy() for c in columns], strict=True)),
                     index=candidates.index)
    return pd.factorize(keys)[0]


def rank_in_one_group(rank: Callable[[np.ndarray, int], object], n: int, groups: np.ndarray | None, batch: int,
                      columns: Sequence[str] = ()):
    """The batch of ``rank(positions, k)`` (a ranking over the candidates at ``positions``), with every
    pick in the group of the first when ``groups`` is given: the first pick over all ``n`` candidates,
    then the batch among its group. The ranking's ``chosen_positions`` index all ``n`` candidates."""
    everyone = np.arange(n)
    if groups is None or batch <= 1:
        return rank(everyone, batch)
    first = rank(everyone, 1)
    group = groups[int(first.chosen_positions[0])]
    members = np.flatnonzero(groups == group)
    ranking = rank(members, batch)
    ranking.chosen_positions = members[np.asarray(ranking.chosen_positions, dtype=int)]
    shared = ", ".join(f"{c} = {_text(ranking.chosen[c].iloc[0])}" for c in columns if c in ranking.chosen)
    have = f"{len(members)} candidates have it" if len(members) != 1 else "1 candidate has it"
    ranking.chosen["reason"] = ranking.chosen["reason"] + f"; the batch shares {shared} (--same: {have})"
    return ranking


def check_same(columns: Sequence[str] | None, space=None) -> None:
    """``--same`` works on candidate pools; over a design space a parameter is fixed in the space file."""
    if columns and space is not None:
        raise InputError("--same chooses among a pool's candidates; in a design-space campaign fix the parameter "
                         f"instead (give {columns[0]!r} one value in the space file, e.g. low = high)", error_table(
                             [{"row": 0, "column": "--same", "value": c, "reason": "a design-space campaign"}
                              for c in columns]))


def campaign_same(columns: Sequence[str] | None, pool: pd.DataFrame | None, space=None,
                  outcomes: Sequence[str] = ()) -> list[str]:
    """The ``--same`` columns a new campaign keeps as its default, checked against its pool: each must be
    an input column (not a goal or constraint, whose values are unknown before the experiment)."""
    check_same(columns, space)
    if not columns or pool is None:
        return []
    same_groups(pool, columns)  # every column is in the pool
    bad = [c for c in columns if c in outcomes]
    if bad:
        raise InputError("--same names a measured column; a batch can share only an input (a setting you choose)",
                         error_table([{"row": 0, "column": "--same", "value": c, "reason": "a goal or constraint "
                                       "column: its value is known only after the experiment"} for c in bad]))
    return list(dict.fromkeys(columns))


def effective_same(asked: Sequence[str] | None, default: Sequence[str] | None, space=None) -> list[str] | None:
    """``campaign suggest``'s columns: those asked for (``[]``: none, ``--no-same``), else the campaign's;
    checked as :func:`check_same` does."""
    chosen = list(default or []) if asked is None else list(asked)
    check_same(chosen, space)
    return chosen or None


def goal_rows(goal_features: list | None, positions: np.ndarray) -> list | None:
    """A history prior per goal (``(at the measured rows, at the candidates)`` or None) for the
    candidates at ``positions`` (:func:`matloop.design.multi_options.goal_history`)."""
    if goal_features is None:
        return None
    return [None if f is None else (f[0], np.asarray(f[1])[positions]) for f in goal_features]


def _text(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
