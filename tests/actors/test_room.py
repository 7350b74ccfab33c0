"""The idle room: what this node's idle workers can start now, counted off as granted."""

from __future__ import annotations

import threading

from actors.room import IdleRoom


def test_nothing_is_taken_before_the_dispatcher_says_anything():
    assert not IdleRoom().takes(1, {"default"})


def test_a_grant_is_counted_off_until_the_next_publish():
    room = IdleRoom()
    room.publish(2, ["default"])
    assert room.takes(1, {"default"})
    assert room.takes(1, {"default"})
    assert not room.takes(1, {"default"})  # both idle workers are promised
    room.publish(1, ["default"])
    assert room.takes(1, {"default"})


def test_more_tasks_than_idle_workers_or_an_unknown_queue_are_not_taken():
    room = IdleRoom()
    room.publish(2, ["default", "mail"])
    assert not room.takes(3, {"default"})
    assert not room.takes(1, {"reports"})  # served elsewhere, or paused, or new
    assert not room.takes(2, {"default", "reports"})
    assert room.takes(2, {"default", "mail"})


def test_concurrent_askers_are_never_granted_more_than_the_room():
    room = IdleRoom()
    room.publish(50, ["default"])
    granted = []
    start = threading.Barrier(8)

    def ask() -> None:
        start.wait()
        granted.extend(room.takes(1, {"default"}) for _ in range(20))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(granted) == 50
