"""The desk app and the Inspektorat form in headless Chromium against a real ``kanal run``."""

from __future__ import annotations

import json
import time

import pytest
import requests
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.core.broker_kit import wait_for
from tests.web.conftest import (
    DOCS,
    MAX_FILE,
    PASSWORDS,
    PNG,
    logged_secrets,
    routed_queues,
    send_inspektorat_report,
    spool_rows,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _complaint(body: bytes) -> dict:
    document = json.loads(body)
    return document.get("complaint", document)


def _kelurahan(driver) -> str:
    return Select(driver.find_element(By.ID, "kelurahan")).first_selected_option.get_attribute("value")


def _login(driver, base: str, desk: str) -> None:
    driver.get(f"{base}/desk/login")
    Select(driver.find_element(By.ID, "desk")).select_by_value(desk)
    driver.find_element(By.ID, "password").send_keys(PASSWORDS[desk])
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(lambda: driver.current_url.endswith(f"/desk/{desk}/"), what="the intake form")


def _fill(driver, tmp_path, photo_bytes: bytes = PNG, phone: str = "0812 3456 7890") -> None:
    driver.find_element(By.ID, "name").send_keys("Budi Contoh")
    driver.find_element(By.ID, "phone").send_keys(phone)
    driver.find_element(By.ID, "description").send_keys("Jalan berlubang besar di depan sekolah, berbahaya.")
    driver.find_element(By.ID, "kelurahan-search").send_keys("cideng")
    driver.find_element(By.ID, "address").send_keys("Jl. Contoh Raya 1")
    photo = tmp_path / "jalan.png"
    photo.write_bytes(photo_bytes)
    driver.find_element(By.ID, "photos").send_keys(str(photo))



def replaced(element):
    """A wait condition: ``element``'s page has been replaced by the next one.

    selenium's ``staleness_of`` only counts StaleElementReferenceException; ChromeDriver
    sometimes reports a node of the old document as an "unknown error" instead ("Node
    with given id does not belong to the document"), which is the same fact.
    """
    def check(_driver):
        try:
            element.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as exc:
            if "does not belong to the document" in str(exc):
                return True
            raise
        return False

    return check

def test_desk_intake_receipt_idempotency_and_refusals(kanal_web, browser, tmp_path):
    base, tmp, _ = kanal_web
    _login(browser, base, "balaikota")
    # The picker starts at the desk's own kelurahan.
    assert _kelurahan(browser) == "31.71.01.1001"
    browser.save_screenshot(str(DOCS / "desk-form.png"))
    _fill(browser, tmp_path)
    assert _kelurahan(browser) == "31.71.01.1002"
    browser.find_element(By.ID, "submit").click()
    ref = browser.find_element(By.ID, "ref").text
    assert ref.startswith("KNL-")
    browser.save_screenshot(str(DOCS / "desk-receipt.png"))

    [(_, body)] = spool_rows(tmp, "walkin-desks")
    complaint = _complaint(body)
    assert complaint["channel"] == {"type": "walkin", "name": "walkin-desks", "account": "Balai Kota"}
    assert complaint["location"]["kelurahan_code"] == "31.71.01.1002"
    assert complaint["location"]["method"] == "place"
    assert complaint["reporter"]["phone"] == "+6281234567890"
    [photo] = complaint["attachments"]
    assert photo["stored_ref"] == f"attachment:sha256:{photo['sha256']}"
    stored = tmp / "attachments" / photo["sha256"][:2] / photo["sha256"][2:4] / photo["sha256"]
    assert stored.read_bytes() == PNG

    # Back and submit again: the same idempotency key, the same complaint.
    browser.back()
    browser.find_element(By.ID, "submit").click()
    assert browser.find_element(By.ID, "ref").text == ref
    assert len(spool_rows(tmp, "walkin-desks")) == 1

    # A double click on submit (JavaScript off would let both through: post twice by hand too).
    browser.get(f"{base}/desk/balaikota/")
    browser.find_element(By.ID, "description").send_keys("Lampu jalan mati sejak seminggu.")
    browser.execute_script("document.getElementById('submit').click(); document.getElementById('submit').click();")
    wait_for(lambda: browser.find_elements(By.ID, "ref"), what="the second receipt")
    assert len(spool_rows(tmp, "walkin-desks")) == 2
    cookies = {c["name"]: c["value"] for c in browser.get_cookies()}
    browser.get(f"{base}/desk/balaikota/")
    key = browser.find_element(By.NAME, "key").get_attribute("value")
    csrf = browser.find_element(By.NAME, "csrf").get_attribute("value")
    form = {"csrf": csrf, "key": key, "description": "Saluran air tersumbat."}
    answers = [requests.post(f"{base}/desk/balaikota/aduan", data=form, cookies=cookies, timeout=10)
               for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 200]
    assert len(spool_rows(tmp, "walkin-desks")) == 3

    # Errors next to the fields, nothing stored: no text, a bad phone, an oversized photo.
    browser.get(f"{base}/desk/balaikota/")
    browser.execute_script("document.getElementById('description').removeAttribute('required')")
    browser.find_element(By.ID, "phone").send_keys("12ab")
    big = tmp_path / "besar.png"
    big.write_bytes(PNG + b"\0" * (MAX_FILE + 1))
    browser.find_element(By.ID, "photos").send_keys(str(big))
    browser.find_element(By.ID, "submit").click()
    for field in ("description", "phone", "photos"):
        error = browser.find_element(By.ID, f"{field}-error")
        assert error.is_displayed()
        assert browser.find_element(By.ID, field).get_attribute("aria-describedby") == f"{field}-error"
    assert len(spool_rows(tmp, "walkin-desks")) == 3

    # Refused: no CSRF token, another desk's session, after logout.
    assert requests.post(f"{base}/desk/balaikota/aduan", data={"key": key + "x", "description": "x"},
                         cookies=cookies, timeout=10).status_code == 403
    assert requests.post(f"{base}/desk/kel-cideng/aduan", data={**form, "key": key + "y"}, cookies=cookies,
                         timeout=10).status_code == 403
    browser.get(f"{base}/desk/balaikota/hari-ini")
    assert ref in browser.find_element(By.TAG_NAME, "table").text
    browser.find_element(By.ID, "logout").click()
    # The click only submits the form: wait for the login page, i.e. for the server to have ended the session.
    wait_for(lambda: browser.current_url.endswith("/login") and browser.find_elements(By.ID, "password"),
             timeout=10, what="the login page after logout")
    assert requests.post(f"{base}/desk/balaikota/aduan", data={**form, "key": key + "z"}, cookies=cookies,
                         timeout=10).status_code == 403
    assert len(spool_rows(tmp, "walkin-desks")) == 3


def test_lock_out_after_repeated_failed_logins(kanal_web, browser):
    base, _, _ = kanal_web
    for _ in range(5):
        browser.get(f"{base}/desk/login")
        Select(browser.find_element(By.ID, "desk")).select_by_value("kel-cideng")
        browser.find_element(By.ID, "password").send_keys("salah-sandi")
        button = browser.find_element(By.CSS_SELECTOR, "button[type=submit]")
        button.click()
        # The answer must arrive before the next page load, or the failure is never counted.
        WebDriverWait(browser, 15).until(replaced(button))
    browser.get(f"{base}/desk/login")
    Select(browser.find_element(By.ID, "desk")).select_by_value("kel-cideng")
    browser.find_element(By.ID, "password").send_keys(PASSWORDS["kel-cideng"])
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    assert "dikunci" in browser.find_element(By.ID, "login-error").text
    assert "/desk/login" in browser.current_url


def test_inspektorat_report_is_confidential_and_never_logged(kanal_web, browser, tmp_path):
    base, tmp, process = kanal_web
    code = send_inspektorat_report(browser, base, tmp_path, screenshot=True)
    assert len(code) == 19

    [(cid, body)] = spool_rows(tmp, "inspektorat")
    complaint = _complaint(body)
    assert complaint["reporter"]["confidential"] is True
    assert complaint["conversation_key"].startswith("followup:sha256:")
    assert code.replace("-", "") not in json.dumps(complaint)
    wait_for(lambda: any(i == cid for i, _ in routed_queues(tmp)), timeout=30, what="the embedded router")
    assert [q for i, q in routed_queues(tmp) if i == cid] == ["kanal.confidential"]
    time.sleep(0.5)  # let the log flush the lines of the routing step
    assert logged_secrets(process.log) == []
