"""The one exception hierarchy of the task queue.

Every error the service raises on purpose derives from ``TaskQueueError``.
``web/errors.py`` maps each class to an HTTP status in exactly one place.
"""


class TaskQueueError(Exception):
    """Base class: ``str(error)`` is the message a client may see."""


class InvalidInput(TaskQueueError):
    """The request is malformed; nothing was stored."""


class TaskNotFound(TaskQueueError):
    """No task has the requested id."""


class PayloadTooLarge(TaskQueueError):
    """The request body is over the configured limit."""


class Unavailable(TaskQueueError):
    """The database cannot take the write now; the client should retry later.

    Raised instead of a 202 whenever a task could not be committed, so an
    accepted task is always a stored task.
    """

    def __init__(self, message: str, retry_after_seconds: int = 1) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class MigrationError(TaskQueueError):
    """The schema could not be brought up to date; the service must not start."""
