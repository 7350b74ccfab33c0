"""The upkeep of schedules, retention and webhooks, started together by the supervisor."""

from __future__ import annotations

import pykka

import models

from ..actions import ActionRegistry
from ..config import QueueConfig
from .deliverer import DELIVERY_INTERVAL_SECONDS, Deliverer
from .pruner import PRUNE_INTERVAL_SECONDS, Pruner
from .scheduler import SCHEDULER_INTERVAL_SECONDS, Scheduler
from .service import Leadership
from .webhook_http import AddressPolicy


def retention_of(config: QueueConfig) -> dict[models.Status, float]:
    """How long each finished status is kept, in seconds (0: for ever)."""
    return {
        models.Status.COMPLETED: config.retain_completed_seconds,
        models.Status.DEAD: config.retain_dead_seconds,
        models.Status.CANCELED: config.retain_canceled_seconds,
    }


def start_upkeep(
    store: models.Store,
    config: QueueConfig,
    registry: ActionRegistry,
    dispatcher: pykka.ActorRef,
    leadership: Leadership,
) -> list[tuple[pykka.ActorRef, float]]:
    """Start the scheduler and the pruner (both leader-only) and, when the node has a
    webhook secret, the deliverer (on every node); return each with its interval."""
    started = [
        (
            Scheduler.start(
                store,
                SCHEDULER_INTERVAL_SECONDS,
                config,
                registry.schedules(),
                dispatcher,
                leadership,
            ),
            SCHEDULER_INTERVAL_SECONDS,
        ),
        (
            Pruner.start(store, PRUNE_INTERVAL_SECONDS, retention_of(config), leadership),
            PRUNE_INTERVAL_SECONDS,
        ),
    ]
    if config.webhook_secret is not None:
        policy = AddressPolicy(config.webhook_allow_nets)
        deliverer = Deliverer.start(store, DELIVERY_INTERVAL_SECONDS, config.webhook_secret, policy)
        started.append((deliverer, DELIVERY_INTERVAL_SECONDS))
    return started
