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
        self._pending: dict[str, t.Any] = {}  # name → entry point not yet imported
        self._loaded = False

    def register(self, name: str, item: T | None = None):
        """Register ``item`` under ``name``; usable as a decorator."""

        def add(obj: T) -> T:
            self._items[name] = obj
            return obj

        return add(item) if item is not None else add

    def load_entry_points(self) -> None:
        """Find the group's entry points; each is imported only when first asked for, so one
        broken plugin cannot stop the others from working."""
        if self._loaded:
            return
        self._loaded = True
        for ep in entry_points(group=self.group):
            if ep.name not in self._items:
                self._pending.setdefault(ep.name, ep)

    def names(self) -> list[str]:
        self.load_entry_points()
        return sorted({*self._items, *self._pending})

    def get(self, name: str) -> T:
        self.load_entry_points()
        if name not in self._items and name in self._pending:
            ep = self._pending[name]
            try:
                self._items[name] = ep.load()
            except Exception as exc:  # a plugin's own import error, reported, not raised raw
                raise RegistryError(f"The {self.kind} '{name}' ({ep.value}) cannot be loaded: "
                                    f"{type(exc).__name__}: {exc}") from None
            del self._pending[name]
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(self.names()) or "none"
            raise RegistryError(
                f"Unknown {self.kind} '{name}'.{did_you_mean(name, self.names())} Known: {known}."
            ) from None
