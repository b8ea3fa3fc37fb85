"""Prior knowledge from related campaigns (``--history``).

**History.** Measurements from a related campaign (another plate with some of the same elements,
last year's batch) say something about the new one. :class:`HistoryPrior` fits a model on the
history tables and predicts the campaign's target for every campaign row. The first batch stays the
cold start's space-filling design; from 2 results on (:func:`apply_history`):

- **two-task GP** (the default, ``use="two-task"``; :mod:`matloop.design.history_gp`): a GP fitted
  on the history, in kernel inputs shared with the campaign (:meth:`HistoryPrior.kernel_features`),
  is conditioned on the history's rows, and its posterior is the prior of the campaign's GP, which
  learns from the campaign's own results how far the history holds; that GP is mixed with extra
  trees that see the history's prediction ``h(x)`` as an input. Used with the default surrogate on
  numeric inputs (element loadings, shared numbers and labels; the campaign's columns the history
  lacks go to the campaign's GP only) when the history GP finds structure in the history
  (cross-validated R^2 >= 0.2), and set aside for a suggestion where the campaign's results deny it
  (learnt weight below :data:`matloop.design.history_gp.MIN_WEIGHT`);
- otherwise (**history as an input**, ``use="feature"``): ``h(x)`` is an extra input feature of the
  campaign's surrogate, so the model learns where the history holds, with the safeguard below.
  Optionally the history ranks the first batch, as the prior mean of :class:`PriorMeanSurrogate`
  (``y = a * h(x) + b + r(x)``; ``use="mean"`` keeps that surrogate throughout; both did worse on
  one plate of the benchmark, ``benchmarks/results/campaign_prior.md``).

Inputs are aligned explicitly, never guessed silently:

- composition-valued columns (element loadings such as ``ni_load``, ``Fe``, ``x_Co``, see
  :func:`matloop.design.encode.column_element`) become loadings over the union of both
  element sets (an element a plate does not hold has loading 0 there) plus the loading-weighted
  Magpie element properties (:func:`matloop.design.encode.composition_features`), so shared
  elements carry over and new elements are placed by their chemistry;
- other columns the campaign and the history share by name are used as they are (text columns
  one-hot over both tables' labels);
- campaign columns the history lacks cannot inform the history model: they are left out of it and
  listed in :attr:`HistoryPrior.missing` (the campaign's own surrogate still models them); history-only
  columns are ignored (:attr:`HistoryPrior.unused`).

**Safeguard** (history as an input). History that does not transfer must not make things worse: once the campaign has
:data:`CHECK_MIN_ROWS` results, :func:`history_helps` compares the history-informed and the plain
surrogate by 5-fold cross-validation on the campaign's own results, and the history is set aside
(and the suggestion says so) when it predicts clearly worse: a cross-validated error more than
:data:`SAFEGUARD_MARGIN` (10 %) above the plain surrogate's. The margin keeps a verdict drawn from
a handful of results from dropping a useful history on noise (on the plate benchmark's tuning seeds
0-9 it needed fewer experiments than a strict comparison on one plate and as many on the other;
the held-out seeds are in ``benchmarks/results/campaign_prior.md``).

Tried on the benchmark's tuning seeds and not adopted (each needed more experiments than the
history as an input): a hedged first batch (2 of 5 picks the history's best predictions, the rest
space-filling), the history as a prior-guided acquisition weight (the acquisition times
``pi(x) ** (c / n)``, ``pi`` from the history's prediction, as in piBO), a history model on the
element loadings alone, and (earlier) the prior mean ``a * h(x) + b`` and the history rows pooled
into the surrogate's training data. Each pulls the search towards the history's best region,
which holds the new plate's best compositions only partly. The two-task GP does not pull: its
mean follows the history only as far as the campaign's results bear it out (session 28,
``benchmarks/results/campaign_prior.md``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from matloop.design.history_input import (  # noqa: F401  (the history as an input; re-exported)
    CHECK_MIN_ROWS,
    SAFEGUARD_MARGIN,
    PriorMeanSurrogate,
    history_helps,
)
from matloop.errors import InputError, error_table


# ------------------------------------------------------------------------------------------ history
def read_history(path: str, target: str) -> tuple[pd.DataFrame, str]:
    """A history table (read with the same guards as every table) and its source name; the campaign's
    target column must be there and measured on at least one row. A ``campaign export`` is read as one
    row per candidate (:func:`history_table`)."""
    frame, name = history_table(path)
    check_history(frame, target, name)
    return frame, name


def history_table(path) -> tuple[pd.DataFrame, str]:
    """A ``--history`` file read with the same guards as every table, and its source name; a ``campaign
    export`` becomes one row per candidate (:func:`matloop.design.campaign_files.wide_from_export`)."""
    import os

    from matloop.design.campaign_files import wide_from_export
    from matloop.io.files import read_raw

    return wide_from_export(read_raw(path)[0], os.path.basename(str(path)))


def check_history(frame: pd.DataFrame, target: str, source: str) -> None:
    """Raise :class:`InputError` unless ``frame`` holds ``target`` with at least one number."""
    if target not in frame.columns:
        raise InputError(f"the history table {source} has no column {target!r} (the campaign's target)",
                         error_table([{"row": 0, "column": target, "value": source,
                                       "reason": f"columns are {list(map(str, frame.columns))}"}]))
    y = pd.to_numeric(frame[target], errors="coerce")
    if not y.notna().any():
        raise InputError(f"the history table {source} has no measured {target!r} value")


def _parses_as_numbers(col: pd.Series) -> bool:
    """A column of numbers, whether typed so or read as text (``--history`` files and ledger records keep
    their cells as read): every non-blank cell parses as a number. Otherwise its values are labels."""
    cells = col.dropna()
    cells = cells[cells.astype(str).str.strip() != ""]
    return len(cells) > 0 and bool(pd.to_numeric(cells, errors="coerce").notna().all())


def _encoding(col: pd.Series) -> tuple[float, float] | list[str]:
    """How a column becomes kernel or model inputs: numbers by their ``(mean, std)`` (std 1 when constant),
    labels by their sorted list (one-hot)."""
    if _parses_as_numbers(col):
        v = pd.to_numeric(col, errors="coerce")
        return float(v.mean()), float(v.std()) or 1.0
    return sorted({str(v) for v in col.dropna()})


def _encoded(frame: pd.DataFrame, column: str, how: tuple[float, float] | list[str]) -> np.ndarray:
    """``frame[column]`` as :func:`_encoding` says: ``(value - mean) / std``, or one 0/1 column per label."""
    if isinstance(how, tuple):
        return (pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)[:, None] - how[0]) / how[1]
    cells = frame[column].astype(str).to_numpy()
    return np.column_stack([(cells == label).astype(float) for label in how]) if how else np.zeros((len(frame), 0))


def _composition_columns(columns) -> dict[str, str]:
    from matloop.design.encode import column_element

    found = {c: column_element(c) for c in columns}
    found = {c: el for c, el in found.items() if el is not None}
    return found if len(found) >= 2 and len(set(found.values())) == len(found) else {}


@dataclass
class HistoryPrior:
    """A model of the target fitted on history tables, in features shared with the campaign.

    ``parameters``: the campaign's input columns. After :meth:`fit`: ``elements`` (union of both
    tables' loading elements), ``shared`` (other columns used), ``missing`` (campaign columns the
    history lacks, left out of the history model), ``unused`` (history columns ignored), ``sources``
    and ``n_rows``.
    """

    parameters: list[str]
    target: str
    seed: int = 0
    dataset: object = None  # a campaign of formulas/SMILES: history rows are featurized as its rows are
    elements: list[str] = field(default_factory=list)
    shared: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    n_rows: int = 0

    def fit(self, tables: list[tuple[pd.DataFrame, str]]) -> HistoryPrior:
        """Fit on ``(frame, source name)`` pairs (their rows with a numeric target)."""
        from matloop.design.surrogate import make_surrogate

        if self.dataset is not None and self.dataset.kind != "parameters":
            return self._fit_materials(tables)
        camp_comp = _composition_columns(self.parameters)
        hist_cols: set[str] = set()
        hist_comp: dict[str, str] = {}
        for frame, source in tables:
            check_history(frame, self.target, source)
            hist_cols |= {str(c) for c in frame.columns if c != self.target}
            hist_comp.update(_composition_columns([c for c in frame.columns if c != self.target]))
        self._comp = bool(camp_comp and hist_comp)
        self.elements = sorted(set(camp_comp.values()) | set(hist_comp.values())) if self._comp else []
        plain = [c for c in self.parameters if not (self._comp and c in camp_comp)]
        self.shared = [c for c in plain if c in hist_cols]
        self.missing = [c for c in plain if c not in hist_cols]
        used = set(self.shared) | (set(hist_comp) if self._comp else set())
        self.unused = sorted(hist_cols - used)
        if not self.shared and not self._comp:
            raise InputError("the history tables share no input column with the campaign (and no element "
                             "loadings), so they cannot inform it", error_table(
                                 [{"row": 0, "column": c, "value": None, "reason": "not in any history table"}
                                  for c in self.parameters]))
        frames = []
        for frame, source in tables:
            y = pd.to_numeric(frame[self.target], errors="coerce")
            frames.append(frame.loc[y.notna()].assign(**{self.target: y[y.notna()]}))
            self.sources.append(source)
        hist = pd.concat(frames, ignore_index=True)
        self._encodings = {c: _encoding(hist[c]) for c in self.shared}
        X = self._features(hist, hist_comp)
        y = hist[self.target].to_numpy(dtype=float)
        self._history = (hist, hist_comp)
        self.n_rows = len(y)
        self.model_ = make_surrogate("et", self.seed).fit(X, y)
        self.spread_ = float(np.std(y)) or 1.0
        return self

    def _fit_materials(self, tables) -> HistoryPrior:
        """History of a formula/SMILES campaign: the rows' material column, featurized as the campaign's."""
        from matloop.design.surrogate import make_surrogate

        col = self.dataset.input
        X, y = [], []
        for frame, source in tables:
            check_history(frame, self.target, source)
            if col not in frame.columns:
                raise InputError(f"the history table {source} has no column {col!r} (the campaign's materials)")
            vals = pd.to_numeric(frame[self.target], errors="coerce")
            keep = frame.loc[vals.notna()]
            X.append(self._features(keep))
            y.append(vals[vals.notna()].to_numpy(dtype=float))
            self.sources.append(source)
        self.shared = [col]
        X, y = np.vstack(X), np.concatenate(y)
        self.n_rows = len(y)
        self.model_ = make_surrogate("et", self.seed).fit(X, y)
        self.spread_ = float(np.std(y)) or 1.0
        return self

    def _features(self, frame: pd.DataFrame, comp: dict[str, str] | None = None) -> np.ndarray:
        from matloop.design.encode import composition_features

        if self.dataset is not None and self.dataset.kind != "parameters":
            from matloop.design.surrogate import featurize

            return featurize(self.dataset, frame.reset_index(drop=True)).to_numpy(dtype=float)

        parts = []
        if self._comp:
            W = self._loadings(frame, comp)
            parts.append(W)
            parts.append(composition_features(pd.DataFrame(W, columns=self.elements),
                                              {e: e for e in self.elements}).to_numpy(dtype=float))
        return np.hstack(parts + self._shared_parts(frame))

    def _loadings(self, frame: pd.DataFrame, comp: dict[str, str] | None = None) -> np.ndarray:
        """Element loadings over the union of both element sets, each row normalised to sum 1."""
        comp = comp if comp is not None else _composition_columns(self.parameters)
        W = np.zeros((len(frame), len(self.elements)))
        for c, el in comp.items():
            W[:, self.elements.index(el)] = pd.to_numeric(frame[c], errors="coerce").fillna(0).to_numpy()
        total = W.sum(axis=1, keepdims=True)
        return np.divide(W, total, out=np.zeros_like(W), where=total > 0)

    def _shared_parts(self, frame: pd.DataFrame, centred: bool = False) -> list[np.ndarray]:
        """The shared columns: labels one-hot, numbers as given or (``centred``) standardised by the history."""
        return [_encoded(frame, c, how if centred or not isinstance(how, tuple) else (0.0, 1.0))
                for c, how in self._encodings.items()]

    def kernel_features(self, frame: pd.DataFrame, comp: dict[str, str] | None = None,
                        own: dict | None = None) -> np.ndarray | None:
        """The inputs of the two-task GP (:mod:`matloop.design.history_gp`): the loadings of the
        campaign's own elements (a history row's other elements are left out, not renormalised away:
        the GP learns what the shared elements do, and where the history holds elements the campaign
        lacks it reads as further from the campaign) and the shared columns (numbers standardised by the
        history, labels one-hot), then, with ``own`` (:meth:`own_scaling`), the campaign's columns the history
        lacks; None for a campaign of formulas or SMILES, or one whose inputs hold no number.
        (As in the probe that chose the method, ``benchmarks/results/history_two_task_probe.md``; loadings
        over both element sets did about as well on the tuning seeds: -6 % / -23 % against -4 % / -22 %.)"""
        Z = self._kernel_inputs(frame, comp)
        if Z is not None and own:
            Z = np.hstack([Z] + [_encoded(frame, c, how) for c, how in own.items()])
        return Z if Z is not None and np.all(np.isfinite(Z)) else None

    def own_scaling(self, frame: pd.DataFrame) -> dict:
        """How :meth:`kernel_features` encodes the campaign's columns the history lacks (:attr:`missing`),
        from the campaign's rows in ``frame`` (its results and candidates): numbers standardised, labels
        one-hot. The two-task GP's discrepancy term varies along them; the history's posterior does not."""
        return {c: _encoding(frame[c]) for c in self.missing}

    def _kernel_inputs(self, frame: pd.DataFrame, comp: dict[str, str] | None = None) -> np.ndarray | None:
        if self.dataset is not None and self.dataset.kind != "parameters":
            return None
        own = [self.elements.index(el) for el in _composition_columns(self.parameters).values()] if self._comp else []
        parts = ([self._loadings(frame, comp)[:, sorted(own)]] if own else []) + self._shared_parts(frame, centred=True)
        return np.hstack(parts) if parts and sum(p.shape[1] for p in parts) else None

    def posterior(self):
        """The history GP of the two-task surrogate (fitted on first use), or None when it cannot be
        built (no kernel inputs, fewer than 10 history rows with every kernel input given) or finds no
        structure in the history (cross-validated R^2 below :data:`matloop.design.history_gp.MIN_SKILL`)."""
        if not hasattr(self, "_posterior"):
            from matloop.design.history_gp import MIN_SKILL, HistoryPosterior

            hist, comp = getattr(self, "_history", (None, None))
            Z = self._kernel_inputs(hist, comp) if hist is not None else None
            given = np.isfinite(Z).all(axis=1) if Z is not None else np.zeros(0, dtype=bool)
            post = (HistoryPosterior(Z[given], hist[self.target].to_numpy(dtype=float)[given], self.seed)
                    if given.sum() >= 10 else None)
            self._posterior = post if post is not None and post.skill_ >= MIN_SKILL else None
        return self._posterior

    def predict(self, frame: pd.DataFrame, return_std: bool = False):
        """The history's prediction of the target for campaign rows (``frame`` has the parameters)."""
        X = self._features(frame)
        return self.model_.predict(X, return_std=return_std)

    def describe(self) -> str:
        """One line: which tables, how many rows, what was aligned and what was left out."""
        bits = [f"{self.n_rows} rows of {', '.join(self.sources)}"]
        if self.elements:
            bits.append(f"element-aware loadings over {'/'.join(self.elements)}")
        if self.shared:
            bits.append(f"shared columns {self.shared}")
        if self.missing:
            bits.append(f"campaign columns missing from the history, left out of its model: {self.missing}")
        return "; ".join(bits)


