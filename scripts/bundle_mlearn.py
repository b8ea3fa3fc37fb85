"""Bundle the mlearn interatomic-potential data of ../shared/data/structures/mlearn into the package.

The eight gzip files (Si, Ge, Li training and test sets; Cu, Ni test sets) are copied byte for byte to
``src/matloop/datasets/data/mlearn/<Element>_<split>.json.gz`` with the BSD-3 licence, and their record
counts are printed (they must equal ``matloop.datasets.potential_sets.POTENTIAL_SETS``).

    python scripts/bundle_mlearn.py
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT / ".." / "shared" / "data" / "structures" / "mlearn"
OUT = ROOT / "src" / "matloop" / "datasets" / "data" / "mlearn"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for element in ("Si", "Ge", "Li", "Cu", "Ni"):
        for split in ("training", "test"):
            source = SHARED / element / f"{split}.json.gz"
            if not source.exists():
                continue
            target = OUT / f"{element}_{split}.json.gz"
            shutil.copyfile(source, target)
            with gzip.open(target, "rt") as handle:
                print(f"{target.name}: {len(json.load(handle))} records")
    shutil.copyfile(SHARED / "LICENSE", OUT / "LICENSE")


if __name__ == "__main__":
    main()
