"""A throwaway Sentinel deployment on 127.0.0.1: a master, its replicas and the sentinels watching it."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

import redis

from ._binaries import ServerBinary
from ._server import HOST, START_TIMEOUT, LocalServer

__all__ = ["LocalSentinel"]


class _DataServer(LocalServer):
    """A master or replica: a `LocalServer` that may require a password (and replicate with it)."""

    def __init__(self, binary: ServerBinary, password: str | None, extra_args: list[str]) -> None:
        auth = ["--requirepass", password, "--masterauth", password] if password else []
        super().__init__(binary, extra_args=[*auth, *extra_args])
        self.password = password

    def client(self, **kwargs: Any) -> redis.Redis:
        kwargs.setdefault("password", self.password)
        return super().client(**kwargs)


class _SentinelServer(LocalServer):
    """A sentinel: ``<binary> <dir>/sentinel.conf --sentinel``, the file written before its first launch.

    Sentinel rewrites its configuration file as it learns (other sentinels, a new master),
    so a `restart` keeps what it learnt.
    """

    def __init__(self, binary: ServerBinary, config: str, password: str | None) -> None:
        super().__init__(binary)
        self.config = config
        self.password = password

    def client(self, **kwargs: Any) -> redis.Redis:
        kwargs.setdefault("password", self.password)
        return super().client(**kwargs)

    def _launch(self) -> bool:
        os.makedirs(self.dir, exist_ok=True)
        conf, log = os.path.join(self.dir, "sentinel.conf"), os.path.join(self.dir, "server.log")
        if not os.path.exists(conf):
            with open(conf, "w") as out:
                out.write(self.config)
        command = [self.binary.path, conf, "--sentinel", "--bind", self.host, "--port", str(self.port)]
        command += ["--dir", self.dir, "--daemonize", "no", "--logfile", log]
        open(log, "w").close()
        with open(log, "ab") as out:
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
                    except redis.RedisError:
                        pass
                    if not answered:
                        time.sleep(0.02)
        finally:
            if not answered:
                self.kill()
        return answered


def _quoted(value: str) -> str:
    """``value`` as one argument of a configuration file line (double quotes, escapes)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _flags(state: dict[str, Any]) -> set[str]:
    """The flags of a ``SENTINEL MASTER`` / ``REPLICAS`` entry (a string on RESP2, a set on RESP3)."""
    flags = state["flags"]
    return set(flags.split(",")) if isinstance(flags, str) else set(flags)


