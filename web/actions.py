"""/actions: the actions this node knows, and what it does with any other name."""

from __future__ import annotations

import actors

from .responses import json_body
from .router import Query


class ActionsResource:
    def __init__(self, registry: actors.ActionRegistry, queue_config: actors.QueueConfig) -> None:
        self._registry = registry
        self._config = queue_config

    def list(self, query: Query) -> bytes:
        return json_body(
            {
                "actions": [action.describe() for action in self._registry.actions()],
                "unknown_actions": str(self._config.unknown_actions),
            }
        )
