"""A TCP proxy on 127.0.0.1 that can cut a connection in the middle of a transfer.

It sits between the connector and Dovecot. ``cut_after(n)`` arms a one-shot cut:
the connection is closed (both sides) once the server has sent ``n`` bytes on it,
which is exactly what a dropped network link in the middle of a FETCH looks like
to imapclient. Later connections pass through untouched.
"""

from __future__ import annotations

import contextlib
import socket
import threading

from tests.email.dovecot import free_port


class CuttingProxy:
    """Forwards 127.0.0.1:``port`` to 127.0.0.1:``upstream``.

    Parameters:
        upstream: the real server's port.
    """

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.cuts = 0
        self._cut_after: int | None = None
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        #: Everything clients sent, in order (to see which commands went out).
        self.client_bytes = bytearray()
        #: How many bytes the server sent to clients, all connections together.
        self.server_bytes = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def cut_after(self, server_bytes: int) -> None:
        """Cut the next connection that receives more than ``server_bytes`` from the server."""
        with self._lock:
            self._cut_after = server_bytes

    def close(self) -> None:
        """Stop accepting and close every connection."""
        self._closed.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        for sock in list(self._sockets):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # close() alone would not wake a blocked recv
            with contextlib.suppress(OSError):
                sock.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.upstream))
            self._sockets += [client, server]
            with self._lock:
                budget, self._cut_after = self._cut_after, None
            threading.Thread(
                target=self._pump, args=(client, server, None, True), daemon=True
            ).start()
            threading.Thread(target=self._pump, args=(server, client, budget), daemon=True).start()

    def _pump(
        self, src: socket.socket, dst: socket.socket, budget: int | None, record: bool = False
    ) -> None:
        sent = 0
        try:
            while True:
                data = src.recv(4096)
                if not data:
                    break
                if record:
                    self.client_bytes += data
                else:
                    self.server_bytes += len(data)
                if budget is not None and sent + len(data) > budget:
                    dst.sendall(data[: max(0, budget - sent)])
                    self.cuts += 1
                    break
                dst.sendall(data)
                sent += len(data)
        except OSError:
            pass
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
