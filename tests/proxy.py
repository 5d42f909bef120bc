"""A loopback TCP proxy that tests put between a client and a server they started, to break the wire.

``cut_replies(n)``: the next ``n`` chunks the server sends are swallowed and the client's
connection is closed instead, so the command ran but its reply is lost. ``slow_replies``:
hold the next replies a while (a slow network, for timeouts). ``refuse(n)``: close the next
``n`` new connections at once (a server that is down).
"""

from __future__ import annotations

import socket
import threading


class Proxy:
    def __init__(self, target_port: int, host: str = "127.0.0.1") -> None:
        self.target = (host, target_port)
        self.listener = socket.create_server((host, 0))
        self.host, self.port = host, self.listener.getsockname()[1]
        self._lock = threading.Lock()
        self._cut = 0
        self._refuse = 0
        self._slow = 0
        self.delay = 0.0
        self.cut_count = 0
        self.connections = 0
        self._open: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def cut_replies(self, n: int = 1) -> None:
        with self._lock:
            self._cut = n

    def slow_replies(self, n: int, seconds: float) -> None:
        """Hold each of the next ``n`` replies for ``seconds`` (a slow wire: timeouts)."""
        with self._lock:
            self._slow, self.delay = n, seconds

    def refuse(self, n: int) -> None:
        with self._lock:
            self._refuse = n

    def _take(self, attr: str) -> bool:
        with self._lock:
            if getattr(self, attr) > 0:
                setattr(self, attr, getattr(self, attr) - 1)
                return True
            return False

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            if self._take("_refuse"):
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            self._open += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, replies: bool) -> None:
        try:
            while data := source.recv(65536):
                if replies and self._take("_cut"):
                    self.cut_count += 1
                    break  # the reply is lost: close both ends
                if replies and self._take("_slow"):
                    threading.Event().wait(self.delay)  # a slow wire, not a test waiting
                sink.sendall(data)
        except OSError:
            pass
        for s in (source, sink):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self) -> None:
        self._closed = True
        self.listener.close()
        for s in self._open:
            try:
                s.close()
            except OSError:
                pass

    def __enter__(self) -> Proxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
