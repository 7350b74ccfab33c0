"""Summarise a ``py-spy record --format raw`` file: where the CPU went, by function.

``python -m bench.hotspots bench/results/profile/drain.txt [--top 25]``

Each line of the file is one stack (``frame;frame;…``, outermost first) and
its sample count. *Self* counts samples where the function was the
innermost frame; *total* counts samples where it was anywhere on the stack.
py-spy leaves out idle threads by default, so the shares are of CPU time.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

DEFAULT_TOP = 20
# Innermost frames that mean "blocked", which py-spy does not always see as idle
# (timed lock waits, the HTTP server's select): counted apart from CPU time.
WAITING = ("Condition.wait", "EpollSelector.select")
_LINE_NUMBER = re.compile(r":\d+\)$")
_SITE = re.compile(r"/(site|dist)-packages/")


def _function(frame: str) -> str:
    """``name (path:line)`` → ``name (short path)``: lines of one function count together."""
    frame = _LINE_NUMBER.sub(")", frame.strip())
    name, _, path = frame.partition(" (")
    path = path.rstrip(")")
    match = _SITE.search(path)
    if match:
        path = path[match.end() :]
    elif "/lib/python" in path:
        path = "stdlib/" + path.rsplit("/lib/python", 1)[1].split("/", 1)[-1]
    else:
        path = path.rsplit("/main/", 1)[-1]
    return f"{name} ({path})"


def load(path: Path) -> tuple[Counter, Counter, Counter, int, int]:
    """Self and total samples by function, samples by thread, the sample count (not
    waiting) and the waiting samples."""
    self_counts: Counter = Counter()
    total_counts: Counter = Counter()
    threads: Counter = Counter()
    samples = waiting = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        if frames and frames[0].startswith(("thread (", "process ")):
            thread = frames.pop(0)
        else:
            thread = "?"
        if not frames:
            continue
        functions = [_function(frame) for frame in frames]
        if functions[-1].partition(" (")[0] in WAITING:
            waiting += count
            continue
        samples += count
        threads[thread] += count
        self_counts[functions[-1]] += count
        for function in set(functions):
            total_counts[function] += count
    return self_counts, total_counts, threads, samples, waiting


def summary(path: Path, top: int = DEFAULT_TOP) -> str:
    self_counts, total_counts, threads, samples, waiting = load(path)
    if not samples:
        return f"{path}: no samples"
    lines = [
        f"{samples} samples running, {waiting} more blocked in a wait (left out)",
        "",
        f"top {top} by self time:",
    ]
    lines += [f"  {100 * n / samples:5.1f}%  {name}" for name, n in self_counts.most_common(top)]
    lines += ["", f"top {top} by total time (the function and what it calls):"]
    lines += [f"  {100 * n / samples:5.1f}%  {name}" for name, n in total_counts.most_common(top)]
    if threads:
        lines += ["", "by thread:"]
        lines += [f"  {100 * n / samples:5.1f}%  {name}" for name, n in threads.most_common(top)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.hotspots")
    parser.add_argument("path", type=Path)
    parser.add_argument("--top", type=int, default=DEFAULT_TOP)
    args = parser.parse_args()
    print(summary(args.path, args.top))


if __name__ == "__main__":
    main()
