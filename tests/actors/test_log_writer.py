"""The log writer: lines in order and whole, written by its own thread in batches;
``flush`` waits for them, ``close`` writes the rest, a failing stream loses lines only."""

from __future__ import annotations

import logging
import re
import threading

import pytest

from actors.log_writer import LineFormatter, LineWriter


class Stream:
    """A stream whose writes can be held back (``gate``) or made to fail."""

    def __init__(self) -> None:
        self.writes: list[str] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()  # a write has started
        self.fail = False

    def write(self, text: str) -> None:
        self.entered.set()
        self.gate.wait()
        if self.fail:
            raise OSError("disk full")
        self.writes.append(text)

    def flush(self) -> None:
        pass

    def lines(self) -> list[str]:
        return "".join(self.writes).splitlines()


@pytest.fixture
def logged():
    stream = Stream()
    writer = LineWriter(stream)
    writer.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger(f"test-log-writer-{id(stream)}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(writer)
    yield logger, writer, stream
    logger.removeHandler(writer)
    writer.close()


def test_lines_from_many_threads_are_whole_and_in_each_threads_order(logged):
    logger, writer, stream = logged

    def log(name):
        for n in range(500):
            logger.info("thread=%s n=%d", name, n)

    threads = [threading.Thread(target=log, args=(name,)) for name in "abcd"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.flush()
    lines = stream.lines()
    assert len(lines) == 2000
    for name in "abcd":
        mine = [line for line in lines if line.startswith(f"INFO thread={name} ")]
        assert mine == [f"INFO thread={name} n={n}" for n in range(500)]


def test_flush_waits_for_the_lines_and_lines_waiting_are_written_in_one_call(logged):
    logger, writer, stream = logged
    stream.gate.clear()
    logger.info("first")
    assert stream.entered.wait(5)  # the writer is inside the write of "first", held
    for n in range(100):
        logger.warning("queued n=%d", n)  # the worker's side: returns at once
    flushing = threading.Thread(target=writer.flush)
    flushing.start()
    flushing.join(0.2)
    assert flushing.is_alive()  # the lines are not written yet: flush still waits
    stream.gate.set()
    flushing.join(5)
    assert not flushing.is_alive()
    assert stream.lines() == ["INFO first", *[f"WARNING queued n={n}" for n in range(100)]]
    assert len(stream.writes) == 2  # the hundred waiting lines went in one write


def test_close_writes_what_is_queued_and_stops_the_thread(logged):
    logger, writer, stream = logged
    stream.gate.clear()
    logger.info("one")
    assert stream.entered.wait(5)
    logger.info("two")
    stream.gate.set()
    writer.close()
    assert stream.lines() == ["INFO one", "INFO two"]
    assert not writer._thread.is_alive()
    writer.flush()  # after close: returns at once


def test_a_failing_stream_loses_its_lines_not_the_writer(logged):
    logger, writer, stream = logged
    stream.fail = True
    logger.info("lost")
    writer.flush()
    stream.fail = False
    logger.info("kept")
    writer.flush()
    assert stream.lines() == ["INFO kept"]


def test_the_formatter_writes_the_time_as_the_stdlibs_across_seconds():
    fmt = "%(asctime)s %(levelname)s %(message)s"
    ours, stdlib = LineFormatter(fmt), logging.Formatter(fmt)
    for created in (1_700_000_000.998, 1_700_000_000.999, 1_700_000_001.0, 1_700_000_061.5):
        record = logging.LogRecord("t", logging.INFO, "", 0, "hello", None, None)
        record.created, record.msecs = created, int(created % 1 * 1000)
        assert ours.format(record) == stdlib.format(record)


@pytest.fixture
def events(monkeypatch):
    """The ``taskqueue`` logger writing to a ``LineWriter`` of its own (as run.py's root
    handler), plus a handler that keeps every record made; direct writes undone after."""
    from actors import log

    stream = Stream()
    writer = LineWriter(stream)
    writer.setFormatter(LineFormatter())
    records: list[logging.LogRecord] = []
    kept = logging.Handler()
    kept.emit = records.append
    monkeypatch.setattr(log.logger, "propagate", False)
    monkeypatch.setattr(log.logger, "handlers", [writer])
    level = log.logger.level
    log.logger.setLevel(logging.INFO)
    yield log, writer, stream, records, kept
    log.write_directly(None)
    writer.close()
    log.logger.setLevel(level)


TIME = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} "


def test_an_event_written_directly_is_the_line_its_record_would_make(events):
    log, writer, stream, records, kept = events
    # Given: the same event logged through a record, then written directly
    log.log_event("task completed", task_id="t-1", attempt=1, duration_ms=0.25, error="a b")
    log.write_directly(writer)
    log.log_event("task completed", task_id="t-1", attempt=1, duration_ms=0.25, error="a b")
    writer.flush()
    # Then: the two lines are the same but for the time, which has the same form
    through_record, direct = stream.lines()
    assert re.match(TIME, through_record) and re.match(TIME, direct), (through_record, direct)
    assert through_record[24:] == direct[24:]
    assert direct[24:] == "INFO task completed task_id=t-1 attempt=1 duration_ms=0.250 error='a b'"


def test_written_directly_an_event_makes_no_record(events):
    log, writer, stream, records, kept = events
    log.logger.handlers.append(kept)
    log.write_directly(writer)
    log.log_event("processing task", task_id="t-2")
    writer.flush()
    assert records == [] and len(stream.lines()) == 1


def test_the_writers_level_and_a_formatter_of_another_format_still_apply(events):
    log, writer, stream, records, kept = events
    log.write_directly(writer)
    # A writer that takes warnings only drops an INFO event, direct or not
    writer.setLevel(logging.WARNING)
    log.log_event("processing task", task_id="t-3")
    log.log_event("task failed", logging.WARNING, task_id="t-3")
    # A formatter of another format gets records, and formats them itself
    writer.setLevel(logging.INFO)
    writer.setFormatter(logging.Formatter("%(levelname)s|%(message)s"))
    log.log_event("task completed", task_id="t-3")
    writer.flush()
    lines = stream.lines()
    assert len(lines) == 2, lines
    assert re.match(TIME + "WARNING task failed task_id=t-3$", lines[0]), lines[0]
    assert lines[1] == "INFO|task completed task_id=t-3"
