"""A name → class registry that loads plugins from an entry-point group.

Built-in plugins are registered through the same entry points as third-party
ones, so the plugin API stays the one the built-ins use.
"""

from __future__ import annotations

import typing as t
from importlib.metadata import entry_points

from .errors import RegistryError, did_you_mean

T = t.TypeVar("T")


class Registry(t.Generic[T]):
    """Plugins of one kind, keyed by name, loaded lazily from ``group``."""

    def __init__(self, kind: str, group: str):
        self.kind = kind
        self.group = group
        self._items: dict[str, T] = {}
        self._loaded = False

    def register(self, name: str, item: T | None = None):
        """Register ``item`` under ``name``; usable as a decorator."""

        def add(obj: T) -> T:
            self._items[name] = obj
            return obj

        return add(item) if item is not None else add

    def load_entry_points(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for ep in entry_points(group=self.group):
            self._items.setdefault(ep.name, ep.load())

    def names(self) -> list[str]:
        self.load_entry_points()
        return sorted(self._items)

    def get(self, name: str) -> T:
        self.load_entry_points()
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(self.names()) or "none"
            raise RegistryError(
                f"Unknown {self.kind} '{name}'.{did_you_mean(name, self._items)} Known: {known}."
            ) from None
