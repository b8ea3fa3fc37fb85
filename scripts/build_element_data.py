"""Build the element property tables bundled with matloop (``elements_*.csv.gz``), offline.

Run from the repository root with the development environment (it reads data that installs from
PyPI with matminer, pymatgen and mendeleev; users of matloop need none of them)::

    .venv/bin/python scripts/build_element_data.py

Writes, under ``src/matloop/represent/data/``:

- ``elements_magpie.csv.gz``: every scalar Magpie table bundled with matminer
  (``matminer/utils/data_files/magpie_elementdata/*.table``), read exactly as matminer's
  ``MagpieData(impute_nan=False)`` reads it (unparseable or missing lines are NaN). The 22
  properties of matminer's ``magpie`` preset come first, in the preset's order. No imputation: the
  featurizer imputes at run time with the column mean, as matminer does.
- ``elements_xenonpy.csv.gz``: XenonPy's 58 ``elements_completed`` properties, rebuilt from
  mendeleev, pymatgen and the Magpie tables, with missing values of H..Pu (Z 1-94) filled by
  iterative (chained-equation) imputation, as XenonPy did; Z 95-118 are left NaN (XenonPy's
  table stops at Pu).
- ``elements_properties.csv.gz``: one row per (source, property): label, unit, origin.
- ``ELEMENTS_PROVENANCE.md``: the provenance of every property (package, file or attribute,
  version, unit, licence) and the per-property counts of source and imputed values.

The output is deterministic: gzip timestamps are zeroed and floats are written at full precision.
"""

from __future__ import annotations

import importlib.metadata as md
import math
import sqlite3
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "matloop" / "represent" / "data"
N_Z = 118
XENONPY_LAST_Z = 94  # XenonPy's elements_completed covers H..Pu

# --------------------------------------------------------------------------- magpie
#: the properties of matminer's ElementProperty.from_preset("magpie"), in its order
MAGPIE_PRESET = [
    "Number", "MendeleevNumber", "AtomicWeight", "MeltingT", "Column", "Row", "CovalentRadius",
    "Electronegativity", "NsValence", "NpValence", "NdValence", "NfValence", "NValence",
    "NsUnfilled", "NpUnfilled", "NdUnfilled", "NfUnfilled", "NUnfilled", "GSvolume_pa",
    "GSbandgap", "GSmagmom", "SpaceGroupNumber",
]
#: tables holding lists (not one number per element): not part of the scalar table
MAGPIE_LIST_TABLES = {"OxidationStates", "IonizationEnergies"}

