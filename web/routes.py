"""Every route of the API: one line each."""

from __future__ import annotations

from .docs import DocsResource
from .router import Route
from .tasks import TasksResource


def build_routes(tasks: TasksResource, docs: DocsResource) -> list[Route]:
    return [
        Route("POST", "/tasks", tasks.enqueue),
        Route("GET", "/tasks", tasks.list),
        Route("GET", "/tasks/{task_id}", tasks.get),
        Route("GET", "/openapi.json", docs.openapi),
    ]
