"""Local fake partner APIs for the ``http_json`` channel: LAPOR!, Qlue and a made-up
kelurahan form feed. All data is made up; shapes follow config/examples/*.yaml.

- :class:`FakeLapor`: two static headers (``auth: Bearer ...`` and ``token``), the
  ``results.data`` envelope, page-numbered ``results.next_page_url``, an inclusive
  ``updated_since`` filter (``%Y-%m-%d %H:%M:%S``), oldest first.
- :class:`FakeQlue`: OAuth2 client credentials with short-lived tokens (expired or
  revoked tokens get 401), ``since_id`` (exclusive), ``limit``, an opaque
  ``meta.next_cursor``.
- :class:`FakeForm`: newest first, no auth, ``Link: <...>; rel="next"`` paging.

Every fake scripts failures with :meth:`FakePartner.fail_next` (a status with headers,
e.g. 429 + Retry-After, or 503) and can slow pages down (``page_delay``) so a test can
kill a process while it pages.
"""

from __future__ import annotations

import functools
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlencode, urlsplit

LAPOR_BEARER = "made-up-lapor-bearer"
LAPOR_TOKEN = "made-up-lapor-token"
QLUE_CLIENT_ID = "pemprov-dki"
QLUE_SECRET = "made-up-qlue-client-secret"
BASE_TIME = datetime(2026, 3, 2, 8, 0, 0)


@dataclass
class Failure:
    """One scripted answer instead of the normal one (for requests under ``path``)."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    path: str = ""
    times: int = 1


class FakePartner:
    """A threaded local HTTP server with a list of reports. Use as a context manager."""

    def __init__(self, page_size: int = 10, page_delay: float = 0.0) -> None:
        self.reports: list[dict[str, Any]] = []
        self.page_size = page_size
        self.page_delay = page_delay
        self.lock = threading.Lock()
        self.failures: list[Failure] = []
        self.requests: list[tuple[str, dict[str, str], int]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """http://127.0.0.1:PORT"""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail_next(self, status: int, headers: dict[str, str] | None = None, path: str = "", times: int = 1) -> None:
        """Answer the next ``times`` requests under ``path`` with ``status``."""
        with self.lock:
            self.failures.append(Failure(status, headers or {}, path, times))

    def page_requests(self, path: str) -> list[dict[str, str]]:
        """Query strings of the answered (200) requests to ``path``."""
        return [q for p, q, s in self.requests if p == path and s == 200]

    def _failure(self, path: str) -> Failure | None:
        with self.lock:
            for failure in self.failures:
                if path.startswith(failure.path):
                    failure.times -= 1
                    if failure.times <= 0:
                        self.failures.remove(failure)
                    return failure
        return None

    def route(self, method: str, path: str, query: dict[str, str], headers: Any, body: bytes
              ) -> tuple[int, Any, dict[str, str]]:
        """Answer one request: status, JSON body, headers."""
        raise NotImplementedError

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:
                pass

            def _answer(self, method: str) -> None:
                parts = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                failure = fake._failure(parts.path)
                if failure is not None:
                    status, payload, headers = failure.status, {"error": "scripted"}, failure.headers
                else:
                    status, payload, headers = fake.route(method, parts.path, query, self.headers, body)
                    if status == 200 and fake.page_delay:
                        time.sleep(fake.page_delay)
                with fake.lock:
                    fake.requests.append((parts.path, query, status))
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client was killed mid-answer (the kill -9 test)

            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self._answer("POST")

        return Handler


@functools.lru_cache(maxsize=100_000)
def _lapor_parse(text: str) -> datetime:
    return datetime.strptime(text, "%d-%m-%Y %H:%M:%S")


def lapor_time(at: datetime) -> str:
    """LAPOR!'s ``dd-mm-yyyy HH:MM:SS`` (WIB, no zone)."""
    return at.strftime("%d-%m-%Y %H:%M:%S")