#: label and unit of each Magpie table (from matminer's magpie_elementdata/README.txt)
MAGPIE_META: dict[str, tuple[str, str]] = {
    "Number": ("atomic number", ""),
    "MendeleevNumber": ("Mendeleev number (Villars et al. 2004)", ""),
    "AtomicWeight": ("atomic weight", "u"),
    "MeltingT": ("melting temperature", "K"),
    "Column": ("periodic-table column (rare earths in 3)", ""),
    "Row": ("periodic-table row", ""),
    "CovalentRadius": ("covalent radius", "pm"),
    "Electronegativity": ("electronegativity (Pauling)", ""),
    "NsValence": ("s valence electrons", ""),
    "NpValence": ("p valence electrons", ""),
    "NdValence": ("d valence electrons", ""),
    "NfValence": ("f valence electrons", ""),
    "NValence": ("valence electrons", ""),
    "NsUnfilled": ("unfilled s states", ""),
    "NpUnfilled": ("unfilled p states", ""),
    "NdUnfilled": ("unfilled d states", ""),
    "NfUnfilled": ("unfilled f states", ""),
    "NUnfilled": ("unfilled valence states", ""),
    "GSvolume_pa": ("DFT ground-state volume per atom (OQMD)", "Å^3/atom"),
    "GSbandgap": ("DFT ground-state band gap (OQMD)", "eV"),
    "GSmagmom": ("DFT ground-state magnetic moment (OQMD)", "μB/atom"),
    "SpaceGroupNumber": ("ground-state space group number", ""),
    "AllenElectronegativity": ("Allen electronegativity", "eV"),
    "AtomicRadius": ("atomic radius (pymatgen)", "Å"),
    "AtomicVolume": ("atomic volume (weight / density)", "Å^3/atom"),
    "BoilingT": ("boiling temperature", "K"),
    "BulkModulus": ("bulk modulus", "GPa"),
    "Density": ("density at STP", "g/L"),
    "DipolePolarizability": ("dipole polarizability", "Å^3"),
    "ElectronAffinity": ("electron affinity", "kJ/mol"),
    "FirstIonizationEnergy": ("first ionization energy", "eV"),
    "FusionEnthalpy": ("fusion enthalpy", "kJ/mol"),
    "GSenergy_pa": ("DFT ground-state energy per atom (OQMD)", "eV/atom"),
    "GSestBCClatcnt": ("estimated BCC lattice constant (OQMD volume)", "Å"),
    "GSestFCClatcnt": ("estimated FCC lattice constant (OQMD volume)", "Å"),
    "HHIp": ("Herfindahl-Hirschman index of production", ""),
    "HHIr": ("Herfindahl-Hirschman index of reserves", ""),
    "HeatCapacityMass": ("specific heat capacity at STP", "J/(g K)"),
    "HeatCapacityMolar": ("molar heat capacity at STP", "J/(mol K)"),
    "HeatFusion": ("enthalpy of fusion", "kJ/mol"),
    "HeatVaporization": ("enthalpy of vaporization", "kJ/mol"),
    "ICSDVolume": ("volume per atom of the ICSD phase", "Å^3/atom"),
    "IsAlkali": ("is an alkali or alkaline-earth metal", ""),
    "IsDBlock": ("is a d-block metal", ""),
    "IsFBlock": ("is an f-block metal", ""),
    "IsMetal": ("is a metal", ""),
    "IsMetalloid": ("is a metalloid", ""),
    "IsNonmetal": ("is a nonmetal", ""),
    "LogThermalConductivity": ("log10 thermal conductivity", "log10(W/(m K))"),
    "MiracleRadius": ("radius in metallic glasses (Miracle et al. 2010)", "pm"),
    "MolarVolume": ("molar volume", "cm^3/mol"),
    "Polarizability": ("static dipole polarizability", "Å^3"),
    "SecondIonizationEnergy": ("second ionization energy", "eV"),
    "ShearModulus": ("shear modulus", "GPa"),
    "ThermalConductivity": ("thermal conductivity", "W/(m K)"),
    "VdWRadius": ("van der Waals radius (pymatgen)", "Å"),
    "ZungerPP-r_d": ("Zunger pseudopotential radius, d orbital", "a.u."),
    "ZungerPP-r_p": ("Zunger pseudopotential radius, p orbital", "a.u."),
    "ZungerPP-r_pi": ("Zunger pseudopotential |r_s - r_p|", "a.u."),
    "ZungerPP-r_s": ("Zunger pseudopotential radius, s orbital", "a.u."),
    "ZungerPP-r_sigma": ("Zunger pseudopotential r_s + r_p", "a.u."),
    "n_ws^third": ("electron density at the Wigner-Seitz cell boundary^(1/3) (Miedema)", "d.u.^(1/3)"),
    "phi": ("adjusted work function (Miedema)", "V"),
}


def magpie_table() -> pd.DataFrame:
    """All scalar Magpie tables, read by matminer's own reader, index Z 1..118."""
    from matminer.utils.data import MagpieData
    from pymatgen.core.periodic_table import Element

    data = MagpieData(impute_nan=False).all_elemental_props
    symbols = [Element.from_Z(z).symbol for z in range(1, N_Z + 1)]
    names = MAGPIE_PRESET + sorted(set(data) - set(MAGPIE_PRESET) - MAGPIE_LIST_TABLES, key=str.lower)
    missing = [n for n in names if n not in MAGPIE_META]
    if missing:
        raise SystemExit(f"no label for Magpie tables {missing}: add them to MAGPIE_META")
    frame = pd.DataFrame({n: [float(data[n][s]) for s in symbols] for n in names},
                         index=pd.RangeIndex(1, N_Z + 1, name="Z"))
    return frame


