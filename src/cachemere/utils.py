"""Small helpers shared by every layer."""

from __future__ import annotations

from importlib import import_module
from typing import Any


def import_string(dotted_path: str) -> Any:
    """Import ``package.module.Name`` and return ``Name``; ImportError when it cannot."""
    try:
        module_path, name = dotted_path.rsplit(".", 1)
    except (ValueError, AttributeError) as exc:
        raise ImportError(f"{dotted_path!r} is not a dotted path") from exc
    module = import_module(module_path)
    try:
        return getattr(module, name)
    except AttributeError as exc:
        raise ImportError(f"module {module_path!r} has no attribute {name!r}") from exc


def resolve(value: Any) -> Any:
    """Return ``value`` itself, or the object a dotted-path string names."""
    return import_string(value) if isinstance(value, str) else value
