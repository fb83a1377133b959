"""The status page ``/ops/`` of a real ``kanal run`` over HTTP: access only with the
token, hostile raw payloads shown as text, CSRF on the Retry button, and a retry that
takes a fixed message out of the open quarantine the way ``kanal quarantine retry`` does."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from config.loader import load_config
from connectors.base import Outcome, RawMessage
from connectors.registry import options_model
from kanal.app import KanalProcess
from kanal.web.ops_page import printable, same_token
from kanal.web.ops_views import RoutedWindow, preview
from tests.core.broker_kit import desk_payload, wait_for

OPS_TOKEN = "made-up-ops-token-for-the-status-page-tests"
DESK_TOKEN = "made-up-desk-token-for-the-status-page-tests"
CHANNEL = "walkin-ops"
SECRET_CHANNEL = "walkin-rahasia"
#: Every kind of hostile input at once: markup, a NUL, bytes that are not UTF-8, an
#: encoded lone surrogate, and a JSON escape of one.
HOSTILE = (b'<script>alert("x")</script><img src=x onerror=alert(1)>\x00NUL\xff\xfe\xed\xa0\x80'
           b'{"s": "\\ud800"}')


def write_config(tmp_path: Path, token: bool = True) -> Path:
    """Embedded mode, one walk-in channel on HTTP plus a confidential one; ports 0."""
    config = {
        "spool": {"path": str(tmp_path / "spool.db")},
        "attachments": {"path": str(tmp_path / "attachments")},
        "webhooks": {"host": "127.0.0.1", "port": 0, "threads": 2},
        "metrics": {"port": 0, **({"ops_token": "${KANAL_TEST_OPS_PAGE_TOKEN}"} if token else {})},
        "channels": [
            {"name": CHANNEL, "type": "walkin", "poll_interval": 0.1,
             "options": {"desk": "Balai Kota", "token": "${KANAL_TEST_DESK_TOKEN}"}},
            {"name": SECRET_CHANNEL, "type": "walkin", "poll_interval": 0.1,
             "options": {"desk": "Inspektorat", "confidential": True, "token": "${KANAL_TEST_DESK_TOKEN}"}},
        ],
    }
    path = tmp_path / "kanal.yaml"
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


def start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, token: bool = True) -> KanalProcess:
    monkeypatch.setenv("KANAL_TEST_OPS_PAGE_TOKEN", OPS_TOKEN)
    monkeypatch.setenv("KANAL_TEST_DESK_TOKEN", DESK_TOKEN)
    process = KanalProcess(load_config(write_config(tmp_path, token), options_model))
    process.start()
    return process


@pytest.fixture(name="kanal")
def _kanal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[KanalProcess]:
    process = start(tmp_path, monkeypatch)
    try:
        yield process
    finally:
        process.stop(drain_seconds=1)


def page_url(process: KanalProcess) -> str:
    assert process.ops_server is not None
    return f"{process.ops_server.url}/ops/"


def quarantine(process: KanalProcess, payload: bytes, reason: str, channel: str = CHANNEL,
               source_id: str = "http:Q-1") -> int:
    """What an older Kanal with a normaliser bug left behind: an entry in the quarantine."""
    raw = RawMessage(source_id, payload, datetime.now(UTC), {"via": "http"})
    process.spool.commit(channel, "walkin", [Outcome(raw, "quarantined", reason=reason)])
    return max(e.qid for e in process.spool.quarantined(channel))


def signed_in(process: KanalProcess) -> requests.Session:
    """A browser-like session signed in through the login form."""
    session = requests.Session()
    answer = session.post(page_url(process) + "login", data={"token": OPS_TOKEN}, timeout=10)
    assert answer.status_code == 200 and answer.url == page_url(process)
    return session


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


class TestAccess:
    def test_nothing_without_the_token(self, kanal: KanalProcess) -> None:
        quarantine(kanal, b"payload-that-must-stay-private", "reason-that-must-stay-private")
        url = page_url(kanal)
        for answer in (
            requests.get(url, timeout=10, allow_redirects=False),
            requests.get(url, headers={"Authorization": "Bearer wrong-token"}, timeout=10),
            requests.get(url, headers={"Authorization": f"Basic {OPS_TOKEN}"}, timeout=10),
            requests.get(url, params={"token": OPS_TOKEN[:-1]}, timeout=10),
            requests.post(f"{url}quarantine/1/retry", timeout=10, allow_redirects=False),
            requests.post(f"{url}login", data={"token": "wrong"}, timeout=10),
        ):
            assert answer.status_code in (303, 401), answer.status_code
            assert "must-stay-private" not in answer.text and CHANNEL not in answer.text
        assert requests.get(url, timeout=10, allow_redirects=False).headers["Location"].endswith("/ops/login")
        assert requests.get(url, headers={"Authorization": "Bearer x"}, timeout=10).status_code == 401
        # The probes and the metrics stay open (Prometheus and systemd need no token).
        assert requests.get(f"{kanal.ops_server.url}/metrics", timeout=10).ok
        assert requests.get(f"{kanal.ops_server.url}/healthz", timeout=10).ok

    def test_bearer_token_login_form_and_token_link(self, kanal: KanalProcess) -> None:
        url = page_url(kanal)
        bearer = requests.get(url, headers={"Authorization": f"Bearer {OPS_TOKEN}"}, timeout=10)
        assert bearer.status_code == 200 and CHANNEL in bearer.text
        assert bearer.headers["Cache-Control"] == "no-store"
        assert "default-src 'self'" in bearer.headers["Content-Security-Policy"]
        assert '<meta http-equiv="refresh"' in bearer.text

        form = signed_in(kanal)
        assert form.get(url, timeout=10).status_code == 200
        cookie = next(c for c in form.cookies if c.name == "kanal_ops")
        assert cookie.path == "/ops" and cookie.has_nonstandard_attr("HttpOnly")

        link = requests.Session()
        answer = link.get(url, params={"token": OPS_TOKEN}, timeout=10)
        assert answer.status_code == 200 and answer.url == url  # the token left the address bar
        assert CHANNEL in answer.text

        logout = form.post(f"{url}logout", data={"csrf": csrf_of(form.get(url, timeout=10).text)}, timeout=10,
                           allow_redirects=False)
        assert logout.status_code == 303
        assert form.get(url, timeout=10, allow_redirects=False).status_code == 303

    def test_repeated_wrong_tokens_lock_the_address_out(self, kanal: KanalProcess) -> None:
        url = page_url(kanal)
        answers = [requests.get(url, headers={"Authorization": f"Bearer wrong-{i}"}, timeout=10).status_code
                   for i in range(11)]
        assert answers[:10] == [401] * 10 and answers[10] == 429
        # Locked: even the right token waits until the lock ends.
        assert requests.get(url, headers={"Authorization": f"Bearer {OPS_TOKEN}"}, timeout=10).status_code == 429

    def test_off_without_a_token(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        process = start(tmp_path, monkeypatch, token=False)
        try:
            assert requests.get(page_url(process), timeout=10).status_code == 404
            assert requests.get(f"{process.ops_server.url}/metrics", timeout=10).ok
        finally:
            process.stop(drain_seconds=1)


class TestContent:
    def test_hostile_payload_and_reason_render_as_text(self, kanal: KanalProcess) -> None:
        qid = quarantine(kanal, HOSTILE, 'KeyError: <b>"bold"</b> \x00 & more', source_id="http:<i>x</i>")
        answer = requests.get(page_url(kanal), headers={"Authorization": f"Bearer {OPS_TOKEN}"}, timeout=10)
        assert answer.status_code == 200
        body = answer.content
        body.decode("utf-8")  # strict: no lone surrogate or stray byte reached the page
        assert b"\x00" not in body
        text = answer.text
        assert "<script>" not in text and "<img" not in text and "<b>" not in text and "<i>x" not in text
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in text
        assert "&lt;img src=x onerror=alert(1)&gt;" in text
        assert r"\x00NUL\xff\xfe\xed\xa0\x80" in text  # invalid bytes shown as escapes
        assert r'{&#34;s&#34;: &#34;\ud800&#34;}' in text
        assert r"&lt;b&gt;&#34;bold&#34;&lt;/b&gt; \x00 &amp; more" in text
        assert f'id="q-{qid}"' in text

    def test_channels_spool_and_routed_counts(self, kanal: KanalProcess) -> None:
        for ref in ("ST-1", "ST-2"):
            answer = requests.post(f"{kanal.webhook_server.url}/webhooks/{CHANNEL}", data=desk_payload(ref),
                                   headers={"Authorization": f"Bearer {DESK_TOKEN}"}, timeout=10)
            assert answer.status_code == 202
        wait_for(lambda: len(kanal.spool.routed()) == 2, timeout=20, what="two complaints routed locally")
        kanal.spool.count(CHANNEL, "ack.sent", 3)
        text = requests.get(page_url(kanal), headers={"Authorization": f"Bearer {OPS_TOKEN}"}, timeout=10).text
        row = text[text.index(f'id="channel-{CHANNEL}"'):]
        row = row[:row.index("</tr>")]
        assert "running" in row and "3 / 0" in row
        assert re.search(r'class="num">2</td>', row)  # taken
        assert 'id="spool-waiting">0<' in text
        [agency] = {r[1] for r in kanal.spool.routed()}  # both complaints are about the same street light
        routed = text[text.index('id="routed"'):]
        assert f"<td>{agency}</td>" in routed and 'class="num">2</td><td class="num">2</td>' in routed

    def test_confidential_payloads_are_not_previewed(self, kanal: KanalProcess) -> None:
        quarantine(kanal, b"nama pelapor rahasia", "broken", channel=SECRET_CHANNEL)
        text = requests.get(page_url(kanal), headers={"Authorization": f"Bearer {OPS_TOKEN}"}, timeout=10).text
        assert SECRET_CHANNEL in text and "nama pelapor rahasia" not in text


class TestRetry:
    def test_post_without_or_with_a_wrong_csrf_token_is_refused(self, kanal: KanalProcess) -> None:
        qid = quarantine(kanal, desk_payload("RT-CSRF"), "KeyError: fixed since")
        browser = signed_in(kanal)
        for data in ({}, {"csrf": "forged"}):
            answer = browser.post(f"{page_url(kanal)}quarantine/{qid}/retry", data=data, timeout=10)
            assert answer.status_code == 403
        assert [e.qid for e in kanal.spool.quarantined(CHANNEL)] == [qid]

    def test_retry_takes_a_fixed_message_out_of_the_open_quarantine(self, kanal: KanalProcess) -> None:
        fixed = quarantine(kanal, desk_payload("RT-OK"), "KeyError: fixed since")
        broken = quarantine(kanal, b'{"id": "RT-BAD", not json', "not valid JSON", source_id="http:RT-BAD")
        browser = signed_in(kanal)
        csrf = csrf_of(browser.get(page_url(kanal), timeout=10).text)

        done = browser.post(f"{page_url(kanal)}quarantine/{fixed}/retry", data={"csrf": csrf}, timeout=10)
        assert done.status_code == 200 and done.url.startswith(page_url(kanal))
        outcome = re.search(r'id="outcome">([^<]*)<', done.text).group(1)
        assert outcome.startswith(f"#{fixed}: accepted as complaint ")
        assert f'id="q-{fixed}"' not in done.text and f'id="q-{broken}"' in done.text
        [entry] = kanal.spool.quarantined(CHANNEL)
        assert entry.qid == broken
        assert kanal.spool.quarantine_entry(fixed).resolution == "accepted"
        assert kanal.spool.ids_by_provider_id(CHANNEL, ["RT-OK"])

        still = browser.post(f"{page_url(kanal)}quarantine/{broken}/retry", data={"csrf": csrf}, timeout=10)
        assert re.search(r'id="outcome">#\d+: still failing', still.text)
        assert kanal.spool.quarantine_entry(broken).attempts == 2
        # The note is shown once.
        assert 'id="outcome"' not in browser.get(page_url(kanal), timeout=10).text

    def test_retry_with_the_bearer_token_answers_in_plain_text(self, kanal: KanalProcess) -> None:
        qid = quarantine(kanal, desk_payload("RT-API"), "KeyError: fixed since")
        answer = requests.post(f"{page_url(kanal)}quarantine/{qid}/retry", timeout=10,
                               headers={"Authorization": f"Bearer {OPS_TOKEN}"})
        assert answer.status_code == 200 and answer.text.startswith(f"#{qid}: accepted as complaint ")
        assert kanal.spool.quarantined(CHANNEL) == []


class TestPieces:
    def test_token_comparison(self) -> None:
        assert same_token("abc", "abc")
        assert not same_token("abc", "abd") and not same_token("abc", "") and not same_token("abc", None)
        assert not same_token("abc", "abc\ud800")

    def test_preview_and_printable(self) -> None:
        assert preview(b"abc\xffdef") == r"abc\xffdef"
        assert preview("é".encode() * 3, limit=3) == "é"  # a character cut at the limit is left out
        assert printable("a\x00b\ud800c\td\n") == "a\\x00b\\ud800c\td\n"

    def test_routed_window_counts_the_last_hour_and_day(self) -> None:
        now = [1_000_000.0]
        window = RoutedWindow(clock=lambda: now[0])
        window.add(["DBM", "DBM", "DISHUB"])
        now[0] += 2 * 3600
        window.add(["DBM"])
        assert window.counts(3600) == {"DBM": 1}
        assert window.counts(86400) == {"DBM": 3, "DISHUB": 1}
        now[0] += 86400
        window.add([])
        assert window.counts(86400) == {}
