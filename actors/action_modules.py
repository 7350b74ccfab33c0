"""Loading users' action modules, by module name or by file path."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys

from .actions import DuplicateAction

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
    except DuplicateAction as exc:
        raise ActionModuleError(f"{name}: {exc}") from exc
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
    except DuplicateAction as exc:
        del sys.modules[name]
        raise ActionModuleError(f"{path}: {exc}") from exc
    except ImportError as exc:
        del sys.modules[name]
        raise ActionModuleError(f"cannot import {path}: {exc}") from exc


def _append_to_path(folder: str) -> None:
    if folder not in sys.path:
        sys.path.append(folder)
