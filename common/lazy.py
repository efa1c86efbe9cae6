"""Lazy package exports: public names of torch-heavy submodules imported on first access (PEP 562)."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any


def lazy_getattr(package: str, names: dict[str, str], namespace: dict[str, Any]) -> Callable[[str], Any]:
    """A module-level `__getattr__` that imports `names[name]` on first access and caches it.

    Args:
        package: the package's name, for the error message.
        names: public name -> the submodule that defines it.
        namespace: the package's `globals()`, where a loaded name is cached.

    Returns:
        The `__getattr__(name)` function to assign in the package.
    """

    def __getattr__(name: str) -> Any:
        if name in names:
            value = getattr(import_module(names[name]), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
