"""Reading and validating user tables; the formula parser; the periodic table."""

from matloop.io.dataset import INPUT_KINDS, Dataset
from matloop.io.formula import Compositions, parse_formula, parse_formulas

__all__ = ["INPUT_KINDS", "Compositions", "Dataset", "parse_formula", "parse_formulas"]
