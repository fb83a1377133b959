"""A TCP relay a test puts between Kanal and the shared RabbitMQ, to take the broker
away without touching it: ``cut()`` drops every connection mid-stream and refuses new
ones until ``restore()``; ``stall()`` keeps connections open but stops moving bytes
(a silent network failure)."""

from __future__ import annotations

import contextlib
import socket
import threading


class TcpProxy:
    """Relay 127.0.0.1:<port> to ``target``.

    Parameters:
        target: (host, port) of the real service.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._up = True
        self._flowing = threading.Event()
        self._flowing.set()
        self._closed = False
        self.connections = 0
        self._thread = threading.Thread(target=self._accept_loop, name="tcp-proxy", daemon=True)
        self._thread.start()

    def url(self, user: str = "guest", password: str = "guest") -> str:
        """AMQP URL through the proxy."""
        return f"amqp://{user}:{password}@127.0.0.1:{self.port}/%2F"

    def cut(self) -> None:
        """Drop every open connection and refuse new ones (a broker outage)."""
        with self._lock:
            self._up = False
            sockets = list(self._sockets)
            self._sockets.clear()
        self._flowing.set()
        for sock in sockets:
            _close(sock)

    def stall(self) -> None:
        """Stop relaying bytes but keep connections open (a black hole)."""
        self._flowing.clear()

    def restore(self) -> None:
        """Accept and relay again."""
        with self._lock:
            self._up = True
        self._flowing.set()

    def close(self) -> None:
        """Stop the proxy and drop everything."""
        self._closed = True
        self.cut()
        _close(self._listener)

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                up = self._up
            if not up:
                _close(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _close(client)
                continue
            with self._lock:
                self._sockets.update((client, upstream))
                self.connections += 1
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                self._flowing.wait()
                with self._lock:
                    if source not in self._sockets:
                        break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._sockets.discard(source)
                self._sockets.discard(sink)
            _close(source)
            _close(sink)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
