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
        self._scanned_at = float("-inf")

    def problem(self) -> str | None:
        opened = self._opened()
        for path, what in self._files:
            held = [stat for fd_path, stat in opened if fd_path == path]
            try:
                on_disk = os.stat(path)
            except FileNotFoundError:
                if held:
                    return f"the {what} {path} was deleted while open: a commit would be lost"
                if path == self.path:
                    return f"the database file {path} is missing"
                continue  # no connection open: no -wal yet
            except OSError as exc:
                return f"the {what} {path} cannot be read: {exc.strerror}"
            for stat in held:
                if (stat.st_dev, stat.st_ino) != (on_disk.st_dev, on_disk.st_ino):
                    return f"the {what} {path} was replaced while open: commits go to the old one"
        folder = os.path.dirname(self.path)
        for path in (self.path, folder):
            if not os.access(path, os.W_OK):
                return f"{path} cannot be written"
        return None

    def _opened(self) -> list[tuple[str, os.stat_result]]:
        """(path it was opened as, its status now) of each descriptor this process
        holds on the database's files, deleted ones included."""
        with self._lock:
            if time.monotonic() - self._scanned_at >= RESCAN_SECONDS:
                self._scan()
            found = []
            for fd, path in list(self._open.items()):
                try:
                    target = os.readlink(f"{PROC_FDS}/{fd}")
                    if target.removesuffix(DELETED_SUFFIX) != path:
                        raise FileNotFoundError(fd)  # closed, and the number reused
                    found.append((path, os.fstat(fd)))
                except OSError:
                    del self._open[fd]
                    self._scanned_at = float("-inf")  # look again next time
            return found

    def _scan(self) -> None:
        self._scanned_at = time.monotonic()
        wanted = {path for path, _ in self._files}
        self._open = {}
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
