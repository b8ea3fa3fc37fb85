"""read_structures: every kind of bad structure is one row of one error; extxyz; disorder on request."""

from __future__ import annotations

import builtins
import json

import pytest

pytest.importorskip("pymatgen.core")

from pymatgen.core import Lattice, Structure  # noqa: E402

from matloop.errors import InputError  # noqa: E402
from matloop.represent.structure import read_structures  # noqa: E402

POSCAR = "{name}\n1.0\n{a} 0 0\n0 {a} 0\n0 0 {c}\n{el}\n{n}\ndirect\n{xyz}\n"
EXTXYZ = ('2\nLattice="4.0 0.0 0.0 0.0 4.0 0.0 0.0 0.0 4.0" Properties=species:S:1:pos:R:3 pbc="T T T"\n'
          "Na 0.0 0.0 0.0\nCl 2.0 2.0 2.0\n")


def _json(element: str) -> str:
    return json.dumps({"@module": "pymatgen.core.structure", "@class": "Structure",
                       "lattice": {"matrix": [[4, 0, 0], [0, 4, 0], [0, 0, 4]]},
                       "sites": [{"species": [{"element": element, "occu": 1}], "abc": [0, 0, 0]}]})


def test_every_bad_row_is_reported_once_with_its_reason():
    values = [
        POSCAR.format(name="ok", a=4, c=4, el="Na", n=1, xyz="0 0 0"),
        POSCAR.format(name="short", a=4, c=4, el="Na", n=2, xyz="0 0 0"),
        POSCAR.format(name="overlap", a=4, c=4, el="Na Cl", n="1 1", xyz="0 0 0\n0.02 0 0"),
        POSCAR.format(name="flat", a=4, c=0, el="Na", n=1, xyz="0 0 0"),
        POSCAR.format(name="unknown", a=4, c=4, el="Xx", n=1, xyz="0 0 0"),
        _json("Qq"),
        _json("Cu"),
    ]
    with pytest.raises(InputError) as info:
        read_structures(values, column="cif", rows=range(101, 108))
    table = info.value.table
    assert table["row"].tolist() == [102, 103, 104, 105, 106] and set(table["column"]) == {"cif"}
    reasons = table["reason"].tolist()
    assert reasons[0].startswith("not a readable POSCAR")
    assert reasons[1].startswith("overlapping atoms")
    assert reasons[2].startswith("zero cell volume")
    assert reasons[3].startswith("unknown element symbol 'Xx'") and reasons[4] == "unknown element symbol 'Qq'"


def test_disorder_is_a_bad_row_only_when_asked():
    alloy = Structure(Lattice.cubic(3.6), [{"Fe": 0.5, "Ni": 0.5}], [[0, 0, 0]])
    assert len(read_structures([alloy])) == 1
    with pytest.raises(InputError) as info:
        read_structures([alloy.copy(), alloy], allow_disorder=False)
    assert info.value.table["row"].tolist() == [1, 2]
    assert "partial occupancies (disordered site 1)" in info.value.table["reason"].iloc[0]


def test_extended_xyz_files(tmp_path, monkeypatch):
    (tmp_path / "nacl.extxyz").write_text(EXTXYZ)
    (tmp_path / "molecule.xyz").write_text("1\nwater-free comment\nNa 0 0 0\n")
    try:
        import ase  # noqa: F401
    except ImportError:
        with pytest.raises(InputError, match="needs ASE"):
            read_structures(["nacl.extxyz"], base_dir=tmp_path)
        return
    structure = read_structures(["nacl.extxyz"], base_dir=tmp_path)[0]
    assert structure.composition.reduced_formula == "NaCl" and structure.volume == pytest.approx(64.0)
    with pytest.raises(InputError, match="no periodic cell"):
        read_structures(["molecule.xyz"], base_dir=tmp_path)
    real_import = builtins.__import__

    def no_ase(name, *args, **kwargs):
        if name.startswith("ase"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ase)
    with pytest.raises(InputError, match="needs ASE"):
        read_structures(["nacl.extxyz"], base_dir=tmp_path)
