"""CPU cost of one epoch of the crystal graph network on 3,000 formation-energy structures (flla).

A quick complement to ``benchmarks/gnn_speed.py`` for a loaded machine: reads a random 3,000 of the
bundled ``flla`` structures (seed 0), builds the graphs of the first 2,400 (one fold's training rows)
and trains one ensemble member (80 % train, 20 % validation, the estimator's default network) for 1
and for 4 epochs, single-threaded, reporting process CPU seconds. A fold costs about
``n_members x epochs x cpu_s_per_epoch``, plus the graphs. Result: ``benchmarks/results/gnn_epoch_cost.json``.

usage: python benchmarks/gnn_epoch_cost.py
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from matloop.datasets import load
from matloop.models.gnn.estimator import atom_table
from matloop.models.gnn.training import train_member
from matloop.represent.graphs import CrystalGraphConverter
from matloop.represent.structure_io import read_structures


def main() -> None:
    ds = load("flla")
    rng = np.random.default_rng(0)
    pick = np.sort(rng.choice(len(ds), size=3000, replace=False))
    frame = ds.frame.iloc[pick].reset_index(drop=True)
    c = time.process_time()
    structures = read_structures(frame[ds.input])
    read_cpu = time.process_time() - c
    c, w = time.process_time(), time.perf_counter()
    graphs = CrystalGraphConverter().transform(structures[:2400])
    graph_cpu, graph_wall = time.process_time() - c, time.perf_counter() - w
    y = frame[ds.target].to_numpy()[:2400]
    y = (y - y.mean()) / y.std()
    perm = rng.permutation(2400)
    val, train = np.sort(perm[:480]), np.sort(perm[480:])
    args = {"cutoff": 8.0, "gaussian_step": 0.2, "atom_fea_len": 32, "n_conv": 3, "h_fea_len": 64, "dropout": 0.0}
    out = {"read_cpu_s_3000": read_cpu, "graph_cpu_s_2400": graph_cpu, "graph_wall_s_2400": graph_wall,
           "edges_per_crystal": len(graphs.centres) / len(graphs)}
    for epochs in (1, 4):
        c = time.process_time()
        result, _, _ = train_member({
            "graphs": graphs, "y": y, "train": train, "val": val, "atom_table": atom_table(), "network_args": args,
            "train_args": {"learning_rate": 3e-3, "weight_decay": 1e-5, "batch_size": 64, "max_epochs": epochs,
                           "patience": 100},
            "seed": 0, "device": "cpu", "n_threads": 1, "stop_at": None})
        out[f"member_cpu_s_{epochs}_epochs"] = time.process_time() - c
        out[f"val_mse_{epochs}"] = result.best_loss
    out["cpu_s_per_epoch"] = (out["member_cpu_s_4_epochs"] - out["member_cpu_s_1_epochs"]) / 3
    out["network_args"] = args
    print(json.dumps(out))
    path = Path(__file__).parent / "results" / "gnn_epoch_cost.json"
    path.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
