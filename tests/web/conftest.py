"""A real ``kanal run`` with the desk app and the Inspektorat form, and headless
Chromium driven by Selenium through Debian's chromium-driver (no browser download)."""

from __future__ import annotations

import base64
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path

import pytest
import yaml

from kanal.web.security import hash_password
from tests.core.broker_kit import listen_port
from tests.pipeline.kit import KanalProcess
from tests.services import missing

CHROMEDRIVER = "/usr/bin/chromedriver"
PASSWORDS = {"balaikota": "sandi-balaikota-1", "kel-cideng": "sandi-cideng-22"}
#: Where the browser tests save their screenshots: docs/ (the pictures the docs show) only
#: when KANAL_DOC_SCREENSHOTS=1, so that a test run leaves the checkout as it was.
DOCS = (Path(__file__).resolve().parents[2] / "docs" if os.environ.get("KANAL_DOC_SCREENSHOTS") == "1"
        else Path(tempfile.gettempdir()) / "kanal-screenshots")
DOCS.mkdir(exist_ok=True)
#: A real 1x1 PNG (made up, no personal data).
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
MAX_FILE = 200 * 1024


def write_config(tmp: Path, port: int, broker: dict | None = None, router: dict | None = None,
                 metrics: dict | None = None) -> Path:
    """A config with two desks on one walkin channel and a confidential Inspektorat channel
    (log level debug, so a test that greps the log sees everything Kanal would log)."""
    config = {
        "spool": {"path": str(tmp / "spool.db")},
        "attachments": {"path": str(tmp / "attachments"), "max_file_bytes": MAX_FILE,
                        "max_message_bytes": 3 * MAX_FILE},
        "webhooks": {"host": "127.0.0.1", "port": port},
        "log": {"level": "debug"},
        "channels": [
            {"name": "walkin-desks", "type": "walkin", "options": {
                "desk": "Loket Pengaduan",
                "desks": [
                    {"id": "balaikota", "name": "Balai Kota", "kelurahan": "31.71.01.1001",
                     "password_hash": hash_password(PASSWORDS["balaikota"])},
                    {"id": "kel-cideng", "name": "Kelurahan Cideng", "kelurahan": "31.71.01.1002",
                     "password_hash": hash_password(PASSWORDS["kel-cideng"])},
                ]}},
            {"name": "inspektorat", "type": "walkin", "options": {
                "desk": "Inspektorat", "confidential": True, "inspektorat_form": True}},
        ],
    }
    if broker:
        config["broker"] = broker
    if router:
        config["router"] = router
    # Port 0 unless a test needs to know it: the defaults (8091/8092) may be taken by other runs.
    config["metrics"] = {"port": 0, "router_port": 0, **(metrics or {})}
    path = tmp / "kanal.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.fixture(name="kanal_web")
def _kanal_web(tmp_path: Path):
    """``kanal run`` (embedded default) serving /desk and /inspektorat; yields (base URL, tmp, process)."""
    port = listen_port()
    config = write_config(tmp_path, port)
    process = KanalProcess(["run", "--config", str(config)], {}, tmp_path / "kanal.log",
                           health_url=f"http://127.0.0.1:{port}/healthz")
    process.start()
    yield f"http://localhost:{port}", tmp_path, process
    process.terminate()


#: The status page's token in the browser tests (made up).
OPS_TOKEN = "made-up-ops-token-for-the-browser-tests"


@pytest.fixture(name="kanal_ops")
def _kanal_ops(tmp_path: Path):
    """``kanal run`` (embedded default) with the status page on its operations listener;
    yields (status page URL, webhook base URL, tmp, process)."""
    port, ops_port = listen_port(), listen_port()
    config = write_config(tmp_path, port, metrics={"host": "127.0.0.1", "port": ops_port,
                                                   "ops_token": "${KANAL_TEST_OPS_TOKEN}"})
    process = KanalProcess(["run", "--config", str(config)], {"KANAL_TEST_OPS_TOKEN": OPS_TOKEN},
                           tmp_path / "kanal.log", health_url=f"http://127.0.0.1:{ops_port}/healthz")
    process.start()
    yield f"http://localhost:{ops_port}/ops/", f"http://localhost:{port}", tmp_path, process
    process.terminate()


@pytest.fixture(name="browser")
def _browser(tmp_path: Path):
    """Headless Chromium; fails in CI when chromium or chromium-driver is missing."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None or not Path(CHROMEDRIVER).exists():
        missing("Debian's chromium and chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=900,1400",
                 f"--user-data-dir={tmp_path / 'chromium'}", "--lang=id"):
        options.add_argument(flag)
    # The driver path is given, so selenium-manager never runs (no download).
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


def spool_rows(tmp: Path, channel: str) -> list[tuple]:
    """(id, body) of every complaint a channel put in the spool (outbox or routed store)."""
    conn = sqlite3.connect(tmp / "spool.db")
    try:
        return conn.execute(
            "SELECT l.id, coalesce(o.body, r.body) FROM ledger l LEFT JOIN outbox o ON o.id = l.id"
            " LEFT JOIN routed r ON r.id = l.id WHERE l.channel = ?", (channel,)).fetchall()
    finally:
        conn.close()


def routed_queues(tmp: Path) -> list[tuple[str, str]]:
    """(id, queue) of every complaint the embedded router routed."""
    conn = sqlite3.connect(tmp / "spool.db")
    try:
        return conn.execute("SELECT id, queue FROM routed").fetchall()
    finally:
        conn.close()


#: The reporter's details in the Inspektorat tests (made up); none may reach a log.
REPORTER = {"name": "Siti Rahasiawati", "phone": "0813 9876 5432", "email": "pelapor.rahasia@example.org"}
REPORT_TEXT = "Pungutan liar saat mengurus surat keterangan."
#: How the reporter's details could appear in a log line: as typed, normalised or in part.
SECRET_FORMS = (REPORTER["name"], "Rahasiawati", "9876 5432", "98765432", REPORTER["email"], "pelapor.rahasia",
                REPORT_TEXT, "Pungutan")


def send_inspektorat_report(driver, base: str, tmp: Path, screenshot: bool = False) -> str:
    """Fill and send the Inspektorat form with an identity and evidence; returns the follow-up code."""
    from selenium.webdriver.common.by import By

    driver.get(f"{base}/inspektorat/")
    if screenshot:
        driver.save_screenshot(str(DOCS / "inspektorat-form.png"))
    driver.find_element(By.ID, "what").send_keys(REPORT_TEXT)
    driver.find_element(By.ID, "unit").send_keys("Kantor Kelurahan Contoh")
    driver.find_element(By.ID, "position").send_keys("Staf pelayanan")
    for field, value in REPORTER.items():
        driver.find_element(By.ID, field).send_keys(value)
    evidence = tmp / "bukti.png"
    evidence.write_bytes(PNG)
    driver.find_element(By.ID, "evidence").send_keys(str(evidence))
    driver.find_element(By.ID, "send").click()
    return driver.find_element(By.ID, "code").text


def logged_secrets(*logs: Path) -> list[str]:
    """The reporter's details (any of ``SECRET_FORMS``) found in ``logs``."""
    text = "".join(log.read_text(errors="replace") for log in logs)
    return [form for form in SECRET_FORMS if form in text]
