"""Retention: how much of a session's log to keep once a snapshot covers it.

Rule: retention only ever removes events *below the latest snapshot*, so the
projection (snapshot + the log after it) stays exact. What it costs is replay:
events before the retained range are gone, and a replay or time travel that needs
them raises `OffsetOutOfRange`.

Trimming happens when a snapshot is written (``XTRIM MINID``, in the same atomic
step), so a store that is only appended to, never read, never trims.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ConfigError

__all__ = ["KeepLast", "KeepNewerThan", "Retention"]


@dataclass(frozen=True)
class KeepLast:
    """Keep at least the newest ``events`` events of each session."""

    events: int

    def __post_init__(self) -> None:
        if isinstance(self.events, bool) or not isinstance(self.events, int) or self.events < 1:
            raise ConfigError(f"KeepLast needs a positive number of events, not {self.events!r}")

    def script_args(self) -> tuple[bytes, bytes]:
        return b"events", str(self.events).encode()


@dataclass(frozen=True)
class KeepNewerThan:
    """Keep at least the events of the last ``seconds`` seconds of each session."""

    seconds: float

    def __post_init__(self) -> None:
        if isinstance(self.seconds, bool) or not self.seconds > 0:
            raise ConfigError(f"KeepNewerThan needs a positive number of seconds, not {self.seconds!r}")

    def script_args(self) -> tuple[bytes, bytes]:
        return b"ms", str(int(self.seconds * 1000)).encode()


Retention = KeepLast | KeepNewerThan
