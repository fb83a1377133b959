"""Downloading one attachment link, safely: https only, capped, sniffed, bounded in time.

* https only: an http link, or a redirect to one, is refused (``not_https``,
  ``insecure_redirect``); redirects are followed by hand (at most five) and the
  provider's credentials are dropped when a redirect leaves the link's host.
* Size: refused before reading when ``Content-Length`` is over the cap, and while
  reading as soon as the bytes pass it (``too_large``).
* Type: the content type is taken from the bytes, never from the header; an
  "image/jpeg" that is an HTML error page is refused (``content_mismatch``).
* Time: every try is bounded by the deadline; server errors, 429 and network
  failures are retried with exponential backoff (tenacity) until the deadline or
  the last try (``fetch_failed``); 403/404/410 are final (``expired``, ``not_found``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import requests
import tenacity

from connectors.base import FetchAuth

CHUNK_BYTES = 64 * 1024
MAX_REDIRECTS = 5

#: Magic numbers of the files citizens send; anything else is not kept.
_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"%PDF-", "application/pdf"),
    (0, b"OggS", "audio/ogg"),
    (0, b"ID3", "audio/mpeg"),
    (0, b"#!AMR", "audio/amr"),
)
_FTYP = {b"heic": "image/heic", b"heix": "image/heic", b"mif1": "image/heif", b"3gp4": "video/3gpp",
         b"3gp5": "video/3gpp", b"M4A ": "audio/mp4"}


def sniff(data: bytes) -> str | None:
    """The content type the bytes show, or None when they are no known media file."""
    for offset, magic, kind in _MAGIC:
        if data[offset:offset + len(magic)] == magic:
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp":
        return _FTYP.get(data[8:12], "video/mp4")
    return None


@dataclass(frozen=True, slots=True)
class Download:
    """The bytes and their sniffed type, or why there are none."""

    data: bytes | None = None
    content_type: str | None = None
    omitted_reason: str | None = None


class _Transient(Exception):
    """A failure worth another try (5xx, 429, network, slow server)."""


class _Final(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_FINAL_STATUS = {401: "unauthorized", 403: "expired", 404: "not_found", 410: "expired"}


class MediaDownloader:
    """Downloads links within caps (see the module docstring).

    Parameters:
        max_bytes: the per-file cap.
        attempts: tries per link.
        verify: TLS verification, True or a CA bundle path.
        backoff: first retry delay, seconds (doubled per try, capped at 10 s).
    """

    def __init__(self, max_bytes: int, attempts: int = 3, verify: bool | str = True, backoff: float = 0.5) -> None:
        self.max_bytes = max_bytes
        self.attempts = attempts
        self.backoff = backoff
        self.session = requests.Session()
        self.session.verify = verify
        self.session.trust_env = False  # a proxy from the environment must not see the credentials

    def close(self) -> None:
        """Close the HTTP session."""
        self.session.close()

    def get(self, url: str, auth: FetchAuth, deadline: float) -> Download:
        """Download ``url`` before ``deadline`` (time.monotonic); never raises."""
        if urlsplit(url).scheme != "https":
            return Download(omitted_reason="not_https")
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.attempts) | tenacity.stop_before_delay(
                max(0.0, deadline - time.monotonic())),
            wait=tenacity.wait_exponential(multiplier=self.backoff, max=10),
            retry=tenacity.retry_if_exception_type(_Transient),
            reraise=True,
        )
        try:
            return retrying(self._once, url, auth, deadline)
        except _Final as exc:
            return Download(omitted_reason=exc.reason)
        except _Transient:
            return Download(omitted_reason="fetch_failed")

    def _once(self, url: str, auth: FetchAuth, deadline: float) -> Download:
        host = urlsplit(url).netloc.lower()
        for _hop in range(MAX_REDIRECTS + 1):
            left = deadline - time.monotonic()
            if left <= 0:
                raise _Transient
            same_host = urlsplit(url).netloc.lower() == host
            try:
                response = self.session.get(
                    url, stream=True, allow_redirects=False, timeout=min(left, 30.0),
                    headers=dict(auth.headers) if same_host else None,
                    auth=auth.basic if same_host else None,
                )
            except requests.RequestException as exc:
                raise _Transient from exc
            with response:
                if response.is_redirect:
                    target = urljoin(url, response.headers.get("Location", ""))
                    if urlsplit(target).scheme != "https":
                        raise _Final("insecure_redirect")
                    url = target
                    continue
                return self._read(response, deadline)
        raise _Final("too_many_redirects")

    def _read(self, response: requests.Response, deadline: float) -> Download:
        status = response.status_code
        if status in _FINAL_STATUS:
            raise _Final(_FINAL_STATUS[status])
        if status == 429 or status >= 500:
            raise _Transient
        if status != 200:
            raise _Final("fetch_failed")
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise _Final("too_large")
        chunks, size = [], 0
        try:
            for chunk in response.iter_content(CHUNK_BYTES):
                size += len(chunk)
                if size > self.max_bytes:
                    raise _Final("too_large")
                if time.monotonic() > deadline:
                    raise _Transient
                chunks.append(chunk)
        except requests.RequestException as exc:
            raise _Transient from exc
        data = b"".join(chunks)
        if not data:
            raise _Final("empty")
        kind = sniff(data)
        if kind is None:
            raise _Final("content_mismatch")
        return Download(data=data, content_type=kind)
