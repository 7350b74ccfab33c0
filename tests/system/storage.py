"""Read the database directly, between two runs of the service, when no API is up to ask."""

from __future__ import annotations

from typing import Any

import models


def stored_tasks(db_url: str) -> dict[str, dict[str, Any]]:
    """Every row of ``tasks`` as the database holds it now (every column), by id."""
    store = models.open_store(db_url)
    try:
        return {row["id"]: row for row in models.Task.select().dicts()}
    finally:
        store.close()


def by_status(tasks: dict[str, dict[str, Any]]) -> dict[str, set[str]]:
    """Task ids grouped by status."""
    groups: dict[str, set[str]] = {}
    for task_id, task in tasks.items():
        groups.setdefault(task["status"], set()).add(task_id)
    return groups