# --------------------------------------------------------------------------- xenonpy
# (name, label, unit, origin, attribute); origin is "mendeleev", "pymatgen" or "magpie"
XENONPY_SPEC: list[tuple[str, str, str, str, str]] = [
    ("atomic_number", "atomic number", "", "mendeleev", "elements.atomic_number"),
    ("atomic_radius", "atomic radius (Clementi et al. 1967, calculated)", "pm", "pymatgen",
     "Element.atomic_radius_calculated (Å, x100)"),
    ("atomic_radius_rahm", "atomic radius (Rahm et al.)", "pm", "mendeleev", "elements.atomic_radius_rahm"),
    ("atomic_volume", "atomic volume (atomic weight / density)", "cm^3/mol", "mendeleev",
     "Element.atomic_volume = atomic_weight / density"),
    ("atomic_weight", "atomic weight", "u", "mendeleev", "elements.atomic_weight"),
    ("boiling_point", "boiling point", "K", "mendeleev", "Element.boiling_point (phasetransitions); else pymatgen Element.boiling_point"),
    ("bulk_modulus", "bulk modulus", "GPa", "pymatgen", "Element.bulk_modulus"),
    ("c6_gb", "C6 dispersion coefficient (Gould & Bučko)", "hartree bohr^6", "mendeleev", "elements.c6_gb"),
    ("covalent_radius_cordero", "covalent radius (Cordero et al.)", "pm", "mendeleev",
     "elements.covalent_radius_cordero"),
    ("covalent_radius_pyykko", "single-bond covalent radius (Pyykkö)", "pm", "mendeleev",
     "elements.covalent_radius_pyykko"),
    ("covalent_radius_pyykko_double", "double-bond covalent radius (Pyykkö)", "pm", "mendeleev",
     "elements.covalent_radius_pyykko_double"),
    ("covalent_radius_pyykko_triple", "triple-bond covalent radius (Pyykkö)", "pm", "mendeleev",
     "elements.covalent_radius_pyykko_triple"),
    ("covalent_radius_slater", "atomic/covalent radius (Slater 1964)", "pm", "mendeleev",
     "elements.atomic_radius (Slater 1964)"),
    ("density", "density", "g/cm^3", "mendeleev", "elements.density"),
    ("dipole_polarizability", "dipole polarizability", "bohr^3", "mendeleev", "elements.dipole_polarizability"),
    ("electron_negativity", "electronegativity (Pauling, pymatgen)", "", "pymatgen", "Element.X"),
    ("electron_affinity", "electron affinity", "eV", "mendeleev", "elements.electron_affinity"),
    ("en_allen", "Allen electronegativity", "eV", "mendeleev", "elements.en_allen"),
    ("en_ghosh", "Ghosh electronegativity", "1/pm", "mendeleev", "elements.en_ghosh"),
    ("en_pauling", "Pauling electronegativity (mendeleev)", "", "mendeleev", "elements.en_pauling"),
    ("first_ion_en", "first ionization energy", "eV", "mendeleev", "ionizationenergies.ionization_energy (ion_charge 0)"),
    ("fusion_enthalpy", "fusion enthalpy", "kJ/mol", "magpie", "FusionEnthalpy.table"),
    ("gs_bandgap", "DFT ground-state band gap (OQMD)", "eV", "magpie", "GSbandgap.table"),
    ("gs_energy", "DFT ground-state energy per atom (OQMD)", "eV/atom", "magpie", "GSenergy_pa.table"),
    ("gs_est_bcc_latcnt", "estimated BCC lattice constant (OQMD)", "Å", "magpie", "GSestBCClatcnt.table"),
    ("gs_est_fcc_latcnt", "estimated FCC lattice constant (OQMD)", "Å", "magpie", "GSestFCClatcnt.table"),
    ("gs_mag_moment", "DFT ground-state magnetic moment (OQMD)", "μB/atom", "magpie", "GSmagmom.table"),
    ("gs_volume_per", "DFT ground-state volume per atom (OQMD)", "Å^3/atom", "magpie", "GSvolume_pa.table"),
    ("hhi_p", "Herfindahl-Hirschman index of production", "", "magpie", "HHIp.table"),
    ("hhi_r", "Herfindahl-Hirschman index of reserves", "", "magpie", "HHIr.table"),
    ("heat_capacity_mass", "specific heat capacity at STP", "J/(g K)", "magpie", "HeatCapacityMass.table"),
    ("heat_capacity_molar", "molar heat capacity at STP", "J/(mol K)", "magpie", "HeatCapacityMolar.table"),
    ("icsd_volume", "volume per atom of the ICSD phase", "Å^3/atom", "magpie", "ICSDVolume.table"),
    ("evaporation_heat", "evaporation heat", "kJ/mol", "mendeleev", "elements.evaporation_heat"),
    ("heat_of_formation", "heat of formation", "kJ/mol", "mendeleev", "elements.heat_of_formation"),
    ("lattice_constant", "lattice constant", "Å", "mendeleev", "elements.lattice_constant"),
    ("mendeleev_number", "Mendeleev number", "", "mendeleev", "elements.mendeleev_number"),
    ("melting_point", "melting point", "K", "mendeleev", "Element.melting_point (phasetransitions); else pymatgen Element.melting_point"),
    ("molar_volume", "molar volume", "cm^3/mol", "pymatgen", "Element.molar_volume"),
    ("num_unfilled", "unfilled valence states", "", "magpie", "NUnfilled.table"),
    ("num_valance", "valence electrons", "", "magpie", "NValence.table"),
    ("num_d_unfilled", "unfilled d states", "", "magpie", "NdUnfilled.table"),
    ("num_d_valence", "d valence electrons", "", "magpie", "NdValence.table"),
    ("num_f_unfilled", "unfilled f states", "", "magpie", "NfUnfilled.table"),
    ("num_f_valence", "f valence electrons", "", "magpie", "NfValence.table"),
    ("num_p_unfilled", "unfilled p states", "", "magpie", "NpUnfilled.table"),
    ("num_p_valence", "p valence electrons", "", "magpie", "NpValence.table"),
    ("num_s_unfilled", "unfilled s states", "", "magpie", "NsUnfilled.table"),
    ("num_s_valence", "s valence electrons", "", "magpie", "NsValence.table"),
    ("period", "period", "", "mendeleev", "elements.period"),
    ("specific_heat", "specific heat capacity at 25 °C", "J/(g K)", "mendeleev",
     "elements.specific_heat_capacity"),
    ("thermal_conductivity", "thermal conductivity", "W/(m K)", "pymatgen", "Element.thermal_conductivity"),
    ("vdw_radius", "van der Waals radius", "pm", "mendeleev", "elements.vdw_radius"),
    ("vdw_radius_alvarez", "van der Waals radius (Alvarez)", "pm", "mendeleev", "elements.vdw_radius_alvarez"),
    ("vdw_radius_mm3", "van der Waals radius (MM3 force field)", "pm", "mendeleev", "elements.vdw_radius_mm3"),
    ("vdw_radius_uff", "van der Waals radius (UFF)", "pm", "mendeleev", "elements.vdw_radius_uff"),
    ("sound_velocity", "speed of sound", "m/s", "pymatgen", "Element.velocity_of_sound"),
    ("Polarizability", "static dipole polarizability (CRC)", "Å^3", "magpie", "Polarizability.table"),
]


