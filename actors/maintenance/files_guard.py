"""The files guard: commits made into database files a restart would not open are saved."""

from __future__ import annotations

import logging

import models

from ..log import log_event
from .service import MaintenanceService

FILES_CHECK_INTERVAL_SECONDS = 1.0


class FilesGuard(MaintenanceService):
    """Every second: are the database's files still the ones on disk (``Store.files_problem``)?

    While they are not (a ``-wal`` deleted or a database file replaced under
    the running process), each round moves what was committed into the file
    a restart opens, so outcomes and claims committed since are not lost
    to a crash; the intake refuses new tasks and ``/readyz`` fails
    meanwhile. A backend without files of its own never has a problem.
    ``tick`` returns the problem, or None.
    """

    name = "files"

    def __init__(self, store, interval_seconds: float = FILES_CHECK_INTERVAL_SECONDS) -> None:
        super().__init__(store, interval_seconds)
        self._problem: str | None = None

    def on_start(self) -> None:
        """Its connection is opened now, while the files are right: only a connection
        that holds the ``-wal`` from before can save what was committed to it."""
        try:
            self.store.schema_version()
        except models.StorageError as exc:
            self.store.discard_connection()
            log_event("files guard could not open its connection", logging.WARNING, error=repr(exc))

    def tick(self, now: float) -> str | None:
        problem = self.store.files_problem()
        if problem != self._problem:
            self._problem = problem
            if problem is None:
                log_event("database files right again", logging.WARNING)
            else:
                log_event("database files unsafe", logging.ERROR, problem=problem)
        if problem is not None:
            self.store.save_what_is_committed()
        return problem
