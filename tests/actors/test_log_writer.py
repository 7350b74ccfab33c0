"""The log writer: lines in order and whole, written by its own thread in batches;
``flush`` waits for them, ``close`` writes the rest, a failing stream loses lines only."""

from __future__ import annotations

import logging
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
