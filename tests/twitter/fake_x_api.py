"""A local HTTP server that answers like X API v2, for the real tweepy to talk to.

It serves ``GET /2/users/by/username/:username`` and ``GET /2/users/:id/mentions``
with the documented shapes: ``data`` / ``includes`` / ``errors`` / ``meta``
(``newest_id``, ``oldest_id``, ``result_count``, ``next_token``), only the fields
asked for, newest first, ``since_id`` / ``until_id`` / ``max_results`` /
``pagination_token``, the 800-mention reach-back, a bearer-token check, and the
``x-rate-limit-*`` headers on every answer from a budget it counts itself.

The reset is enforced strictly, as X does: ``x-rate-limit-reset`` is a whole second
on X's clock (the window's true end truncated), so a mentions request that arrives
at that second may still fall in the spent window and get another 429. A scripted
429 that names a reset closes the window until half a second after it.

OAuth 2.0 user context: :meth:`FakeXApi.oauth2_client` registers a client and its
first refresh token; ``POST /2/oauth2/token`` with ``grant_type=refresh_token``
answers ``token_type``, ``expires_in``, ``access_token``, ``scope`` and a NEW
``refresh_token`` (the old one stops working, as X rotates it), authenticating a
confidential client by HTTP Basic and a public one by ``client_id``; a bad refresh
token gets 400 ``invalid_request``. An expired access token gets 401 like a wrong
one. With ``prefix`` (``/x``) every path is served only under it, as behind an
egress proxy that forwards ``https://proxy.internal/x/...``.

Tests script its moods with :meth:`FakeXApi.fail_next` (429 with a reset time,
401, 503, a connection cut in the middle of a body, a stall) and read what was
asked in :attr:`FakeXApi.requests`. All data is made up.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

SNOWFLAKE_EPOCH_MS = 1288834974657
#: How far into the named reset second a window scripted by a 429 really ends.
RESET_LAG = 0.5
ALWAYS_TWEET_FIELDS = ("id", "text", "edit_history_tweet_ids")
_CLIENT_REFUSED = {"error": "unauthorized_client", "error_description": "Missing valid authorization header"}


def snowflake(at: float, sequence: int = 0) -> str:
    """A tweet id issued at Unix time ``at``."""
    return str(((int(at * 1000) - SNOWFLAKE_EPOCH_MS) << 22) | (sequence & 0x3FFFFF))


def iso(at: float) -> str:
    """X's ``created_at`` format."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f".{int(at * 1000) % 1000:03d}Z"


@dataclass
class Failure:
    """One scripted answer instead of the normal one.

    Attributes:
        status: HTTP status to answer (ignored for ``cut``).
        body: JSON body.
        headers: extra headers (e.g. a reset time).
        match: which requests it applies to (path, query) -> bool.
        times: how many requests it answers.
        cut: send the normal answer's headers and half its body, then close.
        stall: with ``cut``, wait on this event before closing (a process can die meanwhile).
    """

    status: int = 503
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    match: Callable[[str, dict[str, str]], bool] = lambda _p, _q: True
    times: int = 1
    cut: bool = False
    stall: threading.Event | None = None


@dataclass
class Request:
    """A request the fake received."""

    path: str
    query: dict[str, str]
    at: float
    status: int = 0


