"""`StoreSettings`: every setting of a store, validated once, in one place.

Rule: the stores, the deployment object (`Streamlog`), the history class and the savers
all take their settings through this object, so a bad value or an unknown name raises
`ConfigError` where the user gave it, never a ``TypeError`` from deep inside.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError
from .keys import Keyspace
from .retention import KeepLast, KeepNewerThan, Retention
from .trim import TrimPolicy

__all__ = ["StoreSettings"]


def _count(name: str, value: Any, *, minimum: int = 0, what: str = "a number") -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} is {what}, not {value!r}")


def _seconds(name: str, value: Any, *, positive: bool) -> None:
    ok = not isinstance(value, bool) and isinstance(value, (int, float))
    if not ok or not (value > 0 if positive else value >= 0):
        raise ConfigError(f"{name} is a {'positive' if positive else 'non-negative'} number of seconds, not {value!r}")


@dataclass(frozen=True)
class StoreSettings:
    """A store's settings (see `StreamStore` for what each one means).

    Build it with keywords (``StoreSettings(ttl=3600)``) or from a mapping with `of`,
    which names an unknown setting in its error.
    """

    key_prefix: str = "streamlog"
    partitions: int = 16
    ttl: float | None = None
    trim: TrimPolicy | None = None
    max_message_bytes: int | None = 1 << 20
    idempotency_memory: int = 100
    idempotency_window: float = 600.0
    cache_size: int = 256
    snapshot_every: int = 500
    retention: Retention | None = None
    refresh_ttl_on_read: bool = False
    feed_max_len: int = 10_000
    feed_max_age: float = 0
    feed_trim_every: int = 1000
    wait_replicas: int = 0
    wait_timeout: float = 1.0
    allow_eviction: bool = False
    keyspace: Keyspace = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "keyspace", Keyspace(self.key_prefix, self.partitions))
        if self.ttl is not None:
            _seconds("ttl", self.ttl, positive=True)
        if self.trim is not None and not isinstance(self.trim, TrimPolicy):
            raise ConfigError(
                f"trim is a trimming policy such as LastN(20) or TokenBudget(2000), or None, not {self.trim!r}"
            )
        if self.max_message_bytes is not None:
            _count("max_message_bytes", self.max_message_bytes, minimum=1, what="a positive number of bytes or None")
        _count("idempotency_memory", self.idempotency_memory, minimum=1, what="a positive number of keys")
        _seconds("idempotency_window", self.idempotency_window, positive=False)
        _count("cache_size", self.cache_size, what="a number of sessions (0: no cache)")
        _count("snapshot_every", self.snapshot_every, minimum=1, what="a positive number of events")
        if self.retention is not None and not isinstance(self.retention, (KeepLast, KeepNewerThan)):
            raise ConfigError(f"retention is KeepLast(n), KeepNewerThan(seconds) or None, not {self.retention!r}")
        if not isinstance(self.refresh_ttl_on_read, bool):
            raise ConfigError(f"refresh_ttl_on_read is True or False, not {self.refresh_ttl_on_read!r}")
        _count("feed_max_len", self.feed_max_len, what="a number of events (0: no bound)")
        _seconds("feed_max_age", self.feed_max_age, positive=False)
        _count("feed_trim_every", self.feed_trim_every, what="a number of appends (0: never)")
        _count("wait_replicas", self.wait_replicas, what="a number of replicas (0: do not wait)")
        _seconds("wait_timeout", self.wait_timeout, positive=True)
        if not isinstance(self.allow_eviction, bool):
            raise ConfigError(f"allow_eviction is True or False, not {self.allow_eviction!r}")

    @classmethod
    def of(cls, settings: Mapping[str, Any]) -> StoreSettings:
        """Settings from a mapping; an unknown name raises `ConfigError` listing the known ones."""
        known = cls.names()
        unknown = sorted(set(settings) - set(known))
        if unknown:
            raise ConfigError(f"unknown store setting(s) {', '.join(map(repr, unknown))}; the settings are: {', '.join(known)}")
        return cls(**settings)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The settings' names, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls) if f.init)

    def replace(self, **changes: Any) -> StoreSettings:
        """A copy with some settings changed (validated again)."""
        unknown = sorted(set(changes) - set(self.names()))
        if unknown:
            raise ConfigError(f"unknown store setting(s) {', '.join(map(repr, unknown))}")
        return dataclasses.replace(self, **changes)

    @property
    def ttl_ms(self) -> int:
        """The TTL in whole milliseconds (at least 1), 0 for none."""
        return 0 if self.ttl is None else max(1, int(self.ttl * 1000))

    @property
    def wait(self) -> tuple[int, int] | None:
        """``(replicas, timeout ms)`` for durable appends, or None."""
        return (self.wait_replicas, max(1, int(self.wait_timeout * 1000))) if self.wait_replicas else None
