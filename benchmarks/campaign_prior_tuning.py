"""The tuning arms of ``--history`` (seeds 0-9, seen while choosing the method), kept to reproduce them.

Each arm is the campaign of :func:`campaign_prior.history_run` (same protocol: OER plates, batches
of 5 from nothing measured, 100 experiments) with one change, made here by wrapping the library's
functions, since none of these variants is shipped:

- ``history (margin M)``: the safeguard's margin (:data:`matloop.design.history.SAFEGUARD_MARGIN`);
  ``history (nosafe)``: no safeguard at all;
- ``history (hedged start)``: the first batch of 5 is 2 of the history's best predictions (the
  best, then the farthest from it among the history's best 2 % of the pool) and 3 k-means medoids
  of the rest (:func:`matloop.design.coldstart.coverage_pool`);
- ``history (pibo C)``: from 2 results on, the acquisition times ``pi(x) ** (C / n)`` (piBO,
  Hvarfner et al. 2022), ``log pi(x)`` the history's prediction standardised over the candidates
  (better = larger), ``n`` the number of results;
- ``history (loadings prior)``: the history model on element loadings alone (no element properties);
- ``history (focus Q)`` (session 22): the shipped method (safeguard margin 0.1), but every batch, the
  first included, is chosen among the candidates the history ranks in its best ``Q`` of the pool
  (its ``Q``-quantile of predicted overpotential over the whole plate): 18 of 3496's 22 best lie in
  the history's best 20 %, all 22 of 3851's (``default_probes.py --part history-knowledge``); ``(focus Q
  rho)``: the first batch over the whole pool, then the focus only while the history's prediction
  and the campaign's results are rank-correlated (Spearman > 0, one-sided p < 0.05, from 8 results on);
- ``bad history (...)``: the same with the history's values shuffled.

Results: ``results/campaign_prior_tuning.json`` (reported in ``results/campaign_prior.md`` by
``campaign_prior.py --report-only``).

usage: python benchmarks/campaign_prior_tuning.py --arms "history (margin 0.1)" "bad history (nosafe)" --seeds 0 1 2
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
import campaign_prior as cp  # noqa: E402

import matloop.design.history as H  # noqa: E402
import matloop.design.suggest as S  # noqa: E402

_ORIG = {"helps": H.history_helps, "features": H.HistoryPrior._features, "apply": H.apply_history,
         "make_acq": S.make_acquisition, "rank": cp.rank_candidates,
         "margin": H.SAFEGUARD_MARGIN}
STATE: dict = {}


def _features(self, frame, comp=None):
    X = _ORIG["features"](self, frame, comp)
    return X[:, : len(self.elements)] if STATE.get("loadings") and self._comp else X


def _make_acq(name, objective=None, **kw):
    acq = _ORIG["make_acq"](name, objective, **kw)
    return acq if STATE.get("weight") is None else S._Weighted(acq, STATE["weight"])


def _apply(prior, X_train, y_train, frame_train, X_cand, frame_cand, *args, **kw):
    out = _ORIG["apply"](prior, X_train, y_train, frame_train, X_cand, frame_cand, *args, **kw)
    STATE["weight"], STATE["h_cand"] = None, None
    if len(y_train) >= 2 and STATE.get("pibo") and out["used"]:
        h = prior.predict(frame_cand)
        STATE["weight"] = np.exp(STATE["pibo"] / len(y_train) * -(h - h.mean()) / (h.std() or 1.0))
    if len(y_train) == 0 and STATE.get("hedged"):
        STATE["h_cand"] = prior.predict(frame_cand)
    STATE["focus_mask"] = None
    if STATE.get("focus"):
        h = prior.predict(frame_cand)
        if len(y_train) == 0:  # the whole plate is open: the focus region is fixed now
            STATE["cutoff"] = float(np.quantile(h, STATE["focus"]))
        on = not (STATE.get("rho") and len(y_train) == 0)
        if STATE.get("rho") and len(y_train) >= H.CHECK_MIN_ROWS:
            from scipy.stats import spearmanr

            r, p = spearmanr(prior.predict(frame_train), y_train)  # minimise: a good history ranks alike
            on = bool(r > 0 and p < 0.1)  # two-sided p: one-sided 0.05
        mask = h <= STATE["cutoff"]
        STATE["focus_mask"] = mask if on and mask.sum() >= 5 else None
    return out


def _rank(X_train, y_train, X_cand, cand, objective, k, *args, **kw):
    if len(y_train) == 0 and STATE.get("h_cand") is not None:  # the hedged first batch (minimise)
        from matloop.design.coldstart import _standardise, coverage_pool, greedy_maximin
        from matloop.design.suggest import Ranking

        n, n_h = len(X_cand), 2
        top = np.argsort(STATE["h_cand"], kind="stable")[: max(n_h, int(np.ceil(0.02 * n)))]
        picks = top[greedy_maximin(_standardise(X_cand)[top], n_h, first=0)]
        rest = np.delete(np.arange(n), picks)
        fill = rest[coverage_pool(X_cand[rest], k - n_h, X_cand[picks], kw.get("seed", args[3] if len(args) > 3 else 0))]
        idx = np.concatenate([picks, fill]).astype(int)
        return Ranking(cand.iloc[idx], idx, "hedged", "hedged", "hedged")
    mask = STATE.get("focus_mask")
    if mask is not None and len(mask) == len(X_cand):
        from dataclasses import replace

        inside = np.flatnonzero(mask)
        r = _ORIG["rank"](X_train, y_train, X_cand[inside], cand.iloc[inside], objective, k, *args, **kw)
        return replace(r, chosen_positions=inside[r.chosen_positions])
    return _ORIG["rank"](X_train, y_train, X_cand, cand, objective, k, *args, **kw)


def configure(arm: str) -> str:
    """Set the wrappers for ``arm``; returns the base arm (``history (input)`` or ``bad history (input)``)."""
    tail = arm.split("(", 1)[1].rstrip(")").split() if "(" in arm else []
    STATE.clear()
    H.history_helps, H.SAFEGUARD_MARGIN = _ORIG["helps"], 0.0
    if tail[:1] == ["nosafe"]:
        H.history_helps = lambda *a, **k: (True, "safeguard off")
    elif tail[:1] == ["margin"]:
        H.SAFEGUARD_MARGIN = float(tail[1])
    STATE["pibo"] = float(tail[1]) if tail[:1] == ["pibo"] else 0.0
    STATE["loadings"] = tail[:1] == ["loadings"]
    STATE["hedged"] = tail[:1] == ["hedged"]
    if tail[:1] == ["focus"]:
        H.SAFEGUARD_MARGIN = _ORIG["margin"]
        STATE["focus"], STATE["rho"] = float(tail[1]), "rho" in tail
    return arm.split(" (")[0] + " (input)"  # these arms vary the history as an input (shipped in sessions 20-27)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arms", nargs="+", required=True)
    ap.add_argument("--seeds", nargs="+", type=int, default=list(range(6)))
    args = ap.parse_args()
    H.HistoryPrior._features, S.make_acquisition = _features, _make_acq
    cp.apply_history, cp.rank_candidates = _apply, _rank
    store = json.loads(cp.TUNING_PATH.read_text()) if cp.TUNING_PATH.exists() else {"history": {}}
    for seed in args.seeds:
        for camp, hplate in cp.PLATES:
            for arm in args.arms:
                key = f"{camp}|{hplate}|{arm}"
                if str(seed) in store["history"].get(key, {}):
                    continue
                run = cp.history_run(camp, hplate, configure(arm) if arm != "cold" else "cold", seed, 100)
                store["history"].setdefault(key, {})[str(seed)] = run
                cp.TUNING_PATH.write_text(json.dumps(store, indent=1))
                print(f"{key} seed {seed}: half at {cp._to_half(run)} ({run['seconds']} s)", flush=True)


if __name__ == "__main__":
    main()
