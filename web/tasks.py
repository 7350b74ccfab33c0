"""The /tasks resource: queue tasks, list them, read one."""

from __future__ import annotations

from typing import Any

import cherrypy
import orjson
import pykka
from cheroot.errors import MaxSizeExceeded
from cheroot.server import ChunkedRFile

import models
from actors import Wake

from .errors import UnsupportedMediaType, respond_with_error
from .validation import check_batch, check_limit, check_status, check_task, parse_json

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
# A chunked body may spend on chunk headers up to three times its data (one-byte
# chunks); past that the body is refused without reading the rest.
CHUNKED_READ_FACTOR = 4
JSON_MEDIA_TYPES = ("application/json",)


def _view(row: tuple) -> dict[str, Any]:
    """A task row as the API shows it; payload and result are spliced in as JSON, not strings."""
    task = dict(zip(models.VIEW_FIELDS, row, strict=True))
    task["payload"] = orjson.Fragment(task["payload"])
    if task["result"] is not None:
        task["result"] = orjson.Fragment(task["result"])
    return task


def _json(value: Any, status: int = 200) -> bytes:
    response = cherrypy.serving.response
    response.status = status
    response.headers["Content-Type"] = "application/json"
    return orjson.dumps(value)


def _new_task(action: str, data: dict[str, Any], where: str = "") -> dict[str, Any]:
    """``models.new_task``, refusing data nested deeper than orjson writes (it parses
    1,024 levels but writes only 254): such a task could never be stored."""
    try:
        return models.new_task(action, data)
    except orjson.JSONEncodeError as exc:
        raise models.InvalidInput(f"{where}data nested too deeply") from exc


def _handles_errors(handler):
    def wrapper(self, *args, **kwargs):
        try:
            return handler(self, *args, **kwargs)
        except models.TaskQueueError as error:
            return respond_with_error(error)
        except models.StorageError as error:
            models.discard_connection()
            return respond_with_error(models.Unavailable(f"database unavailable: {error}"))

    wrapper.__name__ = handler.__name__
    wrapper.__doc__ = handler.__doc__
    return wrapper


class TasksResource:
    """Mounted at /tasks; ``__call__`` routes by method (405 with ``Allow`` for others).

    Runs in CherryPy's request threads. Writes go through the ``Intake``
    (group commit); the handler then tells the dispatcher to wake. Reads call
    model functions. No SQL here.
    """

    def __init__(
        self,
        intake: models.Intake,
        dispatcher: pykka.ActorRef,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        self._intake = intake
        self._dispatcher = dispatcher
        self._max_body_bytes = max_body_bytes

    exposed = True  # CherryPy calls the instance for /tasks and /tasks/{id}

    def __call__(self, *path: str, **params: Any) -> bytes:
        """Routes by method. Written out rather than CherryPy's MethodDispatcher,
        which cost about 6 % of a POST's interpreter time."""
        method = cherrypy.serving.request.method
        if method in ("GET", "HEAD"):
            return self.GET(*path, **params)
        if method == "POST" and not path:
            return self.POST(**params)
        cherrypy.serving.response.headers["Allow"] = "GET, HEAD, POST"
        raise cherrypy.HTTPError(405)

    @_handles_errors
    def POST(self, *path: str, **params: Any) -> bytes:
        """Queue one task (a JSON object) or a batch (a JSON array); 202 once committed."""
        if path:
            raise cherrypy.HTTPError(405)
        parsed = parse_json(self._read_body())
        if isinstance(parsed, list):
            rows = [
                _new_task(action, data, f"task {index}: ")
                for index, (action, data) in enumerate(check_batch(parsed))
            ]
        elif isinstance(parsed, dict):
            rows = [_new_task(*check_task(parsed))]
        else:
            raise models.InvalidInput("body must be a JSON object, or an array of them")
        self._intake.accept(rows)
        try:
            self._dispatcher.tell(Wake())
        except pykka.ActorDeadError:
            pass  # shutting down: the tasks are stored and run at the next start
        accepted = [{"id": row["id"], "status": models.QUEUED} for row in rows]
        if isinstance(parsed, dict):
            cherrypy.serving.response.headers["Location"] = f"/tasks/{rows[0]['id']}"
            return _json(accepted[0], 202)
        return _json({"tasks": accepted, "count": len(accepted)}, 202)

    @_handles_errors
    def GET(self, *path: str, **params: Any) -> bytes:
        """``/tasks`` lists newest first (``?status=``, ``?limit=``); ``/tasks/{id}`` shows one."""
        if len(path) == 1:
            if "\x00" in path[0]:  # no id holds one, and PostgreSQL refuses it in a query
                raise models.TaskNotFound("task not found")
            return _json(_view(models.get_task(path[0])))
        if path:
            raise models.TaskNotFound("not found")
        status = check_status(params.get("status"))
        limit = check_limit(params.get("limit"))
        tasks = [_view(row) for row in models.list_tasks(status, limit)]
        return _json({"tasks": tasks, "count": len(tasks)})

    def _read_body(self) -> bytes:
        """Read at most the limit (+1 byte to detect excess); never the whole of a large body."""
        request = cherrypy.serving.request
        content_type = request.headers.get("Content-Type", "")
        media_type = content_type.partition(";")[0].strip().lower()
        if media_type and media_type not in JSON_MEDIA_TYPES and not media_type.endswith("+json"):
            raise UnsupportedMediaType("Content-Type must be application/json")
        length = request.headers.get("Content-Length")
        if length is not None:
            if not length.isascii() or not length.isdigit():
                raise models.InvalidInput("invalid Content-Length")
            if int(length) > self._max_body_bytes:
                raise models.PayloadTooLarge(f"request body over {self._max_body_bytes} bytes")
        rfile = request.rfile
        if isinstance(rfile, ChunkedRFile):
            # A chunk is read whole before any of it is returned: bound what the
            # chunk headers may announce, or a chunk "1 GB long" would be waited for.
            rfile.maxlen = CHUNKED_READ_FACTOR * (self._max_body_bytes + 1)
        try:
            body = rfile.read(self._max_body_bytes + 1)
        except (MaxSizeExceeded, OSError, ValueError) as exc:
            # The stream is no longer at a request boundary: do not reuse it.
            cherrypy.serving.response.headers["Connection"] = "close"
            if isinstance(exc, MaxSizeExceeded) or "Too Large" in str(exc):
                raise models.PayloadTooLarge(
                    f"request body over {self._max_body_bytes} bytes"
                ) from exc
            raise models.InvalidInput(f"request body could not be read: {exc}") from exc
        if len(body) > self._max_body_bytes:
            raise models.PayloadTooLarge(f"request body over {self._max_body_bytes} bytes")
        return body
