"""An ordinal goal whose best label is already measured: candidates are ranked by the probability of
reaching that label again (``rank_candidates(top_score=...)``), never by an improvement above a score the
scale cannot exceed; before the top label is reached, nothing changes."""

import numpy as np
import pandas as pd

from matloop.design.acquisition import Objective
from matloop.design.ordinal import top_score
from matloop.design.suggest import rank_candidates


def _scores(n=60, seed=0):
    """Inputs x in [0, 1]^2; the ordinal score 0..3 rises with x0 (3 = the best label where x0 > 0.7)."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 1, (n, 2))
    return X, np.digitize(X[:, 0], [0.25, 0.5, 0.7]).astype(float)


def test_top_label_reached_ranks_by_the_chance_of_reaching_it_again():
    X, y = _scores()
    train = np.arange(20)
    cands = pd.DataFrame(index=range(20, 60))
    plain = rank_candidates(X[train], y[train], X[20:], cands, Objective("max"), 4, model="rf", seed=0)
    assert y[train].max() == 3
    top = rank_candidates(X[train], y[train], X[20:], cands, Objective("max"), 4, model="rf", seed=0, top_score=3.0)
    assert top.chosen["reason"].str.contains("P(in 2.5..3.5)", regex=False).all()
    assert top.chosen["reason"].str.contains("best label is measured already").all()
    assert not plain.chosen["reason"].str.contains("best label").any()
    assert (y[20:][top.chosen_positions] == 3).mean() >= 0.75  # the likely top-label candidates


def test_below_the_top_label_the_ranking_is_unchanged():
    X, y = _scores()
    keep = np.flatnonzero(y < 3)[:20]
    cands = pd.DataFrame(index=range(len(X)))
    a = rank_candidates(X[keep], y[keep], X, cands, Objective("max"), 4, model="rf", seed=0)
    b = rank_candidates(X[keep], y[keep], X, cands, Objective("max"), 4, model="rf", seed=0, top_score=3.0)
    pd.testing.assert_frame_equal(a.chosen, b.chosen)


def test_a_campaign_uses_its_ordinal_goals_top_score_only_when_maximised():
    labels = ["none", "powder", "crystal"]
    assert top_score(labels, Objective("max")) == 2.0
    assert top_score(labels, Objective("min")) is None and top_score(None, Objective("max")) is None
