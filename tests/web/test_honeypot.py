"""The Inspektorat form's honeypot over real HTTP against a real ``kanal run``
(docs/desks.md): a bot that fills the hidden ``website`` field gets the plain
thank-you, nothing is stored and ``inspektorat.honeypot`` counts it; the same form
without it is stored."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import requests

from tests.web.conftest import spool_rows

FIELDS = {"what": "Petugas meminta uang pelicin untuk surat domisili.", "unit": "Kelurahan Contoh",
          "name": "Bot Pengisi", "phone": "0812 3456 7890"}


def _counter(tmp: Path, name: str) -> int:
    conn = sqlite3.connect(tmp / "spool.db")
    try:
        row = conn.execute("SELECT count FROM counters WHERE channel = 'inspektorat' AND name = ?", (name,)).fetchone()
    finally:
        conn.close()
    return row[0] if row else 0


def _send(base: str, **extra: str) -> requests.Response:
    """Load the form (its CSRF token and idempotency key) and send it as a browser would."""
    form = requests.get(f"{base}/inspektorat/", timeout=10)
    assert form.status_code == 200
    hidden = dict(re.findall(r'<input type="hidden" name="(csrf|key)" value="([^"]+)"', form.text))
    assert set(hidden) == {"csrf", "key"}
    assert 'name="website"' in form.text and 'aria-hidden="true"' in form.text
    return requests.post(f"{base}/inspektorat/", data={**hidden, **FIELDS, "website": "", **extra},
                         files={"evidence": ("", b"", "application/octet-stream")}, timeout=10)


def test_a_filled_honeypot_gets_a_thank_you_and_stores_nothing(kanal_web) -> None:
    base, tmp, _ = kanal_web
    for trap in ("https://obat-murah.example", "x"):
        bot = _send(base, website=trap)
        assert bot.status_code == 200
        assert "Terima kasih." in bot.text, "the bot is not told it was caught"
        assert 'id="code"' not in bot.text and "Nomor laporan" not in bot.text
    assert spool_rows(tmp, "inspektorat") == []
    assert _counter(tmp, "inspektorat.honeypot") == 2

    person = _send(base)  # the field left empty, as people leave it
    assert person.status_code == 200 and 'id="code"' in person.text
    assert len(spool_rows(tmp, "inspektorat")) == 1
    assert _counter(tmp, "inspektorat.honeypot") == 2
