"""Bundle the public datasets of ``/work/shared/data`` into ``src/matloop/datasets/data``.

Run once by a maintainer (``python scripts/bundle_datasets.py [SOURCE]``); users never need it,
since the result is committed and shipped inside the package. What it does, and why:

* Every file is stored as xz-compressed CSV (``.csv.xz``; pandas reads it natively), the smallest
  widely readable format, with **values copied as text**: no number goes through a float round
  trip, so the bundled bytes are the source bytes.
* Matbench v0.1: the CSV with its official ``fold`` column, unchanged (the ``.json.bz2``
  duplicates are not shipped).
* CrabNet proxy sets: one file per set; the available ``train``/``val``/``test`` files are
  concatenated in that order with an added ``split`` column.
* Liang et al. 2021 BO sets, ESOL, FreeSolv: the source files byte for byte (duplicates kept).
* Crystal-structure sets (matminer 0.4.1 elastic tensors, dielectric constants, FLLA formation
  energies; CDVAE perov_5): one inline ``structure`` column each (CIF text, or pymatgen JSON for
  FLLA, converted from a Python repr with ``ast.literal_eval``), duplicate columns left out;
  ``--only matminer cdvae`` rebuilds them (changes listed in their ``PROVENANCE.md``).
* ``PROVENANCE.md`` and ``LICENSE`` texts go beside the data of each group, and
  ``manifest.json`` records rows, columns, split/fold counts and the SHA-256 of each uncompressed
  file, so that :mod:`matloop.datasets` can list datasets without decompressing anything.
"""

from __future__ import annotations

import argparse
import ast
import gzip
import hashlib
import io
import json
import lzma
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DEST = ROOT / "src" / "matloop" / "datasets" / "data"

MATBENCH = ["steels", "expt_gap", "expt_is_metal", "glass", "jdft2d", "log_gvrh", "log_kvrh",
            "perovskites", "mp_gap", "mp_e_form", "mp_is_metal"]
CRABNET = {
    "oqmd_bandgap": "OQMD_Bandgap", "oqmd_formation_enthalpy": "OQMD_Formation_Enthalpy",
    "oqmd_energy_per_atom": "OQMD_Energy_per_atom", "oqmd_volume_per_atom": "OQMD_Volume_per_atom",
    "critexam_ef": "CritExam__Ef", "critexam_ed": "CritExam__Ed", "mp_e_hull": "mp_e_hull",
    "mp_mu_b": "mp_mu_b", "mp_bulk_modulus": "mp_bulk_modulus", "mp_shear_modulus": "mp_shear_modulus",
    "mp_elastic_anisotropy": "mp_elastic_anisotropy", "aflow_egap": "aflow__Egap",
    "aflow_energy_atom": "aflow__energy_atom", "aflow_bulk_modulus": "aflow__ael_bulk_modulus_vrh",
    "aflow_shear_modulus": "aflow__ael_shear_modulus_vrh",
}
LIANG = {"liang_p3ht": "P3HT_dataset.csv", "liang_agnp": "AgNP_dataset.csv",
         "liang_crossed_barrel": "Crossed barrel_dataset.csv"}
MOLECULES = {"esol": "ESOL_delaney-processed.csv", "freesolv": "FreeSolv_SAMPL.csv"}
OLYMPUS = {name: f"{name}/{name}.csv" for name in
           ("dye_lasers", "redoxmers", "oer_plate_3496", "oer_plate_3851", "vapdiff_crystal")}

STRUCTURES = {  # name -> (group, source file under structures/)
    "elastic_tensor_2015": ("matminer", "matminer_0.4.1/matminer-0.4.1_elastic_tensor.csv.gz"),
    "dielectric_constant": ("matminer", "matminer_0.4.1/matminer-0.4.1_dielectric_constant.csv.gz"),
    "flla": ("matminer", "matminer_0.4.1/matminer-0.4.1_flla_2015.csv.gz"),
    "perov_5": ("cdvae", "cdvae_perov_5/val.csv.gz"),
}
#: columns left out of the structure sets: duplicates of what is kept (the POSCAR text of the same
#: structure, the compliance tensor = inverse of the elastic tensor, metadata repeating every column)
STRUCTURE_DROP = {"elastic_tensor_2015": ["poscar", "compliance_tensor", "elastic_tensor_original"],
                  "dielectric_constant": ["poscar", "meta"], "flla": [], "perov_5": []}

