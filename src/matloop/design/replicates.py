"""Replicated inputs of one table: ``suggest`` treats them as a campaign does.

:func:`replicate_groups`: one input, the mean of its values (the "best measured" rule), and no blank
row suggested whose input is measured or listed earlier (unless replicates are allowed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BEST_RULE = "mean of replicates (each input counts once, with the mean of its measured values)"


@dataclass
class Replicates:
    """Labelled rows grouped by input, and the blank rows that are real candidates."""

    first_rows: np.ndarray  # positions (in the table) of one row per measured input
    groups: list[np.ndarray]  # positions of every measured row of that input
    open_rows: np.ndarray  # boolean mask of blank rows that are candidates
    n_open_replicates: int  # blank rows left out (input measured or listed earlier)

    def mean_of(self, y: np.ndarray) -> np.ndarray:
        """Mean measured value per input (aligned with :attr:`first_rows`)."""
        return np.array([float(np.mean(y[g])) for g in self.groups])

    def best(self, y: np.ndarray, objective, ok: np.ndarray | None = None) -> dict:
        """``best_measured`` (mean of replicates), ``best_row`` (a 0-based table position),
        ``best_replicates`` and ``best_rule`` for a suggestion's ``attrs``; ``ok`` (aligned with
        :attr:`first_rows`): the inputs that meet the outcome constraints, when any does."""
        if not self.groups:
            return {"best_rule": BEST_RULE}
        means = self.mean_of(y)
        score = objective.distance_to_window(means) if objective.direction == "range" else -objective.sign * means
        if ok is not None and np.any(ok):
            score = np.where(ok, score, np.inf)
        i = int(np.argmin(score))
        return {"best_measured": float(means[i]), "best_row": int(self.first_rows[i]),
                "best_replicates": int(len(self.groups[i])), "best_rule": BEST_RULE}


def replicate_groups(dataset, labelled: np.ndarray, allow_replicates: bool = False) -> Replicates:
    """Group ``dataset``'s measured rows by material key; mark the blank rows that are candidates."""
    from matloop.design.surrogate import material_keys

    keys = np.asarray(material_keys(dataset), dtype=object)
    labelled = np.asarray(labelled, dtype=bool)
    order: dict[str, list[int]] = {}
    for i in np.flatnonzero(labelled):
        order.setdefault(keys[i], []).append(int(i))
    groups = [np.asarray(v) for v in order.values()]
    first = np.asarray([g[0] for g in groups], dtype=int)
    open_rows = ~labelled
    if not allow_replicates:
        seen = set(order)
        for i in np.flatnonzero(~labelled):
            if keys[i] in seen:
                open_rows[i] = False
            seen.add(keys[i])
    return Replicates(first, groups, open_rows, int((~labelled).sum() - open_rows.sum()))
