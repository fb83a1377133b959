"""The pure parts of the e-mail channel: quote stripping, charsets, filters, options."""

from __future__ import annotations

from typing import ClassVar

import pytest
from pydantic import ValidationError

from connectors.email.config import EmailOptions
from connectors.email.filters import drop_reason
from connectors.email.mime import decode_text, parse_message
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
