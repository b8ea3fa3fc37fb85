"""Mini-batches of crystal graphs (NumPy only: runs without PyTorch)."""

from __future__ import annotations

import numpy as np

from matloop.models.gnn.batching import batches, concatenated_ranges, make_batch
from matloop.represent.graphs import CrystalGraph, GraphSet


def _random_graphs(n: int, seed: int = 0) -> list[CrystalGraph]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        sites = int(rng.integers(1, 5))
        edges = int(rng.integers(1, 9))
        centres = np.sort(rng.integers(0, sites, edges))
        out.append(CrystalGraph(rng.integers(1, 90, sites), centres, rng.integers(0, sites, edges),
                                rng.uniform(1, 8, edges)))
    return out


def test_concatenated_ranges_match_the_loop():
    starts, counts = np.array([5, 0, 9, 2]), np.array([3, 0, 2, 1])
    expected = np.concatenate([np.arange(s, s + c) for s, c in zip(starts, counts, strict=True)])
    assert concatenated_ranges(starts, counts).tolist() == expected.tolist()
    assert concatenated_ranges(np.array([1]), np.array([0])).size == 0


def test_batch_gathers_the_chosen_crystals_with_shifted_site_indices():
    graphs = _random_graphs(7)
    gs = GraphSet.from_graphs(graphs)
    idx = np.array([5, 1, 3])
    batch = make_batch(gs, idx)
    offset = 0
    edge_start = 0
    for k, i in enumerate(idx):
        g = graphs[i]
        sites = slice(offset, offset + g.n_sites)
        assert batch.atomic_numbers[sites].tolist() == g.atomic_numbers.tolist()
        assert (batch.crystal_index[sites] == k).all()
        e = slice(edge_start, edge_start + g.centres.size)
        assert (batch.centres[e] - offset).tolist() == g.centres.tolist()
        assert (batch.neighbours[e] - offset).tolist() == g.neighbours.tolist()
        assert np.allclose(batch.distances[e], g.distances)
        offset += g.n_sites
        edge_start += g.centres.size
    assert batch.n_crystals == 3 and batch.distances.dtype == np.float32
    assert [b.tolist() for b in batches(gs, np.arange(7), 3)] == [[0, 1, 2], [3, 4, 5], [6]]
