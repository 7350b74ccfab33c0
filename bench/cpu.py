"""CPU time spent by groups of processes between two marks: the cost per task.

A group is a function that lists the processes it holds now (a stack's
processes and their children; the PostgreSQL backends serving its
database). ``start`` and ``stop`` each read every listed process's user and
system time (``psutil``, threads included, reaped children not counted, so
a parent and its children are never counted twice). A process that appears
between the marks counts from zero; one that ends between them is missed, so
the groups should hold long-lived processes (they do: services, worker
pools, pooled connections).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import psutil

Group = Callable[[], list[psutil.Process]]
_Key = tuple[int, float]  # pid, create time: a pid reused by another process is another key


@dataclass(frozen=True)
class CpuSeconds:
    user: float
    system: float

    def per_task_us(self, tasks: float) -> tuple[float, float]:
        if tasks <= 0:
            return float("nan"), float("nan")
        return self.user * 1e6 / tasks, self.system * 1e6 / tasks


def _read(processes: list[psutil.Process]) -> dict[_Key, tuple[float, float]]:
    seen = {}
    for proc in processes:
        try:
            with proc.oneshot():
                times = proc.cpu_times()
                seen[(proc.pid, proc.create_time())] = (times.user, times.system)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return seen


class CpuMeter:
    def __init__(self, groups: dict[str, Group]) -> None:
        self._groups = groups
        self._before: dict[str, dict[_Key, tuple[float, float]]] | None = None
        self.result: dict[str, CpuSeconds] = {}

    def start(self) -> None:
        self._before = {name: _read(group()) for name, group in self._groups.items()}

    def stop(self) -> dict[str, CpuSeconds]:
        if self._before is None:
            raise RuntimeError("CpuMeter.stop before start")
        for name, group in self._groups.items():
            before = self._before[name]
            user = system = 0.0
            for key, (u, s) in _read(group()).items():
                u0, s0 = before.get(key, (0.0, 0.0))
                user += u - u0
                system += s - s0
            self.result[name] = CpuSeconds(user, system)
        return self.result


def per_task_metrics(prefix: str, result: dict[str, CpuSeconds], tasks: float) -> dict[str, float]:
    """``{prefix}_cpu_user_us`` … for the stack's processes, ``{prefix}_db_cpu_…`` for the
    database backends (PostgreSQL only)."""
    metrics = {}
    for group, label in (("procs", "cpu"), ("db", "db_cpu")):
        if group in result:
            user, system = result[group].per_task_us(tasks)
            metrics[f"{prefix}_{label}_user_us"] = user
            metrics[f"{prefix}_{label}_sys_us"] = system
    return metrics