MIT = """MIT License

{copyright}

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""

LICENSES = {
    "matbench": (
        "The files in this folder were taken from the materialsproject/matbench repository,\n"
        "which is distributed under the MIT License reproduced below. The underlying data come\n"
        "from the original sources cited in the Matbench paper (Dunn et al., npj Comput Mater 6,\n"
        "138 (2020)); please cite them as well.\n\n"
        + MIT.format(copyright="Copyright (c) 2021 Hacking Materials Research Group")
    ),
    "crabnet": (
        "The files in this folder were taken from the anthony-wang/CrabNet repository, which is\n"
        "distributed under the MIT License reproduced below. The values come from the OQMD,\n"
        "AFLOW and Materials Project databases (see PROVENANCE.md); please cite them as well.\n\n"
        + MIT.format(copyright="Copyright (c) 2019-2020 Anthony Yu-Tung Wang and Steven K. Kauwe")
    ),
    "liang2021": (
        "The files in this folder were taken from the PV-Lab/Benchmarking repository. Its LICENSE\n"
        "file is the MIT License reproduced below; its README says \"BSD-2-Clause\". Both are\n"
        "permissive. The README asks users to cite Liang et al. 2021 and the original data\n"
        "authors (see PROVENANCE.md).\n\n"
        + MIT.format(copyright="Copyright (c) 2020 MIT PVLab")
    ),
    "moleculenet": (
        "ESOL_delaney-processed.csv (esol) and FreeSolv_SAMPL.csv (freesolv) were taken from the\n"
        "GLambard/Molecules_Dataset_Collection repository (MIT License, reproduced below), which\n"
        "holds the unmodified MoleculeNet/DeepChem originals.\n\n"
        "FreeSolv (Mobley & Guthrie, J Comput Aided Mol Des 28, 711 (2014); ChEMBL document\n"
        "CHEMBL3301361) is distributed under the Creative Commons Attribution-ShareAlike 3.0\n"
        "Unported licence (CC BY-SA 3.0, https://creativecommons.org/licenses/by-sa/3.0/) per\n"
        "the ChEMBL terms of use: attribute the source and share derived data under the same\n"
        "licence.\n\n"
        "ESOL: Delaney, J Chem Inf Comput Sci 44, 1000 (2004), as packaged by MoleculeNet (Wu et\n"
        "al., Chem Sci 9, 513 (2018)). Cite the originals.\n\n"
        + MIT.format(copyright="Copyright (c) 2018 Guillaume Lambard")
    ),
    "olympus": (
        "The files in this folder were taken from the aspuru-guzik-group/olympus repository\n"
        "(src/olympus/datasets/dataset_<name>/), which is distributed under the MIT License\n"
        "reproduced below. Cite Olympus (Hase et al., Mach. Learn.: Sci. Technol. 2, 035021 (2021))\n"
        "and the original data sources listed in PROVENANCE.md.\n\n"
        + MIT.format(copyright="Copyright (c) 2020 Aspuru-Guzik group repo")
    ),
}


def _licence(group: str, source: Path) -> str:
    """LICENSE text of a group: fixed texts, or the source's own licence file with a header."""
    if group in LICENSES:
        return LICENSES[group]
    folder, what = {"matminer": ("matminer_0.4.1", "the matminer 0.4.1 source package (PyPI)"),
                    "cdvae": ("cdvae_perov_5", "the txie-93/cdvae repository")}[group]
    return (f"The files in this folder were taken from {what}, distributed under the licence\n"
            "reproduced below. Cite the original data papers as well (see PROVENANCE.md).\n\n"
            + (source / "structures" / folder / "LICENSE").read_text(encoding="utf-8"))


def _sections(markdown: str) -> dict[str, str]:
    """Split a markdown text at its ``## `` headings: heading text -> section text."""
    parts = re.split(r"^(?=## )", markdown, flags=re.M)
    return {p.splitlines()[0][3:].strip(): p for p in parts if p.startswith("## ")}


