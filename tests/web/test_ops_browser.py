"""The status page ``/ops/`` in headless Chromium against a real ``kanal run``: a
quarantined message is on the page with its raw payload shown as text, Retry runs it
again and the page shows it resolved."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from selenium.webdriver.common.by import By

from connectors.base import Outcome, RawMessage
from kanal.spool import Spool
from tests.core.broker_kit import desk_payload, wait_for
from tests.web.conftest import DOCS, OPS_TOKEN

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHANNEL = "walkin-desks"


def _left_in_quarantine(tmp, source_id: str, payload: bytes, reason: str) -> int:
    """What an older Kanal with a normaliser bug left behind, written by another process
    into the running one's spool (as ``kanal quarantine`` would find it)."""
    spool = Spool(tmp / "spool.db")
    try:
        raw = RawMessage(source_id, payload, datetime.now(UTC), {"via": "http"})
        spool.commit(CHANNEL, "walkin", [Outcome(raw, "quarantined", reason=reason)])
        return max(e.qid for e in spool.quarantined(CHANNEL))
    finally:
        spool.close()


def _open_entries(tmp) -> list[int]:
    spool = Spool(tmp / "spool.db")
    try:
        return [e.qid for e in spool.quarantined(CHANNEL)]
    finally:
        spool.close()


def test_status_page_shows_a_quarantined_message_and_retry_resolves_it(kanal_ops, browser):
    url, _, tmp, _ = kanal_ops
    fixed = _left_in_quarantine(tmp, "desk:OPS-FIXED", desk_payload("OPS-FIXED"),
                                "NormaliseError: missing 'description' (fixed since)")
    hostile = _left_in_quarantine(tmp, "desk:OPS-HOSTILE",
                                  b'{"id": "OPS-HOSTILE", "description": "<script>document.title=\'pwned\'</script>'
                                  b'\x00\xff\xfe"',
                                  "not valid JSON: Unterminated string starting at: line 1 column 38 (char 37)")

    browser.set_window_size(1280, 1500)
    browser.get(url)  # no token: the login form, not the data
    assert browser.current_url.endswith("/ops/login")
    assert "OPS-FIXED" not in browser.page_source
    browser.find_element(By.ID, "token").send_keys(OPS_TOKEN)
    browser.find_element(By.ID, "sign-in").click()
    wait_for(lambda: browser.find_elements(By.ID, f"q-{fixed}"), what="the quarantined message on the page")

    entry = browser.find_element(By.ID, f"q-{hostile}")
    shown = entry.find_element(By.CSS_SELECTOR, "pre.payload").text
    assert "<script>document.title='pwned'</script>" in shown and r"\x00\xff\xfe" in shown
    assert browser.title != "pwned" and not browser.find_elements(By.CSS_SELECTOR, "main script")
    assert "running" in browser.find_element(By.ID, f"channel-{CHANNEL}").text
    browser.save_screenshot(str(tmp / "ops-before-retry.png"))

    browser.find_element(By.ID, f"retry-{fixed}").click()
    wait_for(lambda: browser.find_elements(By.ID, "outcome"), what="the outcome of the retry")
    assert browser.find_element(By.ID, "outcome").text.startswith(f"#{fixed}: accepted as complaint ")
    assert not browser.find_elements(By.ID, f"q-{fixed}")
    assert browser.find_elements(By.ID, f"q-{hostile}")
    assert _open_entries(tmp) == [hostile]

    def routed_row() -> bool:
        browser.get(url)
        return bool(browser.find_elements(By.CSS_SELECTOR, "#routed tbody tr"))

    wait_for(routed_row, timeout=30, what="the retried complaint in the routed counts")
    cells = browser.find_elements(By.CSS_SELECTOR, "#routed tbody tr td")
    assert [c.text for c in cells[1:]] == ["1", "1"]  # last hour, last day
    browser.save_screenshot(str(DOCS / "ops-status.png"))
