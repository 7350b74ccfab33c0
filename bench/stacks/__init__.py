"""The stacks under test, each started the way its users run it.

``ours`` is ``python run.py``; ``huey``, ``celery`` and ``procrastinate``
are the same CherryPy POST/GET endpoints (``web_app.py``) in front of a Huey
consumer, Celery workers or procrastinate workers. Huey and Celery tasks
write their results to a results table (``results.py``); procrastinate's
own job rows show its completions.
"""

from .base import Stack
from .celery_stack import CeleryStack
from .huey_stack import HueyStack
from .ours import OursStack
from .procrastinate_stack import ProcrastinateStack

STACKS: dict[str, type[Stack]] = {
    "ours": OursStack,
    "huey": HueyStack,
    "celery": CeleryStack,
    "procrastinate": ProcrastinateStack,
}

__all__ = ["STACKS", "CeleryStack", "HueyStack", "OursStack", "ProcrastinateStack", "Stack"]