def apply_history(prior: HistoryPrior, X_train: np.ndarray, y_train: np.ndarray, frame_train: pd.DataFrame,
                  X_cand: np.ndarray, frame_cand: pd.DataFrame, model, acquisition: str | None, batch_method: str,
                  objective, seed: int = 0, use: str = "two-task", rank_first_batch: bool = False,
                  margin: float | None = None) -> dict:
    """The inputs of :func:`~matloop.design.suggest.rank_candidates` informed by the history.

    ``use="two-task"`` (the default): the history GP's posterior is the prior of a two-task GP mixed
    with extra trees that also see the history's prediction
    (:class:`matloop.design.history_gp.ForestTwoTaskBlend`); the GP learns from the campaign's
    results how far the history holds (its weight ``a``), so no cross-validated safeguard is run.
    It needs the default surrogate and numeric kernel inputs (element loadings, shared columns);
    otherwise (another ``model``, a campaign of formulas or SMILES) the history's prediction is an
    extra input feature of the surrogate, with the safeguard (``use="feature"``: the model learns
    where it holds), or the prior mean with a learnt scale (``use="mean"``, :class:`PriorMeanSurrogate`).
    Before 2 results the first batch is the cold start's space-filling design (the history is not
    used: on the plate benchmark a history-ranked first batch found one plate's best compositions at
    once but misled the other plate's campaign); ``rank_first_batch=True`` lets the history rank it
    (as a prior mean).

    Returns ``X_train``, ``X_candidates`` (the history's prediction appended, then for ``two-task``
    the kernel features), ``extra`` (a function of a frame of campaign rows giving those appended columns),
    ``model`` (``model``, or a :class:`PriorMeanSurrogate` around it), ``acquisition`` (the predicted value,
    ``mei``, when nothing of the campaign is measured: there is no incumbent to improve on),
    ``batch_method`` (``penalized`` before 2 results) and ``note`` (the safeguard's verdict). When the
    safeguard sets the history aside, the plain inputs come back unchanged (with the note)."""
    y_train = np.asarray(y_train, dtype=float)
    if len(y_train) < 2 and not rank_first_batch:
        return {"X_train": X_train, "X_candidates": X_cand, "model": model, "acquisition": acquisition,
                "batch_method": batch_method, "used": False,
                "note": "history not used yet (fewer than 2 results: a space-filling first batch)"}
    if use == "two-task":
        two = _two_task(prior, X_train, frame_train, X_cand, frame_cand, model, seed)
        if two is not None:
            return {**two, "acquisition": acquisition, "batch_method": batch_method, "used": True}
        use = "feature"
    h_train = prior.predict(frame_train) if len(frame_train) else np.zeros(0)
    h_cand = prior.predict(frame_cand)
    Xa_train = np.column_stack([X_train, h_train]) if len(y_train) else np.zeros((0, X_cand.shape[1] + 1))
    Xa_cand = np.column_stack([X_cand, h_cand])
    sign = None if objective.direction == "range" else float(objective.sign)
    keep, note = history_helps(Xa_train, y_train, base=model, seed=seed, use=use, sign=sign, margin=margin)
    if not keep:
        return {"X_train": X_train, "X_candidates": X_cand, "model": model, "acquisition": acquisition,
                "batch_method": batch_method, "note": note, "used": False}
    if acquisition is None and len(y_train) == 0 and objective.direction != "range":
        acquisition = "mei"
    as_mean = use == "mean" or len(y_train) < 2
    return {"X_train": Xa_train, "X_candidates": Xa_cand,
            "model": PriorMeanSurrogate(model, prior_std=prior.spread_, random_state=seed) if as_mean else model,
            "acquisition": acquisition, "batch_method": batch_method if len(y_train) >= 2 else "penalized",
            "note": note, "used": True, "extra": lambda frame: prior.predict(frame)[:, None]}


