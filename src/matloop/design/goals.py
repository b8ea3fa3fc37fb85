"""Goals of a campaign with one or several objectives: ``COL:max``, ``COL:min``, ``COL:LO..HI``.

A :class:`Goal` names a column and what is good about it: maximise, minimise, or land inside a window
``[LO, HI]`` (scored as the distance to the window, 0 inside it). An optional ``@TOL`` is the
Chimera tolerance of that goal (Häse et al. 2018): a fraction of the observed range within which a
candidate counts as good enough on this goal, so that the next goal in the hierarchy decides.
``--goal`` on the command line is parsed by :func:`parse_goal`; a campaign stores its goals with
:meth:`Goal.to_dict` in its ledger configuration.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from matloop.design.acquisition import Objective
from matloop.errors import InputError, error_table

__all__ = ["Goal", "parse_goal", "goals_from_config", "goals_to_config", "check_goals"]

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_RANGE = re.compile(rf"^\s*({_NUMBER})\s*\.\.\s*({_NUMBER})\s*$")
_HELP = "write COL:max, COL:min or COL:LO..HI, optionally with a Chimera tolerance @TOL (e.g. 'yield:max@0.1')"


@dataclass(frozen=True)
class Goal:
    """One objective: a column and a direction (``max``, ``min`` or ``range`` with ``low``..``high``).

    ``tolerance`` (optional, Chimera only) is a fraction of the goal's observed range in [0, 1].
    """

    column: str
    direction: str = "max"
    low: float | None = None
    high: float | None = None
    tolerance: float | None = None

    def __post_init__(self) -> None:
        Objective(self.direction, self.low, self.high)  # checks direction and low < high
        if self.tolerance is not None and not (0.0 <= self.tolerance <= 1.0):
            raise ValueError(f"a Chimera tolerance is a fraction of the observed range in [0, 1], got {self.tolerance}")

    @property
    def objective(self) -> Objective:
        """The single-target :class:`~matloop.design.acquisition.Objective` of this goal."""
        return Objective(self.direction, self.low, self.high)

    def text(self) -> str:
        """The goal as ``--goal`` writes it (``gsol:min``, ``gap:1.1..1.5``, ``yield:max@0.1``)."""
        what = f"{self.low:g}..{self.high:g}" if self.direction == "range" else self.direction
        tol = f"@{self.tolerance:g}" if self.tolerance is not None else ""
        return f"{self.column}:{what}{tol}"

    def words(self) -> str:
        """``maximise yield``, ``minimise cost``, ``bring gap into [1.1, 1.5]``."""
        if self.direction == "range":
            return f"bring {self.column} into [{self.low:g}, {self.high:g}]"
        return f"{'maximise' if self.direction == 'max' else 'minimise'} {self.column}"

    def score(self, values):
        """Values in the maximisation sense: the value (max), minus it (min), minus the distance to
        the window (range; 0 inside it)."""
        import numpy as np

        values = np.asarray(values, dtype=float)
        if self.direction == "range":
            return -np.maximum(0.0, np.maximum(self.low - values, values - self.high))
        return values if self.direction == "max" else -values

    def to_dict(self) -> dict:
        """JSON-ready form for a campaign's configuration."""
        return {"column": self.column, "direction": self.direction, "low": self.low, "high": self.high,
                "tolerance": self.tolerance}

    @classmethod
    def from_dict(cls, data: dict) -> Goal:
        """The inverse of :meth:`to_dict`."""
        return cls(str(data["column"]), str(data.get("direction", "max")), data.get("low"), data.get("high"),
                   data.get("tolerance"))


def _bad(text: str, reason: str) -> InputError:
    return InputError(f"cannot read --goal {text!r}: {reason}; {_HELP}",
                      error_table([{"row": 0, "column": "--goal", "value": text, "reason": reason}]))


def parse_goal(text: str) -> Goal:
    """``"COL:max"``, ``"COL:min"``, ``"COL:LO..HI"``, each optionally followed by ``@TOL``.

    The column name is everything before the last ``:`` (so names with colons work). Raises
    :class:`~matloop.errors.InputError` with the reason when the text is not a goal.
    """
    raw = str(text)
    if ":" not in raw:
        raise _bad(raw, "no ':' between the column and what to do with it")
    column, spec = raw.rsplit(":", 1)
    column = column.strip()
    if not column:
        raise _bad(raw, "the column name is empty")
    tolerance = None
    if "@" in spec:
        spec, tol_text = spec.split("@", 1)
        try:
            tolerance = float(tol_text)
        except ValueError:
            raise _bad(raw, f"the tolerance {tol_text!r} is not a number") from None
        if not math.isfinite(tolerance) or not 0.0 <= tolerance <= 1.0:
            raise _bad(raw, f"the tolerance {tol_text!r} must be a fraction of the observed range between 0 and 1")
    spec = spec.strip().lower()
    if spec in ("max", "maximize", "maximise"):
        return Goal(column, "max", tolerance=tolerance)
    if spec in ("min", "minimize", "minimise"):
        return Goal(column, "min", tolerance=tolerance)
    match = _RANGE.match(spec)
    if not match:
        raise _bad(raw, f"{spec!r} is neither max, min nor a range LO..HI")
    low, high = float(match.group(1)), float(match.group(2))
    if not (math.isfinite(low) and math.isfinite(high)):
        raise _bad(raw, "the range bounds must be finite numbers")
    if not low < high:
        raise _bad(raw, f"the range needs LO < HI, got {low:g}..{high:g}")
    return Goal(column, "range", low, high, tolerance)


def check_goals(goals: list[Goal], columns) -> None:
    """Every goal names a distinct column of the table (one error table listing every problem)."""
    columns = [str(c) for c in columns]
    problems = []
    seen: set[str] = set()
    for g in goals:
        if g.column not in columns:
            problems.append({"row": 0, "column": g.column, "value": g.text(),
                             "reason": f"no such column (columns: {columns})"})
        elif g.column in seen:
            problems.append({"row": 0, "column": g.column, "value": g.text(), "reason": "two goals for one column"})
        seen.add(g.column)
    if problems:
        raise InputError("the goals do not match the table's columns", error_table(problems))


def goals_to_config(goals: list[Goal]) -> list[dict]:
    """The ``goals`` entry of a campaign configuration."""
    return [g.to_dict() for g in goals]


def goals_from_config(config: dict) -> list[Goal]:
    """A campaign's goals: its ``goals`` list, or the one target/direction of older campaigns."""
    if config.get("goals"):
        return [Goal.from_dict(d) for d in config["goals"]]
    return [Goal(config["target"], config["direction"], config.get("low"), config.get("high"))]
