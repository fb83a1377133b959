"""A local HTTP server that answers like the Graph API, for the real facebook-sdk.

It serves what the Facebook channel reads: ``/{ver}/{page}/feed``,
``/{ver}/{post}/comments``, ``/{ver}/{page}/conversations``,
``/{ver}/{conversation}/messages`` and ``/{ver}/me``, with the documented shapes:
``{"data": [...], "paging": {"cursors": {"before", "after"}, "next"}}`` where
``next`` is a full graph.facebook.com URL that carries ``access_token`` (facebook-sdk
deletes that key when it follows ``next``, and crashes without it), newest first,
``since`` on the feed, ``filter=stream`` and ``order`` on comments.

Instagram (the professional account linked to the Page): ``/{ver}/{ig-user}/media``
(newest first, ``id``, ``timestamp``, ``permalink``...), ``/{ver}/{ig-media}/comments``
(top-level comments with ``text``, ``timestamp``, ``username``, ``from{id,username}``,
and their ``replies`` as a nested ``{"data": [...]}`` when asked for), and the IG
user node with ``fields=mentioned_comment.comment_id(ID){...}`` or
``mentioned_media.media_id(ID){...}``, answered as ``{"mentioned_comment": {...},
"id": "<ig-user>"}``; an id that was not a mention gets error 100.

Every answer has ``Content-Type: application/json; charset=UTF-8`` and the
``facebook-api-version`` header; usage headers (``X-App-Usage``,
``X-Business-Use-Case-Usage``) are sent when set. Errors come as HTTP 400 with the
``{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}`` body, for a
wrong token (190/463) or when queued with :meth:`FakeGraphAPI.fail`.

All data is made up.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

GRAPH_HOST = "https://graph.facebook.com"


def graph_time(epoch: float) -> str:
    """Graph API time format: ``2026-11-27T03:00:00+0000``."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


@dataclass
class _Failure:
    code: int
    subcode: int | None
    message: str
    path_contains: str | None
    times: int
    http_status: int


@dataclass
class _Conversation:
    id: str
    psid: str
    name: str
    updated: float
    messages: list[dict[str, Any]] = field(default_factory=list)


