"""Every route of the API: one line each."""

from __future__ import annotations

from .actions import ActionsResource
from .control import ControlResource
from .docs import DocsResource
from .queues import QueuesResource
from .router import Role, Route
from .tasks import TasksResource


def build_routes(
    tasks: TasksResource,
    control: ControlResource,
    queues: QueuesResource,
    actions: ActionsResource,
    docs: DocsResource,
) -> list[Route]:
    return [
        Route("POST", "/tasks", tasks.enqueue, Role.WRITE),
        Route("GET", "/tasks", tasks.list),
        Route("GET", "/tasks/{task_id}", tasks.get),
        Route("POST", "/tasks/{task_id}/cancel", control.cancel, Role.ADMIN),
        Route("POST", "/tasks/{task_id}/retry", control.retry, Role.ADMIN),
        Route("POST", "/tasks/cancel", control.cancel_many, Role.ADMIN),
        Route("POST", "/tasks/retry", control.retry_many, Role.ADMIN),
        Route("GET", "/queues", queues.list),
        Route("POST", "/queues/{name}/pause", queues.pause, Role.ADMIN),
        Route("POST", "/queues/{name}/resume", queues.resume, Role.ADMIN),
        Route("GET", "/actions", actions.list),
        Route("GET", "/openapi.json", docs.openapi),
    ]
