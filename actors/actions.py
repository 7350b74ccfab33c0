"""The action registry: what a task's ``action`` name runs.

An action is a function of the task's ``data`` (a dict) that returns a
JSON-serialisable result. Raising any ``Exception`` makes that attempt fail
(and be retried); the worker survives. Users add actions from their own
modules::

    from actors import action

    @action("resize")
    def resize(data):
        return {"output": ...}

and load them with ``python run.py --actions mymodule``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ActionFunction = Callable[[dict[str, Any]], Any]


@dataclass(frozen=True)
class Action:
    name: str
    function: ActionFunction
    builtin: bool = False  # built-ins sleep --simulated-work first, as the reference does


class ActionRegistry:
    """Actions by name; a name nobody registered runs the fallback."""

    def __init__(self, fallback: Action) -> None:
        self._actions: dict[str, Action] = {}
        self._fallback = fallback

    def register(self, name: str, function: ActionFunction, builtin: bool = False) -> None:
        self._actions[name] = Action(name, function, builtin)

    def lookup(self, name: str) -> Action:
        return self._actions.get(name, self._fallback)

    def names(self) -> list[str]:
        return sorted(self._actions)


def _uppercase(data: dict[str, Any]) -> dict[str, Any]:
    text = data.get("text", "")
    if not isinstance(text, str):
        raise TypeError(f"uppercase needs data.text to be a string, got {type(text).__name__}")
    return {"output": text.upper()}


def _sum(data: dict[str, Any]) -> dict[str, Any]:
    numbers = data.get("numbers", [])
    if not isinstance(numbers, list):
        raise TypeError(f"sum needs data.numbers to be a list, got {type(numbers).__name__}")
    for number in numbers:
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise TypeError(f"sum needs numbers, got {number!r}")
    return {"output": sum(numbers)}


def _processed(data: dict[str, Any]) -> dict[str, Any]:
    return {"output": "processed"}


registry = ActionRegistry(Action("*", _processed, builtin=True))
registry.register("uppercase", _uppercase, builtin=True)
registry.register("sum", _sum, builtin=True)


def action(name: str) -> Callable[[ActionFunction], ActionFunction]:
    """Decorator: register the function as the action ``name`` in the global registry."""

    def register(function: ActionFunction) -> ActionFunction:
        registry.register(name, function)
        return function

    return register


def load_action_modules(module_names: list[str]) -> None:
    """Import user modules so that their ``@action`` decorators run."""
    for module_name in module_names:
        importlib.import_module(module_name)
