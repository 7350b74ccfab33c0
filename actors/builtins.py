"""The reference tutorial's actions: uppercase, sum, and the catch-all for any other name."""

from __future__ import annotations

from typing import Any


def uppercase(data: dict[str, Any]) -> dict[str, Any]:
    text = data.get("text", "")
    if not isinstance(text, str):
        raise TypeError(f"uppercase needs data.text to be a string, got {type(text).__name__}")
    return {"output": text.upper()}


def total(data: dict[str, Any]) -> dict[str, Any]:
    numbers = data.get("numbers", [])
    if not isinstance(numbers, list):
        raise TypeError(f"sum needs data.numbers to be a list, got {type(numbers).__name__}")
    for number in numbers:
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise TypeError(f"sum needs numbers, got {number!r}")
    return {"output": sum(numbers)}


def processed(data: dict[str, Any]) -> dict[str, Any]:
    """The reference's answer to an action it does not know."""
    return {"output": "processed"}


BUILTINS = {"uppercase": uppercase, "sum": total}
PROCESSED = processed
