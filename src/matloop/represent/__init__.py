"""Featurizers: turn formulas, crystal structures and molecules into feature tables.

Every featurizer is a scikit-learn transformer (``fit``, ``transform`` -> DataFrame,
``get_feature_names_out``) with ``feature_labels()`` and ``citations()``. Pick one by name with
:func:`get_featurizer` (names in :data:`FEATURIZERS`), or import the class::

    from matloop.represent import default_featurizer, Stoichiometry
    X = default_featurizer().transform(["Fe2O3", "NaCl"])   # 267 columns

Names are imported on first use, so ``import matloop.represent`` does not load RDKit or pymatgen.
"""

from __future__ import annotations

import importlib

from matloop.represent.base import CompositionFeaturizer
from matloop.represent.registry import FEATURIZERS, default_featurizer_for, get_featurizer

_LAZY = {
    # compositions
    "Stoichiometry": "matloop.represent.composition",
    "ValenceOrbital": "matloop.represent.composition",
    "IonProperty": "matloop.represent.composition",
    "ElementFraction": "matloop.represent.composition",
    "Sustainability": "matloop.represent.composition",
    "CompositeFeaturizer": "matloop.represent.composition",
    "default_featurizer": "matloop.represent.composition",
    "charge_balanced": "matloop.represent.composition",
    "oxidation_states": "matloop.represent.composition",
    "ElementProperty": "matloop.represent.element_property",
    "magpie": "matloop.represent.element_property",
    "xenonpy": "matloop.represent.element_property",
    "element_table": "matloop.represent.element_data",
    # crystal structures
    "StructureFeaturizer": "matloop.represent.structure",
    "SOAPFeaturizer": "matloop.represent.structure",
    # molecules and polymers
    "MorganCounts": "matloop.represent.molecule",
    "RDKitDescriptors": "matloop.represent.molecule",
    "MACCSKeys": "matloop.represent.molecule",
    "default_molecule_featurizer": "matloop.represent.molecule",
}

__all__ = ["FEATURIZERS", "CompositionFeaturizer", "default_featurizer_for", "get_featurizer", *_LAZY]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'matloop.represent' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