def _mendeleev_frame() -> pd.DataFrame:
    """mendeleev's element table plus the computed attributes we use, index Z 1..118."""
    import mendeleev
    from mendeleev.fetch import fetch_table

    db = Path(mendeleev.__file__).parent / "elements.db"
    elements = fetch_table("elements").set_index("atomic_number").sort_index()
    with sqlite3.connect(db) as con:  # first ionization energy: the neutral atom (ion_charge 0)
        ie = pd.read_sql("select atomic_number, ionization_energy from ionizationenergies where ion_charge = 0", con)
    first = ie.set_index("atomic_number")["ionization_energy"]
    elements["first_ion_en"] = first.reindex(elements.index)
    elements["atomic_volume"] = elements["atomic_weight"] / elements["density"]
    # boiling and melting points by mendeleev's own rule (Element.boiling_point / melting_point):
    # the value of the only allotrope, or of the first of two allotropes that agree within 1 %
    with sqlite3.connect(db) as con:
        pt = pd.read_sql("select id, atomic_number, boiling_point, melting_point from phasetransitions"
                         " order by id", con)
    for col in ("boiling_point", "melting_point"):
        elements[col] = pt.groupby("atomic_number")[col].agg(_mendeleev_phase_rule).reindex(elements.index)
    elements["atomic_number"] = elements.index
    return elements


