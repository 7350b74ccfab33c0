"""Every route of the API: one line each."""

from __future__ import annotations

from .actions import ActionsResource
from .control import ControlResource
from .dashboard import DashboardResource
from .docs import DocsResource
from .health import HealthResource
from .history import HistoryResource
from .listing import LIST_PARAMS
from .queues import QueuesResource
from .router import Role, Route
from .tasks import TasksResource


def build_routes(
    tasks: TasksResource,
    control: ControlResource,
    queues: QueuesResource,
    actions: ActionsResource,
    history: HistoryResource,
    health: HealthResource,
    docs: DocsResource,
) -> list[Route]:
    dashboard = DashboardResource()  # static files, read once here
    return [
        Route("POST", "/tasks", tasks.enqueue, Role.WRITE),
        Route("GET", "/tasks", tasks.list, params=LIST_PARAMS),
        Route("GET", "/tasks/{task_id}", tasks.get, params=("wait",)),
        Route("GET", "/tasks/{task_id}/events", history.events),
        Route("GET", "/tasks/{task_id}/diagnosis", history.diagnosis),
        Route("POST", "/tasks/{task_id}/cancel", control.cancel, Role.ADMIN),
        Route("POST", "/tasks/{task_id}/retry", control.retry, Role.ADMIN),
        Route("POST", "/tasks/cancel", control.cancel_many, Role.ADMIN),
        Route("POST", "/tasks/retry", control.retry_many, Role.ADMIN),
        Route("GET", "/queues", queues.list),
        Route("POST", "/queues/{name}/pause", queues.pause, Role.ADMIN),
        Route("POST", "/queues/{name}/resume", queues.resume, Role.ADMIN),
        Route("GET", "/actions", actions.list),
        Route("GET", "/nodes", history.nodes),
        Route("GET", "/stats", history.stats),
        Route("GET", "/dead-letters", history.dead_letters),
        Route("GET", "/healthz", health.healthz, public=True),
        Route("GET", "/readyz", health.readyz, public=True),
        Route("GET", "/metrics", health.metrics),
        Route("GET", "/openapi.json", docs.openapi),
        # The dashboard: one route per file of web/dashboard/ (any other path is a JSON 404)
        Route("GET", "/", dashboard.file("index.html"), Role.READ),
        Route("GET", "/dashboard", dashboard.file("index.html"), Role.READ),
        Route("GET", "/dashboard/dashboard.css", dashboard.file("dashboard.css"), Role.READ),
        Route("GET", "/dashboard/favicon.svg", dashboard.file("favicon.svg"), Role.READ),
        Route("GET", "/dashboard/app.js", dashboard.file("app.js"), Role.READ),
        Route("GET", "/dashboard/api.js", dashboard.file("api.js"), Role.READ),
        Route("GET", "/dashboard/ui.js", dashboard.file("ui.js"), Role.READ),
        Route("GET", "/dashboard/chart.js", dashboard.file("chart.js"), Role.READ),
        Route("GET", "/dashboard/overview.js", dashboard.file("overview.js"), Role.READ),
        Route("GET", "/dashboard/tasks.js", dashboard.file("tasks.js"), Role.READ),
        Route("GET", "/dashboard/task.js", dashboard.file("task.js"), Role.READ),
        Route("GET", "/dashboard/queues.js", dashboard.file("queues.js"), Role.READ),
        Route("GET", "/dashboard/dead-letters.js", dashboard.file("dead-letters.js"), Role.READ),
    ]
