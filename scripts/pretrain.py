"""Rebuild matloop's pre-trained model library from the bundled proxy datasets (CPU, reproducible).

    python scripts/pretrain.py                        # every source -> src/matloop/models/pretrained/library
    python scripts/pretrain.py --sources mp_gap,mp_e_form --out /tmp/lib
    python scripts/pretrain.py --exclude-dataset matbench_expt_gap --out /tmp/clean_lib   # leakage guard
    python scripts/pretrain.py --compare-inputs mp_e_form,aflow_egap   # magpie+fractions vs embedding vs magpie

Each source becomes ``NAME.npz`` (float32 weights, standardisation statistics; no pickle) and
``NAME.json`` (model card); ``library.json`` records the settings, the time per source and the
total size. Seeds, deterministic PyTorch kernels and a fixed thread count (``--threads``, default
1: on shared machines extra threads slow PyTorch down) make rebuilds repeatable. Big sources are
subsampled to ``--max-rows`` training rows (default 100,000: only OQMD band gaps, 341,608 rows, is
cut) to keep the build near 30 CPU-minutes; the card says when that happened. ``--jobs 2``
trains two sources at a time.

``--compare-inputs`` trains, for the given sources, the shipped input (Magpie statistics + atomic
fractions) against atomic fractions alone (a learned element embedding, as in ElemNet) and Magpie
alone, on the same split, and prints the held-out MAE of each (nothing is written to the library).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from matloop.models.pretrained import SOURCES, library_dir
from matloop.models.pretrained.network import N_INPUTS, N_MAGPIE, composition_inputs
from matloop.models.pretrained.training import (
    PretrainSettings,
    _fit_scaler,
    build_library,
    exclusion_keys,
    prepare_source,
    train_network,
)


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=None, help="library folder (default: the package's)")
    parser.add_argument("--sources", default="all", help="comma-separated source names, or 'all'")
    parser.add_argument("--max-rows", type=int, default=PretrainSettings.max_rows, help="training rows per source")
    parser.add_argument("--epochs", type=int, default=PretrainSettings.epochs, help="minimum epochs")
    parser.add_argument("--min-steps", type=int, default=PretrainSettings.min_steps,
                        help="minimum optimiser steps (small sources train more epochs)")
    parser.add_argument("--seed", type=int, default=PretrainSettings.seed)
    parser.add_argument("--threads", type=int, default=PretrainSettings.threads, help="PyTorch threads per job")
    parser.add_argument("--jobs", type=int, default=1, help="sources trained at once (processes); default 1")
    parser.add_argument("--exclude-dataset", action="append", default=[], metavar="NAME",
                        help="bundled dataset whose compositions are removed from every source (repeatable)")
    parser.add_argument("--exclude-file", type=Path, default=None,
                        help="text file with one formula per line to remove from every source")
    parser.add_argument("--compare-inputs", default=None, metavar="SOURCES",
                        help="compare input representations on these sources instead of building")
    return parser.parse_args()


def exclusion_from(datasets_: list[str], path: Path | None) -> tuple[set[str], str]:
    """Composition keys to exclude (from bundled datasets and/or a formula file) and a note."""
    from matloop import datasets

    formulas, parts = [], []
    for name in datasets_:
        ds = datasets.load(name)
        formulas += list(ds.frame[ds.input])
        parts.append(name)
    if path is not None:
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        formulas += lines
        parts.append(path.name)
    keys = exclusion_keys(formulas) if formulas else set()
    return keys, (f"compositions of {', '.join(parts)} removed" if parts else "")


def compare_inputs(names: list[str], settings: PretrainSettings) -> None:
    """Held-out MAE of three input representations on the same split (nothing is saved)."""
    variants = {"magpie+fractions": np.arange(N_INPUTS), "fractions (element embedding)": np.arange(N_MAGPIE, N_INPUTS),
                "magpie": np.arange(N_MAGPIE)}
    for name in names:
        data = prepare_source(SOURCES[name], settings)
        inputs = {p: composition_inputs(c) for p, c in data["comps"].items()}
        mean, scale = _fit_scaler(inputs["train"])
        X = {p: ((v - mean) / scale).astype(np.float32) for p, v in inputs.items()}
        y = data["y"]
        m, s = y["train"].mean(), y["train"].std()
        for label, cols in variants.items():
            start = time.perf_counter()
            coefs, intercepts, _ = train_network(X["train"][:, cols], ((y["train"] - m) / s).astype(np.float32),
                                                 X["val"][:, cols], ((y["val"] - m) / s).astype(np.float32),
                                                 SOURCES[name].task, settings)
            h = X["test"][:, cols].astype(np.float64)
            for W, b in zip(coefs[:-1], intercepts[:-1], strict=True):
                z = h @ W + b
                h = z / (1 + np.exp(-z))
            pred = (h @ coefs[-1] + intercepts[-1])[:, 0] * s + m
            print(f"{name:22s} {label:32s} test MAE {np.mean(np.abs(pred - y['test'])):.4f}  "
                  f"({len(y['train'])} training rows, {time.perf_counter() - start:.0f} s)", flush=True)


def main() -> int:
    args = _parse()
    settings = replace(PretrainSettings(), max_rows=args.max_rows, epochs=args.epochs, min_steps=args.min_steps,
                       seed=args.seed, threads=args.threads)
    if args.compare_inputs:
        compare_inputs([s.strip() for s in args.compare_inputs.split(",")], settings)
        return 0
    sources = None if args.sources == "all" else [s.strip() for s in args.sources.split(",") if s.strip()]
    exclude, note = exclusion_from(args.exclude_dataset, args.exclude_file)
    out = args.out or library_dir()
    print(f"building {len(sources or SOURCES)} models into {out} (max {settings.max_rows} training rows, "
          f"{settings.threads} thread(s); {len(exclude)} compositions excluded)", flush=True)
    summary = build_library(out, sources, settings, exclude, note, log=lambda s: print(s, flush=True), jobs=args.jobs)
    print(f"total {summary['total_time_s']:.0f} s wall, {summary['total_cpu_s']:.0f} s CPU; "
          f"library size {summary['size_bytes'] / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