def batch_note(note: str, model_name: str, described: str | None = None) -> str:
    """:func:`apply_history`'s note as it held for the batch: the two-task surrogate sets a history aside when
    the campaign's results deny it (:class:`matloop.design.history_gp.ForestTwoTaskBlend`), and says so in its
    name; ``described`` (:meth:`HistoryPrior.describe`) follows the new note."""
    from matloop.design.history_gp import SET_ASIDE

    if SET_ASIDE not in str(model_name):
        return note
    head = f"history set aside for this batch ({str(model_name).split(SET_ASIDE, 1)[1]}"
    return f"{head}: {described}" if described else head


def _two_task(prior: HistoryPrior, X_train, frame_train, X_cand, frame_cand, model, seed: int) -> dict | None:
    """:func:`apply_history`'s two-task inputs, or None where they cannot be built."""
    from matloop.design.surrogate import DEFAULT_SURROGATE

    if not isinstance(model, str) or model != DEFAULT_SURROGATE:
        return None
    own = prior.own_scaling(pd.concat([frame_train, frame_cand], ignore_index=True)) if prior.missing else None
    Z_train, Z_cand = prior.kernel_features(frame_train, own=own), prior.kernel_features(frame_cand, own=own)
    if Z_train is None or Z_cand is None or prior.posterior() is None:
        return None
    from matloop.design.history_gp import ForestTwoTaskBlend

    def extra(frame: pd.DataFrame) -> np.ndarray:
        return np.column_stack([prior.predict(frame), prior.kernel_features(frame, own=own)])

    post = prior.posterior()
    return {"X_train": np.column_stack([X_train, prior.predict(frame_train), Z_train]),
            "X_candidates": np.column_stack([X_cand, prior.predict(frame_cand), Z_cand]),
            "model": ForestTwoTaskBlend(post, Z_cand.shape[1], random_state=seed), "extra": extra,
            "note": "history used as the prior of a two-task GP (its weight learnt from this campaign's results; "
                    f"{post.describe()})"}