def _mendeleev_phase_rule(values: pd.Series) -> float:
    vals = [float(v) if v is not None else math.nan for v in values]
    if len(vals) == 1:
        return vals[0]
    if len(vals) == 2 and math.isclose(vals[0], vals[1], rel_tol=1e-2):
        return vals[0]
    return math.nan


def _pymatgen_value(z: int, attribute: str) -> float:
    from pymatgen.core.periodic_table import Element

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = getattr(Element.from_Z(z), attribute)
    if value is None:
        return math.nan
    value = float(value)
    return value if math.isfinite(value) else math.nan


def xenonpy_raw(magpie: pd.DataFrame) -> pd.DataFrame:
    """The 58 properties as found in the sources (NaN where a source has no value)."""
    mend = _mendeleev_frame()
    columns = {}
    for name, _label, _unit, origin, attribute in XENONPY_SPEC:
        if origin == "magpie":
            values = magpie[attribute.removesuffix(".table")].to_numpy(dtype=float)
        elif origin == "pymatgen":
            attr = attribute.split()[0].removeprefix("Element.")
            values = np.array([_pymatgen_value(z, attr) for z in range(1, N_Z + 1)])
            if name == "atomic_radius":
                values = values * 100.0  # Å -> pm
        else:
            col = {"covalent_radius_slater": "atomic_radius", "specific_heat": "specific_heat_capacity"}.get(
                name, name)
            values = pd.to_numeric(mend[col], errors="coerce").reindex(range(1, N_Z + 1)).to_numpy(float)
        if name in ("boiling_point", "melting_point"):  # allotropes that disagree: pymatgen's value
            fallback = np.array([_pymatgen_value(z, name) for z in range(1, N_Z + 1)])
            values = np.where(np.isnan(values), fallback, values)
        columns[name] = values
    return pd.DataFrame(columns, index=pd.RangeIndex(1, N_Z + 1, name="Z"))


def impute_xenonpy(raw: pd.DataFrame) -> pd.DataFrame:
    """Fill the gaps of H..Pu by iterative imputation on standardised columns (as XenonPy did).

    Imputed values are clipped to the range observed in each column, so a property that is never
    negative is not imputed negative. Z 95..118 stay NaN (outside XenonPy's table).
    """
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer
    from sklearn.linear_model import BayesianRidge

    block = raw.loc[1:XENONPY_LAST_Z]
    mean, std = block.mean(), block.std().replace(0.0, 1.0)
    scaled = (block - mean) / std
    imputer = IterativeImputer(estimator=BayesianRidge(), max_iter=50, tol=1e-4, random_state=0,
                               min_value=scaled.min().to_numpy(), max_value=scaled.max().to_numpy())
    filled = pd.DataFrame(imputer.fit_transform(scaled.to_numpy()), index=block.index, columns=block.columns)
    filled = filled * std + mean
    out = raw.copy()
    observed = block.notna()
    out.loc[1:XENONPY_LAST_Z] = block.where(observed, filled)
    # integer-valued electron counts stay integers
    for name in out.columns:
        if name.startswith("num_"):
            out.loc[1:XENONPY_LAST_Z, name] = out.loc[1:XENONPY_LAST_Z, name].round()
    return out


# --------------------------------------------------------------------------- output
LICENCES = {
    "matminer": "BSD-3-Clause-LBNL (matminer LICENSE); tables from Magpie (Ward et al. 2016)",
    "pymatgen": "MIT",
    "mendeleev": "MIT",
}
PACKAGES = {"magpie": "matminer", "pymatgen": "pymatgen", "mendeleev": "mendeleev"}


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, compression={"method": "gzip", "mtime": 0}, float_format=None, lineterminator="\n")


def _symbols() -> list[str]:
    from pymatgen.core.periodic_table import Element

    return [Element.from_Z(z).symbol for z in range(1, N_Z + 1)]


