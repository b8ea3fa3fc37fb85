"""Featurizers by name, imported lazily so that optional stacks (RDKit, pymatgen) load on demand.

Each entry is ``"module:attribute"``; the attribute is a class or a factory taking keyword params.
"""

from __future__ import annotations

import importlib

FEATURIZERS: dict[str, str] = {
    # compositions
    "magpie": "matloop.represent.element_property:magpie",
    "xenonpy": "matloop.represent.element_property:xenonpy",
    "stoichiometry": "matloop.represent.composition:Stoichiometry",
    "valence_orbital": "matloop.represent.composition:ValenceOrbital",
    "ion": "matloop.represent.composition:IonProperty",
    "element_fraction": "matloop.represent.composition:ElementFraction",
    "sustainability": "matloop.represent.composition:Sustainability",
    "default": "matloop.represent.composition:default_featurizer",
    # crystal structures
    "structure": "matloop.represent.structure:StructureFeaturizer",
    "soap": "matloop.represent.structure:SOAPFeaturizer",
    # pre-trained CHGNet (in models: represent may not import it; loaded by name only when asked for)
    "chgnet": "matloop.models.potentials.features:UniversalPotentialFeatures",
    "structure_auto": "matloop.models.structure_auto:StructureFeatureSets",  # composition + structure + chgnet
    # molecules and polymers
    "morgan": "matloop.represent.molecule:MorganCounts",
    "rdkit2d": "matloop.represent.molecule:RDKitDescriptors",
    "maccs": "matloop.represent.molecule:MACCSKeys",
    "molecule": "matloop.represent.molecule:default_molecule_featurizer",
    # diffraction patterns (files): processed curve + peak features
    "pattern": "matloop.represent.pattern_features:PatternFeatureSet",
}

#: the featurizer used for each input kind when the user names none
DEFAULT_FOR_KIND = {"composition": "default", "structure": "structure", "molecule": "molecule", "pattern": "pattern"}


def get_featurizer(name: str, **params):
    """A featurizer instance by registry name; raises ValueError naming the known ones."""
    try:
        target = FEATURIZERS[name]
    except KeyError:
        raise ValueError(f"unknown featurizer {name!r}; known: {', '.join(sorted(FEATURIZERS))}") from None
    module, attr = target.split(":")
    return getattr(importlib.import_module(module), attr)(**params)


def default_featurizer_for(kind: str, **params):
    """The default featurizer for an input kind (``parameters`` tables need none: returns None)."""
    return None if kind == "parameters" else get_featurizer(DEFAULT_FOR_KIND[kind], **params)
