"""Reading and validating user tables; the formula parser; the periodic table."""

from matloop.io.dataset import INPUT_KINDS, Dataset
from matloop.io.duplicates import DUPLICATE_POLICIES, DuplicateWarning
from matloop.io.formula import Compositions, parse_formula, parse_formulas
from matloop.io.table import TableReport, inspect_table, read_table

__all__ = [
    "DUPLICATE_POLICIES",
    "INPUT_KINDS",
    "Compositions",
    "Dataset",
    "DuplicateWarning",
    "TableReport",
    "inspect_table",
    "parse_formula",
    "parse_formulas",
    "read_table",
]