def main() -> None:
    """Build all tables and the provenance file."""
    versions = {pkg: md.version(pkg) for pkg in ("matminer", "pymatgen", "mendeleev")}
    symbols = _symbols()
    magpie = magpie_table()
    raw = xenonpy_raw(magpie)
    xenonpy = impute_xenonpy(raw)

    OUT.mkdir(parents=True, exist_ok=True)
    for name, frame in (("magpie", magpie), ("xenonpy", xenonpy)):
        _write_csv(frame.assign(symbol=symbols)[["symbol", *frame.columns]], OUT / f"elements_{name}.csv.gz")

    rows = []
    magpie_dir = "matminer/utils/data_files/magpie_elementdata/"
    for name in magpie.columns:
        label, unit = MAGPIE_META[name]
        rows.append({"source": "magpie", "property": name, "label": label, "unit": unit, "package": "matminer",
                     "version": versions["matminer"], "attribute": f"{magpie_dir}{name}.table",
                     "licence": LICENCES["matminer"], "n_source": int(magpie[name].notna().sum()), "n_imputed": 0})
    for name, label, unit, origin, attribute in XENONPY_SPEC:
        pkg = PACKAGES[origin]
        attr = f"{magpie_dir}{attribute}" if origin == "magpie" else attribute
        n_src = int(raw[name].notna().sum())
        n_imp = int(raw.loc[1:XENONPY_LAST_Z, name].isna().sum())
        rows.append({"source": "xenonpy", "property": name, "label": label, "unit": unit, "package": pkg,
                     "version": versions[pkg], "attribute": attr, "licence": LICENCES[pkg],
                     "n_source": n_src, "n_imputed": n_imp})
    props = pd.DataFrame(rows)
    _write_csv(props.set_index(["source", "property"]), OUT / "elements_properties.csv.gz")
    (OUT / "ELEMENTS_PROVENANCE.md").write_text(_provenance(props, raw, versions, symbols), encoding="utf-8")
    print(f"magpie: {magpie.shape[1]} properties; xenonpy: {xenonpy.shape[1]} properties; "
          f"{int(props['n_imputed'].sum())} xenonpy values imputed; written to {OUT}")


