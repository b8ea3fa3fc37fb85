"""Diffraction patterns and spectra from the files instruments and programs write.

A pattern is a curve: intensities over an axis (2θ in degrees with a wavelength, or the scattering
vector Q in Å⁻¹). Real files are messy, so :func:`read_pattern` accepts

- two- or three-column text (``.xy``, ``.xye``, ``.dat``, ``.txt``, ``.csv``; spaces, tabs, commas or
  semicolons; optional gzip/bz2/xz), with header lines before the data (a column header, instrument
  metadata) and comment lines (``#``, ``!``, ``;``, ``//``) anywhere, a third column read as the
  intensity's standard uncertainty in ``.xye``;
- PANalytical ``.xrdml`` (XML: the K-alpha1 wavelength, start/end or listed positions, counts or
  intensities), parsed with the standard library's expat (entity expansion is limited there).

Nothing is guessed silently: a non-numeric line inside the data, a non-finite value, an axis that is
not strictly monotonic, angles outside (0°, 180°), or fewer than :data:`MIN_POINTS` points is a
problem, and :func:`read_patterns` reports every problem of every file of a table in one
:class:`matloop.InputError` (row = the table's 1-based row, value = the file, reason with the file's
line number). A falling axis is read in rising order (the same curve). Header lines are not data and
are skipped; how many were skipped is kept in :attr:`Pattern.header_lines`.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from matloop.errors import InputError, error_table

__all__ = ["CU_KALPHA1", "MIN_POINTS", "PATTERN_SUFFIXES", "Pattern", "PatternProblem", "index_folder",
           "looks_like_pattern_path",
           "read_pattern", "read_patterns"]

#: Cu K-alpha1 wavelength in Å (the laboratory default)
CU_KALPHA1 = 1.5406
#: fewer points than this is not a pattern
MIN_POINTS = 10
PATTERN_SUFFIXES = (".xy", ".xye", ".dat", ".txt", ".csv", ".xrdml")
_COMPRESSED = (".gz", ".bz2", ".xz")
_COMMENT = re.compile(r"^\s*(#|!|;|//|')")
_SPLIT = re.compile(r"[\s,;]+")


class PatternProblem(ValueError):
    """Why one file is not a usable pattern (the message names the line where it can)."""


@dataclass
class Pattern:
    """One measured curve.

    Attributes
    ----------
    x : ndarray
        The axis, rising: 2θ in degrees (``unit="2theta"``) or Q in Å⁻¹ (``unit="q"``).
    y : ndarray
        Intensities (counts or arbitrary units) at ``x``.
    sigma : ndarray or None
        Standard uncertainties of ``y`` (``.xye``'s third column), when the file gives them.
    unit : str
        ``"2theta"`` or ``"q"``.
    wavelength : float or None
        Å; the file's own (``.xrdml``) or the one stated by the user; needed to convert 2θ to Q.
    source : str
        The file it came from.
    header_lines : int
        Non-data lines before the data that were skipped.
    """

    x: np.ndarray
    y: np.ndarray
    sigma: np.ndarray | None = None
    unit: str = "2theta"
    wavelength: float | None = CU_KALPHA1
    source: str = ""
    header_lines: int = 0
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.x)


def looks_like_pattern_path(value: object) -> bool:
    """Whether a cell names a pattern file by its suffix (``.xy``, ``.xrdml``, ... optionally compressed)."""
    if not isinstance(value, str) or "\n" in value or len(value) > 4096:
        return False
    name = value.strip().lower()
    for comp in _COMPRESSED:
        if name.endswith(comp):
            name = name[: -len(comp)]
    return name.endswith(PATTERN_SUFFIXES) and name not in PATTERN_SUFFIXES


def _read_text(path: Path) -> str:
    from matloop.io.guard import decode_text, read_bytes

    suffix = path.suffix.lower()
    data = read_bytes(path, suffix if suffix in _COMPRESSED else None)
    return decode_text(data, path.name)


def _numbers(line: str) -> list[float] | None:
    parts = [p for p in _SPLIT.split(line.strip()) if p]
    try:
        return [float(p) for p in parts]
    except ValueError:
        return None


def _parse_columns(text: str, name: str, with_sigma: bool, dropped: list[int] | None = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int]:
    """Numbers of a column file; a bad data line raises, or is listed in ``dropped`` when that is given."""
    rows: list[list[float]] = []
    header, started, width = 0, False, None
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip() or _COMMENT.match(line):
            continue
        values = _numbers(line)
        problem = None
        if values is None or len(values) < 2:
            if not started:
                header += 1
                continue
            problem = f"line {number}: {line.strip()[:60]!r} is not two or more numbers"
        elif width is not None and len(values) != width:
            problem = f"line {number}: {len(values)} numbers where the data has {width} per line"
        elif not all(np.isfinite(values[: 3 if with_sigma else 2])):
            problem = f"line {number}: a value is not finite (nan or inf)"
        if problem is not None:
            if dropped is None:
                raise PatternProblem(problem + " (--skip-invalid drops such lines and reports them)")
            dropped.append(number)
            continue
        width = width or len(values)
        started = True
        rows.append(values)
    if not rows:
        raise PatternProblem(f"no numeric data lines in {name}")
    data = np.asarray(rows, dtype=float)
    sigma = data[:, 2] if with_sigma and data.shape[1] >= 3 else None
    return data[:, 0], data[:, 1], sigma, header


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _parse_xrdml(text: str) -> tuple[np.ndarray, np.ndarray, float | None, dict]:
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise PatternProblem(f"not valid XML ({exc})") from None
    nodes = {}
    for node in root.iter():
        nodes.setdefault(_local(node.tag), node)
    wavelength = None
    if "kAlpha1" in nodes and (nodes["kAlpha1"].text or "").strip():
        wavelength = float(nodes["kAlpha1"].text)
    counts = nodes.get("intensities") if "intensities" in nodes else nodes.get("counts")
    if counts is None or not (counts.text or "").split():
        raise PatternProblem("no <intensities> or <counts> in the XRDML file")
    y = np.array(counts.text.split(), dtype=float)
    positions = [n for n in root.iter() if _local(n.tag) == "positions" and n.get("axis", "").lower() == "2theta"]
    if not positions:
        raise PatternProblem("no 2Theta <positions> in the XRDML file")
    pos = {_local(c.tag): c.text for c in positions[0]}
    if "listPositions" in pos:
        x = np.array(pos["listPositions"].split(), dtype=float)
    elif "startPosition" in pos and "endPosition" in pos:
        x = np.linspace(float(pos["startPosition"]), float(pos["endPosition"]), len(y))
    else:
        raise PatternProblem("the 2Theta <positions> give neither a list nor start and end")
    if len(x) != len(y):
        raise PatternProblem(f"{len(x)} positions for {len(y)} intensities")
    meta = {"counting_time": (nodes["commonCountingTime"].text or "").strip()} if "commonCountingTime" in nodes else {}
    return x, y, wavelength, meta


def read_pattern(path: str | Path, unit: str = "2theta", wavelength: float | None = CU_KALPHA1,
                 skip_invalid: bool = False) -> Pattern:
    """Read one pattern file; raises :class:`PatternProblem` (or ``OSError``) naming what is wrong.

    ``skip_invalid`` drops bad data lines (glued numbers, a lone angle without intensity, nan) instead
    of failing; their line numbers are kept in ``pattern.meta["dropped_lines"]`` for the caller to report.
    """
    if unit not in ("2theta", "q"):
        raise ValueError(f"unit must be '2theta' or 'q', not {unit!r}")
    path = Path(path)
    name = path.name.lower()
    for comp in _COMPRESSED:
        name = name.removesuffix(comp)
    text = _read_text(path)
    sigma, header, meta = None, 0, {}
    if name.endswith(".xrdml"):
        x, y, file_wavelength, meta = _parse_xrdml(text)
        unit, wavelength = "2theta", file_wavelength or wavelength
    else:
        dropped: list[int] | None = [] if skip_invalid else None
        x, y, sigma, header = _parse_columns(text, path.name, name.endswith(".xye"), dropped)
        if dropped:
            meta["dropped_lines"] = dropped
    if len(x) < MIN_POINTS:
        raise PatternProblem(f"{len(x)} data points; a pattern needs at least {MIN_POINTS}")
    step = np.diff(x)
    if np.all(step < 0):
        x, y = x[::-1].copy(), y[::-1].copy()
        sigma = None if sigma is None else sigma[::-1].copy()
    elif not np.all(step > 0):
        at = int(np.argmax(step <= 0)) + 1
        raise PatternProblem(f"the axis is not strictly increasing at data point {at + 1} "
                             f"({x[at - 1]:g} then {x[at]:g})")
    if unit == "2theta" and (x[0] <= 0 or x[-1] >= 180):
        raise PatternProblem(f"2θ runs from {x[0]:g} to {x[-1]:g}°; angles must lie between 0 and 180° "
                             "(is this Q? use --x-unit q)")
    if unit == "q" and x[0] < 0:
        raise PatternProblem(f"Q starts at {x[0]:g}; Q cannot be negative")
    return Pattern(x=x, y=y, sigma=sigma, unit=unit, wavelength=wavelength, source=str(path),
                   header_lines=header, meta=meta)


def read_patterns(values: Sequence[object], rows: Sequence[int] | None = None, base_dir: str | Path | None = None,
                  unit: str = "2theta", wavelength: float | None = CU_KALPHA1, column: str = "file",
                  skip_invalid: bool = False) -> list[Pattern]:
    """Read the pattern file named in every cell; all problems of all files in one :class:`InputError`.

    ``rows`` are the 1-based rows of the user's table (default 1..n); relative paths are taken from
    ``base_dir`` (the table's folder) when given.
    """
    rows = list(range(1, len(values) + 1)) if rows is None else list(rows)
    base = Path(base_dir) if base_dir is not None else None
    patterns, problems = [], []
    for row, value in zip(rows, values, strict=True):
        try:
            if not isinstance(value, str) or not value.strip():
                raise PatternProblem("empty cell: no pattern file named")
            path = Path(value.strip())
            if base is not None and not path.is_absolute():
                path = base / path
            if not path.is_file():
                raise PatternProblem("no such file" if not path.exists() else "not a file")
            patterns.append(read_pattern(path, unit=unit, wavelength=wavelength, skip_invalid=skip_invalid))
        except (PatternProblem, OSError, InputError) as exc:
            reason = exc.message if isinstance(exc, InputError) else str(exc)
            problems.append({"row": row, "column": column, "value": value, "reason": reason})
    if problems:
        raise InputError(f"could not read {len(problems)} of {len(rows)} patterns", error_table(problems))
    return patterns


def index_folder(folder: str | Path) -> tuple[list[str], list[str | None], list[str]]:
    """Pattern files under ``folder`` (sorted): their paths, their labels (the sub-folder they sit in,
    ``None`` at the top level) and the other files found, which the caller must report (not drop)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder")
    files, labels, other = [], [], []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.name.startswith("."):
            continue
        relative = path.relative_to(folder)
        if looks_like_pattern_path(path.name):
            files.append(str(path))
            labels.append(relative.parts[0] if len(relative.parts) > 1 else None)
        else:
            other.append(str(relative))
    if not files:
        raise InputError(f"no pattern files ({', '.join(PATTERN_SUFFIXES)}) under {folder}")
    return files, labels, other
