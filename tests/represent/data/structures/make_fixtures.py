"""Regenerate the structure fixtures of tests/represent/test_structure.py (run from anywhere).

Good files: NaCl.cif (rocksalt, a = 5.64 A), SrTiO3.POSCAR (cubic perovskite), ZnO.json (wurtzite,
pymatgen ``Structure.as_dict()``), Si.vasp (diamond), CONTCAR (bcc Fe), Cu.cif.gz (fcc, gzipped CIF).
matminer_reference.json: matminer 0.10 DensityFeatures, RadialDistributionFunction(cutoff=10,
bin_size=0.5), SineCoulombMatrix (eigenvalues sorted by decreasing magnitude) and GlobalSymmetryFeatures
of the six structures as built here (needs matminer, the ``bench`` extra).
Bad files: broken.cif, vasp4_POSCAR (no element line), overlap.json (two atoms 0.1 A apart),
foreign_module.json (an ``@module`` outside pymatgen), empty.cif, two_blocks.cif.
"""

import gzip
import json
import sys
from pathlib import Path

from pymatgen.core import Lattice, Structure
from pymatgen.io.cif import CifWriter
from pymatgen.io.vasp import Poscar

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # tests/: the shared crystals
from standins import crystals  # noqa: E402

HERE = Path(__file__).parent


def build() -> dict[str, Structure]:
    """The six test crystals (tests/standins.py)."""
    return crystals()


def main() -> None:
    s = build()
    CifWriter(s["NaCl"]).write_file(HERE / "NaCl.cif")
    Poscar(s["SrTiO3"]).write_file(HERE / "SrTiO3.POSCAR")
    (HERE / "ZnO.json").write_text(json.dumps(s["ZnO"].as_dict(), indent=1))
    Poscar(s["Si"]).write_file(HERE / "Si.vasp")
    Poscar(s["Fe"]).write_file(HERE / "CONTCAR")
    with gzip.open(HERE / "Cu.cif.gz", "wt") as handle:
        handle.write(str(CifWriter(s["Cu"])))

    (HERE / "broken.cif").write_text(
        "data_broken\n_cell_length_a 5.0\n_cell_length_b oops\nloop_\n_atom_site_label\n"
    )
    lines = Poscar(s["SrTiO3"]).get_str().splitlines()
    del lines[5]  # the element-symbol line: VASP 4 format ...
    lines[7:] = [" ".join(line.split()[:3]) for line in lines[7:]]  # ... and no symbols after coordinates
    (HERE / "vasp4_POSCAR").write_text("\n".join(lines) + "\n")
    overlap = Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0, 0, 0], [0.025, 0, 0]])
    (HERE / "overlap.json").write_text(json.dumps(overlap.as_dict()))
    foreign = s["Cu"].as_dict()
    foreign["sites"][0]["properties"] = {"payload": {"@module": "os", "@class": "system", "cmd": "echo"}}
    (HERE / "foreign_module.json").write_text(json.dumps(foreign))
    (HERE / "empty.cif").write_text("")
    cif = str(CifWriter(s["Cu"]))
    (HERE / "two_blocks.cif").write_text(cif + "\n" + cif.replace("data_Cu", "data_Cu_again"))
    reference(s)


def reference(structures: dict[str, Structure]) -> None:
    import numpy as np
    from matminer.featurizers.structure import (
        DensityFeatures,
        GlobalSymmetryFeatures,
        RadialDistributionFunction,
        SineCoulombMatrix,
    )

    out = {}
    for name, s in structures.items():
        eig = np.real(SineCoulombMatrix().fit([s]).featurize(s))
        out[name] = {
            "density": DensityFeatures().featurize(s),
            "rdf": [float(v) for v in RadialDistributionFunction(cutoff=10.0, bin_size=0.5).featurize(s)],
            "sine_coulomb": [float(v) for v in eig[np.argsort(-np.abs(eig), kind="stable")]],
            "symmetry": dict(
                zip(
                    GlobalSymmetryFeatures().feature_labels(),
                    GlobalSymmetryFeatures().featurize(s),
                    strict=True,
                )
            ),
        }
    (HERE / "matminer_reference.json").write_text(json.dumps(out, indent=1, default=lambda v: v.item()))


if __name__ == "__main__":
    main()
