"""Take credentials out of text before it is logged or shown.

Every log line and every error that ``kanal status`` shows passes through
:func:`redact_credentials`: the password of any ``scheme://user:password@host``
URL, and the value of query or form parameters whose name says they hold a
secret (``password``, ``token``, ``access_token``, ``secret``, ``signature`` ...)
become ``***``. Kannel's ``sendsms`` URL, for one, carries its password in the
query string, and a failed request's exception repeats that URL.
"""

from __future__ import annotations

import re

MASK = "***"

_URL_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^/\s:@]*):(?P<password>[^/\s@]+)@")
_SECRET_PARAMS = (
    "password", "passwd", "pass", "pwd", "token", "access_token", "refresh_token", "id_token",
    "client_secret", "secret", "app_secret", "api_key", "apikey", "key", "signature", "sig",
    "auth", "authorization", "bearer_token", "verify_token", "hub.verify_token",
)
_SECRET_QUERY = re.compile(
    r"(?P<name>(?<![A-Za-z0-9_.])(?:" + "|".join(re.escape(p) for p in _SECRET_PARAMS) + r"))=(?P<value>[^&\s'\"#]+)",
    re.IGNORECASE,
)
_BEARER = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}")


def redact_credentials(text: str) -> str:
    """Return ``text`` with URL passwords, secret query parameters and bearer tokens masked.

    >>> redact_credentials("GET http://kannel:13013/cgi-bin/sendsms?username=kanal&password=s3cr3t&to=1")
    'GET http://kannel:13013/cgi-bin/sendsms?username=kanal&password=***&to=1'
    >>> redact_credentials("amqp://kanal:hunter2@mq.internal:5672/kanal")
    'amqp://kanal:***@mq.internal:5672/kanal'
    """
    if "=" not in text and "@" not in text and "earer" not in text and "asic" not in text:
        return text
    text = _URL_USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    text = _SECRET_QUERY.sub(lambda m: f"{m['name']}={MASK}", text)
    return _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", text)
