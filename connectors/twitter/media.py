"""Optional download of the photos that come with mentions (network only).

Off by default: a photo stays a reference (its URL). When ``download_media`` is on,
``fetch`` reads each photo once, streaming, and stops at the per-file cap, so a
huge file never sits in memory whole. What was read is held until the mention is
normalised (which keeps it through :class:`connectors.attachments.AttachmentBudget`)
and then released.
"""

from __future__ import annotations

from dataclasses import dataclass

import requests

CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True)
class Download:
    """The outcome of one download: the bytes, or why there are none."""

    data: bytes | None = None
    omitted_reason: str | None = None


class MediaDownloader:
    """Reads media URLs with a size cap.

    Parameters:
        max_bytes: larger files are abandoned (``too_large``).
        timeout: seconds per connection attempt and per read.
    """

    def __init__(self, max_bytes: int, timeout: float) -> None:
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.session = requests.Session()

    def get(self, url: str) -> Download:
        """Download ``url``; never raises for network trouble (``download_failed``)."""
        try:
            with self.session.get(url, stream=True, timeout=self.timeout) as response:
                if response.status_code != 200:
                    return Download(omitted_reason="download_failed")
                declared = response.headers.get("Content-Length")
                if declared and declared.isdigit() and int(declared) > self.max_bytes:
                    return Download(omitted_reason="too_large")
                chunks, size = [], 0
                for chunk in response.iter_content(CHUNK_BYTES):
                    size += len(chunk)
                    if size > self.max_bytes:
                        return Download(omitted_reason="too_large")
                    chunks.append(chunk)
                return Download(data=b"".join(chunks))
        except requests.RequestException:
            return Download(omitted_reason="download_failed")

    def close(self) -> None:
        """Close the HTTP session."""
        self.session.close()
