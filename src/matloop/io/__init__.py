"""Reading and validating user tables; the formula parser; the periodic table.

Names are imported on first use (:func:`__getattr__`), so that importing a pandas-free submodule
(``matloop.io.formula``'s parser, ``matloop.io.fast_formulas``) does not load pandas through this
package: ``matloop featurize`` on a list of formulas starts 0.3 s sooner.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "DUPLICATE_POLICIES": "matloop.io.duplicates",
    "DuplicateWarning": "matloop.io.duplicates",
    "INPUT_KINDS": "matloop.io.dataset",
    "Dataset": "matloop.io.dataset",
    "Compositions": "matloop.io.formula",
    "parse_formula": "matloop.io.formula",
    "parse_formulas": "matloop.io.formula",
    "TableReport": "matloop.io.table",
    "inspect_table": "matloop.io.table",
    "read_table": "matloop.io.table",
}

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


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