def _provenance(source: Path) -> dict[str, str]:
    """PROVENANCE.md text per group folder, taken verbatim from the source files."""
    top = (source / "PROVENANCE.md").read_text(encoding="utf-8")
    header = ("# Data provenance\n\nAll files were copied out of public GitHub snapshots with `git show` "
              "(data only, no code copied). The sections below are quoted from the provenance notes "
              "written when the data were collected.\n\n")
    sec = _sections(top)
    mb = next(v for k, v in sec.items() if k.startswith("1."))
    cn = next(v for k, v in sec.items() if k.startswith("2."))
    missing = next(v for k, v in sec.items() if k.startswith("Not found"))
    note = ("\n## Bundled in matloop\n\nCopied into `matloop/datasets/data/{group}/` by "
            "`scripts/bundle_datasets.py`: {how} Values are copied as text (no float round trip) "
            "and xz-compressed; `manifest.json` holds the SHA-256 of each uncompressed file.\n")
    return {
        "matbench": header + mb + "\n" + missing + note.format(
            group="matbench", how="each `matbench_<task>.csv` (with its `fold` column) unchanged, "
            "as `<name>.csv.xz`; the `.json.bz2` duplicates are not shipped."),
        "crabnet": header + cn + note.format(
            group="crabnet", how="the available train/val/test files of each set concatenated in "
            "that order into one `<name>.csv.xz`, with an added column `split` (train/val/test)."),
        "liang2021": (source / "bo_benchmarks" / "PROVENANCE.md").read_text(encoding="utf-8") + note.format(
            group="liang2021", how="each source CSV byte for byte (duplicate rows kept) as `<name>.csv.xz`."),
        "moleculenet": (source / "molecules" / "PROVENANCE.md").read_text(encoding="utf-8") + note.format(
            group="moleculenet", how="each source CSV byte for byte as `<name>.csv.xz` (the trailing "
            "spaces of some ESOL SMILES are kept in the file; the loader strips them)."),
        "olympus": "# Data provenance\n\n" + next(v for k, v in _sections(
            (source / "PROVENANCE_round2.md").read_text(encoding="utf-8")).items() if k.startswith("bo_olympus"))
        + note.format(group="olympus", how="each `<name>.csv` (header row built from the dataset's own "
                      "`config.json` when the data were collected) byte for byte as `<name>.csv.xz`."),
        **_structure_provenance(source),
    }


def _structure_provenance(source: Path) -> dict[str, str]:
    """PROVENANCE.md of the structure groups: the source note plus what the bundling changed."""
    table = next(v for k, v in _sections((source / "PROVENANCE_round2.md").read_text(encoding="utf-8")).items()
                 if k.startswith("structures/"))
    changes = (
        "\n## Bundled in matloop\n\nCopied into `matloop/datasets/data/{group}/` by `scripts/bundle_datasets.py "
        "--only matminer cdvae`, one `<name>.csv.xz` per set, all values copied as text (no float round "
        "trip), with these changes so that every set has an inline structure column named `structure`:\n\n"
        "{how}\n`manifest.json` holds the SHA-256 of each uncompressed bundled file.\n"
    )
    matminer = (
        "- `elastic_tensor_2015` (matminer-0.4.1_elastic_tensor.csv.gz): the `# ref:` comment line dropped; "
        "`structure` is the source's CIF text; left out as duplicates: `poscar` (the same structure), "
        "`compliance_tensor` (the inverse of `elastic_tensor`), `elastic_tensor_original` (the tensor before "
        "symmetrisation); added `log10_K_VRH` and `log10_G_VRH` = log10 of K_VRH and G_VRH in GPa (every "
        "modulus is positive), written with Python's shortest round-trip float repr.\n"
        "- `dielectric_constant` (matminer-0.4.1_dielectric_constant.csv.gz): the `# ref:` line dropped; "
        "`structure` is the CIF text; left out: `poscar` (same structure) and `meta` (a Python repr "
        "repeating the other columns).\n"
        "- `flla` (matminer-0.4.1_flla_2015.csv.gz): the `# ref:` line dropped; `structure` was a Python "
        "repr of a pymatgen Structure dict and is now that dict as JSON (`ast.literal_eval`, never "
        "`eval`, then `json.dumps`) without what pymatgen derives on reading (the lattice's a, b, c, "
        "angles and volume, computed from `matrix`, and each site's Cartesian `xyz`, from `abc`); site "
        "properties (forces, magmom, coordination_no) are kept; `formula` was a Python dict repr of the reduced formula (`{'As': 1.0}`) "
        "and is now that formula as text (`As`).\n"
    )
    cdvae = ("- `perov_5` (cdvae data/perov_5/val.csv, the validation split of 3,787 of the 18,928 "
             "structures): column `cif` renamed `structure`; the unnamed first column (the row's index in "
             "the full perov_5 set) renamed `source_index`.\n")
    head = "# Data provenance\n\nQuoted from the notes written when the data were collected:\n\n"
    return {"matminer": head + table + changes.format(group="matminer", how=matminer),
            "cdvae": head + table + changes.format(group="cdvae", how=cdvae)}