class LocalSentinel:
    """A master, ``replicas`` replicas and ``sentinels`` sentinels on 127.0.0.1 (a context manager).

    Everything is started and stopped by this object: the master and replicas are
    `LocalServer` processes, each sentinel is ``<binary> sentinel.conf --sentinel`` with its
    configuration file in its own temporary directory. `start` returns once every sentinel
    names the master, knows every other sentinel and every replica, and every replica's link
    to the master is up (`healthy`).

    Args:
        binary: which executable runs every process.
        service_name: the name the sentinels know the master by.
        replicas: how many replicas (at least 1, so that there is something to fail over to).
        sentinels: how many sentinels; the quorum is a majority of them.
        down_after_ms: ``down-after-milliseconds``: how long the master may not answer
            before the sentinels fail it over.
        failover_timeout_ms: the sentinels' ``failover-timeout``.
        password: ``requirepass`` (and ``masterauth``) of the master and replicas; the
            sentinels reach them with it (``sentinel auth-pass``).
        sentinel_password: ``requirepass`` of the sentinels themselves (and ``sentinel-pass``,
            with which they reach each other).
        server_args: more ``--name value`` arguments for the master and the replicas
            (``["--min-replicas-to-write", "1"]``, say).
    """

    def __init__(
        self,
        binary: ServerBinary,
        *,
        service_name: str = "streamlog",
        replicas: int = 1,
        sentinels: int = 3,
        down_after_ms: int = 1000,
        failover_timeout_ms: int = 10000,
        password: str | None = None,
        sentinel_password: str | None = None,
        server_args: Sequence[str] = (),
    ) -> None:
        if replicas < 1 or sentinels < 1:
            raise ValueError("a Sentinel deployment needs at least one replica and one sentinel")
        self.binary, self.service_name = binary, service_name
        self.password, self.sentinel_password = password, sentinel_password
        self.quorum = sentinels // 2 + 1
        self._down_after_ms, self._failover_timeout_ms = down_after_ms, failover_timeout_ms
        self._replica_count, self._sentinel_count = replicas, sentinels
        self._server_args = list(server_args)
        self.servers: list[LocalServer] = []  # the master first, as started
        self.sentinel_nodes: list[LocalServer] = []

    @property
    def host(self) -> str:
        return HOST

    @property
    def sentinels(self) -> list[tuple[str, int]]:
        """``(host, port)`` of every sentinel: the first argument of ``redis.sentinel.Sentinel``."""
        return [(node.host, node.port) for node in self.sentinel_nodes]

    @property
    def url(self) -> str:
        """``redis+sentinel://[:password@]127.0.0.1:<port>,.../<service_name>``, as streamlog reads it.

        The password is the master's; a different ``sentinel_password`` is given as the
        ``sentinel_password`` query option (empty when the sentinels take none).
        """
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        hosts = ",".join(f"{host}:{port}" for host, port in self.sentinels)
        query = ""
        if self.sentinel_password != self.password:
            query = f"?sentinel_password={quote(self.sentinel_password or '', safe='')}"
        return f"redis+sentinel://{auth}{hosts}/{quote(self.service_name, safe='')}{query}"

    def start(self, timeout: float = 30.0) -> LocalSentinel:
        """Start the master, the replicas and the sentinels; wait until the deployment is `healthy`."""
        try:
            master = _DataServer(self.binary, self.password, self._server_args).start()
            self.servers.append(master)
            for _ in range(self._replica_count):
                follow = ["--replicaof", HOST, str(master.port), *self._server_args]
                replica = _DataServer(self.binary, self.password, follow)
                self.servers.append(replica)
                replica.start()
            name = _quoted(self.service_name)
            config = [
                f"sentinel monitor {name} {HOST} {master.port} {self.quorum}",
                f"sentinel down-after-milliseconds {name} {self._down_after_ms}",
                f"sentinel failover-timeout {name} {self._failover_timeout_ms}",
                f"sentinel parallel-syncs {name} 1",
            ]
            if self.password:
                config.append(f"sentinel auth-pass {name} {_quoted(self.password)}")
            if self.sentinel_password:
                secret = _quoted(self.sentinel_password)
                config += [f"requirepass {secret}", f"sentinel sentinel-pass {secret}"]
            for _ in range(self._sentinel_count):
                node = _SentinelServer(self.binary, "\n".join(config) + "\n", self.sentinel_password)
                self.sentinel_nodes.append(node)
                node.start()
            self._wait(timeout, self.healthy, "become healthy")
            return self
        except BaseException:
            self.stop()
            raise

    def _wait(self, timeout: float, check: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Sentinel deployment did not {what} within {timeout} s")
            time.sleep(0.05)

    def _by_port(self, port: int) -> LocalServer | None:
        return next((server for server in self.servers if server.port == port), None)

    def master_address(self) -> tuple[str, int] | None:
        """Where the running sentinels say the master is, if they all agree (else None)."""
        answers = set()
        for node in self.sentinel_nodes:
            if not node.running:
                continue
            try:
                with node._quick_client() as client:
                    reply = client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service_name)
            except redis.RedisError:
                return None
            if reply is None:
                return None
            answers.add((reply[0].decode(), int(reply[1])))
        return answers.pop() if len(answers) == 1 else None

    @property
    def master(self) -> LocalServer:
        """The server the sentinels name as master now (RuntimeError while they disagree)."""
        address = self.master_address()
        server = self._by_port(address[1]) if address is not None else None
        if server is None:
            raise RuntimeError(f"the sentinels do not agree on a master of {self.service_name!r} now")
        return server

    @property
    def replicas(self) -> list[LocalServer]:
        """The running servers that are not the master now."""
        master = self.master
        return [server for server in self.servers if server is not master and server.running]

    def healthy(self) -> bool:
        """Every running sentinel names the same master, which says it is one, sees the other
        running sentinels and every running replica up; every running replica's link is up."""
        try:
            address = self.master_address()
            master = self._by_port(address[1]) if address is not None else None
            if master is None or not master.running:
                return False
            with master._quick_client() as client:
                if client.info("replication").get("role") != "master":
                    return False
            others = [server for server in self.servers if server is not master and server.running]
            for server in others:
                with server._quick_client() as client:
                    info = client.info("replication")
                if info.get("master_port") != master.port or info.get("master_link_status") != "up":
                    return False
            running = [node for node in self.sentinel_nodes if node.running]
            for node in running:
                with node._quick_client() as client:
                    state = client.sentinel_master(self.service_name)
                    known = client.sentinel_slaves(self.service_name)
                if _flags(state) != {"master"} or state["num-other-sentinels"] < len(running) - 1:
                    return False  # down, being failed over, or not (yet) in touch with the others
                up = {r["port"] for r in known if _flags(r) == {"slave"}}
                if not {server.port for server in others} <= up:
                    return False
            return True
        except redis.RedisError:
            return False

    def failover(self, *, kill: bool = False, timeout: float = 60.0) -> LocalServer:
        """Fail the master over to a replica and wait until the deployment is healthy again.

        ``kill=False``: ``SENTINEL FAILOVER`` (a sentinel promotes a replica; the old master
        becomes a replica of the new one). ``kill=True``: SIGKILL the master and let the
        sentinels notice (after ``down_after_ms``) and promote a replica; the old master
        stays down (`LocalServer.restart` brings it back, empty, and the sentinels then make
        it a replica). Returns the new master.
        """
        old = self.master
        if kill:
            old.kill()
        else:
            with self.sentinel_nodes[0]._quick_client() as client:
                client.execute_command("SENTINEL", "FAILOVER", self.service_name)
        self._wait(timeout, lambda: self.master_address() not in (None, (old.host, old.port)), "fail over")
        self._wait(timeout, self.healthy, "become healthy after the failover")
        return self.master

    def stop(self) -> None:
        """Stop every sentinel and server this object started and remove their directories; idempotent."""
        for node in [*self.sentinel_nodes, *self.servers]:
            node.stop()

    def __enter__(self) -> LocalSentinel:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