def history_records(tables: list[tuple[pd.DataFrame, str]]) -> list[dict]:
    """History tables as JSON-safe records for a campaign's ledger (kept apart from its measurements):
    ``{"source", "columns", "rows"}`` with empty cells as ``None``."""
    out = []
    for frame, source in tables:
        rows = [[None if (isinstance(v, float) and not np.isfinite(v)) or v is pd.NA else
                 (v.item() if hasattr(v, "item") else v) for v in rec]
                for rec in frame.astype(object).where(frame.notna(), None).itertuples(index=False, name=None)]
        out.append({"source": source, "columns": [str(c) for c in frame.columns], "rows": rows})
    return out


def history_tables(records: list[dict]) -> list[tuple[pd.DataFrame, str]]:
    """The inverse of :func:`history_records`."""
    return [(pd.DataFrame(r["rows"], columns=r["columns"]), r["source"]) for r in records or []]


#: look computed values up in the sources' databases (as ``fit --transfer auto``); loading them costs
#: about a minute the first time in a process
TRANSFER_LOOKUP = True


def space_transfer_features(space, transfer: str, frame: pd.DataFrame) -> np.ndarray:
    """:func:`transfer_features` of the formulas of a design ``space``'s composition parameter."""
    formulas = space.formulas(frame)
    if formulas is None:
        raise InputError("--transfer uses the pre-trained composition library: the design space needs a "
                         "composition parameter")
    return transfer_features(transfer, formulas)