class FakeXApi:
    """The fake server. Use as a context manager or call start/stop.

    Parameters:
        bearer_token: the only token accepted.
        limit: requests per rate-limit window for the mentions endpoint.
        window: window length, seconds.
        reach_back: how many of the newest mentions paging can reach.
    """

    def __init__(self, bearer_token: str | None = "test-bearer", limit: int = 450, window: float = 900,
                 reach_back: int = 800, prefix: str = "") -> None:
        self.bearer_token = bearer_token
        self.prefix = prefix.rstrip("/")
        #: OAuth 2.0: client id -> secret (None: public), valid refresh tokens -> client id,
        #: access tokens -> expiry (Unix time).
        self.clients: dict[str, str | None] = {}
        self.refresh_tokens: dict[str, str] = {}
        self.access_tokens: dict[str, float] = {}
        self.token_lifetime = 7200.0
        self.token_requests: list[dict[str, str]] = []
        self.limit, self.window, self.reach_back = limit, window, reach_back
        self.lock = threading.Lock()
        self.accounts: dict[str, dict[str, Any]] = {}
        self.timelines: dict[str, list[dict[str, Any]]] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.media: dict[str, dict[str, Any]] = {}
        self.places: dict[str, dict[str, Any]] = {}
        self.tweets: dict[str, dict[str, Any]] = {}
        self.failures: list[Failure] = []
        #: Media files served without auth at ``/media/...`` (like pbs.twimg.com).
        self.files: dict[str, bytes] = {}
        self.requests: list[Request] = []
        self.window_start = time.time()
        self.used = 0
        self._clock = time.time() - 3600
        self._seq = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL to give the connector as ``api_base_url`` (with the prefix, if any)."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{self.prefix}"

    def start(self) -> Self:
        """Serve in a daemon thread."""
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        for failure in self.failures:
            if failure.stall is not None:
                failure.stall.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- data ------------------------------------------------------------------------

    def add_user(self, username: str, name: str | None = None, user_id: str | None = None) -> str:
        """Register a user (a city account or a citizen); returns its id."""
        user_id = user_id or str(1000 + len(self.users))
        self.users[user_id] = {"id": user_id, "username": username, "name": name or username.title()}
        return user_id

    def add_account(self, username: str) -> str:
        """Register a city account with an empty mentions timeline; returns its id."""
        user_id = self.add_user(username, name=f"Akun {username}")
        self.accounts[username.lower()] = self.users[user_id]
        self.timelines[user_id] = []
        return user_id

    def next_id(self) -> str:
        """A fresh tweet id, each newer than the last (one second apart)."""
        self._clock += 1
        self._seq += 1
        return snowflake(self._clock, self._seq)

    def tweet(self, author_id: str, text: str, **fields: Any) -> dict[str, Any]:
        """A tweet object (not yet in any timeline)."""
        tweet_id = fields.pop("id", None) or self.next_id()
        at = ((int(tweet_id) >> 22) + SNOWFLAKE_EPOCH_MS) / 1000
        tweet = {"id": tweet_id, "text": text, "author_id": author_id, "created_at": iso(at),
                 "conversation_id": tweet_id, "lang": "in", "edit_history_tweet_ids": [tweet_id], **fields}
        self.tweets[tweet_id] = tweet
        return tweet

    def mention(self, account: str, author_id: str, text: str | None = None, **fields: Any) -> dict[str, Any]:
        """Add a mention of ``account`` (newest so far) and return it."""
        tweet = self.tweet(author_id, text or f"@{account} jalan rusak di Jl. Contoh {self._seq}", **fields)
        self.timelines[self.accounts[account.lower()]["id"]].append(tweet)
        return tweet

    def mention_in(self, accounts: list[str], tweet: dict[str, Any]) -> None:
        """Put an existing tweet into more accounts' timelines (a tweet mentioning several)."""
        for account in accounts:
            self.timelines[self.accounts[account.lower()]["id"]].append(tweet)

    def unavailable(self, account: str, kind: str = "deleted") -> str:
        """A mention that the API reports in ``errors`` (``deleted`` or ``withheld``)."""
        tweet_id = self.next_id()
        marker = {"id": tweet_id, "_unavailable": kind}
        self.timelines[self.accounts[account.lower()]["id"]].append(marker)
        return tweet_id

    def oauth2_client(self, client_id: str, refresh_token: str, client_secret: str | None = None) -> None:
        """Register an OAuth 2.0 client and the refresh token its user authorised."""
        with self.lock:
            self.clients[client_id] = client_secret
            self.refresh_tokens[refresh_token] = client_id

    def expire_access_tokens(self) -> None:
        """Every access token issued so far expires now (X then answers 401)."""
        with self.lock:
            self.access_tokens = dict.fromkeys(self.access_tokens, 0.0)

    def token(self, form: dict[str, str], authorization: str | None) -> tuple[int, dict[str, Any]]:
        """Answer ``POST /2/oauth2/token``."""
        with self.lock:
            self.token_requests.append(dict(form))
            client_id = form.get("client_id")
            if authorization and authorization.startswith("Basic "):
                client_id, _, secret = base64.b64decode(authorization[6:]).decode().partition(":")
                if client_id not in self.clients or self.clients[client_id] != secret:
                    return 401, _CLIENT_REFUSED
            elif client_id in self.clients and self.clients[client_id] is not None:
                return 401, _CLIENT_REFUSED
            refresh = form.get("refresh_token", "")
            if form.get("grant_type") != "refresh_token" or self.refresh_tokens.get(refresh) != client_id:
                return 400, {"error": "invalid_request", "error_description": "Value passed for the token was invalid."}
            del self.refresh_tokens[refresh]
            self._seq += 1
            access, new_refresh = f"access-{self._seq:04d}", f"refresh-{self._seq:04d}"
            self.access_tokens[access] = time.time() + self.token_lifetime
            self.refresh_tokens[new_refresh] = client_id
            return 200, {"token_type": "bearer", "expires_in": int(self.token_lifetime), "access_token": access,
                         "scope": "tweet.read users.read offline.access", "refresh_token": new_refresh}

    def _authorised(self, header: str | None) -> bool:
        if not header or not header.startswith("Bearer "):
            return False
        token = header[7:]
        if self.bearer_token is not None and token == self.bearer_token:
            return True
        return self.access_tokens.get(token, 0.0) > time.time()

    def fail_next(self, failure: Failure) -> Failure:
        """Script an answer (first matching failure wins)."""
        with self.lock:
            self.failures.append(failure)
        return failure

    def mention_requests(self) -> list[Request]:
        """Requests to the mentions endpoint, in order."""
        return [r for r in self.requests if r.path.endswith("/mentions")]

    # -- answering ----------------------------------------------------------------------

    def _rate_headers(self, count: bool) -> dict[str, str]:
        now = time.time()
        if now >= self.window_start + self.window:
            self.window_start, self.used = now, 0
        if count:
            self.used += 1
        remaining = max(0, self.limit - self.used)
        return {"x-rate-limit-limit": str(self.limit), "x-rate-limit-remaining": str(remaining),
                "x-rate-limit-reset": str(int(self.window_start + self.window))}

    def _spend_window_until(self, end: float) -> None:
        """The budget is spent and the window ends at ``end``: mentions requests before it get 429."""
        self.window_start, self.used = end - self.window, self.limit

    def answer(self, path: str, query: dict[str, str], headers: Any) -> tuple[int, dict[str, str], Any, Failure | None]:
        """Compute (status, headers, JSON body, failure) for a request."""
        with self.lock:
            self.requests.append(Request(path, query, time.time()))
            for failure in self.failures:
                if failure.times > 0 and failure.match(path, query):
                    failure.times -= 1
                    if not failure.cut:
                        if failure.status == 429 and "x-rate-limit-reset" in failure.headers:
                            self._spend_window_until(float(failure.headers["x-rate-limit-reset"]) + RESET_LAG)
                        rate = self._rate_headers(count=path.endswith("/mentions"))
                        status = failure.status
                        self.requests[-1].status = status
                        return status, {**rate, **failure.headers}, failure.body or _problem(status), None
                    cut = failure
                    break
            else:
                cut = None
            if not self._authorised(headers.get("Authorization")):
                self.requests[-1].status = 401
                return 401, {}, _problem(401), None
            parts = path.strip("/").split("/")
            if parts[:3] == ["2", "users", "by"] and len(parts) == 5:
                return (200, self._rate_headers(False), self._user_by_name(parts[4]), None)
            if len(parts) == 4 and parts[:2] == ["2", "users"] and parts[3] == "mentions":
                rate = self._rate_headers(count=True)
                if int(rate["x-rate-limit-remaining"]) <= 0 and self.used > self.limit:
                    self.requests[-1].status = 429
                    return 429, rate, _problem(429), None
                status, body = self._mentions(parts[2], query)
                self.requests[-1].status = status
                return status, rate, body, cut
            return 404, {}, _problem(404), None

    def _user_by_name(self, username: str) -> dict[str, Any]:
        for user in self.users.values():
            if user["username"].lower() == username.lower():
                return {"data": dict(user)}
        return {"errors": [{"value": username, "detail": f"Could not find user with username: [{username}].",
                            "title": "Not Found Error", "resource_type": "user", "parameter": "username",
                            "resource_id": username, "type": "https://api.twitter.com/2/problems/resource-not-found"}]}

    def _mentions(self, user_id: str, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if user_id not in self.timelines:
            return 404, _problem(404)
        max_results = int(query.get("max_results", "10"))
        if not 5 <= max_results <= 100:
            return 400, {"errors": [{"parameters": {"max_results": [str(max_results)]},
                                     "message": "The `max_results` query parameter value is not between 5 and 100"}],
                         "title": "Invalid Request", "detail": "One or more parameters to your request was invalid.",
                         "type": "https://api.twitter.com/2/problems/invalid-request"}
        timeline = sorted(self.timelines[user_id], key=lambda t: int(t["id"]), reverse=True)[: self.reach_back]
        since, until = query.get("since_id"), query.get("until_id")
        chosen = [t for t in timeline if (since is None or int(t["id"]) > int(since))
                  and (until is None or int(t["id"]) < int(until))]
        offset = int(base64.urlsafe_b64decode(query["pagination_token"]).decode()) if "pagination_token" in query else 0
        page = chosen[offset:offset + max_results]
        more = offset + max_results < len(chosen)
        body: dict[str, Any] = {}
        data = [self._shape(t, query) for t in page if "_unavailable" not in t]
        errors = [_unavailable_error(t) for t in page if "_unavailable" in t]
        if data:
            body["data"] = data
            includes = self._includes(data, query)
            if includes:
                body["includes"] = includes
        if errors:
            body["errors"] = errors
        meta: dict[str, Any] = {"result_count": len(data)}
        if page:
            meta["newest_id"], meta["oldest_id"] = page[0]["id"], page[-1]["id"]
        if more:
            meta["next_token"] = base64.urlsafe_b64encode(str(offset + max_results).encode()).decode()
        body["meta"] = meta
        return 200, body

    def _shape(self, tweet: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        wanted = set(ALWAYS_TWEET_FIELDS) | set(filter(None, query.get("tweet.fields", "").split(",")))
        return {k: v for k, v in tweet.items() if k in wanted}

    def _includes(self, data: list[dict[str, Any]], query: dict[str, str]) -> dict[str, Any]:
        expansions = set(filter(None, query.get("expansions", "").split(",")))
        user_fields = {"id", "name", "username"} | set(filter(None, query.get("user.fields", "").split(",")))
        out: dict[str, list[Any]] = {"users": [], "media": [], "places": [], "tweets": []}
        seen: set[str] = set()

        def add_user(uid: Any) -> None:
            if uid in self.users and uid not in seen:
                seen.add(uid)
                out["users"].append({k: v for k, v in self.users[uid].items() if k in user_fields})

        for tweet in data:
            full = self.tweets.get(tweet["id"], tweet)
            if "author_id" in expansions:
                add_user(full.get("author_id"))
            if "attachments.media_keys" in expansions:
                for key in (full.get("attachments") or {}).get("media_keys", []):
                    if key in self.media:
                        out["media"].append(self.media[key])
            if "geo.place_id" in expansions and (full.get("geo") or {}).get("place_id") in self.places:
                out["places"].append(self.places[full["geo"]["place_id"]])
            if "referenced_tweets.id" in expansions:
                for ref in full.get("referenced_tweets") or []:
                    if ref["id"] in self.tweets:
                        out["tweets"].append(self._shape(self.tweets[ref["id"]], query))
                        if "referenced_tweets.id.author_id" in expansions:
                            add_user(self.tweets[ref["id"]].get("author_id"))
        return {k: v for k, v in out.items() if v}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in two writes; without this, Nagle's
                # algorithm and delayed ACKs add ~40 ms to every keep-alive request.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _path(self) -> str | None:
                path = urlsplit(self.path).path
                if not path.startswith(fake.prefix + "/"):
                    self._json(404, _problem(404))
                    return None
                return path[len(fake.prefix):]

            def _json(self, status: int, body: Any) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_POST(self) -> None:
                path = self._path()
                if path is None:
                    return
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                if path != "/2/oauth2/token":
                    self._json(404, _problem(404))
                    return
                form = {k: v[-1] for k, v in parse_qs(data).items()}
                self._json(*fake.token(form, self.headers.get("Authorization")))

            def do_GET(self) -> None:
                split = urlsplit(self.path)
                path = self._path()
                if path is None:
                    return
                if path.startswith("/media/"):
                    self._file(path)
                    return
                query = {k: v[-1] for k, v in parse_qs(split.query).items()}
                status, headers, body, cut = fake.answer(path, query, self.headers)
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(raw)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                if cut is None:
                    self.wfile.write(raw)
                    return
                self.wfile.write(raw[: len(raw) // 2])
                self.wfile.flush()
                if cut.stall is not None:
                    cut.stall.wait(30)
                self.close_connection = True
                self.connection.shutdown(2)

            def _file(self, path: str) -> None:
                data = fake.files.get(path)
                self.send_response(200 if data is not None else 404)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(data or b"")))
                self.end_headers()
                self.wfile.write(data or b"")

            def log_message(self, *_args: Any) -> None:
                pass

        return Handler


def _problem(status: int) -> dict[str, Any]:
    titles = {401: ("Unauthorized", "Unauthorized"), 403: ("Forbidden", "Forbidden"),
              404: ("Not Found Error", "The requested resource was not found."),
              429: ("Too Many Requests", "Too Many Requests"), 503: ("Service Unavailable", "Service Unavailable")}
    title, detail = titles.get(status, ("Error", "Error"))
    return {"title": title, "detail": detail, "type": "about:blank", "status": status}


def _unavailable_error(marker: dict[str, Any]) -> dict[str, Any]:
    tweet_id = marker["id"]
    if marker["_unavailable"] == "withheld":
        return {"resource_id": tweet_id, "parameter": "id", "resource_type": "tweet", "value": tweet_id,
                "title": "Authorization Error", "section": "data",
                "detail": f"Sorry, you are not authorized to see the Post with id: [{tweet_id}].",
                "type": "https://api.twitter.com/2/problems/not-authorized-for-resource"}
    return {"resource_id": tweet_id, "parameter": "id", "resource_type": "tweet", "value": tweet_id,
            "title": "Not Found Error", "section": "data",
            "detail": f"Could not find tweet with id: [{tweet_id}].",
            "type": "https://api.twitter.com/2/problems/resource-not-found"}
