"""Bundle the diffraction-pattern datasets of ../shared/data/xrd into src/matloop/datasets/data/xrd.

- ``oviedo2019_patterns.json.xz``: the 88 experimental thin-film patterns of Oviedo et al. (2019) as
  {"files": {"<space-group folder>/<file name>": "<file text, unchanged>"}} (the files keep their
  header, glued and lone-angle lines: they are real instrument output, which the reader must handle).
- ``alli_fe_o_library.npz``: the DRNets Al-Li-Fe-O library (Q in nm^-1, 231 x 650 intensities,
  compositions, ground-truth phase fractions), plain arrays (loaded with allow_pickle=False). The
  pickled stick-pattern and name files are not read.

    python scripts/bundle_patterns.py
"""

from __future__ import annotations

import json
import lzma
import shutil
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT / ".." / "shared" / "data" / "xrd"
OUT = ROOT / "src" / "matloop" / "datasets" / "data" / "xrd"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    exp = SHARED / "autoXRD_oviedo2019" / "Experimental"
    files = {f"{p.parent.name}/{p.name}": p.read_bytes().decode("utf-8")
             for p in sorted(exp.rglob("*.xy"))}
    with lzma.open(OUT / "oviedo2019_patterns.json.xz", "wt", encoding="utf-8", preset=9) as handle:
        json.dump({"files": files}, handle)
    shutil.copy(SHARED / "autoXRD_oviedo2019" / "LICENSE", OUT / "LICENSE_autoXRD_Apache-2.0")
    d = SHARED / "drnets_Al-Li-Fe-O"
    arrays = {name: np.load(d / f"AlLiFe_{name}.npy", allow_pickle=False)
              for name in ("Q", "XRD", "composition", "weights_sol")}
    np.savez_compressed(OUT / "alli_fe_o_library.npz", **arrays)
    shutil.copy(d / "LICENSE", OUT / "LICENSE_DRNets_MIT")
    print(f"{len(files)} patterns; library {arrays['XRD'].shape}; written to {OUT}")


if __name__ == "__main__":
    main()
