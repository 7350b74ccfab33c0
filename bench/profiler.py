"""``--profile``: py-spy record of our service while a scenario measures it."""

from __future__ import annotations

import signal
import time
from typing import TYPE_CHECKING

from bench.procs import Proc
from bench.stacks import OursStack, Stack

if TYPE_CHECKING:
    from bench.scenarios import Context


class Profiler:
    """``py-spy record`` of our service while a scenario measures it (``--profile``)."""

    def __init__(self, ctx: Context, stack: Stack, scenario: str) -> None:
        self._proc: Proc | None = None
        if ctx.profile_dir is None or not isinstance(stack, OursStack):
            return
        ctx.profile_dir.mkdir(parents=True, exist_ok=True)
        out = ctx.profile_dir / f"{scenario}{'-gil' if ctx.profile_gil else ''}.txt"
        argv = [
            "py-spy",
            "record",
            "--pid",
            str(stack.service.pid),
            "--rate",
            "200",
            "--format",
            "raw",
            "--nonblocking",
            "--threads",
            "-o",
            str(out),
        ]
        if ctx.profile_gil:
            argv.append("--gil")
        self._proc = Proc("py-spy", argv, stack.workdir / "py-spy.log")
        time.sleep(0.5)  # py-spy attaches
        ctx.log(f"    profiling pid {stack.service.pid} into {out}")

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.stop(signal.SIGINT)  # py-spy writes its file on SIGINT
