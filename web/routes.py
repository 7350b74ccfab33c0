"""Every route of the API: one line each."""

from __future__ import annotations

from .actions import ActionsResource
from .control import ControlResource
from .dashboard import DashboardResource
from .deliveries import DeliveriesResource
from .docs import DocsResource
from .health import HealthResource
from .history import HistoryResource
from .listing import LIST_PARAMS
from .queues import QueuesResource
from .router import Exposure, Role, Route
from .schedules import SchedulesResource
from .tasks import TasksResource

DASHBOARD_FILES = (
    "dashboard.css",
    "favicon.svg",
    "app.js",
    "api.js",
    "ui.js",
    "chart.js",
    "overview.js",
    "tasks.js",
    "task.js",
    "queues.js",
    "dead-letters.js",
)


def build_routes(
    tasks: TasksResource,
    control: ControlResource,
    queues: QueuesResource,
    actions: ActionsResource,
    history: HistoryResource,
    health: HealthResource,
    docs: DocsResource,
    schedules: SchedulesResource,
    deliveries: DeliveriesResource,
) -> list[Route]:
    dashboard = DashboardResource()  # static files, read once here
    return [
        Route("POST", "/tasks", tasks.enqueue, Role.WRITE),
        Route("GET", "/tasks", tasks.list, params=LIST_PARAMS),
        Route("GET", "/tasks/{task_id}", tasks.get, params=("wait",)),
        Route("GET", "/tasks/{task_id}/events", history.events),
        Route("GET", "/tasks/{task_id}/diagnosis", history.diagnosis),
        Route("GET", "/tasks/{task_id}/deliveries", deliveries.list),
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
        Route("GET", "/schedules", schedules.list),
        Route("GET", "/schedules/{name}", schedules.get),
        Route("PUT", "/schedules/{name}", schedules.put, Role.ADMIN),
        Route("DELETE", "/schedules/{name}", schedules.delete, Role.ADMIN),
        Route("POST", "/schedules/{name}/trigger", schedules.trigger, Role.ADMIN),
        Route("GET", "/healthz", health.healthz, exposure=Exposure.PUBLIC),
        Route("GET", "/readyz", health.readyz, exposure=Exposure.PUBLIC),
        Route("GET", "/metrics", health.metrics, exposure=Exposure.METRICS),
        Route("GET", "/openapi.json", docs.openapi),
        # The dashboard: one route per file of web/dashboard/ (any other path is a JSON
        # 404). Open to anyone: the files hold no data, and a page must load before it
        # can ask for a token (every API call it makes then needs one).
        *(
            Route("GET", path, dashboard.file(name), exposure=Exposure.PUBLIC)
            for path, name in [
                ("/", "index.html"),
                ("/dashboard", "index.html"),
                *((f"/dashboard/{name}", name) for name in DASHBOARD_FILES),
            ]
        ),
    ]
