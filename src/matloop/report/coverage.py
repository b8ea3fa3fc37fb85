"""Coverage and bias of a dataset in feature space: 2-D maps, clusters and point density.

- :func:`feature_map`: PCA, or UMAP (McInnes et al. 2018) with an exact neighbour graph from
  scikit-learn and numba's on-disk cache switched on (see :func:`umap_compiled`), so a 5,000-row
  map takes seconds instead of minutes;
- :func:`coverage`: the PCA map, the k-means clusters that leave-one-cluster-out CV holds out, their
  sizes and target statistics, and the local point density (De Breuck, Evans & Rignanese 2021,
  J. Phys.: Condens. Matter 33, 404002: errors grow where training data are sparse); :func:`add_umap`
  adds the UMAP map (of a random subsample of large tables, which the result records);
- :func:`density_error_table`: cross-validated error per density bin.

Results are numbers and DataFrames; :mod:`matloop.report.plots` draws them.
"""

from __future__ import annotations

import warnings as _warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from matloop.errors import InputError
from matloop.evaluate.audit import _standardise, clean_features

__all__ = ["CoverageResult", "add_umap", "coverage", "density_error_table", "feature_map", "point_density",
           "umap_compiled"]


def _umap_module():
    """``umap`` with on-disk caching of its numba functions switched on.

    umap-learn compiles its numba kernels without ``cache=True``, which costs 15-30 s in every new
    process; with caching on, only the first run ever pays it (numba keeps the machine code next to
    umap's sources, or in the user's cache folder when those are read-only).
    """
    import umap
    import umap.layouts
    import umap.umap_
    import umap.utils

    try:
        from numba.core.dispatcher import Dispatcher

        for module in (umap.umap_, umap.layouts, umap.utils):
            for obj in vars(module).values():
                if isinstance(obj, Dispatcher) and type(obj._cache).__name__ == "NullCache":
                    obj.enable_caching()
    except Exception:  # noqa: BLE001 - caching is an optimisation; UMAP works without it
        pass
    return umap


def umap_compiled() -> bool:
    """Whether UMAP's numba kernels are in the on-disk cache (the first UMAP ever compiles for ~20 s)."""
    import os

    try:
        with _warnings.catch_warnings():
            _warnings.simplefilter("ignore")
            umap = _umap_module()
        return os.path.exists(umap.umap_.smooth_knn_dist._cache._cache_file._index_path)
    except Exception:  # noqa: BLE001
        return False


def feature_map(X: object, method: str = "pca", seed: int = 0) -> tuple[np.ndarray, dict]:
    """2-D coordinates of every row and a description of the map.

    ``pca``: the first two principal components of the standardised features (``info`` holds the
    explained variance ratios); ``umap``: UMAP (McInnes et al. 2018) with 15 neighbours and 200
    epochs, needs ``umap-learn``. The neighbour graph is computed exactly with scikit-learn (BLAS)
    and handed to UMAP, which would otherwise call a Python distance function for every pair.
    """
    from threadpoolctl import threadpool_limits

    Z = _standardise(X)
    if method == "pca":
        from sklearn.decomposition import PCA

        n_comp = min(2, Z.shape[1], Z.shape[0])
        with threadpool_limits(1):  # a 5,000 x 200 SVD: BLAS threads on a busy machine only contend (100x slower)
            pca = PCA(n_components=n_comp, random_state=seed).fit(Z)
        coords = pca.transform(Z)
        if n_comp < 2:
            coords = np.column_stack([coords, np.zeros(len(coords))])
        ratio = np.r_[pca.explained_variance_ratio_, np.zeros(2 - n_comp)]
        return coords, {"method": "PCA", "explained_variance": tuple(float(r) for r in ratio)}
    if method == "umap":
        from sklearn.neighbors import NearestNeighbors

        with _warnings.catch_warnings():
            _warnings.simplefilter("ignore")  # numba and n_jobs chatter
            try:
                umap = _umap_module()
            except ImportError as exc:
                raise ImportError("the UMAP map needs umap-learn: pip install umap-learn") from exc
            k = min(15, len(Z) - 1)
            with threadpool_limits(1):  # small BLAS jobs: threads only contend
                dist, idx = NearestNeighbors(n_neighbors=k).fit(Z).kneighbors(Z)
            reducer = umap.UMAP(n_components=2, n_neighbors=k, random_state=seed, n_jobs=1, n_epochs=200,
                                precomputed_knn=(idx, dist, None), force_approximation_algorithm=True)
            coords = reducer.fit_transform(Z)
        return np.asarray(coords, dtype=float), {"method": "UMAP"}
    raise ValueError(f"method must be 'pca' or 'umap', got {method!r}")


def point_density(coords: np.ndarray, bandwidth: float | None = None) -> np.ndarray:
    """Relative local density of points in a 2-D map (Gaussian KDE; 1 = the median point's density).

    The map is standardised first; ``bandwidth`` defaults to Scott's rule. A value of 0.1 means a
    point sits where the data are ten times sparser than for a typical point.
    """
    from scipy.stats import gaussian_kde

    c = np.asarray(coords, dtype=float)
    spread = c.std(axis=0)
    c = (c - c.mean(axis=0)) / np.where(spread > 0, spread, 1.0)
    jitter = np.random.default_rng(0).normal(scale=1e-6, size=c.shape)  # degenerate (collinear) maps
    kde = gaussian_kde((c + jitter).T, bw_method=bandwidth)
    dens = kde(c.T)
    return dens / np.median(dens)


