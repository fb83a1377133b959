"""No secret in a log line or in `kanal status`.

Kannel's ``sendsms`` URL carries its password in the query string and a failed
request's exception repeats the URL; an AMQP or PostgreSQL URL may carry one in its
user part; libraries (pika, kombu, waitress, urllib3) log through the standard
``logging`` module; an exception can escape a thread. Every one of those lines goes
through the same masking.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from config.models import AttachmentStoreConfig, SpoolConfig
from config.redact import redact_credentials
from kanal.spool import Spool
from kanal.status import read_status

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cr3t-Kannel-pw"

EMIT = f"""
import logging, threading
import structlog
from kanal.logs import configure_logging
configure_logging("info", "json")
log = structlog.get_logger("kanal")
try:
    raise ConnectionError(
        "GET http://kannel.internal:13013/cgi-bin/sendsms?username=kanal&password={SECRET}&to=0812 failed"
    )
except ConnectionError:
    log.exception("acknowledgement failed")
log.warning("broker", url="amqp://kanal:{SECRET}@mq.internal:5672/kanal")
logging.getLogger("pika.connection").warning("connecting to amqps://kanal:%s@mq.internal/", "{SECRET}")
logging.getLogger("urllib3").error("request failed: https://graph.example/v21.0/me?access_token={SECRET}")
def boom():
    raise RuntimeError("token={SECRET} in a thread nobody watches")
t = threading.Thread(target=boom, name="unwatched"); t.start(); t.join()
log.info("sms from +6281234567890 and warga@example.org")
"""


def test_every_log_line_is_masked_libraries_and_dying_threads_included() -> None:
    out = subprocess.run([sys.executable, "-c", EMIT], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         check=True)
    lines = out.stderr.strip().splitlines()
    assert len(lines) >= 6, out.stderr
    assert SECRET not in out.stderr
    assert "password=***" in out.stderr and "kanal:***@mq.internal" in out.stderr
    assert "access_token=***" in out.stderr
    assert '"thread": "unwatched"' in out.stderr, "an exception that ends a thread is logged, not just printed"
    assert "34567890" not in out.stderr and "warga@" not in out.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://kanal:pw@db.internal/kanal", "postgresql://kanal:***@db.internal/kanal"),
        ("sendsms?user=k&pass=x1&to=1", "sendsms?user=k&pass=***&to=1"),
        ("Authorization: Bearer abcdefghijklmnop", "Authorization: Bearer ***"),
        ("hub.verify_token=abc&hub.challenge=1", "hub.verify_token=***&hub.challenge=1"),
        ("no secrets here: jalan rusak di Gambir", "no secrets here: jalan rusak di Gambir"),
        ("keyword=banjir&monkey=1", "keyword=banjir&monkey=1"),
    ],
)
def test_redaction_masks_credentials_and_only_them(text: str, expected: str) -> None:
    assert redact_credentials(text) == expected


def test_status_never_shows_a_credential_a_channel_error_carried(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    spool.set_state("sms-1708", "sms", "backing_off", "attempt 1",
                    f"ConnectionError: http://kannel:13013/cgi-bin/sendsms?username=k&password={SECRET}")
    spool.close()

    # the part of a loaded config that read_status reads
    loaded = SimpleNamespace(kanal=SimpleNamespace(spool=SpoolConfig(path=tmp_path / "spool.db"), channels=[],
                                                   attachments=AttachmentStoreConfig(path=tmp_path / "files")))
    report = read_status(loaded)
    [channel] = report["channels"]
    assert SECRET not in channel["last_error"] and "password=***" in channel["last_error"]
