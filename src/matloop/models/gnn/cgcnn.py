"""The CGCNN regression network: element features -> graph convolutions -> mean pooling -> MLP.

Why CGCNN (Xie & Grossman, PRL 120, 145301 (2018)) among the CGCNN / MEGNet / ALIGNN family: for
1,000-3,000 crystals trained on 2 CPU cores it is the right size. MEGNet adds edge and global-state
updates and ALIGNN a second (line) graph of bond angles, i.e. 3-10x the work per epoch and many more
weights, which pays off on tens of thousands of structures (Matbench's larger tasks) but overfits and
exceeds a 10-minute-per-fold budget at this scale. CGCNN's few weights per layer, shared by all
atoms, learn from a thousand crystals; an ensemble of five fits in minutes.

Atoms enter as a fixed table of element properties (matloop's bundled Magpie properties,
standardised; a buffer of the module, saved with the weights), so rare elements are placed by their
chemistry instead of by an embedding that a thousand crystals cannot train.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from matloop.models.gnn.layers import CGConv, GaussianExpansion, mean_pool


class CGCNN(nn.Module):
    """Crystal graph convolutional network with one output per crystal.

    Parameters
    ----------
    atom_table : (119, n_properties) tensor
        Features of element ``Z`` in row ``Z``.
    cutoff, gaussian_step : float
        The distance grid (:class:`~matloop.represent.graphs.GaussianDistance`).
    atom_fea_len, n_conv, h_fea_len : int
        Width of the atom features, number of convolutions, width of the hidden layer after pooling.
    dropout : float
        Dropout before the output layer (0: none).
    """

    def __init__(self, atom_table: torch.Tensor, cutoff: float = 8.0, gaussian_step: float = 0.2,
                 atom_fea_len: int = 64, n_conv: int = 3, h_fea_len: int = 128, dropout: float = 0.0):
        super().__init__()
        self.register_buffer("atom_table", atom_table.to(torch.float32))
        centres = torch.arange(0.0, cutoff + gaussian_step / 2, gaussian_step)
        self.expansion = GaussianExpansion(centres, gaussian_step)
        self.embedding = nn.Linear(atom_table.shape[1], atom_fea_len)
        self.convs = nn.ModuleList(CGConv(atom_fea_len, centres.numel()) for _ in range(n_conv))
        self.hidden = nn.Linear(atom_fea_len, h_fea_len)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(h_fea_len, 1)

    def embed(self, atomic_numbers: torch.Tensor, centres: torch.Tensor, neighbours: torch.Tensor,
              distances: torch.Tensor, crystal_index: torch.Tensor, n_crystals: int) -> torch.Tensor:
        """Pooled crystal features after the convolutions: (n_crystals, atom_fea_len)."""
        atom = self.embedding(self.atom_table[atomic_numbers])
        edge = self.expansion(distances)
        for conv in self.convs:
            atom = conv(atom, edge, centres, neighbours)
        return mean_pool(atom, crystal_index, n_crystals)

    def head(self, pooled: torch.Tensor) -> torch.Tensor:
        """Prediction from pooled features: (n_crystals,)."""
        return self.output(self.dropout(F.softplus(self.hidden(F.softplus(pooled))))).reshape(-1)

    def forward(self, atomic_numbers: torch.Tensor, centres: torch.Tensor, neighbours: torch.Tensor,
                distances: torch.Tensor, crystal_index: torch.Tensor, n_crystals: int) -> torch.Tensor:
        return self.head(self.embed(atomic_numbers, centres, neighbours, distances, crystal_index, n_crystals))
