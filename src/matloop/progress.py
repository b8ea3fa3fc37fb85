"""Progress of long work: one mechanism for every command, silent in library use.

Library code that can run for more than a few seconds (AutoModel's candidate loop, the folds of
:func:`matloop.evaluate.cross_validate`, a report's stages, a screening run) calls :func:`say` or
wraps an iteration in :func:`steps`. Nothing is printed unless a caller switched reporting on with
:func:`reporting`; the command-line interface does so for every command (``matloop.cli.main``),
writing step lines with the elapsed time to stderr, and ``--quiet`` switches them off. Why step
lines rather than a bar: a bar needs a terminal, step lines read the same in a log file, a CI job
and a notebook, and nested work (the AutoModel inside every CV fold) indents naturally.

Example (what ``matloop validate`` prints)::

    validate [  0.4 s] cross-validation: fold 1/5 (31 training rows, 8 test rows)
    validate [  0.4 s]   AutoModel: candidate 1/12 rf (10 fits)
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TextIO, TypeVar

__all__ = ["active", "reporting", "say", "steps", "task"]

T = TypeVar("T")


class _Sink:
    """Where messages go while :func:`reporting` is active, with the nesting depth and the clock."""

    def __init__(self, write: Callable[[str], None], prefix: str):
        self.write, self.prefix, self.depth, self.start = write, prefix, 0, time.perf_counter()

    def emit(self, message: str) -> None:
        elapsed = time.perf_counter() - self.start
        head = f"{self.prefix} " if self.prefix else ""
        self.write(f"{head}[{elapsed:6.1f} s] {'  ' * self.depth}{message}")


_SINK: contextvars.ContextVar[_Sink | None] = contextvars.ContextVar("matloop_progress", default=None)


def active() -> bool:
    """Whether progress messages are being shown (callers may skip formatting work when not)."""
    return _SINK.get() is not None


def say(message: str) -> None:
    """Report one step (no-op unless :func:`reporting` is active)."""
    sink = _SINK.get()
    if sink is not None:
        sink.emit(message)


@contextlib.contextmanager
def task(message: str | None = None) -> Iterator[None]:
    """Report ``message`` and indent the messages of the work inside (e.g. the models of one CV fold)."""
    sink = _SINK.get()
    if sink is None:
        yield
        return
    if message:
        sink.emit(message)
    sink.depth += 1
    try:
        yield
    finally:
        sink.depth -= 1


def steps(items: Iterable[T], label: str, total: int | None = None,
          describe: Callable[[T], str] | None = None) -> Iterator[T]:
    """Yield ``items``, reporting ``label i/n`` (and ``describe(item)``) before each; nested work is indented."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    for i, item in enumerate(items, 1):
        if _SINK.get() is None:
            yield item
            continue
        extra = f" {describe(item)}" if describe else ""
        with task(f"{label} {i}/{total if total is not None else '?'}{extra}"):
            yield item


@contextlib.contextmanager
def reporting(prefix: str = "", quiet: bool = False, stream: TextIO | None = None,
              write: Callable[[str], None] | None = None) -> Iterator[None]:
    """Show progress messages inside the block: to ``write`` if given, else as lines on ``stream``
    (stderr by default). ``quiet=True`` shows nothing (``--quiet``)."""
    if quiet:
        token = _SINK.set(None)
    else:
        if write is None:
            out = stream

            def write(line: str) -> None:
                print(line, file=out if out is not None else sys.stderr, flush=True)

        token = _SINK.set(_Sink(write, prefix))
    try:
        yield
    finally:
        _SINK.reset(token)
