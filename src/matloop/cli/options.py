"""argparse types for every command's numeric and named options, in one place.

A bad option value must end the command with exit status 2 and a message that names the option,
never a traceback deep in the modelling code and never a value silently read as something else
(``--steps 0`` meaning "the default", ``--target-range 2 1`` an empty window, ``--folds 1`` a
cross-validation without a test fold). argparse turns an :class:`argparse.ArgumentTypeError` raised
by a ``type=`` function into ``matloop CMD: error: argument --OPTION: MESSAGE`` and exit 2, so every
check here raises that. Heavy modules are imported only when an option that needs them is given.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

__all__ = [
    "FEATURIZER_NAMES", "TargetRange", "acquisition_name", "constraint", "db_url", "featurizer_name", "finite_float",
    "fraction", "int_at_least",
    "nonnegative_float", "nonnegative_int", "output_file", "positive_float", "positive_int", "probability", "seed",
]


def _named(name: str, func: Callable) -> Callable:
    func.__name__ = name  # argparse names the type in some of its own messages
    return func


def _integer(text: str) -> int:
    try:
        value = float(text.strip()) if any(c in text for c in ".eE") else int(text.strip())
    except (ValueError, AttributeError):
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}")
        value = int(value)
    return value


def int_at_least(minimum: int, maximum: int | None = None, name: str | None = None) -> Callable[[str], int]:
    """A whole number ``>= minimum`` (and ``<= maximum``)."""
    def check(text: str) -> int:
        value = _integer(text)
        if value < minimum or (maximum is not None and value > maximum):
            span = f"at least {minimum}" if maximum is None else f"between {minimum} and {maximum}"
            raise argparse.ArgumentTypeError(f"must be a whole number {span}, got {text!r}")
        return value
    return _named(name or f"int_at_least_{minimum}", check)


positive_int = int_at_least(1, name="positive_int")
nonnegative_int = int_at_least(0, name="nonnegative_int")
#: random seeds: what numpy and scikit-learn both accept
seed = int_at_least(0, 2**32 - 1, name="seed")


def _float(text: str) -> float:
    try:
        value = float(text.strip())
    except (ValueError, AttributeError):
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def finite_float(text: str) -> float:
    """Any finite number (``nan`` and ``inf`` are refused)."""
    return _float(text)


def positive_float(text: str) -> float:
    """A finite number > 0."""
    value = _float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number greater than 0, got {text!r}")
    return value


def nonnegative_float(text: str) -> float:
    """A finite number >= 0."""
    value = _float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a number of at least 0, got {text!r}")
    return value


def probability(text: str) -> float:
    """A number strictly between 0 and 1."""
    value = _float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be a number between 0 and 1 (exclusive), got {text!r}")
    return value


def fraction(text: str) -> float:
    """A share: a number > 0 and <= 1."""
    value = _float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be a number greater than 0 and at most 1, got {text!r}")
    return value


#: the names of ``matloop.represent.registry.FEATURIZERS``, spelled out because importing the
#: featurizers costs seconds (a test keeps them equal)
FEATURIZER_NAMES = ("magpie", "xenonpy", "stoichiometry", "valence_orbital", "ion", "element_fraction",
                    "sustainability", "default", "structure", "soap", "chgnet", "structure_auto", "morgan", "rdkit2d", "maccs", "molecule",
                    "pattern")


def featurizer_name(text: str) -> str:
    """A featurizer registry name."""
    name = text.strip()
    if name not in FEATURIZER_NAMES:
        raise argparse.ArgumentTypeError(f"unknown featurizer {text!r}; choose one of {', '.join(sorted(FEATURIZER_NAMES))}")
    return name


def acquisition_name(text: str) -> str:
    """The name of an acquisition function of :mod:`matloop.design.acquisition`."""
    from matloop.design.acquisition import ACQUISITIONS

    name = text.strip().lower()
    known = sorted([*ACQUISITIONS, "window"])
    if name not in known:
        raise argparse.ArgumentTypeError(f"unknown acquisition {text!r}; choose one of {', '.join(known)}")
    return name


def constraint(text: str) -> str:
    """A constraint such as ``density < 8`` or ``1 <= gap <= 2`` (checked here, parsed where used)."""
    from matloop.design.multiobjective import parse_constraint

    try:
        column, low, high = parse_constraint(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"cannot read {text!r}; write COLUMN < NUMBER, COLUMN >= NUMBER or LOW <= COLUMN <= HIGH, "
            "e.g. 'density < 8'") from None
    if any(v is not None and not math.isfinite(v) for v in (low, high)):
        raise argparse.ArgumentTypeError(f"the bounds of {text!r} must be finite numbers")
    if low is not None and high is not None and low > high:
        raise argparse.ArgumentTypeError(f"{text!r} can never hold: {low:g} is above {high:g}")
    if not column.strip():
        raise argparse.ArgumentTypeError(f"{text!r} names no column")
    return text


def db_url(text: str) -> str:
    """A ledger: a file path, or an SQLAlchemy URL of a known database (checked without connecting)."""
    value = text.strip()
    if not value:
        raise argparse.ArgumentTypeError("give a file path or a database URL, got an empty value")
    if "://" not in value:
        return value
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        make_url(value).get_dialect()
    except (ArgumentError, ValueError):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a database URL; give a file path or e.g. postgresql+psycopg://user@host/db") from None
    except NoSuchModuleError:
        raise argparse.ArgumentTypeError(
            f"{text!r} names an unknown database; use sqlite:///FILE or postgresql+psycopg://user@host/db") from None
    return value


def output_file(text: str) -> str:
    """A file to write at the end of a run: its folder must exist now (not after minutes of work)."""
    import os
    from pathlib import Path

    path = Path(text)
    if not text.strip() or path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a folder, not a file name")
    folder = path.parent
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f"cannot write {text!r}: the folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"cannot write {text!r}: the folder {str(folder)!r} is not writable")
    return text


class TargetRange(argparse.Action):
    """``--target-range LO HI``: two finite numbers with LO < HI."""

    def __call__(self, parser, namespace, values, option_string=None):
        try:
            low, high = (_float(v) for v in values)
        except argparse.ArgumentTypeError as exc:
            raise argparse.ArgumentError(self, str(exc)) from None
        if not low < high:
            raise argparse.ArgumentError(self, f"LO must be below HI, got {values[0]} {values[1]}")
        setattr(namespace, self.dest, [low, high])


#: appended to every --extra-inputs help: what the option means on a table without a material column
PROCESS_TABLE_INPUTS = (" On a process table (no material column): its only inputs (default: every numeric or label "
                        "column but the outcomes), so a property recorded but not optimised is left out.")