def _provenance(props: pd.DataFrame, raw: pd.DataFrame, versions: dict[str, str], symbols: list[str]) -> str:
    head = f"""# Element property tables: provenance

Built offline by `scripts/build_element_data.py` from data installed from PyPI:
matminer {versions['matminer']} (its bundled Magpie tables), pymatgen {versions['pymatgen']}
(`pymatgen/core/periodic_table.json.gz`, read through `pymatgen.core.periodic_table.Element`) and
mendeleev {versions['mendeleev']} (`mendeleev/elements.db`). Rebuild with
`.venv/bin/python scripts/build_element_data.py`; the files are deterministic.

| file | content |
|---|---|
| `elements_magpie.csv.gz` | every scalar Magpie table, index Z 1-118, raw values as matminer reads them (NaN = missing) |
| `elements_xenonpy.csv.gz` | XenonPy's 58 `elements_completed` properties, Z 1-94 complete (imputed where the sources have no value), Z 95-118 as sourced |
| `elements_properties.csv.gz` | label, unit, package, version, attribute, licence, value counts per property |

Licences: matminer is BSD-3-Clause-LBNL ("Copyright (c) 2015, The Regents of the University of
California, through Lawrence Berkeley National Laboratory"); the Magpie tables it ships come from
Magpie (Ward, Agrawal, Choudhary, Wolverton, npj Comput Mater 2, 16028 (2016)), whose README lists
the original sources (Mathematica ElementData, CRC Handbook, OQMD, Gaultois et al. 2013 for HHI,
Villars et al. 2004 for Mendeleev numbers). pymatgen and mendeleev are MIT-licensed.

## Magpie (`source="magpie"`)

Read with matminer's own reader, `matminer.utils.data.MagpieData(impute_nan=False)`: line Z of each
`.table` file, `float()` of the line, NaN when the line is missing or does not parse ("Missing",
"None", "NA"). The featurizer replaces NaN by the mean of the property over the elements that
have it (the mean over Z 1-118 of the non-NaN values), exactly as matminer's
`MagpieData(impute_nan=True)` does, so `ElementProperty(source="magpie")` matches matminer's
`ElementProperty.from_preset("magpie")` within 1e-9. The tables holding lists (`OxidationStates`,
`IonizationEnergies`) are not included. The first 22 columns are the `magpie` preset, in order.

| property | label | unit | elements with a value | file |
|---|---|---|---|---|
"""
    lines = [head]
    for r in props[props.source == "magpie"].itertuples():
        lines.append(f"| `{r.property}` | {r.label} | {r.unit or '-'} | {r.n_source} | `{r.attribute}` |\n")
    lines.append(f"""
## XenonPy (`source="xenonpy"`)

XenonPy (Yamada et al., ACS Cent Sci 5, 1717 (2019)) downloads its element table
(`elements_completed`, 58 properties of H..Pu, gaps filled by multiple imputation) on first use, and
that table has no PyPI source. We rebuild the same 58 properties, under XenonPy's names and in
XenonPy's column order, from the packages above, choosing for each property the source XenonPy
itself cites (mendeleev, pymatgen, Magpie). Gaps of Z 1-{XENONPY_LAST_Z} are filled with
scikit-learn's `IterativeImputer` (chained equations with `BayesianRidge`, on standardised columns,
`random_state=0`, imputed values clipped to each column's observed range, electron counts
rounded); XenonPy used multiple imputation (Rubin 1987) in the same spirit. Z 95-118 are left as
sourced (XenonPy has no rows for them); the featurizer imputes their NaN with the column mean.

Values are *not* identical to XenonPy's downloaded table: the upstream databases have been
revised since XenonPy froze it (for example mendeleev's boiling point of Li is now 1615 K, XenonPy
has 1118 K) and the imputation is a re-run. Properties that needed a decision:

- `atomic_radius`: XenonPy took it from an old mendeleev release whose values no longer ship
  (H 79 pm, Li 155 pm). Replaced by pymatgen's calculated atomic radius (Clementi et al. 1967),
  converted from Å to pm.
- `covalent_radius_slater`: dropped from mendeleev; its values are Slater's 1964 radii, which
  mendeleev now stores as `atomic_radius`; we use that column.
- `atomic_volume`: mendeleev now computes it as atomic weight / density (cm^3/mol; gases at their
  gas density), XenonPy had the older stored values. We use mendeleev's current definition.
- `electron_negativity` (distinct from `en_pauling` in XenonPy): pymatgen's `Element.X`
  (Pauling scale), `en_pauling` from mendeleev.
- `bulk_modulus`, `sound_velocity`, `thermal_conductivity`, `molar_volume`: pymatgen, the source
  whose values agree with XenonPy's table (e.g. speed of sound of H, He, Li, Be, B = 1270, 970,
  6000, 13000, 16200 m/s).
- `boiling_point`, `melting_point`: mendeleev's value (its rule: the only allotrope, or two that
  agree within 1 %); where mendeleev has none (allotropes that disagree, e.g. C, P, S), pymatgen's.
- `first_ion_en`: mendeleev's first ionization energy (eV); `fusion_enthalpy`, the `gs_*`, `hhi_*`,
  `heat_capacity_*`, `icsd_volume`, `num_*` and `Polarizability` columns: the Magpie tables.

| property | label | unit | package | attribute | elements with a source value (of 118) | imputed (Z 1-{XENONPY_LAST_Z}) |
|---|---|---|---|---|---|---|
""")
    for r in props[props.source == "xenonpy"].itertuples():
        imputed = raw.index[raw[r.property].isna() & (raw.index <= XENONPY_LAST_Z)]
        who = ", ".join(symbols[z - 1] for z in imputed[:12]) + (" ..." if len(imputed) > 12 else "")
        lines.append(f"| `{r.property}` | {r.label} | {r.unit or '-'} | {r.package} {r.version} | "
                     f"`{r.attribute}` | {r.n_source} | {r.n_imputed}{f' ({who})' if who else ''} |\n")
    return "".join(lines)


if __name__ == "__main__":
    main()
