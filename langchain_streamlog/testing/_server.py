"""A throwaway server process on 127.0.0.1: started, restarted, killed and stopped by its owner."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ._binaries import ServerBinary

__all__ = ["HOST", "MAX_PORT", "START_TIMEOUT", "LocalServer"]

HOST = "127.0.0.1"
MAX_PORT = 55535  # a cluster node also listens on port + 10000
START_TIMEOUT = 15.0


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