class FakeGraphAPI:
    """The fake server and its data.

    Parameters:
        page_id: the Page it serves.
        token: the Page access token it accepts.
        version: the version it reports in ``facebook-api-version``.
    """

    def __init__(self, page_id: str = "100000000000001", token: str = "EAAtestpagetoken",
                 version: str = "v21.0", page_name: str = "Pemprov DKI Jakarta (test)") -> None:
        self.page_id = page_id
        self.page_name = page_name
        self.token = token
        self.version = version
        self.posts: list[dict[str, Any]] = []
        self.comments: dict[str, list[dict[str, Any]]] = {}
        self.conversations: dict[str, _Conversation] = {}
        self.ig_user_id = "17841400000000001"
        self.ig_media: list[dict[str, Any]] = []
        self.ig_comments: dict[str, list[dict[str, Any]]] = {}
        #: Comments and media of other accounts that @mention ours, by id.
        self.ig_mentioned_comments: dict[str, dict[str, Any]] = {}
        self.ig_mentioned_media: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, dict[str, list[str]]]] = []
        self.usage_headers: dict[str, str] = {}
        #: Seconds every answer is held back (a slow API, so a test can kill a poll midway).
        self.delay = 0.0
        self._failures: list[_Failure] = []
        self._triggers: list[tuple[str, Any]] = []
        self._html_failures = 0
        self._ids = itertools.count(1000)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL to configure as ``graph_api_base_url``."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self) -> FakeGraphAPI:
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()

    # -- data -----------------------------------------------------------------

    def _next_id(self) -> str:
        return str(next(self._ids))

    def add_post(self, message: str, at: float, author: tuple[str, str] | None = None,
                 attachments: list[dict[str, Any]] | None = None, **fields: Any) -> str:
        """A post on the Page's feed (by ``author`` (id, name), else by the Page), with extra
        ``fields`` as Meta would send them (``place``...). Returns its id."""
        with self._lock:
            post_id = f"{self.page_id}_{self._next_id()}"
            who = author or (self.page_id, self.page_name)
            post = {
                "id": post_id, "message": message, "created_time": graph_time(at),
                "updated_time": graph_time(at), "from": {"id": who[0], "name": who[1]},
                "permalink_url": f"https://www.facebook.com/{post_id}",
            }
            if attachments:
                post["attachments"] = {"data": attachments}
            post.update(fields)
            self.posts.append(post)
            self.comments[post_id] = []
            return post_id

    def add_comment(self, post_id: str, message: str, at: float, author: tuple[str, str] | None = None,
                    parent: str | None = None, comment_id: str | None = None) -> str:
        """A comment under ``post_id`` (a reply when ``parent`` is a comment id). Returns its id."""
        with self._lock:
            cid = comment_id or f"{post_id.split('_')[-1]}_{self._next_id()}"
            who = author or (self.page_id, self.page_name)
            comment = {
                "id": cid, "message": message, "created_time": graph_time(at),
                "from": {"id": who[0], "name": who[1]},
                "permalink_url": f"https://www.facebook.com/{post_id}?comment_id={cid}",
            }
            if parent:
                comment["parent"] = {"id": parent}
            self.comments[post_id].append(comment)
            for post in self.posts:
                if post["id"] == post_id:
                    post["updated_time"] = graph_time(max(at, _epoch(post["updated_time"])))
            return cid

    def add_message(self, psid: str, name: str, text: str, at: float, from_page: bool = False,
                    mid: str | None = None, attachments: list[dict[str, Any]] | None = None) -> str:
        """A Messenger message between the Page and ``psid``. Returns its id (the webhook ``mid``)."""
        with self._lock:
            conversation = next((c for c in self.conversations.values() if c.psid == psid), None)
            if conversation is None:
                conversation = _Conversation(f"t_{self._next_id()}", psid, name, at)
                self.conversations[conversation.id] = conversation
            message_id = mid or f"m_{self._next_id()}"
            sender = {"id": self.page_id, "name": self.page_name} if from_page else {
                "id": psid, "name": name, "email": f"{psid}@facebook.com"}
            message = {"id": message_id, "message": text, "created_time": graph_time(at), "from": sender}
            if attachments:
                message["attachments"] = {"data": attachments}
            conversation.messages.append(message)
            conversation.updated = max(conversation.updated, at)
            return message_id

    def add_ig_media(self, caption: str, at: float) -> str:
        """A post of the Instagram account. Returns its id."""
        with self._lock:
            media_id = f"18{self._next_id():0>15}"
            self.ig_media.append({"id": media_id, "caption": caption, "timestamp": graph_time(at),
                                  "media_type": "IMAGE", "permalink": f"https://www.instagram.com/p/{media_id}/",
                                  "comments_count": 0})
            self.ig_comments[media_id] = []
            return media_id

    def add_ig_comment(self, media_id: str, text: str, at: float, author: tuple[str, str],
                       parent: str | None = None) -> str:
        """A comment under ``media_id`` by ``author`` (IG-scoped id, username); a reply
        when ``parent`` is a top-level comment id. Returns its id."""
        with self._lock:
            comment_id = f"17{self._next_id():0>15}"
            comment = {"id": comment_id, "text": text, "timestamp": graph_time(at), "username": author[1],
                       "from": {"id": author[0], "username": author[1]}, "media": {"id": media_id},
                       "like_count": 0, "hidden": False}
            if parent:
                comment["parent_id"] = parent
            self.ig_comments[media_id].append(comment)
            for media in self.ig_media:
                if media["id"] == media_id:
                    media["comments_count"] += 1
            return comment_id

    def add_ig_mention(self, text: str, at: float, username: str, in_caption: bool = False) -> tuple[str, str]:
        """Another account's comment (or post caption) that @mentions ours.
        Returns (media id, comment id or None) as the ``mentions`` webhook names them."""
        with self._lock:
            media_id = f"18{self._next_id():0>15}"
            media = {"id": media_id, "caption": text if in_caption else "Foto jalan", "timestamp": graph_time(at),
                     "username": username, "media_type": "IMAGE", "like_count": 3, "comments_count": 1,
                     "permalink": f"https://www.instagram.com/p/{media_id}/",
                     "media_url": f"https://scontent.cdninstagram.com/v/{media_id}.jpg"}
            self.ig_mentioned_media[media_id] = media
            if in_caption:
                return media_id, ""
            comment_id = f"17{self._next_id():0>15}"
            self.ig_mentioned_comments[comment_id] = {"id": comment_id, "text": text, "timestamp": graph_time(at),
                                                      "like_count": 0, "media": {"id": media_id}}
            return media_id, comment_id

    def fail(self, code: int, subcode: int | None = None, message: str = "simulated error",
             path_contains: str | None = None, times: int = 1, http_status: int = 400) -> None:
        """Answer the next ``times`` matching requests with a Graph error."""
        with self._lock:
            self._failures.append(_Failure(code, subcode, message, path_contains, times, http_status))

    def on_request(self, path_contains: str, action: Any) -> None:
        """Run ``action()`` once, just before answering the first request whose path
        contains ``path_contains`` (data that changes while a poll is under way)."""
        with self._lock:
            self._triggers.append((path_contains, action))

    def fail_with_html(self, times: int = 1) -> None:
        """Answer the next ``times`` requests with a 502 HTML page, as a proxy in front would."""
        with self._lock:
            self._html_failures += times

    def paths(self) -> list[str]:
        """Paths requested so far."""
        with self._lock:
            return [p for p, _ in self.requests]

    # -- HTTP -----------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: Any) -> None:
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if fake.delay:
                    time.sleep(fake.delay)
                params = parse_qs(parts.query, keep_blank_values=True)
                status, body = fake._answer(parts.path, params)
                if status == 502:
                    data = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
                    self.send_response(502)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("facebook-api-version", fake.version)
                for name, value in fake.usage_headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def _error(self, code: int, message: str, subcode: int | None = None, kind: str = "OAuthException",
               status: int = 400) -> tuple[int, dict[str, Any]]:
        error = {"message": message, "type": kind, "code": code, "fbtrace_id": "AbCdEfGhIjK"}
        if subcode is not None:
            error["error_subcode"] = subcode
        return status, {"error": error}

    def _answer(self, path: str, params: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            due = [t for t in self._triggers if t[0] in path]
            self._triggers = [t for t in self._triggers if t not in due]
        for _, action in due:
            action()
        with self._lock:
            self.requests.append((path, params))
            if self._html_failures > 0:
                self._html_failures -= 1
                return 502, {}
            for failure in self._failures:
                if failure.times > 0 and (failure.path_contains is None or failure.path_contains in path):
                    failure.times -= 1
                    return self._error(failure.code, failure.message, failure.subcode, status=failure.http_status)
            token = (params.get("access_token") or [""])[0]
            if token != self.token:
                return self._error(190, "Error validating access token: Session has expired.", 463)
            segments = [s for s in path.split("/") if s]
            if not segments or not segments[0].startswith("v") or segments[0] != self.version:
                return self._error(2635, f"unsupported API version in {path}", kind="OAuthException")
            rest = segments[1:]
            if rest == ["me"]:
                return 200, {"id": self.page_id, "name": self.page_name}
            if rest == [self.ig_user_id]:
                return self._ig_user(params)
            if len(rest) != 2:
                return self._error(100, "Unsupported get request.", kind="GraphMethodException")
            object_id, edge = rest
            items = self._edge(object_id, edge, params)
            if items is None:
                return self._error(100, f"Unsupported get request. Object with ID '{object_id}' "
                                   "does not exist or does not support this operation.", kind="GraphMethodException")
            return 200, self._page(path, items, params)

    def _ig_user(self, params: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        fields = (params.get("fields") or [""])[0]
        match = re.fullmatch(r"mentioned_(comment|media)\.(?:comment_id|media_id)\((\d+)\)(?:\{(.*)\})?", fields)
        if match is None:
            return 200, {"id": self.ig_user_id}
        kind, object_id, wanted = match.groups()
        store = self.ig_mentioned_comments if kind == "comment" else self.ig_mentioned_media
        if object_id not in store:
            return self._error(100, "Invalid parameter", kind="OAuthException")
        item = store[object_id]
        names = _top_level_fields(wanted) if wanted else ["id", "text" if kind == "comment" else "caption"]
        return 200, {f"mentioned_{kind}": {k: v for k, v in item.items() if k in names}, "id": self.ig_user_id}

    def _edge(self, object_id: str, edge: str, params: dict[str, list[str]]) -> list[dict[str, Any]] | None:
        if object_id == self.page_id and edge == "feed":
            since = float((params.get("since") or ["0"])[0])
            posts = [p for p in self.posts if _epoch(p["created_time"]) >= since]
            return sorted(posts, key=lambda p: _epoch(p["created_time"]), reverse=True)
        if edge == "comments" and object_id in self.comments:
            comments = list(self.comments[object_id])
            if (params.get("filter") or ["toplevel"])[0] != "stream":
                comments = [c for c in comments if "parent" not in c]
            reverse = (params.get("order") or ["chronological"])[0] == "reverse_chronological"
            return sorted(comments, key=lambda c: _epoch(c["created_time"]), reverse=reverse)
        if object_id == self.page_id and edge == "conversations":
            ordered = sorted(self.conversations.values(), key=lambda c: c.updated, reverse=True)
            return [{"id": c.id, "updated_time": graph_time(c.updated),
                     "link": f"/{self.page_id}/inbox/{c.id}"} for c in ordered]
        if object_id == self.ig_user_id and edge == "media":
            return sorted(self.ig_media, key=lambda m: _epoch(m["timestamp"]), reverse=True)
        if edge == "comments" and object_id in self.ig_comments:
            fields = (params.get("fields") or [""])[0]
            comments = self.ig_comments[object_id]
            top = sorted((c for c in comments if "parent_id" not in c), key=lambda c: _epoch(c["timestamp"]),
                         reverse=True)
            out = []
            for comment in top:
                item = {k: v for k, v in comment.items() if k != "media"}
                replies = [dict(r) for r in comments if r.get("parent_id") == comment["id"]]
                if "replies" in fields and replies:
                    item["replies"] = {"data": [{k: v for k, v in r.items() if k != "media"} for r in replies]}
                out.append(item)
            return out
        if edge == "messages" and object_id in self.conversations:
            messages = self.conversations[object_id].messages
            return sorted(messages, key=lambda m: _epoch(m["created_time"]), reverse=True)
        return None

    def _page(self, path: str, items: list[dict[str, Any]], params: dict[str, list[str]]) -> dict[str, Any]:
        limit = max(1, min(100, int((params.get("limit") or ["25"])[0])))
        start = _decode_cursor((params.get("after") or [""])[0])
        chunk = items[start:start + limit]
        body: dict[str, Any] = {"data": chunk}
        if chunk:
            body["paging"] = {"cursors": {"before": _cursor(start), "after": _cursor(start + len(chunk) - 1)}}
            if start + limit < len(items):
                query = {k: v[0] for k, v in params.items() if k != "after"}
                query["access_token"] = self.token
                query["after"] = _cursor(start + len(chunk) - 1)
                body["paging"]["next"] = f"{GRAPH_HOST}{path}?{urlencode(query)}"
        return body


def _top_level_fields(spec: str) -> list[str]:
    """``id,text,media{id}`` -> ``["id", "text", "media"]``."""
    names, depth, current = [], 0, ""
    for char in spec:
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif char == "," and depth == 0:
            names.append(current)
            current = ""
        elif depth == 0:
            current += char
    return [*names, current]


def _cursor(index: int) -> str:
    return base64.urlsafe_b64encode(f"idx:{index}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    if not cursor:
        return 0
    text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    return int(text.split(":", 1)[1]) + 1


def _epoch(graph: str) -> float:
    return datetime.strptime(graph, "%Y-%m-%dT%H:%M:%S%z").timestamp()