def _formula_text(python_dict: str) -> str:
    amounts = ast.literal_eval(python_dict)
    return "".join(f"{el}{'' if float(n) == 1 else format(float(n), 'g')}" for el, n in amounts.items())


def _slim(structure: dict) -> dict:
    """A pymatgen Structure dict without what pymatgen derives again on reading: the lattice's
    a, b, c, angles and volume (from ``matrix``) and each site's Cartesian ``xyz`` (from ``abc``)."""
    if set(structure) != {"@module", "@class", "lattice", "sites"}:
        raise SystemExit(f"unexpected structure keys {sorted(structure)}")
    out = dict(structure, lattice={"matrix": structure["lattice"]["matrix"]})
    out["sites"] = [{k: v for k, v in site.items() if k != "xyz"} for site in structure["sites"]]
    return out


def _structure_bytes(name: str, path: Path) -> bytes:
    """The bundled CSV of one structure set (see ``_structure_provenance`` for the changes)."""
    text = _read_text(path).decode("utf-8")
    if name != "perov_5":  # matminer's CSVs start with one '# ref: ...' line (a comment char would cut CIFs)
        first, text = text.split("\n", 1)
        if not first.startswith("# ref:"):
            raise SystemExit(f"{path}: expected a '# ref:' first line, got {first[:40]!r}")
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    frame = frame.drop(columns=STRUCTURE_DROP[name])
    if name == "elastic_tensor_2015":
        for column in ("K_VRH", "G_VRH"):
            values = frame[column].astype(float)
            if (values <= 0).any():
                raise SystemExit(f"{path}: non-positive {column}; refusing log10")
            frame[f"log10_{column}"] = [repr(float(v)) for v in np.log10(values)]
    if name == "flla":
        frame["structure"] = [json.dumps(_slim(ast.literal_eval(v)), separators=(",", ":")) for v in frame["structure"]]
        frame["formula"] = [_formula_text(v) for v in frame["formula"]]
    if name == "perov_5":
        frame = frame.rename(columns={"Unnamed: 0": "source_index", "cif": "structure"})
    return frame.to_csv(index=False, lineterminator="\n").encode("utf-8")


def _bundle_structures(source: Path, manifest: dict, groups: set[str]) -> None:
    for name, (group, file) in STRUCTURES.items():
        if group in groups:
            raw = _structure_bytes(name, source / "structures" / file)
            _write(group, name, raw, manifest, f"structures/{file}")


def _read_text(path: Path) -> bytes:
    """Bytes of a CSV, gunzipped when the name ends in ``.gz``."""
    return gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()


def _crabnet_bytes(folder: Path) -> tuple[bytes, dict[str, int]]:
    """train/val/test concatenated with a ``split`` column, values kept as text."""
    out, counts = [b"formula,target,split\n"], {}
    for split in ("train", "val", "test"):
        path = folder / f"{split}.csv.gz"
        if not path.exists():
            continue
        lines = _read_text(path).decode("utf-8").splitlines()
        if lines[0].strip() != "formula,target":
            raise SystemExit(f"{path}: unexpected header {lines[0]!r}")
        body = [ln for ln in lines[1:] if ln.strip()]
        if any('"' in ln or ln.count(",") != 1 for ln in body):
            raise SystemExit(f"{path}: quoted or malformed lines; refusing a text-level merge")
        out.append("".join(f"{ln},{split}\n" for ln in body).encode("utf-8"))
        counts[split] = len(body)
    return b"".join(out), counts


