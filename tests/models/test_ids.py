"""Task ids are UUIDs of version 7: their text sorts by the time the task was accepted."""

from __future__ import annotations

import uuid

import models
from models.ids import new_task_id
from models.task import TaskOptions

SECOND_NS = 1_000_000_000
NOW_NS = 1_796_000_000 * SECOND_NS


def test_an_id_is_a_version_7_uuid_that_carries_its_millisecond():
    text = new_task_id(NOW_NS + 123_456_789)
    parsed = uuid.UUID(text)
    assert (parsed.version, parsed.variant) == (7, uuid.RFC_4122)
    assert str(parsed) == text
    assert parsed.int >> 80 == NOW_NS // 1_000_000 + 123


def test_ids_of_later_milliseconds_sort_after_earlier_ones_as_text():
    ids = [new_task_id(NOW_NS + n * 1_000_000) for n in range(2_000)]
    assert ids == sorted(ids)


def test_ids_of_one_millisecond_differ_in_their_random_bits():
    ids = {new_task_id(NOW_NS) for _ in range(100_000)}
    assert len(ids) == 100_000
    # 74 random bits: the 12 after the version and the 62 after the variant all vary
    values = [uuid.UUID(text).int for text in ids]
    assert len({(value >> 64) & 0xFFF for value in values}) > 4000
    assert len({value & ((1 << 62) - 1) for value in values}) == 100_000


def test_a_new_task_takes_its_id_from_its_acceptance_time():
    row = models.new_task("x", {}, TaskOptions(max_attempts=1), now_ns=NOW_NS)
    assert uuid.UUID(row["id"]).int >> 80 == NOW_NS // 1_000_000
