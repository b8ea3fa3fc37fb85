"""Mini-batches of crystal graphs: the graphs of the chosen crystals concatenated, with index arrays.

As CGCNN's ``collate_pool`` and CHGNet's ``collate_graphs``, but without a Python loop over crystals:
the atom and edge ranges of the chosen crystals are gathered with one vectorised "concatenated
ranges" index, and site indices are shifted by each crystal's offset in the batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from matloop.represent.graphs import GraphSet


def concatenated_ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``concatenate([arange(s, s + c) for s, c in zip(starts, counts)])`` without the loop."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    first = np.cumsum(counts) - counts  # position of each range's first element in the output
    return np.repeat(np.asarray(starts, dtype=np.int64) - first, counts) + np.arange(total, dtype=np.int64)


@dataclass
class Batch:
    """Arrays (NumPy, or tensors after :meth:`to_torch`) of several crystals, ready for the network."""

    atomic_numbers: object
    centres: object
    neighbours: object
    distances: object
    crystal_index: object
    n_crystals: int

    def to_torch(self, torch, device: str = "cpu") -> Batch:
        """The same batch as tensors on ``device``."""
        as_t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(device)  # noqa: E731
        return Batch(as_t(self.atomic_numbers), as_t(self.centres), as_t(self.neighbours), as_t(self.distances),
                     as_t(self.crystal_index), self.n_crystals)

    def inputs(self) -> tuple:
        """Positional arguments of :meth:`matloop.models.gnn.cgcnn.CGCNN.forward`."""
        return (self.atomic_numbers, self.centres, self.neighbours, self.distances, self.crystal_index,
                self.n_crystals)


def make_batch(graphs: GraphSet, idx: np.ndarray) -> Batch:
    """The crystals ``idx`` of ``graphs`` as one batch (crystal ``idx[k]`` becomes crystal ``k``)."""
    idx = np.asarray(idx, dtype=np.int64)
    n_atoms = graphs.atom_ptr[idx + 1] - graphs.atom_ptr[idx]
    n_edges = graphs.edge_ptr[idx + 1] - graphs.edge_ptr[idx]
    atoms = concatenated_ranges(graphs.atom_ptr[idx], n_atoms)
    edges = concatenated_ranges(graphs.edge_ptr[idx], n_edges)
    offset = np.repeat(np.cumsum(n_atoms) - n_atoms, n_edges)
    return Batch(graphs.atomic_numbers[atoms], graphs.centres[edges] + offset, graphs.neighbours[edges] + offset,
                 graphs.distances[edges].astype(np.float32), np.repeat(np.arange(idx.size, dtype=np.int64), n_atoms),
                 int(idx.size))


def batches(graphs: GraphSet, idx: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """``idx`` cut into consecutive chunks of at most ``batch_size`` crystals."""
    idx = np.asarray(idx, dtype=np.int64)
    return [idx[i:i + batch_size] for i in range(0, idx.size, max(1, int(batch_size)))]