def _write(group: str, name: str, raw: bytes, manifest: dict, source: str, **extra) -> None:
    """Compress ``raw`` to ``<group>/<name>.csv.xz`` and record it in the manifest."""
    rel = f"{group}/{name}.csv.xz"
    packed = lzma.compress(raw, preset=9 | lzma.PRESET_EXTREME)
    (DEST / rel).write_bytes(packed)
    frame = pd.read_csv(io.BytesIO(raw))
    entry = {"file": rel, "source": source, "rows": len(frame), "columns": list(frame.columns),
             "sha256": hashlib.sha256(raw).hexdigest(), "bytes": len(raw), "xz_bytes": len(packed)}
    for column, key in (("fold", "folds"), ("split", "splits")):
        if column in frame:
            counts = frame[column].value_counts(sort=False)  # splits in file order (train, val, test)
            counts = counts.sort_index() if column == "fold" else counts
            entry[key] = {str(k): int(v) for k, v in counts.items()}
    entry.update(extra)
    manifest[name] = entry
    print(f"{name:26s} {len(frame):>8d} rows {len(raw) / 1e6:7.2f} MB -> {len(packed) / 1e6:6.2f} MB xz")


def main(argv: list[str] | None = None) -> int:
    """Bundle everything; prints one line per dataset and the total size."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", nargs="?", default="/work/shared/data", type=Path,
                        help="folder with the public data and its PROVENANCE.md files")
    parser.add_argument("--only", nargs="+", metavar="GROUP",
                        help="re-bundle only these groups and keep the other manifest entries")
    args = parser.parse_args(argv)
    source = args.source
    if args.only:
        return _bundle_only(source, set(args.only))
    manifest: dict[str, dict] = {}
    for group, text in _provenance(source).items():
        (DEST / group).mkdir(parents=True, exist_ok=True)
        (DEST / group / "PROVENANCE.md").write_text(text, encoding="utf-8")
        (DEST / group / "LICENSE").write_text(_licence(group, source), encoding="utf-8")
    for task in MATBENCH:
        folder = source / f"matbench_{task}"
        path = next(p for p in (folder / f"matbench_{task}.csv", folder / f"matbench_{task}.csv.gz") if p.exists())
        _write("matbench", f"matbench_{task}", _read_text(path), manifest, str(path.relative_to(source)))
    for name, folder in CRABNET.items():
        raw, counts = _crabnet_bytes(source / "crabnet_benchmark_data" / folder)
        _write("crabnet", name, raw, manifest, f"crabnet_benchmark_data/{folder}/{{{','.join(counts)}}}.csv.gz")
    _copy_groups(source, manifest, {"liang2021", "moleculenet", "olympus"})
    _bundle_structures(source, manifest, {"matminer", "cdvae"})
    (DEST / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    total = sum(p.stat().st_size for p in DEST.rglob("*") if p.is_file())
    print(f"total bundled size: {total / 1e6:.2f} MB in {DEST}")
    return 0


COPIED = {"liang2021": ("bo_benchmarks", LIANG), "moleculenet": ("molecules", MOLECULES),
          "olympus": ("bo_olympus", OLYMPUS)}


def _copy_groups(source: Path, manifest: dict, groups: set[str]) -> None:
    """Bundle the groups whose source files are copied byte for byte."""
    for group, (sub, files) in COPIED.items():
        if group not in groups:
            continue
        for name, file in files.items():
            raw = (source / sub / file).read_bytes()
            _write(group, name, raw, manifest, f"{sub}/{file}", md5=hashlib.md5(raw).hexdigest())


def _bundle_only(source: Path, groups: set[str]) -> int:
    """Re-bundle some copied groups, keeping every other manifest entry as it is."""
    known = set(COPIED) | {group for group, _ in STRUCTURES.values()}
    unknown = groups - known
    if unknown:
        raise SystemExit(f"--only supports {sorted(known)}, not {sorted(unknown)}")
    manifest = json.loads((DEST / "manifest.json").read_text(encoding="utf-8"))
    texts = _provenance(source)
    for group in groups:
        (DEST / group).mkdir(parents=True, exist_ok=True)
        (DEST / group / "PROVENANCE.md").write_text(texts[group], encoding="utf-8")
        (DEST / group / "LICENSE").write_text(_licence(group, source), encoding="utf-8")
    _copy_groups(source, manifest, groups)
    _bundle_structures(source, manifest, groups)
    (DEST / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
