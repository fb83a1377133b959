"""The pure parts of the e-mail channel: quote stripping, charsets, filters, options."""

from __future__ import annotations

import base64
from typing import ClassVar

import pytest
from pydantic import ValidationError

from connectors.attachments import AttachmentBudget
from connectors.email.config import EmailOptions
from connectors.email.filters import drop_reason
from connectors.email.mime import decode_text, extract, parse_message
from connectors.email.normalise import message_ids, provider_message_id, thread_of
from connectors.email.quoting import strip_quotes


class TestStripQuotes:
    @pytest.mark.parametrize(
        ("text", "kept", "gone"),
        [
            (
                "Masih banjir.\n\nPada Sen, 23 Nov 2026 08.00, Admin <a@example.org> menulis:\n> lama",
                "Masih banjir.",
                "lama",
            ),
            (
                "Still flooded.\n\nOn Mon, Nov 23, 2026 at 8:00 AM Admin <\na@example.org> wrote:\n> old",
                "Still flooded.",
                "old",
            ),
            ("Baru.\n-----Original Message-----\nFrom: x\nLama", "Baru.", "Lama"),
            ("Baru.\n\nFrom: Pengaduan DKI\nSent: Monday\nTo: x\nLama", "Baru.", "Lama"),
            ("Baru.\n\nDari: Pengaduan DKI\nDikirim: Senin\nLama", "Baru.", "Lama"),
            ("Laporan.\n\nDikirim dari iPhone saya", "Laporan.", "iPhone"),
            ("Laporan.\n\nSent from my Samsung Galaxy smartphone.", "Laporan.", "Samsung"),
            ("Laporan.\n-- \nBudi\nKetua RT", "Laporan.", "Ketua RT"),
            ("Atas.\n> kutipan\nBawah.", "Atas.\nBawah.", "kutipan"),
        ],
    )
    def test_quotes_and_signatures_are_cut(self, text: str, kept: str, gone: str) -> None:
        result = strip_quotes(text)
        assert result == kept
        assert gone not in result

    def test_a_long_sentence_starting_with_dikirim_dari_is_kept(self) -> None:
        text = "Dikirim dari kantor kelurahan sudah tiga kali surat pengantar, tetapi belum ada tindak lanjut apa pun."
        assert strip_quotes(text) == text

    def test_forwarded_block_is_kept(self) -> None:
        text = "Mohon dicek.\n\n---------- Forwarded message ---------\nFrom: Warga\nDate: Sun\n\nJalan rusak."
        assert "Jalan rusak." in strip_quotes(text)

    def test_all_quoted_text_is_kept_rather_than_lost(self) -> None:
        assert strip_quotes("> hanya kutipan") == "> hanya kutipan"


class TestDecodeText:
    def test_declared_charset_is_used_when_right(self) -> None:
        assert decode_text("café".encode("cp1252"), "windows-1252") == "café"

    def test_utf8_wins_over_a_latin_label(self) -> None:
        assert decode_text("café – ok".encode(), "iso-8859-1") == "café – ok"

    def test_wrong_utf8_label_falls_back(self) -> None:
        assert decode_text(b"caf\xe9", "utf-8") == "café"

    def test_unknown_label_falls_back(self) -> None:
        assert decode_text(b"Jl. Kenari", "x-no-such-charset") == "Jl. Kenari"

    def test_bytes_no_codec_accepts_still_decode(self) -> None:
        assert decode_text(b"\x81\x8d", "utf-8") == "\x81\x8d"

    def test_one_bad_byte_does_not_turn_utf8_into_latin1(self) -> None:
        assert decode_text("café – 🙏".encode() + b"\xff ok", "utf-8") == "café – 🙏\ufffd ok"

    def test_nul_bytes_dovecot_serves_as_0x80_are_dropped(self) -> None:
        # Dovecot replaces a NUL in a message with 0x80 when it serves it.
        assert decode_text("café –".encode() + b"\x80", "utf-8") == "café –"
        assert decode_text(b"Pompa\x80\x80 mati", "utf-8") == "Pompa mati"
        assert decode_text(b"Pompa\x80 mati", "us-ascii") == "Pompa mati"
        assert decode_text(b"Pompa\x80 mati", None) == "Pompa mati"

    @pytest.mark.parametrize(
        ("declared", "text_chars", "expected"),
        [
            # as many well-formed non-ASCII characters as malformed sequences: UTF-8 still
            ("utf-8", "é–", "é–\ufffd\ufffd"),
            (None, "é–", "é–\ufffd\ufffd"),
            # fewer: the bytes are another charset, read as windows-1252
            ("utf-8", "é", "Ã©\u201c\u201d"),
            (None, "é", "Ã©\u201c\u201d"),
        ],
    )
    def test_mostly_utf8_is_the_line_between_utf8_and_cp1252(
        self, declared: str | None, text_chars: str, expected: str
    ) -> None:
        assert decode_text(text_chars.encode() + b"\x93\x94", declared) == expected

    def test_real_cp1252_declared_utf8_is_read_as_cp1252(self) -> None:
        text = "Ada \u201cpungutan\u201d Rp 50.000 \u2013 caf\u00e9 \u20ac5 katanya."
        assert decode_text(text.encode("cp1252"), "utf-8") == text

    def test_real_latin1_declared_utf8_is_read_as_latin1(self) -> None:
        text = "Pasar becek, café à côté, crème brûlée."
        assert decode_text(text.encode("latin-1"), "utf-8") == text

    def test_undeclared_charsets_follow_the_bytes(self) -> None:
        assert decode_text("Désirée – 🙏".encode() + b"\xfe", None) == "Désirée – 🙏\ufffd"
        assert decode_text("Désirée \u2013 ok".encode("cp1252"), None) == "Désirée \u2013 ok"

    def test_mostly_utf8_wins_over_a_latin_label(self) -> None:
        assert decode_text("café – ok".encode() + b"\xff", "iso-8859-1") == "café – ok\ufffd"

    def test_a_latin_label_keeps_its_euro_sign(self) -> None:
        assert decode_text(b"Harga \x805", "windows-1252") == "Harga €5"


