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
        # last_seen by the clock that decides leases, as ``nodes`` reads it
        now_mark, now_params = self.now_sql(now)
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
                f"VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {now_mark}, {p}, {p}) "
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
                    *now_params,
                    int(info.draining),
                    rate,
                ),
            )

    def forget_node(self: Store, owner: str) -> None:
        """Remove a node's row (it stopped cleanly)."""
        with self.write_transaction():
            self.db.execute_sql(f"DELETE FROM nodes WHERE owner = {self.db.param}", (owner,))

    def prune_nodes(self: Store, now: float, unseen_seconds: float) -> int:
        """Remove the rows of nodes not seen for ``unseen_seconds``; return how many."""
        now_mark, now_params = self.now_sql(now)
        with self.write_transaction():
            return self.db.execute_sql(
                f"DELETE FROM nodes WHERE last_seen < {now_mark} - {self.db.param}",
                (*now_params, unseen_seconds),
            ).rowcount

    def nodes(self: Store, now: float, lost_after_seconds: float) -> list[dict[str, Any]]:
        """Every node on record, by name; ``state`` is ``lost`` for one unseen for
        ``lost_after_seconds``, ``draining`` for one stopping, else ``alive``."""
        now = self.database_now(now)
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
