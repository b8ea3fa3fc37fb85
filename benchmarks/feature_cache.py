"""Structure featurization with the on-disk row cache: a cold run against a second (warm) run.

Featurizes the structures of a bundled set (default ``elastic_tensor_2015``, 1,181 inline CIFs)
with the default :class:`~matloop.represent.structure.StructureFeaturizer` through
:func:`matloop.represent.feature_cache.cached_transform` (``fit=True``, as ``matloop fit`` does),
twice, in a fresh temporary cache folder, and checks that both results are identical. The warm run
reads no structure: the fitted state and every row come from the cache.

    .venv/bin/python benchmarks/feature_cache.py [--dataset perov_5] [--rows N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="elastic_tensor_2015")
    parser.add_argument("--rows", type=int, default=None, help="first N rows only")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    from matloop.datasets import load
    from matloop.represent.feature_cache import cached_transform
    from matloop.represent.structure import StructureFeaturizer

    values = load(args.dataset).frame["structure"]
    values = values.iloc[: args.rows] if args.rows else values
    with tempfile.TemporaryDirectory() as folder:
        t = time.perf_counter()
        cold = cached_transform(StructureFeaturizer(), values, fit=True, cache_dir=folder)
        t_cold = time.perf_counter() - t
        t = time.perf_counter()
        warm = cached_transform(StructureFeaturizer(), values, fit=True, cache_dir=folder)
        t_warm = time.perf_counter() - t
    print(f"{args.dataset}: {len(values)} structures x {cold.shape[1]} features; cold {t_cold:.1f} s, "
          f"warm {t_warm:.2f} s ({t_cold / t_warm:.0f}x); identical: {cold.equals(warm)}")


if __name__ == "__main__":
    main()
