"""Tokens made as a user makes them: ``run.py token NAME ROLE``."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import REPO


def make_token(name: str, role: str) -> tuple[str, str]:
    """Run ``run.py token NAME ROLE``; return (secret, token-file line)."""
    result = subprocess.run(
        [sys.executable, str(REPO / "run.py"), "token", name, role],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    secret = re.search(r"^secret: (\S+)$", result.stdout, re.M).group(1)
    line = re.search(r"^line: +(.+)$", result.stdout, re.M).group(1)
    return secret, line
