"""A local HTTPS server that serves media files like the providers' CDNs and Twilio's
media endpoint: per-path answers (status, body, headers, redirects, a slow body),
optional basic or bearer auth, and a log of what was asked. The certificate is
self-signed, made with openssl for the test session (all data made up)."""

from __future__ import annotations

import base64
import io
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from PIL import Image


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """(certificate, key) for 127.0.0.1, valid one day."""
    cert, key = folder / "media.crt", folder / "media.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


def jpeg(gps: tuple[float, float] | None = None, taken: str | None = None, color: str = "red") -> bytes:
    """A small JPEG, with EXIF GPS (lat, long) and DateTimeOriginal when given."""
    image = Image.new("RGB", (24, 16), color)
    exif = Image.Exif()
    if gps is not None:
        lat, long = gps

        def dms(value: float) -> tuple[float, float, float]:
            value = abs(value)
            d = int(value)
            m = int((value - d) * 60)
            return (float(d), float(m), round((value - d - m / 60) * 3600, 4))

        exif.get_ifd(0x8825).update({1: "S" if lat < 0 else "N", 2: dms(lat), 3: "W" if long < 0 else "E",
                                     4: dms(long)})
    if taken is not None:
        exif.get_ifd(0x8769)[0x9003] = taken
        exif.get_ifd(0x8769)[0x9011] = "+07:00"
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


@dataclass
class Answer:
    """What one path answers."""

    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_per_chunk: float = 0.0
    chunks: int = 1


class FakeMedia:
    """The HTTPS media server. ``url(path)`` is the full link of ``path``."""

    def __init__(self, cert: Path, key: Path, basic: tuple[str, str] | None = None) -> None:
        self.answers: dict[str, Answer] = {}
        self.requests: list[tuple[str, str | None]] = []  # (path, Authorization header)
        self.completed: list[str] = []
        self.headers: list[tuple[str, dict[str, str]]] = []  # (path, every request header, names lowercased)
        self.basic = basic
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.requests.append((self.path, self.headers.get("Authorization")))
                fake.headers.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                if fake.basic and self.path.startswith("/2010-04-01/"):
                    expected = "Basic " + base64.b64encode(":".join(fake.basic).encode()).decode()
                    if self.headers.get("Authorization") != expected:
                        self.send_response(401)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                answer = fake.answers.get(self.path, Answer(b"not found", 404))
                self.send_response(answer.status)
                headers = {"Content-Length": str(len(answer.body)), **answer.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                size = max(1, len(answer.body) // answer.chunks)
                for start in range(0, len(answer.body), size):
                    self.wfile.write(answer.body[start:start + size])
                    self.wfile.flush()
                    time.sleep(answer.delay_per_chunk)
                fake.completed.append(self.path)

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        """https://127.0.0.1:<port>"""
        return f"https://127.0.0.1:{self.server.server_address[1]}"

    def url(self, path: str) -> str:
        """The link of ``path``."""
        return self.base + path

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()
