"""Coverage maps: clusters by size, point density, the UMAP map (subsampled above a row cap)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from matloop.report import coverage as cover
from standins import blobs


def test_coverage_recovers_clusters_by_size():
    X, labels = blobs()
    cov = cover.coverage(X, labels * 10.0, n_clusters=3, umap=False)
    sizes = cov.cluster_sizes.set_index("cluster")
    assert sizes["n"].tolist() == [60, 30, 10]  # numbered by size, largest first
    assert sizes["target_mean"].tolist() == [0.0, 10.0, 20.0]
    assert pd.crosstab(cov.embedding["cluster"], labels).to_numpy().max(axis=1).tolist() == [60, 30, 10]
    assert list(cov.embedding.columns[:2]) == ["pc1", "pc2"] and cov.density_map == "PCA" and cov.umap_rows == 0
    assert 0.5 < sum(cov.explained_variance) <= 1.0
    dominated = cover.coverage(blobs((90, 5, 5))[0], n_clusters=3, umap=False)
    assert any("one cluster holds 90%" in w for w in dominated.warnings)
    assert not any("one cluster holds" in w for w in cov.warnings)


def test_clusters_are_those_of_leave_one_cluster_out():
    from matloop.evaluate.splitters import LeaveOneClusterOut

    X, _ = blobs((50, 40, 30, 20), seed=7)
    cov = cover.coverage(X, n_clusters=4, umap=False)
    loco = LeaveOneClusterOut(n_clusters=4, seed=0).cluster(X)
    assert np.array_equal(cov.embedding["cluster"].to_numpy(), loco)


def test_point_density_is_low_for_an_isolated_point():
    rng = np.random.default_rng(0)
    coords = np.vstack([rng.normal(size=(200, 2)), [[15.0, 15.0]]])
    dens = cover.point_density(coords)
    assert np.median(dens) == pytest.approx(1.0)
    assert dens[-1] < 0.1 and dens[:-1].min() > dens[-1]  # "over 10x sparser than typical"


def test_density_error_table_orders_bins_from_sparse_to_dense():
    density = np.linspace(0.01, 2, 100)
    err = 1 / density
    table = cover.density_error_table(density, err, n_bins=4)
    assert table["n"].sum() == 100 and list(table["bin"]) == [0, 1, 2, 3]
    assert table["mae"].is_monotonic_decreasing


@pytest.mark.slow  # UMAP's numba kernels compile once per installation (~20 s), then load from the cache
def test_umap_map_keeps_clusters_apart_and_subsamples_above_the_row_cap():
    pytest.importorskip("umap")
    X, labels = blobs((40, 40, 40), d=6, spread=0.5, seed=1)
    coords, info = cover.feature_map(X, "umap", seed=0)
    assert info["method"] == "UMAP" and coords.shape == (120, 2) and np.isfinite(coords).all()
    centres = np.array([coords[labels == k].mean(axis=0) for k in range(3)])
    within = max(np.linalg.norm(coords[labels == k] - centres[k], axis=1).mean() for k in range(3))
    between = min(np.linalg.norm(centres[a] - centres[b]) for a in range(3) for b in range(a + 1, 3))
    assert between > 2 * within  # three well separated blobs stay apart
    assert np.array_equal(coords, cover.feature_map(X, "umap", seed=0)[0])  # deterministic for a seed
    assert cover.umap_compiled()  # the kernels are now cached on disk

    full = cover.coverage(X, n_clusters=3, umap=True)
    assert full.umap_rows == 120 and full.density_map == "UMAP"
    capped = cover.add_umap(cover.coverage(X, n_clusters=3, umap=False), X, max_rows=50)
    emb = capped.embedding
    assert capped.umap_rows == 50 and emb["umap1"].notna().sum() == 50 and capped.density_map == "PCA"
