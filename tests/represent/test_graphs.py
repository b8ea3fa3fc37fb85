"""Crystal graphs: the neighbour rule is independent of the cell chosen and of the order of sites."""

from __future__ import annotations

import numpy as np
import pytest

from matloop.represent.graphs import CrystalGraph, CrystalGraphConverter, GaussianDistance, GraphSet


def _rocksalt(a: float = 5.64):
    from pymatgen.core import Lattice, Structure

    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def _distorted(seed: int = 0):
    """A low-symmetry 6-site cell (no ties), for permutation and supercell checks."""
    from pymatgen.core import Lattice, Structure

    rng = np.random.default_rng(seed)
    lattice = Lattice.from_parameters(4.1, 4.6, 5.3, 84.0, 95.0, 101.0)
    coords = rng.uniform(0, 1, (6, 3))
    s = Structure(lattice, ["Li", "O", "O", "Fe", "P", "O"], coords)
    while min(s.distance_matrix[np.triu_indices(6, 1)]) < 1.2:  # keep atoms apart
        coords = rng.uniform(0, 1, (6, 3))
        s = Structure(lattice, ["Li", "O", "O", "Fe", "P", "O"], coords)
    return s


def test_rocksalt_counts_same_in_primitive_conventional_and_supercell():
    pytest.importorskip("pymatgen")
    conv = CrystalGraphConverter(cutoff=8.0, max_neighbors=12)
    conventional = _rocksalt()
    primitive = conventional.get_primitive_structure()
    supercell = conventional * (2, 1, 1)
    counts = [conv.convert(s).neighbour_counts() for s in (primitive, conventional, supercell)]
    assert [len(c) for c in counts] == [2, 8, 16]
    # 6 nearest (2.82 A) plus the whole tied shell of 12 at 3.99 A: the 12th neighbour lies in that shell
    for c in counts:
        assert (c == 18).all()
    d = conv.convert(primitive).distances
    assert np.allclose(np.sort(d[:18]), np.sort(np.r_[np.full(6, 2.82), np.full(12, 3.988)]), atol=0.01)


def test_counts_and_distances_follow_a_permutation_of_sites():
    pytest.importorskip("pymatgen")
    from pymatgen.core import Structure

    s = _distorted()
    perm = np.random.default_rng(1).permutation(len(s))
    shuffled = Structure(s.lattice, [s[i].specie for i in perm], [s[i].frac_coords for i in perm])
    conv = CrystalGraphConverter(cutoff=6.0, max_neighbors=8)
    g, h = conv.convert(s), conv.convert(shuffled)
    assert np.array_equal(h.neighbour_counts(), g.neighbour_counts()[perm])
    assert np.array_equal(h.atomic_numbers, g.atomic_numbers[perm])
    for new, old in enumerate(perm):
        assert np.allclose(np.sort(h.distances[h.centres == new]), np.sort(g.distances[g.centres == old]))


def test_supercell_sites_have_the_neighbours_of_their_unit_cell_site():
    pytest.importorskip("pymatgen")
    s = _distorted(2)
    conv = CrystalGraphConverter(cutoff=6.0, max_neighbors=10)
    g = conv.convert(s)
    big = conv.convert(s * (1, 2, 2))
    # pymatgen's supercell repeats every unit-cell site 4 times in a row
    assert np.array_equal(big.neighbour_counts(), np.repeat(g.neighbour_counts(), 4))
    assert np.allclose(np.sort(big.distances[big.centres == 4]), np.sort(g.distances[g.centres == 1]))
    assert (g.distances > 0).all() and (g.distances <= 6.0).all()
    # at most max_neighbors per site unless tied: without ties exactly min(10, available)
    assert (g.neighbour_counts() == 10).all()


def test_bad_structures_are_reported_per_row():
    pytest.importorskip("pymatgen")
    from pymatgen.core import Lattice, Structure

    from matloop.errors import InputError

    disordered = Structure(Lattice.cubic(3.6), [{"Cu": 0.5, "Au": 0.5}], [[0, 0, 0]])
    lonely = Structure(Lattice.cubic(20.0), ["Cu"], [[0, 0, 0]])
    with pytest.raises(InputError) as info:
        CrystalGraphConverter(cutoff=8.0).transform([_rocksalt(), disordered, lonely], rows=[3, 4, 5], column="cif")
    table = info.value.table
    assert list(table["row"]) == [4, 5] and set(table["column"]) == {"cif"}
    assert "partial occupancies" in table["reason"].iloc[0] and "no neighbour" in table["reason"].iloc[1]


def test_converter_round_trip_and_gaussians():
    conv = CrystalGraphConverter(cutoff=6.5, max_neighbors=9, gaussian_step=0.25)
    again = CrystalGraphConverter.from_dict(conv.to_dict())
    assert again.to_dict() == conv.to_dict()
    with pytest.raises(ValueError, match="unknown"):
        CrystalGraphConverter.from_dict({**conv.to_dict(), "module": "os"})
    g = GaussianDistance(0.0, 8.0, 0.2)
    e = g.expand(np.array([0.0, 2.0, 7.95]))
    assert e.shape == (3, 41) and e.dtype == np.float32
    assert np.argmax(e, axis=1).tolist() == [0, 10, 40]
    assert np.isclose(e[1, 10], 1.0)


def test_graph_set_concatenates_with_offsets():
    a = CrystalGraph(np.array([11, 17]), np.array([0, 1]), np.array([1, 0]), np.array([2.8, 2.8]))
    b = CrystalGraph(np.array([26]), np.array([0, 0]), np.array([0, 0]), np.array([2.5, 2.9]))
    gs = GraphSet.from_graphs([a, b, a])
    assert len(gs) == 3 and gs.atom_ptr.tolist() == [0, 2, 3, 5] and gs.edge_ptr.tolist() == [0, 2, 4, 6]
    back = gs.graph(1)
    assert back.atomic_numbers.tolist() == [26] and np.allclose(back.distances, [2.5, 2.9])
