"""The action registry: what a task's ``action`` name runs.

An action is a function of the task's ``data`` (a dict) that returns a
JSON-serialisable result. Raising any ``Exception`` makes that attempt fail
(and be retried); the worker survives. Users add actions from their own
modules::

    from actors import action

    @action("resize")
    def resize(data):
        return {"output": ...}

and load them with ``python run.py --actions mymodule`` (a module name, found
from the working directory too) or ``--actions path/to/mymodule.py``.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
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


# The service's own top-level names: a user module by one of these names
# would be the service's, never the user's.
SERVICE_MODULES = ("actors", "models", "web", "run")


class ActionModuleError(ImportError):
    """A user's actions module cannot be loaded; the message says why."""


def load_action_modules(specs: list[str]) -> None:
    """Import user modules so that their ``@action`` decorators run.

    A spec is a path to a ``.py`` file, or a module name, looked up on
    ``sys.path`` and then in the working directory (as ``python run.py``
    finds a module next to it). The user's folder goes at the end of
    ``sys.path``, after the service's own packages, so a user's
    ``models.py`` or ``web.py`` never replaces the service's: the service's
    packages are already imported by then, and a user module that imports
    ``models`` gets the service's. Raises ``ActionModuleError``.
    """
    for spec in specs:
        if spec.endswith(".py") or os.sep in spec:
            _load_file(spec)
        else:
            _load_module(spec)


def _load_module(name: str) -> None:
    if name.partition(".")[0] in SERVICE_MODULES:
        raise ActionModuleError(
            f"{name!r} is the name of one of the service's own packages "
            f"({', '.join(SERVICE_MODULES)}): rename your module"
        )
    _append_to_path(os.getcwd())
    try:
        importlib.import_module(name)
    except ImportError as exc:
        raise ActionModuleError(f"cannot import {name!r}: {exc}") from exc


def _load_file(path: str) -> None:
    path = os.path.abspath(path)
    name = os.path.splitext(os.path.basename(path))[0]
    if not os.path.isfile(path):
        raise ActionModuleError(f"no such file: {path}")
    if name in SERVICE_MODULES:
        raise ActionModuleError(
            f"{path}: a module named {name!r} would stand for the service's own package; "
            f"rename the file"
        )
    _append_to_path(os.path.dirname(path))  # its own sibling imports keep working
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except ImportError as exc:
        del sys.modules[name]
        raise ActionModuleError(f"cannot import {path}: {exc}") from exc


def _append_to_path(folder: str) -> None:
    if folder not in sys.path:
        sys.path.append(folder)