class TestBase64Parts:
    def _mail(self, parts: bytes) -> bytes:
        head = b'From: w@example.org\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        return head + parts  # and no closing boundary, as in a cut-off message

    def _part(self, ctype: str, body: bytes) -> bytes:
        return b"--b\r\nContent-Type: " + ctype.encode() + b"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + body

    def test_base64_cut_inside_its_last_group_keeps_the_complete_groups(self) -> None:
        encoded = base64.b64encode("Got mampet – RT 02.".encode())[:-3]  # 4n + 1 characters left
        content = extract(parse_message(self._mail(self._part("text/plain; charset=utf-8", encoded))), _budget())
        assert content.text == "Got mampet – RT "  # 24 characters, 18 bytes
        assert content.problems == []

    def test_an_attachment_that_is_not_base64_is_flagged_not_stored(self) -> None:
        raw = self._mail(
            self._part("text/plain; charset=utf-8", base64.b64encode(b"Lihat foto.") + b"\r\n")
            + self._part('image/jpeg; name="a.jpg"', b"bukan foto!!\r\n")
        )
        content = extract(parse_message(raw), _budget())
        assert content.text == "Lihat foto."
        assert content.attachments == []
        assert content.problems == ["image/jpeg: invalid base64"]


def _budget() -> AttachmentBudget:
    return AttachmentBudget(1_000_000, 5_000_000)


class TestFiltersAndThreads:
    def _msg(self, extra: str) -> bytes:
        return f"From: Warga <w@example.org>\r\nSubject: x\r\n{extra}\r\nhalo\r\n".encode()

    @pytest.mark.parametrize(
        ("headers", "reason"),
        [
            ("Auto-Submitted: auto-generated\r\n", "auto_reply"),
            ("Auto-Submitted: auto-notified; owner-email=x@example.org\r\n", "auto_reply"),
            ("Precedence: junk\r\n", "auto_reply"),
            ("X-Failed-Recipients: a@example.net\r\n", "bounce"),
            ("Auto-Submitted: no\r\n", None),
            ("Precedence: first-class\r\n", None),
        ],
    )
    def test_drop_reasons(self, headers: str, reason: str | None) -> None:
        assert drop_reason(parse_message(self._msg(headers)), ["dki@jakarta.go.id"]) == reason

    def test_own_address_is_matched_case_insensitively(self) -> None:
        raw = b"From: DKI <Dki@Jakarta.go.id>\r\nSubject: x\r\n\r\nhalo\r\n"
        assert drop_reason(parse_message(raw), ["dki@jakarta.go.id"]) == "own_address"

    def test_thread_root_and_parent(self) -> None:
        raw = b"From: w@example.org\r\nMessage-ID: <c@x>\r\nIn-Reply-To: <b@x>\r\nReferences: <a@x> <b@x>\r\n\r\nhi\r\n"
        assert thread_of(parse_message(raw), "c@x") == ("a@x", "b@x")

    def test_message_id_without_brackets_is_accepted(self) -> None:
        assert message_ids("abc@example.org") == ["abc@example.org"]

    def test_content_hash_ignores_line_ending_style(self) -> None:
        crlf = b"From: w@example.org\r\nSubject: x\r\n\r\nhalo\r\n"
        lf = crlf.replace(b"\r\n", b"\n")
        assert provider_message_id(parse_message(crlf), crlf) == provider_message_id(
            parse_message(lf), lf
        )


class TestOptions:
    BASE: ClassVar[dict[str, str]] = {
        "address": "dki@jakarta.go.id",
        "host": "imap.example.org",
        "password": "${KANAL_TEST_OPT_PW}",
    }

    @pytest.fixture(autouse=True)
    def _secret(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("KANAL_TEST_OPT_PW", "x")

    def test_tls_with_certificate_checks_is_the_default(self) -> None:
        options = EmailOptions.model_validate(self.BASE)
        assert options.tls is True and options.effective_port == 993
        assert options.folders == ["INBOX"] and options.processed_folder == "Processed"

    @pytest.mark.parametrize(
        "change",
        [
            {"idle_renew_seconds": 29 * 60},
            {"password": None},
            {"oauth2_token": "${KANAL_TEST_OPT_PW}"},
            {"password": "plain-text-secret"},
            {"processed_folder": "INBOX"},
            {"unknown_option": 1},
        ],
    )
    def test_bad_options_are_rejected(self, change: dict) -> None:
        with pytest.raises(ValidationError):
            EmailOptions.model_validate({**self.BASE, **change})

    def test_oauth2_instead_of_password(self) -> None:
        options = EmailOptions.model_validate(
            {**self.BASE, "password": None, "oauth2_token": "${KANAL_TEST_OPT_PW}"}
        )
        assert options.oauth2_token is not None and options.oauth2_token.get() == "x"

    def test_the_email_block_of_the_example_config_validates(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from pathlib import Path

        import yaml

        monkeypatch.setenv("KANAL_EMAIL_DKI_PASSWORD", "x")
        example = Path(__file__).resolve().parents[2] / "config" / "kanal.example.yaml"
        channels = [
            c for c in yaml.safe_load(example.read_text())["channels"] if c["type"] == "email"
        ]
        assert [c["name"] for c in channels] == ["email-dki"]
        options = EmailOptions.model_validate(channels[0]["options"])
        assert (
            options.address == "dki@jakarta.go.id"
            and options.tls
            and options.processed_folder == "Processed"
        )
