"""matloop.progress: silent in library use, step lines (nested, timed) while reporting is on, none when quiet."""

from __future__ import annotations

import io

from matloop import progress


def test_silent_unless_reporting_is_on():
    assert not progress.active()
    progress.say("nobody hears this")
    assert list(progress.steps([1, 2], "item")) == [1, 2]


def test_steps_are_numbered_timed_and_nested():
    lines: list[str] = []
    with progress.reporting("fit", write=lines.append):
        assert progress.active()
        for _ in progress.steps(["a", "b"], "candidate", describe=str):
            progress.say("inner")
    assert len(lines) == 4
    assert lines[0].startswith("fit [") and lines[0].endswith("] candidate 1/2 a")
    assert lines[1].endswith("]   inner")  # indented under its step
    assert lines[2].endswith("] candidate 2/2 b")
    assert not progress.active()


def test_quiet_shows_nothing_and_stream_gets_lines():
    stream = io.StringIO()
    with progress.reporting("x", quiet=True, stream=stream):
        progress.say("hidden")
        assert not progress.active()
    with progress.reporting("x", stream=stream):
        progress.say("shown")
    assert "hidden" not in stream.getvalue() and "] shown" in stream.getvalue()