def density_error_table(density: np.ndarray, abs_error: np.ndarray, n_bins: int = 4) -> pd.DataFrame:
    """Mean absolute error per density quantile bin (bin 0 = sparsest), with the density range."""
    d = np.asarray(density, dtype=float)
    e = np.abs(np.asarray(abs_error, dtype=float))
    edges = np.quantile(d, np.linspace(0, 1, n_bins + 1))
    bins = np.clip(np.searchsorted(edges, d, side="right") - 1, 0, n_bins - 1)
    rows = [{"bin": b, "density_low": edges[b], "density_high": edges[b + 1], "n": int(np.sum(bins == b)),
             "mae": float(e[bins == b].mean()) if np.any(bins == b) else float("nan")} for b in range(n_bins)]
    return pd.DataFrame(rows)


@dataclass
class CoverageResult:
    """See :func:`coverage`. ``embedding``: ``pc1, pc2`` (``umap1, umap2``), ``cluster``, ``density`` per row;
    ``umap_rows``: rows placed on the UMAP map (the others, if any, have NaN ``umap1, umap2``)."""

    embedding: pd.DataFrame
    explained_variance: tuple[float, float]
    cluster_sizes: pd.DataFrame
    density_map: str
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    umap_rows: int = 0


_SPARSE = "over 10x sparser than typical"


def _set_density(cov: CoverageResult) -> None:
    """Density in the UMAP map when every row is on it (as De Breuck et al. 2021), else in the PCA map."""
    emb = cov.embedding
    cov.density_map = "UMAP" if cov.umap_rows == len(emb) else "PCA"
    cols = ["umap1", "umap2"] if cov.density_map == "UMAP" else ["pc1", "pc2"]
    emb["density"] = point_density(emb[cols].to_numpy())
    cov.warnings = [w for w in cov.warnings if _SPARSE not in w]
    sparse = float(np.mean(emb["density"] < 0.1))
    if sparse > 0.05:
        cov.warnings.append(f"{sparse:.0%} of rows lie where the data are {_SPARSE} ({cov.density_map} map): "
                            "expect larger errors there")


def add_umap(cov: CoverageResult, X: object, max_rows: int = 5000, seed: int = 0) -> CoverageResult:
    """Add a UMAP map to ``cov`` (in place; returned). Above ``max_rows`` rows a random subsample of
    ``max_rows`` is mapped (``umap_rows`` says how many) and the density stays in the PCA map."""
    Xc = clean_features(X)
    n = len(Xc)
    rows = np.arange(n) if n <= max_rows else np.sort(np.random.default_rng(seed).choice(n, max_rows, replace=False))
    coords, _ = feature_map(Xc.iloc[rows], "umap", seed)
    emb = cov.embedding
    emb["umap1"], emb["umap2"] = np.nan, np.nan
    emb.loc[rows, "umap1"], emb.loc[rows, "umap2"] = coords[:, 0], coords[:, 1]
    cov.umap_rows = len(rows)
    _set_density(cov)
    return cov


def coverage(X: object, y: object = None, n_clusters: int = 5, umap: bool | str = "auto", seed: int = 0,
             max_umap_rows: int = 5000) -> CoverageResult:
    """Map the feature space, cluster it and measure where data are sparse.

    ``X`` is cleaned (:func:`clean_features`); ``y`` adds the target mean and std per cluster. The
    ``n_clusters`` k-means clusters are exactly those of leave-one-cluster-out CV
    (:class:`matloop.evaluate.LeaveOneClusterOut`), numbered by size (0 = largest). ``umap="auto"``
    adds a UMAP map (:func:`add_umap`; a random ``max_umap_rows`` rows of larger tables) when
    ``umap-learn`` is installed and there are at least 30 rows. The density is measured in the UMAP
    map when every row is on it (as De Breuck et al. 2021), else in the PCA map.
    """
    from threadpoolctl import threadpool_limits

    from matloop.evaluate.splitters import LeaveOneClusterOut

    Xc = clean_features(X)
    n = len(Xc)
    if n < max(n_clusters, 3):
        raise InputError(f"{n} rows are too few to map and cluster ({n_clusters} clusters)")
    coords, info = feature_map(Xc, "pca", seed)
    emb = pd.DataFrame({"pc1": coords[:, 0], "pc2": coords[:, 1]})
    with threadpool_limits(1):  # k-means on a shared machine: OpenMP threads contend (5x slower)
        emb["cluster"] = LeaveOneClusterOut(n_clusters=n_clusters, seed=seed).cluster(Xc)
    sizes = emb.groupby("cluster").size().rename("n").reset_index()
    sizes["fraction"] = sizes["n"] / n
    if y is not None:
        yv = pd.to_numeric(pd.Series(np.asarray(y).reshape(-1)), errors="coerce")
        emb["target"] = yv.to_numpy()
        stats = emb.groupby("cluster")["target"].agg(["mean", "std"]).reset_index()
        sizes = sizes.merge(stats.rename(columns={"mean": "target_mean", "std": "target_std"}), on="cluster")
    warnings: list[str] = []
    if sizes["fraction"].max() > 0.6:
        warnings.append(f"one cluster holds {sizes['fraction'].max():.0%} of the data: the dataset is dominated "
                        "by one family of materials")
    ev = info["explained_variance"]
    cov = CoverageResult(emb, (ev[0], ev[1]), sizes, "PCA", [], warnings)
    if umap is True or (umap == "auto" and n >= 30):
        try:
            return add_umap(cov, Xc, max_umap_rows, seed)
        except ImportError:
            if umap is True:
                raise
            cov.notes.append("UMAP map skipped: umap-learn is not installed")
    _set_density(cov)
    return cov