def space_transfer_encoder(space, transfer: str):
    """``encode(frame)``: the space's own encoding, then ``--transfer``'s library values of its composition."""
    space_transfer_features(space, transfer, pd.DataFrame(columns=space.columns))  # no composition: an error now
    known: dict[str, np.ndarray] = {}  # the search scores the same rounded compositions again and again

    def encode(frame: pd.DataFrame) -> np.ndarray:
        formulas = space.formulas(space.round(frame))  # the library's values at the composition's resolution
        new = list(dict.fromkeys(f for f in formulas if f not in known))
        if new:
            known.update(zip(new, transfer_features(transfer, new), strict=True))
        rows = [known[f] for f in formulas]
        return np.column_stack([space.encode(frame), np.vstack(rows) if rows else np.empty((0, 0))])
    return encode


def transfer_features(transfer: str, formulas) -> np.ndarray:
    """``--transfer`` in ``suggest`` and ``campaign``: each pre-trained library source's value for every
    formula (computed where the composition is in the source's database, predicted elsewhere), as
    :func:`matloop.models.transfer.make_transfer_model` gives ``fit --transfer auto``; the columns
    join the campaign's composition features, and the surrogate weighs the sources itself.
    ``transfer``: ``auto`` (every source) or a comma-separated list of source names."""
    from matloop.models.transfer_features import TransferFeaturizer

    value = str(transfer).strip()
    sources = "all" if value.lower() == "auto" else [s.strip() for s in value.split(",") if s.strip()]
    feats = TransferFeaturizer(sources, layer="prediction", lookup=TRANSFER_LOOKUP).fit()
    return feats.transform(pd.Series(list(formulas), dtype=object)).to_numpy(dtype=float)
