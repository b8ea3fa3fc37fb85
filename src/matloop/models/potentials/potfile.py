"""The ``.pot`` file: NumPy arrays and a JSON card in one ``.npz``, read without pickle.

Shared by :class:`~matloop.models.potentials.finetune.FineTunedPotential` (format version 1: CHGNet's
weights under ``w/``) and :class:`~matloop.models.potentials.corrected.CorrectedPotential` (version 2: the
weights plus a correction's arrays under ``c/``). The card holds a SHA-256 over the arrays and the card
(:func:`digest`); each class checks it on loading, so an altered or damaged file is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from matloop.errors import InputError

FORMAT = "matloop-potential"


def jsonable(value):
    """``value`` as plain JSON types (NumPy scalars to numbers, anything else unknown to text)."""
    return json.loads(json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v)))


def digest(arrays: dict, card: dict) -> str:
    """SHA-256 over the arrays and the card (without its own ``sha256``)."""
    from matloop.models.gnn.weights import arrays_digest

    body = {k: v for k, v in card.items() if k != "sha256"}
    return hashlib.sha256((arrays_digest(arrays) + json.dumps(body, sort_keys=True)).encode()).hexdigest()


def write_pot(path: str | os.PathLike, card: dict, arrays: dict[str, np.ndarray]) -> Path:
    """Write ``card`` (JSON) and ``arrays`` to ``path`` exactly (no ``.npz`` appended)."""
    path = Path(path)
    with open(path, "wb") as handle:  # np.savez would append .npz to a str path
        np.savez(handle, __card__=np.frombuffer(json.dumps(card).encode(), dtype=np.uint8), **arrays)
    return path


def read_pot(path: str | os.PathLike, version: int, kind: str = "") -> tuple[dict, dict[str, np.ndarray]]:
    """(card, arrays) of a ``.pot`` file of this ``version``; an :class:`InputError` for anything else.
    The caller checks the SHA-256 (its arrays' keys differ by version)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            card = json.loads(bytes(data["__card__"]).decode())
            arrays = {k: data[k] for k in data.files if k != "__card__"}
    except (OSError, ValueError, KeyError, EOFError, UnicodeDecodeError) as err:
        raise InputError(f"{path} is not a matloop potential (.pot) file: {err}") from err
    if not isinstance(card, dict) or card.get("format") != FORMAT or card.get("version") != version:
        raise InputError(f"{path} is not a {FORMAT} version {version}{kind} file")
    return card, arrays


def chgnet_from(model_args: dict, weights: dict[str, np.ndarray]):
    """A CHGNet network built from ``model_args`` with ``weights`` loaded (shapes checked), in eval mode."""
    import contextlib
    import io

    from chgnet.model import CHGNet

    from matloop.models.gnn.weights import load_arrays

    with contextlib.redirect_stdout(io.StringIO()):  # CHGNet prints its parameter count
        model = CHGNet(**dict(model_args))
    load_arrays(model, weights)
    return model.eval()
