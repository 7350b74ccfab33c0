"""The one exception hierarchy of the task queue.

Every error the service raises on purpose derives from ``TaskQueueError``.
The web layer maps each class to an HTTP status in exactly one place.
"""


class TaskQueueError(Exception):
    """Base class: ``str(error)`` is the message a client may see."""


class InvalidInput(TaskQueueError):
    """The request is malformed, or holds a value no backend can store; nothing was stored."""


class TaskNotFound(TaskQueueError):
    """No task has the requested id."""


class Conflict(TaskQueueError):
    """The request contradicts what is stored (a constraint refused its row); nothing was stored."""


class PayloadTooLarge(TaskQueueError):
    """The request body is over the configured limit."""


DISK_FULL = "database disk is full"


class Unavailable(TaskQueueError):
    """The database cannot take the write now; the caller should try again later.

    Raised instead of an acceptance whenever a task could not be committed,
    so an accepted task is always a stored task. ``retry_in_seconds`` is
    when trying again makes sense.
    """

    def __init__(self, message: str, retry_in_seconds: int = 1) -> None:
        super().__init__(message)
        self.retry_in_seconds = retry_in_seconds


class MigrationError(TaskQueueError):
    """The schema could not be brought up to date; the service must not start."""