class FakeLapor(FakePartner):
    """The fake SPLP gateway path for LAPOR!: ``GET /lapor/3.0.0/complaints/disposition``."""

    PATH = "/lapor/3.0.0/complaints/disposition"

    @property
    def base_url(self) -> str:
        """What the channel's ``pull.base_url`` is set to."""
        return self.url + "/lapor/3.0.0"

    def add_report(self, n: int | None = None, **fields: Any) -> dict[str, Any]:
        """Add report number ``n`` (updated ``n`` seconds after BASE_TIME)."""
        with self.lock:
            n = len(self.reports) if n is None else n
            at = BASE_TIME + timedelta(seconds=n)
            report = {
                "id": 500000 + n,
                "title": f"Jalan berlubang nomor {n}",
                "content": f"Jalan berlubang di depan rumah nomor {n}, mohon segera diperbaiki.",
                "created_at": lapor_time(at - timedelta(hours=1)),
                "updated_at": lapor_time(at),
                "status_name": "Dalam Proses",
                "disposition_name": "Pemerintah Provinsi DKI Jakarta",
                "is_anonymous": False,
                "is_secret": n % 7 == 0,
                "category_name": "Jalan Rusak",
                "reporter": {"name": f"Warga Uji {n}", "phone": "081200001234"},
                "location": {"village_name": "Gambir", "district_name": "Gambir", "city_name": "Jakarta Pusat",
                             "address": f"Jl. Contoh No. {n}"},
                "attachments": [{"path": f"https://lapor.example/berkas/{n}.jpg"}],
                **fields,
            }
            self.reports.append(report)
            return report

    def route(self, method: str, path: str, query: dict[str, str], headers: Any, body: bytes
              ) -> tuple[int, Any, dict[str, str]]:
        if path != self.PATH:
            return 404, {"error": "not found"}, {}
        if headers.get("auth") != f"Bearer {LAPOR_BEARER}" or headers.get("token") != LAPOR_TOKEN:
            return 401, {"message": "Unauthenticated."}, {}
        since = query.get("updated_since")
        floor = datetime.strptime(since, "%Y-%m-%d %H:%M:%S") if since else None
        with self.lock:
            rows = [r for r in self.reports if floor is None or _lapor_parse(r["updated_at"]) >= floor]
        rows.sort(key=lambda r: (_lapor_parse(r["updated_at"]), r["id"] or 0))
        page = int(query.get("page", "1"))
        chunk = rows[(page - 1) * self.page_size: page * self.page_size]
        more = page * self.page_size < len(rows)
        following = None
        if more:
            following = f"{self.url}{self.PATH}?" + urlencode({**query, "page": page + 1})
        return 200, {"status": True, "results": {"data": chunk, "next_page_url": following}}, {}


