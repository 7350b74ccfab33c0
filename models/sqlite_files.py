"""The files a SQLite database lives in, as this process has them open, checked
against the paths on disk.

A commit is durable only if it lands in the files the next start will open.
When the ``-wal`` file is deleted, or the database file replaced, under a
running process, SQLite goes on writing to the old inodes it holds open:
commits succeed, and a crash loses them. So the intake checks these files
around each commit and refuses the write while they are wrong, and
``/readyz`` fails. The open files are found through ``/proc/self/fd``
(Linux); elsewhere only the paths themselves are checked.
"""

from __future__ import annotations

import os
import threading
import time

PROC_FDS = "/proc/self/fd"
RESCAN_SECONDS = 1.0  # connections opened since the last scan are found within this
DELETED_SUFFIX = " (deleted)"


class DatabaseFiles:
    """``problem()`` says why the database's files cannot be trusted with a write, or
    None. Safe to call from any thread; a few system calls when nothing changed."""

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        self._files = ((self.path, "database file"), (self.path + "-wal", "-wal file"))
        self._lock = threading.Lock()
        self._open: dict[int, str] = {}  # fd -> the path it was opened as
        self._seen: dict[int, tuple[int, int]] = {}  # fd -> its file when last looked up
        self._scanned_at = float("-inf")

    def problem(self) -> str | None:
        on_disk: dict[str, os.stat_result | None] = {}
        for path, what in self._files:
            try:
                on_disk[path] = os.stat(path)
            except FileNotFoundError:
                on_disk[path] = None
            except OSError as exc:
                return f"the {what} {path} cannot be read: {exc.strerror}"
        opened = self._opened(on_disk)
        for path, what in self._files:
            held = [stat for fd_path, stat in opened if fd_path == path]
            disk = on_disk[path]
            if disk is None:
                if held:
                    return f"the {what} {path} was deleted while open: a commit would be lost"
                if path == self.path:
                    return f"the database file {path} is missing"
                continue  # no connection open: no -wal yet
            for stat in held:
                if _identity(stat) != _identity(disk):
                    return f"the {what} {path} was replaced while open: commits go to the old one"
        folder = os.path.dirname(self.path)
        for path in (self.path, folder):
            if not os.access(path, os.W_OK):
                return f"{path} cannot be written"
        return None

    def _opened(
        self, on_disk: dict[str, os.stat_result | None]
    ) -> list[tuple[str, os.stat_result]]:
        """(path it was opened as, its status now) of each descriptor this process
        holds on the database's files, deleted ones included.

        A descriptor's file never changes while it stays open, so while every one
        last seen is the file now on disk at its path, that is the answer without
        a system call per descriptor (the intake asks at every commit). A file
        deleted or replaced on disk, or a descriptor not yet seen, is looked up.
        """
        with self._lock:
            if time.monotonic() - self._scanned_at >= RESCAN_SECONDS:
                self._scan()
            if all(
                (disk := on_disk.get(path)) is not None and self._seen.get(fd) == _identity(disk)
                for fd, path in self._open.items()
            ):
                return [(path, on_disk[path]) for path in self._open.values()]
            found = []
            for fd, path in list(self._open.items()):
                try:
                    target = os.readlink(f"{PROC_FDS}/{fd}")
                    if target.removesuffix(DELETED_SUFFIX) != path:
                        raise FileNotFoundError(fd)  # closed, and the number reused
                    stat = os.fstat(fd)
                except OSError:
                    del self._open[fd]
                    self._seen.pop(fd, None)
                    self._scanned_at = float("-inf")  # look again next time
                    continue
                self._seen[fd] = _identity(stat)
                found.append((path, stat))
            return found

    def _scan(self) -> None:
        self._scanned_at = time.monotonic()
        wanted = {path for path, _ in self._files}
        self._open = {}
        self._seen = {}
        try:
            fds = os.listdir(PROC_FDS)
        except OSError:
            return  # not Linux: the paths alone are checked
        for name in fds:
            try:
                path = os.readlink(f"{PROC_FDS}/{name}").removesuffix(DELETED_SUFFIX)
            except OSError:
                continue
            if path in wanted:
                self._open[int(name)] = path


def _identity(stat: os.stat_result) -> tuple[int, int]:
    return stat.st_dev, stat.st_ino
