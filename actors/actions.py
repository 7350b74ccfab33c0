"""The action registry: what a task's ``action`` name runs.

An action is a function of the task's ``data`` (a dict) that returns a
JSON-serialisable result; it may take a second parameter, the attempt's
``TaskContext`` (cancellation, deadline, progress). Raising any
``Exception`` makes that attempt fail (and be retried); raising
``Permanent`` ends the task as ``dead`` at once, without retries. The
worker survives either. Users add actions from their own modules::

    from actors import action

    @action("resize")
    def resize(data):
        return {"output": ...}

and load them with ``python run.py --actions mymodule`` (see
``action_modules``). A name already taken, a built-in's included, is a
start-up error unless the new one says ``replace=True``. An action may also
declare a schedule, ``@action("report", cron="0 * * * *")``: the scheduler
creates the schedule ``report`` (UTC, the task ``{"action": "report"}``) at
start if it is missing.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import models

ActionFunction = Callable[..., Any]


class Permanent(Exception):  # noqa: N818 - what the action says, as Oban's {:cancel, reason}
    """Raised by an action: this task cannot succeed; end it as ``dead`` now, no retries.

    For a failure that retrying cannot fix, such as invalid input, so that it
    costs one attempt instead of every attempt and their backoff.
    """


class DuplicateAction(ImportError):
    """A module registered an action name that is already taken."""


class BadSchedule(ImportError):
    """A module declared an action's schedule with a cron expression that is not one."""


@dataclass(frozen=True)
class Action:
    name: str
    function: ActionFunction
    builtin: bool = False  # built-ins sleep --simulated-work first, as the reference does
    takes_context: bool = False  # called as function(data, context)
    source: str = ""  # where it comes from: "built-in", or the module (and file) of the user
    cron: str | None = None  # the schedule it declares (UTC), created at start if missing

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "takes_context": self.takes_context}


def _takes_context(function: ActionFunction) -> bool:
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [
        p
        for p in parameters
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
    ]
    return len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in positional)


def _source_of(function: ActionFunction) -> str:
    module = getattr(function, "__module__", None) or "?"
    try:
        path = inspect.getsourcefile(function)
    except TypeError:
        path = None
    return f"{module} ({path})" if path else module


class ActionRegistry:
    """Actions by name, and the fallback the reference runs for a name nobody registered."""

    def __init__(self, fallback: Action) -> None:
        self._actions: dict[str, Action] = {}
        self.fallback = fallback

    def register(
        self,
        name: str,
        function: ActionFunction,
        builtin: bool = False,
        replace: bool = False,
        cron: str | None = None,
    ) -> Action:
        """Register ``function`` as ``name``; raises ``DuplicateAction`` if the name is
        taken and ``replace`` is not set, ``BadSchedule`` for a ``cron`` that is not one."""
        if cron is not None:
            try:
                cron = models.check_cron(cron)
            except models.InvalidInput as exc:
                raise BadSchedule(f"action {name!r}: {exc}") from None
        existing = self._actions.get(name)
        if existing is not None and not replace:
            raise DuplicateAction(
                f"action {name!r} is already registered by {existing.source}; "
                f"pass replace=True to @action to replace it"
            )
        registered = Action(
            name,
            function,
            builtin,
            _takes_context(function),
            "built-in" if builtin else _source_of(function),
            cron,
        )
        self._actions[name] = registered
        return registered

    def lookup(self, name: str) -> Action | None:
        """The action registered as ``name``, or None."""
        return self._actions.get(name)

    def names(self) -> list[str]:
        return sorted(self._actions)

    def actions(self) -> list[Action]:
        return [self._actions[name] for name in self.names()]

    def schedules(self) -> list[models.ScheduleSpec]:
        """The schedules the actions declare: each named after its action, in UTC."""
        return [
            models.ScheduleSpec(name=a.name, cron=a.cron, task={"action": a.name})
            for a in self.actions()
            if a.cron is not None
        ]


def action(
    name: str, replace: bool = False, cron: str | None = None
) -> Callable[[ActionFunction], ActionFunction]:
    """Decorator: register the function as the action ``name`` in the global registry;
    with ``cron``, also declare the schedule ``name`` that runs it (see the module)."""

    def register(function: ActionFunction) -> ActionFunction:
        registry.register(name, function, replace=replace, cron=cron)
        return function

    return register


# The global registry, with the reference's built-ins (see ``builtins``).
from .builtins import BUILTINS, PROCESSED  # noqa: E402 - they need the classes above

registry = ActionRegistry(Action("*", PROCESSED, builtin=True, source="built-in"))
for _name, _function in BUILTINS.items():
    registry.register(_name, _function, builtin=True)
