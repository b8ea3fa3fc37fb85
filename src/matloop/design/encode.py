"""Encoding the parameters of process tables for design: the public entry points of issue #17's inputs.

- :class:`ParameterEncoder` (from :mod:`matloop.represent.parameter_encoder`): detects each
  parameter column's type - numeric, integer or discrete (kept on its grid), boolean, text labels
  (one-hot), SMILES-valued choices (a chemical encoding with RDKit, one-hot without), element
  loadings that sum to 1 (optionally element-aware features) - and turns the columns into one
  numeric matrix; ``describe()`` says what it chose, ``to_dict``/``from_dict`` persist it without pickle.
- :func:`dataset_encoder`: the encoder of a :class:`~matloop.io.Dataset`, fitted once on all its rows
  and kept on it; :func:`matloop.design.surrogate.featurize` uses it for every parameter table, so
  ``suggest``, ``campaign`` and ``benchmark campaign`` accept text and SMILES columns.
- :func:`composition_features` (from :mod:`matloop.represent.parameter_chem`): loading-weighted
  Magpie element properties under names that do not depend on the element set, so a model trained on
  one plate (Ni, Fe, Co, Ta, Mn, Cu) predicts another (Ni, Fe, Co, Mn, Ce, La). For ``--history``
  (transfer between campaigns whose element sets overlap).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from matloop.represent.parameter_chem import column_element, composition_features
from matloop.represent.parameter_encoder import KINDS, ParameterEncoder

__all__ = ["KINDS", "ParameterEncoder", "category_features", "column_element", "composition_features",
           "dataset_encoder"]


def dataset_encoder(dataset, extra_frames: Sequence[pd.DataFrame] = (), refit: bool = False) -> ParameterEncoder:
    """The fitted :class:`ParameterEncoder` of a parameter :class:`~matloop.io.Dataset`, fitted once.

    It is fitted on every row of ``dataset.frame`` (measured and candidates) plus ``extra_frames``
    (a second table of candidates, so their labels are known), kept in ``dataset.encoding`` (subsets
    share it, so features computed in pieces line up), and its summary goes to the progress messages
    (stderr in the CLI) when any column is not a plain number."""
    enc = getattr(dataset, "encoding", None)
    if enc is not None and not refit:
        return enc
    cols = dataset.parameter_columns
    frame = dataset.frame[cols]
    frames = [f[cols] for f in extra_frames if len(f) and set(cols) <= set(f.columns)]  # else reported later
    if frames:
        frame = pd.concat([frame, *frames], ignore_index=True)
    enc = ParameterEncoder(columns=cols).fit(frame)
    if not enc.trivial:
        from matloop.progress import say

        say(enc.summary())
        for note in enc.notes_:
            say(f"note: {note}")
    dataset.encoding = enc
    return enc


def category_features(dataset) -> list[list[int]] | None:
    """The feature columns of each categorical input of a parameter :class:`~matloop.io.Dataset` (text
    labels, SMILES, booleans: their one-hot or chemical features, positions in :func:`dataset_encoder`'s
    output), or None for any other table: a cold start gives their levels out in turn
    (:func:`matloop.design.coldstart.balanced_pool`)."""
    if getattr(dataset, "kind", None) != "parameters":
        return None
    enc = dataset_encoder(dataset)
    where = {name: i for i, name in enumerate(enc.feature_names_)}
    groups = [[where[f] for f in s["features"] if f in where] for s in enc.specs_
              if s["labels"] is not None or s["kind"] == "boolean"]
    return [g for g in groups if g] or None
