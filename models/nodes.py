"""The nodes of a cluster as the database knows them: each records itself and keeps its
row fresh. Part of ``Store``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from .store import Store

RATE_WINDOW_SECONDS = 120  # the completions per minute of a node: over its last two minutes


@dataclass(frozen=True)
class NodeInfo:
    """What a node says of itself at each heartbeat."""

    owner: str  # host:pid, unique per process
    name: str  # --node-name, or the owner
    version: str
    queues: tuple[str, ...] | None  # None: every queue
    workers: int
    busy: int
    started_at: float
    draining: bool = False


class NodesMixin:
    def record_node(self: Store, info: NodeInfo, now: float) -> None:
        """Create or refresh this node's row, with its completions per minute."""
        p = self.db.param
        queues = None if info.queues is None else orjson.dumps(list(info.queues)).decode()
        with self.write_transaction():
            cursor = self.db.execute_sql(
                f"SELECT COALESCE(SUM(completed), 0) FROM minute_stats "
                f"WHERE node = {p} AND minute >= {p}",
                (info.name, int((now - RATE_WINDOW_SECONDS) // 60) * 60),
            )
            rate = float(cursor.fetchone()[0]) * 60.0 / RATE_WINDOW_SECONDS
            self.db.execute_sql(
                f"INSERT INTO nodes (owner, name, version, queues, workers, busy, started_at, "
                f"last_seen, draining, completed_per_minute) "
                f"VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}) "
                f"ON CONFLICT (owner) DO UPDATE SET name = excluded.name, "
                f"version = excluded.version, queues = excluded.queues, "
                f"workers = excluded.workers, busy = excluded.busy, "
                f"last_seen = excluded.last_seen, draining = excluded.draining, "
                f"completed_per_minute = excluded.completed_per_minute",
                (
                    info.owner,
                    info.name,
                    info.version,
                    queues,
                    info.workers,
                    info.busy,
                    info.started_at,
                    now,
                    int(info.draining),
                    rate,
                ),
            )

    def forget_node(self: Store, owner: str) -> None:
        """Remove a node's row (it stopped cleanly)."""
        with self.write_transaction():
            self.db.execute_sql(f"DELETE FROM nodes WHERE owner = {self.db.param}", (owner,))

    def prune_nodes(self: Store, seen_before: float) -> int:
        """Remove the rows of nodes not seen since ``seen_before``; return how many."""
        with self.write_transaction():
            return self.db.execute_sql(
                f"DELETE FROM nodes WHERE last_seen < {self.db.param}", (seen_before,)
            ).rowcount

    def nodes(self: Store, now: float, lost_after_seconds: float) -> list[dict[str, Any]]:
        """Every node on record, by name; ``state`` is ``lost`` for one unseen for
        ``lost_after_seconds``, ``draining`` for one stopping, else ``alive``."""
        cursor = self.db.execute_sql(
            "SELECT owner, name, version, queues, workers, busy, started_at, last_seen, "
            "draining, completed_per_minute FROM nodes ORDER BY name, owner"
        )
        nodes = []
        for row in cursor.fetchall():
            owner, name, version, queues, workers, busy, started, seen, draining, rate = row
            lost = now - seen > lost_after_seconds
            nodes.append(
                {
                    "name": name,
                    "owner": owner,
                    "version": version,
                    "queues": None if queues is None else orjson.loads(queues),
                    "workers": workers,
                    "busy": busy,
                    "idle": max(0, workers - busy),
                    "started_at": started,
                    "last_seen": seen,
                    "draining": bool(draining),
                    "completed_per_minute": rate,
                    "state": "lost" if lost else ("draining" if draining else "alive"),
                }
            )
        return nodes
