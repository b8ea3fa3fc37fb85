"""Crystal structures: reading (CIF, POSCAR, pymatgen JSON) and featurization.

Public API (implemented in ``structure_io``, ``structure_math``, ``structure_features`` and
``structure_soap``, re-exported here):

- :func:`read_structures`: one pymatgen ``Structure`` per row; every bad row in one ``InputError``.
- :class:`StructureFeaturizer`: density, symmetry, lattice, RDF, coordination, sine Coulomb
  eigenvalues and a composition preset of the cell, as a scikit-learn transformer.
- :class:`SOAPFeaturizer`: site-averaged SOAP through DScribe (``pip install 'matloop[soap]'``).

pymatgen and spglib are the ``matloop[structure]`` extra; they are imported when a structure is read.
"""

from matloop.represent.structure_features import GROUPS, StructureFeaturizer, as_structures, cell_formulas
from matloop.represent.structure_io import read_structures
from matloop.represent.structure_soap import SOAPFeaturizer

__all__ = [
    "GROUPS",
    "SOAPFeaturizer",
    "StructureFeaturizer",
    "as_structures",
    "cell_formulas",
    "read_structures",
]
