"""Real public datasets shipped inside matloop, loaded offline::

    from matloop import datasets
    datasets.list_datasets()          # one row per dataset; reads no data file
    ds = datasets.load("matbench_steels")
    ds.X, ds.y, ds.folds              # formulas, yield strength (MPa), official Matbench folds
    print(datasets.info("liang_agnp")) # meaning, units, citation, licence, provenance
    datasets.export("esol", "esol.xlsx")

Bundled: the 11 composition-level Matbench v0.1 tasks (with their official ``fold`` column),
15 CrabNet composition proxy sets (OQMD, AFLOW, Materials Project; with a ``split`` column),
the three Liang et al. 2021 Bayesian-optimisation sets (raw rows), ESOL and FreeSolv. Each group's
``PROVENANCE.md`` and ``LICENSE`` sit beside its data in ``matloop/datasets/data/<group>/``.
"""

from matloop.datasets.loader import (
    EXPORT_FORMATS,
    UnknownDatasetError,
    export,
    info,
    list_datasets,
    load,
    names,
    spec,
)
from matloop.datasets.registry import SPECS, DatasetSpec

__all__ = [
    "EXPORT_FORMATS",
    "SPECS",
    "DatasetSpec",
    "UnknownDatasetError",
    "export",
    "info",
    "list_datasets",
    "load",
    "names",
    "spec",
]