class FakeQlue(FakePartner):
    """Fake Qlue partner API: ``POST /oauth/token`` and ``GET /v1/reports``."""

    def __init__(self, token_seconds: float = 3600, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.token_seconds = token_seconds
        self.tokens: dict[str, float] = {}
        self.tokens_issued = 0

    def revoke_tokens(self) -> None:
        """Every token issued so far is refused from now on (a key rotation)."""
        with self.lock:
            self.tokens.clear()

    def add_report(self, n: int | None = None, **fields: Any) -> dict[str, Any]:
        """Add report ``post_id`` 9000 + ``n``, in the legacy feed's field names."""
        with self.lock:
            n = len(self.reports) if n is None else n
            report = {
                "post_id": 9000 + n,
                "post_date": (BASE_TIME + timedelta(minutes=n)).strftime("%Y-%m-%d %H:%M:%S"),
                "post_title": f"Sampah menumpuk {n}",
                "post_desc": f"Sampah menumpuk di pinggir kali sejak tiga hari, titik {n}.",
                "post_images": [f"https://qlue.example/foto/{n}.jpg"],
                "loc_lat": -6.1754 + n / 100000,
                "loc_lng": 106.8272,
                "profile_name": f"Pelapor {n}",
                "category": "Sampah",
                "status": "wait",
                **fields,
            }
            self.reports.append(report)
            return report

    def route(self, method: str, path: str, query: dict[str, str], headers: Any, body: bytes
              ) -> tuple[int, Any, dict[str, str]]:
        if path == "/oauth/token" and method == "POST":
            form = {k: v[-1] for k, v in parse_qs(body.decode()).items()}
            if form.get("client_id") != QLUE_CLIENT_ID or form.get("client_secret") != QLUE_SECRET:
                return 401, {"error": "invalid_client"}, {}
            token = secrets.token_hex(8)
            with self.lock:
                self.tokens[token] = time.time() + self.token_seconds
                self.tokens_issued += 1
            return 200, {"access_token": token, "token_type": "bearer", "expires_in": self.token_seconds}, {}
        if path != "/v1/reports":
            return 404, {"error": "not found"}, {}
        token = headers.get("Authorization", "").removeprefix("Bearer ")
        with self.lock:
            valid = self.tokens.get(token, 0) > time.time()
        if not valid:
            return 401, {"error": "invalid_token"}, {}
        since = int(query.get("since_id", "0"))
        limit = int(query.get("limit", str(self.page_size)))
        start = int(query.get("cursor", "0"))
        with self.lock:
            rows = sorted((r for r in self.reports if r["post_id"] > since), key=lambda r: r["post_id"])
        chunk = rows[start:start + limit]
        following = str(start + limit) if start + limit < len(rows) else None
        return 200, {"result": chunk, "meta": {"next_cursor": following}}, {}


class FakeForm(FakePartner):
    """A made-up kelurahan form feed: ``GET /api/aduan``, newest first, Link-header paging."""

    def add_report(self, n: int | None = None, **fields: Any) -> dict[str, Any]:
        """Add ``aduan`` number ``n`` (ids increase with time)."""
        with self.lock:
            n = len(self.reports) if n is None else n
            report = {
                "nomor": f"KEL-{n:05d}",
                "urut": n,
                "waktu": int((BASE_TIME + timedelta(minutes=n)).timestamp()),
                "isi": f"Saluran air tersumbat di RT {n % 13 + 1}, air meluap ke jalan.",
                "warga": {"nama": f"Ibu Uji {n}", "hp": "0813-0000-1111"},
                "rt_rw": f"RT {n % 13 + 1}/RW 02",
                **fields,
            }
            self.reports.append(report)
            return report

    def route(self, method: str, path: str, query: dict[str, str], headers: Any, body: bytes
              ) -> tuple[int, Any, dict[str, str]]:
        if path != "/api/aduan":
            return 404, {"error": "not found"}, {}
        with self.lock:
            rows = sorted(self.reports, key=lambda r: -r["urut"])
        offset = int(query.get("mulai", "0"))
        chunk = rows[offset:offset + self.page_size]
        headers_out = {}
        if offset + self.page_size < len(rows):
            headers_out["Link"] = f'<{self.url}/api/aduan?mulai={offset + self.page_size}>; rel="next"'
        return 200, {"aduan": chunk}, headers_out


class FakeNumbered(FakePartner):
    """A made-up city feed with numbered pages: ``GET /api/laporan``, oldest first.

    ``since_id`` (exclusive) filters; the page is chosen by ``hal`` (page number, from
    1) or ``mulai`` (record offset, from 0), whichever the request sends, and ``per``
    sets the page size (the fake's ``page_size`` when absent). Each answered request
    runs ``on_page(query)`` first, so a test can look at the spool while Kanal pages.
    """

    PATH = "/api/laporan"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.on_page: Any = None

    def add_report(self, n: int | None = None, **fields: Any) -> dict[str, Any]:
        """Add ``laporan`` with ``id`` ``n`` (ids increase with time)."""
        with self.lock:
            n = len(self.reports) + 1 if n is None else n
            report = {"id": n, "isi": f"Lampu jalan mati di gang {n}, gelap sejak minggu lalu.", **fields}
            self.reports.append(report)
            return report

    def route(self, method: str, path: str, query: dict[str, str], headers: Any, body: bytes
              ) -> tuple[int, Any, dict[str, str]]:
        if path != self.PATH:
            return 404, {"error": "not found"}, {}
        if self.on_page is not None:
            self.on_page(query)
        since = int(query.get("since_id", "0"))
        size = int(query.get("per", str(self.page_size)))
        with self.lock:
            rows = sorted((r for r in self.reports if r["id"] > since), key=lambda r: r["id"])
        if "hal" in query:
            first = (int(query["hal"]) - 1) * size
        else:
            first = int(query.get("mulai", "0"))
        return 200, {"data": {"laporan": rows[first:first + size]}}, {}
