"""Per-element data of the composition featurizers (bundled, offline) and their citations."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd

from matloop.io.compat import EXACT_FLOATS
from matloop.io.elements import N_ELEMENTS

_DATA = Path(__file__).parent / "data"

CITE_WARD = (
    "@article{ward_agrawal_choudary_wolverton_2016, title={A general-purpose machine learning framework "
    "for predicting properties of inorganic materials}, volume={2}, DOI={10.1038/npjcompumats.2017.28}, "
    "number={1}, journal={npj Computational Materials}, author={Ward, Logan and Agrawal, Ankit and "
    "Choudhary, Alok and Wolverton, Christopher}, year={2016}}"
)
CITE_DEML = (
    "@article{deml_ohayre_wolverton_stevanovic_2016, title={Predicting density functional theory total "
    "energies and enthalpies of formation of metal-nonmetal compounds by linear regression}, volume={93}, "
    "DOI={10.1103/PhysRevB.93.085142}, journal={Physical Review B}, author={Deml, Ann M. and O'Hayre, Ryan "
    "and Wolverton, Chris and Stevanovic, Vladan}, year={2016}}"
)
CITE_PYMATGEN = (
    "@article{ong_2013_pymatgen, title={Python Materials Genomics (pymatgen): A robust, open-source python "
    "library for materials analysis}, volume={68}, DOI={10.1016/j.commatsci.2012.10.028}, "
    "journal={Computational Materials Science}, author={Ong, Shyue Ping and Richards, William Davidson and "
    "Jain, Anubhav and Hautier, Geoffroy and Kocher, Michael and Cholia, Shreyas and Gunter, Dan and "
    "Chevrier, Vincent L. and Persson, Kristin A. and Ceder, Gerbrand}, year={2013}, pages={314--319}}"
)
CITE_MATMINER = (
    "@article{ward_2018_matminer, title={Matminer: An open source toolkit for materials data mining}, "
    "volume={152}, DOI={10.1016/j.commatsci.2018.05.018}, journal={Computational Materials Science}, "
    "author={Ward, Logan and Dunn, Alexander and Faghaninia, Alireza and Zimmermann, Nils E.R. and others}, "
    "year={2018}, pages={60--69}}"
)


@functools.cache
def element_extras() -> pd.DataFrame:
    """The bundled per-element table of this module (index Z 1..118), values as sourced (NaN = none).

    Columns: ``symbol``, ``pauling_electronegativity`` (pymatgen ``Element.X``), ``atomic_mass``
    (pymatgen), ``hhi_production`` and ``hhi_reserve`` (Gaultois et al. 2013, via pymatgen),
    ``price_usd_per_kg`` (pymatgen ``costdb_elements.csv``), ``radioactive`` and ``toxic`` flags.
    See ``data/COMPOSITION_DATA_PROVENANCE.md``.
    """
    frame = pd.read_csv(_DATA / "comp_elements.csv", index_col="Z", **EXACT_FLOATS)
    if not frame.index.equals(pd.RangeIndex(1, N_ELEMENTS + 1)):
        raise RuntimeError("bundled comp_elements.csv is damaged: rows are not Z 1..118")
    return frame


def column(name: str, impute: str | None = "mean") -> np.ndarray:
    """A property by atomic number (index 0 unused), missing values imputed by the column mean over
    the 118 elements (matminer's ``impute_nan`` rule) when ``impute="mean"``."""
    values = np.concatenate([[np.nan], element_extras()[name].to_numpy(dtype=np.float64)])
    if impute == "mean":
        values[1:][np.isnan(values[1:])] = np.nanmean(values[1:])
    return values


CITE_GAULTOIS = (
    "@article{gaultois_2013, title={Data-driven review of thermoelectric materials: performance and "
    "resource considerations}, volume={25}, DOI={10.1021/cm400893e}, number={15}, journal={Chemistry of "
    "Materials}, author={Gaultois, Michael W. and Sparks, Taylor D. and Borg, Christopher K. H. and "
    "Seshadri, Ram and Bonificio, William D. and Clarke, David R.}, year={2013}, pages={2911--2920}}"
)
