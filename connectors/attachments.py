"""Content-addressed attachment store and the size caps every channel applies.

Files are stored as ``<root>/<aa>/<bb>/<sha256>``: the same photo sent twice is
stored once, and no name from a message ever becomes a path. ``normalise`` stays
pure: it decides what to keep with :class:`AttachmentBudget` and returns the bytes
in :class:`connectors.base.Accept`; the runner writes them here before the spool
commit.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unicodedata
from pathlib import Path
from urllib.parse import urlsplit

from normalizer.complaint import Attachment

_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]+")


def stored_ref(sha256: str) -> str:
    """Reference of a stored file, as written in ``Attachment.stored_ref``."""
    return f"attachment:sha256:{sha256}"


#: Why a listed attachment is only a link (the channel keeps it by reference); the
#: fetcher downloads such links when the channel's connector allows it.
REFERENCE_REASONS = frozenset({"reference_only", "kept_by_reference"})


def same_origin(url: str, base: str) -> bool:
    """True when ``url`` is https on the scheme, host and port of ``base`` (and under its path)."""
    u, b = urlsplit(url), urlsplit(base)
    return (u.scheme == "https" and (u.scheme, u.netloc.lower()) == (b.scheme, b.netloc.lower())
            and u.path.startswith(b.path.rstrip("/")))


def fetchable(attachment: Attachment) -> bool:
    """True for a listed link the fetcher may download (a reference, not yet kept)."""
    return (attachment.url is not None and attachment.stored_ref is None
            and attachment.omitted_reason in REFERENCE_REASONS)


def safe_filename(name: str | None, max_chars: int = 150) -> str | None:
    """A display name for a file: no path parts, no control characters, capped."""
    if not name:
        return None
    text = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    text = _UNSAFE_NAME.sub("_", text).strip(" .")
    return text[:max_chars] or None


class AttachmentBudget:
    """Applies the per-file and per-message caps while a message's files are read.

    Parameters:
        max_file_bytes: larger files are omitted (``too_large``).
        max_message_bytes: once the kept files reach this, the rest are omitted
            (``message_cap``).
    """

    def __init__(self, max_file_bytes: int, max_message_bytes: int) -> None:
        self.max_file_bytes = max_file_bytes
        self.max_message_bytes = max_message_bytes
        self.used = 0
        self.blobs: dict[str, bytes] = {}

    def take(self, data: bytes, filename: str | None, content_type: str | None) -> Attachment:
        """Return the :class:`Attachment` for one file, keeping its bytes if allowed."""
        name = safe_filename(filename)
        size = len(data)
        digest = hashlib.sha256(data).hexdigest()
        reason = None
        if size == 0:
            reason = "empty"
        elif size > self.max_file_bytes:
            reason = "too_large"
        elif self.used + size > self.max_message_bytes:
            reason = "message_cap"
        if reason:
            return Attachment(
                filename=name, content_type=content_type, size=size, sha256=digest, omitted_reason=reason
            )
        self.used += size
        self.blobs[digest] = data
        return Attachment(
            filename=name, content_type=content_type, size=size, sha256=digest, stored_ref=stored_ref(digest)
        )


class LocalAttachmentStore:
    """Files on local disk, content-addressed, written atomically and fsynced."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def path_for(self, sha256: str) -> Path:
        """Where the file with this digest lives."""
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            msg = f"not a sha256 digest: {sha256!r}"
            raise ValueError(msg)
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, sha256: str, data: bytes) -> str:
        """Store ``data`` under its digest (checked); return its reference."""
        if hashlib.sha256(data).hexdigest() != sha256:
            msg = "attachment bytes do not match their digest"
            raise ValueError(msg)
        target = self.path_for(sha256)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return stored_ref(sha256)

    def get(self, sha256: str) -> bytes:
        """Read a stored file."""
        return self.path_for(sha256).read_bytes()
