import numpy as np
import pytest

from matloop.design.acquisition import Context, ExpectedImprovement, Posterior, UpperConfidenceBound
from matloop.design.batch import select_batch


def _clustered_candidates():
    rng = np.random.default_rng(0)
    # a tight cluster of near-identical top candidates, and a spread of others
    cluster = rng.normal(0, 0.01, size=(30, 3))
    others = rng.uniform(-5, 5, size=(200, 3))
    X = np.vstack([cluster, others])
    mean = np.r_[np.full(30, 5.0) + rng.normal(0, 0.01, 30), rng.normal(0, 1, 200)]
    return X, Posterior(mean, np.full(230, 0.5))


def test_penalized_batch_is_diverse_not_k_copies():
    X, post = _clustered_candidates()
    ctx = Context(best=1.0, X_candidates=X)
    idx, _ = select_batch(ExpectedImprovement(), post, ctx, k=5, method="penalized")
    assert len(set(idx.tolist())) == 5
    assert (idx < 30).sum() <= 2  # not five picks from one cluster
    greedy = np.argsort(-ExpectedImprovement()(post, ctx))[:5]
    assert (greedy < 30).all()  # while a plain top-k would take the cluster only


def test_thompson_batch_distinct():
    X, post = _clustered_candidates()
    idx, _ = select_batch(UpperConfidenceBound(), post, Context(rng=np.random.default_rng(3)), k=8,
                          method="thompson")
    assert len(set(idx.tolist())) == 8


def test_believer_calls_refit_and_moves_away():
    X, post = _clustered_candidates()
    calls = []

    def refit(chosen, fantasies):
        calls.append((chosen.copy(), fantasies.copy()))
        std = post.std.copy()
        d = np.linalg.norm(X[:, None, :] - X[chosen][None, :, :], axis=2).min(axis=1)
        std = std * np.minimum(1.0, d)  # uncertainty collapses near fantasised points
        return Posterior(post.mean, std)

    idx, _ = select_batch(UpperConfidenceBound(beta=3), post, Context(best=1.0, X_candidates=X), k=4,
                          method="believer", refit=refit)
    assert len(calls) == 3 and len(set(idx.tolist())) == 4
    assert np.allclose(calls[0][1], post.mean[idx[:1]])


def test_batch_errors():
    post = Posterior(np.zeros(3), np.ones(3))
    with pytest.raises(ValueError, match="unknown batch method"):
        select_batch(UpperConfidenceBound(), post, Context(), 2, method="x")
    with pytest.raises(ValueError, match="refit"):
        select_batch(UpperConfidenceBound(), post, Context(), 2, method="believer")
    idx, _ = select_batch(UpperConfidenceBound(), post, Context(), 10)
    assert len(idx) == 3
