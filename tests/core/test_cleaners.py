"""The pure cleaners shared by every channel."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from kanal.logs import mask_personal_data
from normalizer.phone import is_alphanumeric_sender, is_short_code, to_e164
from normalizer.text import clean_line, clean_text, html_to_text
from normalizer.timeutil import WIB, parse_local, to_utc


@pytest.mark.parametrize("raw", ["0811 1272 206", "08111272206", "628111272206", "+628111272206",
                                 "+62 811-1272-206", "0062 811 1272 206", "(0811) 1272-206"])
def test_every_way_of_writing_a_mobile_number_gives_one_e164(raw):
    assert to_e164(raw) == "+628111272206"


def test_short_codes_are_kept_as_they_are():
    assert to_e164("1708") == "1708"
    assert to_e164("112") == "112"
    assert is_short_code("1708")
    assert not is_short_code("08111272206")


def test_jakarta_landline_with_bare_62_is_read_as_international():
    assert to_e164("62213822255") == "+62213822255"
    assert to_e164("021-3822255") == "+62213822255"


def test_rubbish_is_not_a_phone_number():
    assert to_e164("TELKOMSEL") is None
    assert to_e164("") is None
    assert is_alphanumeric_sender("INFO-BANK")
    assert not is_alphanumeric_sender("+628123456789")


def test_html_to_text_drops_scripts_and_styles_and_keeps_paragraphs():
    html = ("<html><head><style>p{color:red}</style><title>x</title></head><body>"
            "<p>Jalan rusak&nbsp;di <b>Kemang</b></p><script>alert(1)</script><p>Mohon&amp;segera</p>"
            "<br>Terima kasih</body></html>")
    text, truncated = clean_text(html_to_text(html))
    assert text == "Jalan rusak di Kemang\n\nMohon&segera\n\nTerima kasih"
    assert not truncated


def test_clean_text_removes_control_characters_and_squeezes_space():
    text, _ = clean_text("Banjir\x00 di   RT 05\u200b/RW 03\r\n\r\n\r\n\r\nsetinggi 50 cm  ")
    assert text == "Banjir di RT 05/RW 03\n\nsetinggi 50 cm"


def test_length_cap_marks_truncation():
    text, truncated = clean_text("a" * 50, max_chars=10)
    assert truncated and len(text) == 10 and text.endswith("…")
    assert clean_line("Judul\nbaris dua") == "Judul baris dua"


def test_wib_times_keep_their_offset_and_convert_to_utc():
    local = parse_local("2026-11-27 08:15:00", "%Y-%m-%d %H:%M:%S")
    assert local.utcoffset() == timedelta(hours=7)
    assert to_utc(local).hour == 1
    assert to_utc(datetime(2026, 11, 27, 8, 15)).hour == 1  # naive means WIB
    assert local.tzinfo is WIB


def test_logs_mask_phone_numbers_and_email_addresses():
    line = mask_personal_data("sender +6281234567890 wrote from warga.contoh@example.org, cc 0812 3456 7890")
    assert "1234567" not in line and "34567890" not in line
    assert "warga.contoh" not in line
    assert "@example.org" in line


@pytest.mark.parametrize("raw", ["081234567", "0812345678901", "6285712345678", "+6289612345678", "0881234567890",
                                 "08311234567", "+62 812 0000 1001", "0851-0000-2002"])
def test_the_mobile_fast_path_agrees_with_phonenumbers(raw):
    from normalizer.phone import _SEPARATORS, _parse_with_phonenumbers

    text = _SEPARATORS.sub("", raw)
    if text.startswith("0"):
        text = "+62" + text[1:]
    assert to_e164(raw) == _parse_with_phonenumbers(text, "ID")
