"""Process-table inputs of every type -> one numeric matrix: :class:`ParameterEncoder`.

A process table (no formula/SMILES/structure *input* column) describes each experiment by its
parameters. Real campaigns mix types, and each needs its own encoding:

=============  ==========================================  ===================================================
kind           detected when                               encoding
=============  ==========================================  ===================================================
numeric        numbers                                     as given (models standardise downstream)
integer        whole numbers                               as given; the grid (distinct values, or step 1) is
                                                           recorded so suggested points stay on it (:meth:`snap`)
discrete       few distinct non-integer numbers            as given; the grid is recorded (e.g. 0, 0.1 .. 1)
boolean        True/False                                  0/1
label          text with repeated values (solvent names)   one-hot, one column per label
smiles         text in SMILES syntax (fragments, ligands)  with RDKit: a chemical embedding (RDKit descriptors
                                                           and a folded Morgan fingerprint, PCA over the
                                                           column's options, at most ``n_chemical`` dims);
                                                           2 options or ``smiles="onehot"``: one-hot; without
                                                           RDKit: one-hot, and :meth:`describe` says so
composition    >= 2 numeric columns named after elements   ``composition="loadings"``: the loadings as given;
               (``ni_load``, ``fe_frac``, ``Co``, ``x_Mn``)  ``"both"``: plus the loading-weighted Magpie element
               whose rows sum to 1 (or 100)                properties (:func:`~matloop.represent.parameter_chem.
                                                           composition_features`); ``"elements"``: those only
=============  ==========================================  ===================================================

Unseen labels at :meth:`transform`: ``handle_unknown="error"`` (default) raises
:class:`matloop.InputError` naming every row, column and value - a model has learnt nothing about a
solvent it never saw, and predicting as if it were "none of the known ones" would be a silent guess.
``handle_unknown="zero"`` encodes such a row as all zeros and warns. A SMILES option never seen is
*not* unknown to the chemical encoding: it is projected with RDKit like the others.

The choice is reported: :meth:`describe` gives (column, kind, encoding, n features) and
:meth:`summary` one line for progress messages. :meth:`to_dict`/:meth:`from_dict` persist a fitted
encoder as plain JSON-safe data (model files and ledgers never hold pickles).

It lives in ``represent`` (below ``models``, which encode ``--extra-inputs`` with it); design code
imports it from :mod:`matloop.design.encode`, which adds :func:`~matloop.design.encode.dataset_encoder`.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
import warnings
from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from matloop.errors import InputError, error_table
from matloop.represent.parameter_chem import column_element, composition_features, looks_like_smiles

__all__ = ["ENCODER_FORMAT", "KINDS", "ParameterEncoder", "composition_features", "unknown_labels"]

ENCODER_FORMAT = "matloop.parameter_encoder"
_VERSION = 1
KINDS = ("numeric", "integer", "discrete", "boolean", "label", "smiles", "composition")
SUM_TOL = 0.02  # a composition row sums to 1 within this (or to 100 within 100x this)
_UNKNOWN: contextvars.ContextVar[str | None] = contextvars.ContextVar("matloop_unknown_labels", default=None)


@contextlib.contextmanager
def unknown_labels(policy: str) -> Iterator[None]:
    """Override every encoder's ``handle_unknown`` inside the block (``validate``: a label that only a
    test fold holds is encoded as zeros with a warning, not an error that stops the validation)."""
    if policy not in ("error", "zero"):
        raise ValueError(f"policy must be 'error' or 'zero', got {policy!r}")
    token = _UNKNOWN.set(policy)
    try:
        yield
    finally:
        _UNKNOWN.reset(token)


def _rdkit() -> bool:
    from matloop.io.detect import rdkit_available

    return rdkit_available()


def _text(value) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    text = str(value).strip()
    return text or None


class ParameterEncoder(TransformerMixin, BaseEstimator):
    """Detect each parameter column's type and encode it as numbers (see the module docstring).

    Parameters
    ----------
    columns : list of str or None
        The parameter columns (default: every column of the frame given to :meth:`fit`).
    smiles : {"auto", "chemical", "onehot"}
        Encoding of SMILES-valued columns. ``auto``: chemical with RDKit (one-hot for 2 options),
        else one-hot; ``chemical`` requires RDKit.
    composition : {"loadings", "both", "elements"}
        Encoding of a composition-valued group of element columns.
    handle_unknown : {"error", "zero"}
        A label not seen in :meth:`fit`: raise :class:`InputError`, or encode as zeros with a warning.
    max_labels : int
        A text column with more distinct values is refused (it is an identifier, not a choice).
    n_chemical : int
        Dimensions of the chemical embedding of a SMILES column (fewer when the options are few).
    grid_max : int
        Integer and discrete columns keep at most this many grid values (an integer column with more
        is kept on the step-1 grid between its bounds).
    """

    def __init__(self, columns: Sequence[str] | None = None, smiles: str = "auto", composition: str = "loadings",
                 handle_unknown: str = "error", max_labels: int = 100, n_chemical: int = 4, grid_max: int = 50):
        self.columns = columns
        self.smiles = smiles
        self.composition = composition
        self.handle_unknown = handle_unknown
        self.max_labels = max_labels
        self.n_chemical = n_chemical
        self.grid_max = grid_max

    # ------------------------------------------------------------------ fit
    def fit(self, X, y=None) -> ParameterEncoder:
        """Detect the kind of every column and fit its encoding (labels, embeddings, grids)."""
        if self.smiles not in ("auto", "chemical", "onehot"):
            raise ValueError(f"smiles must be 'auto', 'chemical' or 'onehot', got {self.smiles!r}")
        if self.composition not in ("loadings", "both", "elements"):
            raise ValueError(f"composition must be 'loadings', 'both' or 'elements', got {self.composition!r}")
        if self.handle_unknown not in ("error", "zero"):
            raise ValueError(f"handle_unknown must be 'error' or 'zero', got {self.handle_unknown!r}")
        frame = pd.DataFrame(X)
        cols = [str(c) for c in (self.columns if self.columns is not None else frame.columns)]
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise InputError(f"parameter columns missing from the table: {', '.join(map(repr, missing))}")
        self.columns_ = cols
        self.notes_: list[str] = []
        self.specs_ = [self._fit_column(frame[c], c) for c in cols]
        fallback = [s["column"] for s in self.specs_ if "RDKit not installed" in s["encoding"]]
        if fallback:
            self.notes_.append(f"SMILES column(s) {', '.join(fallback)} encoded one-hot because RDKit is not installed "
                               "(pip install 'matloop[molecule]' for a chemical encoding)")
        self.groups_ = self._find_groups(frame)
        self._set_names()
        self.n_features_in_ = len(cols)
        return self

    def _fit_column(self, series: pd.Series, column: str) -> dict:
        spec: dict = {"column": column, "kind": "numeric", "encoding": "as given", "grid": None, "labels": None,
                      "embedding": None, "table": None, "group": None}
        if pd.api.types.is_bool_dtype(series):
            spec.update(kind="boolean", encoding="0/1", grid=[0.0, 1.0])
            return spec
        if pd.api.types.is_numeric_dtype(series):
            vals = series.to_numpy(dtype=float)
            vals = np.unique(vals[np.isfinite(vals)])
            if len(vals) and np.all(vals == np.round(vals)):
                spec.update(kind="integer", grid=vals.tolist() if len(vals) <= self.grid_max else
                            {"low": float(vals[0]), "high": float(vals[-1]), "step": 1.0})
            elif 1 < len(vals) <= min(12, self.grid_max) and 3 * len(vals) <= len(series):
                spec.update(kind="discrete", grid=vals.tolist())
            return spec
        numbers = pd.to_numeric(series, errors="coerce")
        if series.notna().any() and numbers.notna().sum() == series.notna().sum():  # numbers held as text
            return self._fit_column(numbers.astype(float), column)
        texts = [_text(v) for v in series.to_numpy(dtype=object)]
        options = sorted({t for t in texts if t is not None})
        if len(options) > self.max_labels:
            raise InputError(f"column {column!r} holds {len(options)} distinct text values (at most {self.max_labels} "
                             "as a categorical input); is it an identifier? Leave it out of the parameters")
        spec["labels"] = options
        share = looks_like_smiles(options)
        hinted = bool(re.search(r"smiles", column, re.IGNORECASE))
        # with RDKit every option must parse and some must be written as SMILES (CCO alone is also a formula)
        is_smiles = (share >= 0.1 or hinted) if _rdkit() else (share >= 0.8 or (hinted and share >= 0.5))
        if is_smiles and _rdkit():
            from matloop.represent.parameter_chem import smiles_descriptors

            problems = smiles_descriptors(options)[2]
            unread = [o for o, p in zip(options, problems, strict=True) if p]
            if unread:
                is_smiles = False
                self.notes_.append(f"{column}: {len(unread)} value(s) look like SMILES but RDKit cannot read them "
                                   f"(e.g. {unread[0]!r}); encoded as labels")
        if not is_smiles:
            spec.update(kind="label", encoding=f"one-hot ({len(options)} label{'' if len(options) == 1 else 's'})")
            from matloop.io.categorical import CASE_NOTE, case_variants

            alike = case_variants(options)  # 'ethanol' and 'Ethanol': two labels as written; seldom meant
            if alike:
                self.notes_.append(f"{column}: {alike} {CASE_NOTE}")
            return spec
        spec["kind"] = "smiles"
        if self.smiles == "onehot":
            spec["encoding"] = f"one-hot ({len(options)} molecules; smiles='onehot')"
        elif not _rdkit():
            if self.smiles == "chemical":
                raise InputError(f"column {column!r} holds SMILES and a chemical encoding was asked for, which needs "
                                 "RDKit: pip install 'matloop[molecule]'")
            spec["encoding"] = f"one-hot ({len(options)} molecules; RDKit not installed, no chemical encoding)"
        elif len(options) <= 2 and self.smiles == "auto":
            spec["encoding"] = f"one-hot ({len(options)} molecules: too few for a chemical encoding)"
        else:
            from matloop.represent.parameter_chem import embed_smiles, fit_smiles_embedding

            emb = fit_smiles_embedding(options, self.n_chemical)
            Z, _ = embed_smiles(emb, options)
            k = len(emb["components"])
            spec.update(embedding=emb, table={o: z.tolist() for o, z in zip(options, Z, strict=True)},
                        encoding=f"chemical: RDKit descriptors + Morgan fingerprint, PCA to {k} dims "
                                 f"({sum(emb['explained']):.0%} of the variance over {len(options)} molecules)")
        return spec

    def _find_groups(self, frame: pd.DataFrame) -> list[dict]:
        members = [s for s in self.specs_ if s["kind"] in ("numeric", "integer", "discrete")
                   and column_element(s["column"]) is not None]
        if len(members) < 2:
            return []
        cols = [s["column"] for s in members]
        elements = [column_element(c) for c in cols]
        if len(set(elements)) < len(elements):
            return []
        W = frame[cols].to_numpy(dtype=float)
        W = W[np.isfinite(W).all(axis=1)]
        if not len(W) or (W < 0).any():
            return []
        sums = W.sum(axis=1)
        if np.all(np.abs(sums - 1.0) <= SUM_TOL):
            scale = 1.0
        elif np.all(np.abs(sums - 100.0) <= 100 * SUM_TOL):
            scale = 100.0
        else:
            return []
        for s in members:
            s["group"] = 0
            s["kind"] = "composition"
            s["encoding"] = ("as given (loading)" if self.composition != "elements"
                             else "replaced by element features")
        how = {"loadings": "loadings only (element features with composition='both')",
               "both": "loadings + loading-weighted Magpie element properties (mean, deviation)",
               "elements": "loading-weighted Magpie element properties (mean, deviation) instead of the loadings"}
        return [{"columns": cols, "elements": elements, "scale": scale, "encoding": how[self.composition]}]

    def _set_names(self) -> None:
        names: list[str] = []
        for s in self.specs_:
            if s["kind"] == "composition" and self.composition == "elements":
                feats = []
            elif s["embedding"] is not None:
                feats = [f"{s['column']}:chem{j + 1}" for j in range(len(s["embedding"]["components"]))]
            elif s["labels"] is not None:
                feats = [f"{s['column']}={lab}" for lab in s["labels"]]
            else:
                feats = [s["column"]]
            s["features"] = feats
            names += feats
            for g in self.groups_:
                if s["column"] == g["columns"][-1]:
                    g["features"] = (list(composition_features(pd.DataFrame(
                        {c: [1.0 / len(g["columns"])] for c in g["columns"]}), dict(zip(
                            g["columns"], g["elements"], strict=True))).columns)
                        if self.composition != "loadings" else [])
                    names += g["features"]
        self.feature_names_ = names

    # ------------------------------------------------------------------ transform
    def transform(self, X) -> pd.DataFrame:
        """The numeric features of ``X`` (a frame with the fitted columns), one row per row."""
        self._check_fitted()
        from matloop.io.rows import source_rows

        frame = pd.DataFrame(X)
        missing = [c for c in self.columns_ if c not in frame.columns]
        if missing:
            raise InputError(f"parameter columns missing from the table: {', '.join(map(repr, missing))}")
        n = len(frame)
        rows = np.asarray(source_rows(X, n)) if isinstance(X, pd.DataFrame | pd.Series) else np.arange(1, n + 1)
        blocks: dict[str, np.ndarray] = {}
        problems: list[dict] = []
        unknown: list[dict] = []
        for s in self.specs_:
            col = s["column"]
            cells = frame[col].reset_index(drop=True)
            if s["labels"] is None:
                values = self._numbers(cells, col, rows, problems)
                if s["kind"] != "composition" or self.composition != "elements":
                    blocks[col] = values
            elif s["embedding"] is not None:
                blocks.update(self._embed(s, cells, rows, problems))
            else:
                blocks.update(self._one_hot(s, cells, rows, unknown))
            for g in self.groups_:
                if col == g["columns"][-1] and g["features"]:
                    sub = frame[g["columns"]].apply(pd.to_numeric, errors="coerce").reset_index(drop=True)
                    feats = composition_features(sub, dict(zip(g["columns"], g["elements"], strict=True)))
                    blocks.update({c: feats[c].to_numpy(dtype=float) for c in g["features"]})
        if problems:
            raise InputError(f"{len({p['row'] for p in problems})} rows have parameter values that cannot be encoded",
                             error_table(problems))
        if unknown:
            if (_UNKNOWN.get() or self.handle_unknown) == "error":
                raise InputError("labels not seen when the model (or the encoding) was fitted: it knows nothing about "
                                 "them; fit on a table that holds them", error_table(unknown))
            warnings.warn(f"{len(unknown)} cells hold labels not seen when the encoding was fitted; they are encoded "
                          "as all zeros", stacklevel=2)
        return pd.DataFrame({name: blocks[name] for name in self.feature_names_}, columns=self.feature_names_,
                            dtype=float)

    @staticmethod
    def _numbers(cells: pd.Series, col: str, rows: np.ndarray, problems: list) -> np.ndarray:
        if pd.api.types.is_bool_dtype(cells) or pd.api.types.is_numeric_dtype(cells):
            return cells.to_numpy(dtype=float, na_value=np.nan).copy()
        values = pd.to_numeric(cells, errors="coerce").to_numpy(dtype=float, na_value=np.nan).copy()
        for i in np.flatnonzero(np.isnan(values) & cells.notna().to_numpy()):
            problems.append({"row": int(rows[i]), "column": col, "value": cells.iloc[i],
                             "reason": "not a number; this parameter column was fitted as numbers"})
        return values

    def _one_hot(self, s: dict, cells: pd.Series, rows: np.ndarray, unknown: list) -> dict[str, np.ndarray]:
        index = {lab: j for j, lab in enumerate(s["labels"])}
        M = np.zeros((len(cells), len(s["labels"])))
        for i, v in enumerate(cells.to_numpy(dtype=object)):
            j = index.get(_text(v))
            if j is None:
                unknown.append({"row": int(rows[i]), "column": s["column"], "value": v,
                                "reason": "label not seen when fitted (known: " + ", ".join(s["labels"][:10])
                                          + (", ..." if len(s["labels"]) > 10 else "") + ")"})
            else:
                M[i, j] = 1.0
        return {name: M[:, j] for j, name in enumerate(s["features"])}

    def _embed(self, s: dict, cells: pd.Series, rows: np.ndarray, problems: list) -> dict[str, np.ndarray]:
        texts = [_text(v) for v in cells.to_numpy(dtype=object)]
        k = len(s["features"])
        Z = np.full((len(texts), k), np.nan)
        new = sorted({t for t in texts if t is not None and t not in s["table"]})
        lookup = {o: np.asarray(z, dtype=float) for o, z in s["table"].items()}
        if new:
            if not _rdkit():
                for i, t in enumerate(texts):
                    if t in new:
                        problems.append({"row": int(rows[i]), "column": s["column"], "value": t,
                                         "reason": "a molecule not seen when fitted needs RDKit to be encoded: "
                                                   "pip install 'matloop[molecule]'"})
            else:
                from matloop.represent.parameter_chem import embed_smiles

                Znew, why = embed_smiles(s["embedding"], new)
                lookup.update({o: z for o, z, w in zip(new, Znew, why, strict=True) if not w})
                bad = {o: w for o, w in zip(new, why, strict=True) if w}
                for i, t in enumerate(texts):
                    if t in bad:
                        problems.append({"row": int(rows[i]), "column": s["column"], "value": t, "reason": bad[t]})
        for i, t in enumerate(texts):
            if t is None:
                problems.append({"row": int(rows[i]), "column": s["column"], "value": None,
                                 "reason": "missing value: a molecule parameter needs a SMILES"})
            elif t in lookup:
                Z[i] = lookup[t]
        return {name: Z[:, j] for j, name in enumerate(s["features"])}

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of the encoded features (``col``, ``col=label``, ``col:chem1``, ``elem_mean_<Property>``)."""
        self._check_fitted()
        return np.asarray(self.feature_names_, dtype=object)

    def _check_fitted(self) -> None:
        if not hasattr(self, "specs_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("this ParameterEncoder is not fitted yet; call fit first")

    # ------------------------------------------------------------------ reporting
    def describe(self) -> list[tuple[str, str, str, int]]:
        """(column, detected kind, encoding, number of features) per column, then one row per composition group."""
        self._check_fitted()
        out = [(s["column"], s["kind"], s["encoding"], len(s["features"])) for s in self.specs_]
        for g in self.groups_:
            out.append(("+".join(g["columns"]), "composition group", g["encoding"], len(g["features"])))
        return out

    def records(self) -> list[dict]:
        """:meth:`describe` as JSON-ready dicts (``column``, ``kind``, ``encoding``, ``n_features``)."""
        return [{"column": c, "kind": k, "encoding": e, "n_features": n} for c, k, e, n in self.describe()]

    @property
    def trivial(self) -> bool:
        """True when every column is a plain number kept as given (the encoding changes nothing)."""
        self._check_fitted()
        return all(s["labels"] is None for s in self.specs_) and all(not g["features"] for g in self.groups_) \
            and self.composition != "elements"

    def summary(self) -> str:
        """One line: how each non-numeric column (and composition group) is encoded."""
        parts = [f"{c} ({k}): {e}" for c, k, e, _ in self.describe() if k not in ("numeric", "integer", "discrete")]
        n = len(self.columns_)
        head = f"encoded {n} input column{'' if n == 1 else 's'} as {len(self.feature_names_)} features"
        return head + (": " + "; ".join(parts) if parts else " (all numeric, used as given)")

    def grids(self) -> dict[str, list | dict]:
        """The grid of every integer, discrete and boolean column (values, or low/high/step)."""
        self._check_fitted()
        return {s["column"]: s["grid"] for s in self.specs_ if s["grid"] is not None}

    def snap(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` with integer/discrete columns moved to the nearest grid value (suggested points stay on it)."""
        out = frame.copy()
        for col, grid in self.grids().items():
            if col not in out.columns:
                continue
            v = pd.to_numeric(out[col], errors="coerce").to_numpy(dtype=float)
            if isinstance(grid, dict):
                snapped = np.clip(np.round(v), grid["low"], grid["high"])
            else:
                g = np.asarray(grid, dtype=float)
                snapped = g[np.abs(v[:, None] - g[None, :]).argmin(axis=1)]
            out[col] = np.where(np.isfinite(v), snapped, v)
        return out

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict:
        """The fitted encoder as JSON-safe data (no pickle): see :meth:`from_dict`."""
        self._check_fitted()
        return {"format": ENCODER_FORMAT, "version": _VERSION, "params": self.get_params(deep=False) | {
                    "columns": list(self.columns_)},
                "specs": self.specs_, "groups": self.groups_, "notes": list(self.notes_),
                "feature_names": list(self.feature_names_)}

    @classmethod
    def from_dict(cls, data: dict) -> ParameterEncoder:
        """Rebuild a fitted encoder from :meth:`to_dict` output, checking its structure."""
        if not isinstance(data, dict) or data.get("format") != ENCODER_FORMAT:
            raise ValueError("not a saved matloop parameter encoder")
        if data.get("version") != _VERSION:
            raise ValueError(f"parameter encoder version {data.get('version')!r} is not supported")
        params = data.get("params")
        specs, groups = data.get("specs"), data.get("groups")
        if not isinstance(params, dict) or not isinstance(specs, list) or not isinstance(groups, list):
            raise ValueError("a saved parameter encoder needs params, specs and groups")
        allowed = set(cls().get_params(deep=False))
        enc = cls(**{k: v for k, v in params.items() if k in allowed})
        for s in specs:
            if not isinstance(s, dict) or s.get("kind") not in KINDS or not isinstance(s.get("features"), list):
                raise ValueError("a saved parameter encoder has a malformed column entry")
            emb = s.get("embedding")
            if emb is not None:
                comps = np.asarray(emb["components"], dtype=float)
                if comps.ndim != 2 or comps.shape[0] != len(s["features"]) or \
                        any(len(v) != comps.shape[0] for v in s["table"].values()):
                    raise ValueError(f"the chemical embedding of {s.get('column')!r} is malformed")
        for g in groups:
            if not isinstance(g, dict) or len(g.get("columns", [])) != len(g.get("elements", [])):
                raise ValueError("a saved parameter encoder has a malformed composition group")
        enc.columns_ = [s["column"] for s in specs]
        enc.specs_, enc.groups_, enc.notes_ = specs, groups, list(data.get("notes") or [])
        names = data.get("feature_names")
        expected = [f for s in specs for f in s["features"]] + [f for g in groups for f in g.get("features", [])]
        if not isinstance(names, list) or sorted(map(str, names)) != sorted(map(str, expected)):
            raise ValueError("a saved parameter encoder's feature names do not match its columns")
        enc.feature_names_ = [str(n) for n in names]
        enc.n_features_in_ = len(specs)
        return enc
