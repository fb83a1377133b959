"""Small security pieces the pages share: password hashes, sessions, CSRF tokens,
lock-out after failed logins and a per-address rate limit. All state is in memory:
a restart signs the desks out, which is acceptable for a desk PC."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()
#: Verified against when the login name is unknown, so timing does not tell which desks exist.
_DUMMY_HASH = _HASHER.hash(secrets.token_hex(16))


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` for the config (``kanal desk passwd``)."""
    return _HASHER.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True if ``password`` matches ``stored_hash`` (argon2); never raises."""
    try:
        return _HASHER.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def token() -> str:
    """A random URL-safe token (128 bits)."""
    return secrets.token_urlsafe(16)


@dataclass
class Session:
    """One browser session: who is signed in and the CSRF token of its forms."""

    sid: str
    csrf: str
    desk_id: str | None = None
    created: float = field(default_factory=time.monotonic)
    seen: float = field(default_factory=time.monotonic)


class SessionStore:
    """Server-side sessions keyed by a random cookie value; bounded and expiring."""

    def __init__(self, idle_seconds: float = 8 * 3600, max_sessions: int = 5000) -> None:
        self.idle_seconds = idle_seconds
        self.max_sessions = max_sessions
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def new(self) -> Session:
        """A fresh anonymous session."""
        session = Session(token(), token())
        with self._lock:
            self._sessions[session.sid] = session
            while len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)
        return session

    def get(self, sid: str | None) -> Session | None:
        """The live session for a cookie value, or None."""
        if not sid:
            return None
        now = time.monotonic()
        with self._lock:
            session = self._sessions.get(sid)
            if session is None:
                return None
            if now - session.seen > self.idle_seconds:
                del self._sessions[sid]
                return None
            session.seen = now
            self._sessions.move_to_end(sid)
            return session

    def drop(self, sid: str) -> None:
        """End a session (logout)."""
        with self._lock:
            self._sessions.pop(sid, None)


def csrf_ok(expected: str | None, supplied: str | None) -> bool:
    """Constant-time check of a form's CSRF token."""
    return bool(expected and supplied) and hmac.compare_digest(expected.encode(), supplied.encode())


class SignedTokens:
    """Stateless form tokens for public pages: ``<issued>.<hmac>``, valid for ``max_age``."""

    def __init__(self, max_age: float = 2 * 3600) -> None:
        self._key = secrets.token_bytes(32)
        self.max_age = max_age

    def issue(self) -> str:
        """A new token."""
        issued = str(int(time.time()))
        return f"{issued}.{self._sign(issued)}"

    def valid(self, value: str | None) -> bool:
        """True for a token this process issued that has not expired."""
        issued, _, signature = (value or "").partition(".")
        if not issued.isdigit() or not hmac.compare_digest(signature.encode(), self._sign(issued).encode()):
            return False
        return 0 <= time.time() - int(issued) <= self.max_age

    def _sign(self, text: str) -> str:
        return hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()


class LockOut:
    """Locks a login name after ``max_failures`` failures within ``window`` seconds."""

    def __init__(self, max_failures: int = 5, window: float = 900, lock_seconds: float = 900) -> None:
        self.max_failures = max_failures
        self.window = window
        self.lock_seconds = lock_seconds
        self._failures: dict[str, deque[float]] = {}
        self._locked_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def locked(self, name: str) -> bool:
        """True while ``name`` is locked out."""
        with self._lock:
            return self._locked_until.get(name, 0) > time.monotonic()

    def failed(self, name: str) -> None:
        """Record a failed login."""
        now = time.monotonic()
        with self._lock:
            recent = self._failures.setdefault(name, deque())
            recent.append(now)
            while recent and now - recent[0] > self.window:
                recent.popleft()
            if len(recent) >= self.max_failures:
                self._locked_until[name] = now + self.lock_seconds
                recent.clear()

    def succeeded(self, name: str) -> None:
        """Forget failures after a good login."""
        with self._lock:
            self._failures.pop(name, None)


class RateLimit:
    """At most ``limit`` events per key within ``window`` seconds (sliding window)."""

    def __init__(self, limit: int, window: float, max_keys: int = 10000) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._events: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        """Count one event for ``key``; False when it is over the limit."""
        now = time.monotonic()
        with self._lock:
            events = self._events.setdefault(key, deque())
            self._events.move_to_end(key)
            while events and now - events[0] > self.window:
                events.popleft()
            if len(events) >= self.limit:
                return False
            events.append(now)
            while len(self._events) > self.max_keys:
                self._events.popitem(last=False)
            return True
