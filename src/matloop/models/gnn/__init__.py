"""Crystal graph neural network (CGCNN, Xie & Grossman 2018) with a calibrated deep-ensemble uncertainty.

- :mod:`.layers`, :mod:`.cgcnn`: the network (PyTorch ``nn.Module`` objects that take tensors only);
- :mod:`.batching`: mini-batches of concatenated graphs with per-crystal index arrays;
- :mod:`.training`: the training loop (seed, device and deadline are arguments; no global state);
- :mod:`.weights`: weights as npz + JSON arguments + SHA-256, loaded without pickle or ``torch.load``;
- :mod:`.estimator`: :class:`CrystalGraphRegressor`, what ``--model gnn`` fits.

PyTorch is optional: only :mod:`.estimator` is importable without it (it imports torch when fitting
or predicting and says how to install it).
"""

from __future__ import annotations

__all__ = ["CrystalGraphRegressor"]


def __getattr__(name: str):
    if name == "CrystalGraphRegressor":
        from matloop.models.gnn.estimator import CrystalGraphRegressor

        return CrystalGraphRegressor
    raise AttributeError(name)
