"""The three stacks under test, each started the way its users run it.

``ours`` is ``python run.py``; ``huey`` and ``celery`` are the same CherryPy
POST/GET endpoints (``web_app.py``) in front of a Huey consumer or a Celery
worker, whose tasks write their results to SQLite (``results.py``).
"""

from .base import Stack
from .celery_stack import CeleryStack
from .huey_stack import HueyStack
from .ours import OursStack

STACKS: dict[str, type[Stack]] = {"ours": OursStack, "huey": HueyStack, "celery": CeleryStack}

__all__ = ["STACKS", "CeleryStack", "HueyStack", "OursStack", "Stack"]
