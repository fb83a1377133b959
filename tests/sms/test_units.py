"""The small pure parts of the SMS channel: Twilio's signature (reference vectors),
UDH concatenation, hex UCS-2, SMSD file names, multipart waiting, phone forms,
options validation."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from connectors.sms.config import SmsOptions
from connectors.sms.gammu_files import parse_inbox_name
from connectors.sms.multipart import MultipartWaiter, Part
from connectors.sms.twilio import signature_valid, twilio_signature
from connectors.sms.udh import Concat, EncodingError, decode_hex_ucs2, encode_hex_ucs2, parse_concat
from normalizer.phone import to_e164

# Reference vectors published with twilio-python's request validator tests.
TWILIO_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
TWILIO_PARAMS = {"CallSid": ["CA1234567890ABCDE"], "Caller": ["+14158675309"], "Digits": ["1234"],
                 "From": ["+14158675309"], "To": ["+18005551212"]}


def test_twilio_signature_matches_the_reference_vectors() -> None:
    assert twilio_signature("12345", TWILIO_URL, TWILIO_PARAMS) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    duplicate = {"Sid": ["CA123"], "SidAccount": ["AC123"], "Digits": ["5678", "1234"]}
    assert twilio_signature("12345", TWILIO_URL, duplicate) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="


def test_twilio_validation_tries_the_url_with_and_without_port() -> None:
    with_port = TWILIO_URL.replace(".com", ".com:1234")
    assert signature_valid("12345", with_port, TWILIO_PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    http_port = with_port.replace("https", "http")
    assert signature_valid("12345", http_port, TWILIO_PARAMS, "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=")
    assert signature_valid("12345", TWILIO_URL.replace("https", "http"), TWILIO_PARAMS, "0ZXoZLH/DfblKGATFgpif+LLRf4=")
    assert not signature_valid("12345", TWILIO_URL, TWILIO_PARAMS, "")
    assert not signature_valid("54321", TWILIO_URL, TWILIO_PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")


def test_udh_concatenation_elements_8_and_16_bit() -> None:
    assert parse_concat("0500034A0302") == Concat(0x4A, 3, 2)
    assert parse_concat("060804BEEF0201") == Concat(0xBEEF, 2, 1)
    assert parse_concat("") is None
    assert parse_concat("0401020304") is None  # another element only
    assert parse_concat("050003010304") is None  # sequence beyond total: ignored
    with pytest.raises(EncodingError):
        parse_concat("05000301")
    with pytest.raises(EncodingError):
        parse_concat("zz")


def test_hex_ucs2_round_trips_indonesian_text_and_emoji() -> None:
    text = "Jalan rusak 😡 di Kecamatan Tanah Abang"
    assert decode_hex_ucs2(encode_hex_ucs2(text)) == text
    assert decode_hex_ucs2("004A0061006C0061006E") == "Jalan"
    with pytest.raises(EncodingError):
        decode_hex_ucs2("D83D")
    with pytest.raises(EncodingError):
        decode_hex_ucs2("00G1")


def test_smsd_inbox_names_are_parsed_including_underscored_senders() -> None:
    name = parse_inbox_name("IN20261127_091530_00_+6281200001111_01.txt")
    assert name is not None
    assert (name.date, name.time, name.serial, name.sender, name.part, name.extension) == (
        "20261127", "091530", "00", "+6281200001111", 1, "txt")
    odd = parse_inbox_name("IN20261127_091530_03_INFO_BANK_00.bin")
    assert odd is not None and odd.sender == "INFO_BANK" and odd.serial == "03"
    assert parse_inbox_name("OUT+6281200001111.txt") is None
    assert parse_inbox_name("IN2026_bad.txt") is None


def test_multipart_waiter_takes_complete_groups_and_times_out_incomplete_ones() -> None:
    now = [0.0]
    waiter = MultipartWaiter(10, clock=lambda: now[0])
    parts = [Part("a", 2, 2, "a2"), Part("a", 1, 2, "a1"), Part("b", 1, 3, "b1"), Part("b", 3, 3, "b3")]
    ready = waiter.ready(parts)
    assert [(r.parts, r.complete) for r in ready] == [(("a1", "a2"), True)]
    now[0] = 9.9
    assert waiter.ready(parts[2:]) == []
    now[0] = 10.0
    assert [(r.parts, r.complete) for r in waiter.ready(parts[2:])] == [(("b1",), False), (("b3",), False)]


@pytest.mark.parametrize("written", ["081200001234", "0812-0000-1234", "6281200001234", "+6281200001234",
                                     "+62 812 0000 1234", "006281200001234"])
def test_every_indonesian_form_of_a_number_is_the_same_e164(written: str) -> None:
    assert to_e164(written) == "+6281200001234"


def test_options_normalise_the_account_and_need_the_backend_block(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KANAL_TEST_SMS_SECRET", "x")
    long_number = SmsOptions.model_validate({"account": "0811 1272 206", "backend": "json",
                                             "json": {"secret": "${KANAL_TEST_SMS_SECRET}"}})
    assert long_number.account == "+628111272206"
    short = SmsOptions.model_validate({"account": "1708", "backend": "kannel",
                                       "kannel": {"token": "${KANAL_TEST_SMS_SECRET}"}})
    assert short.account == "1708"
    with pytest.raises(ValidationError, match="needs its options block"):
        SmsOptions.model_validate({"account": "1708", "backend": "twilio"})
    with pytest.raises(ValidationError, match="reference"):
        SmsOptions.model_validate({"account": "1708", "backend": "twilio", "twilio": {"auth_token": "plain"}})
    with pytest.raises(ValidationError, match="must contain"):
        SmsOptions.model_validate({"account": "1708", "backend": "json", "json": {"secret": "${KANAL_TEST_SMS_SECRET}"},
                                   "ack": {"text": "Terima kasih"}})


def test_the_sms_blocks_of_the_example_config_validate(monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    import yaml

    monkeypatch.setenv("KANAL_SMS_0811_DB_PASSWORD", "x")
    monkeypatch.setenv("KANAL_SMS_1708_KANNEL_TOKEN", "x")
    example = Path(__file__).resolve().parents[2] / "config" / "kanal.example.yaml"
    channels = {c["name"]: c for c in yaml.safe_load(example.read_text())["channels"] if c["type"] == "sms"}
    assert set(channels) == {"sms-08111272206", "sms-1708"}
    long_number = SmsOptions.model_validate(channels["sms-08111272206"]["options"])
    short_code = SmsOptions.model_validate(channels["sms-1708"]["options"])
    assert (long_number.account, long_number.backend) == ("+628111272206", "gammu_sql")
    assert (short_code.account, short_code.backend) == ("1708", "kannel")
    assert long_number.sender_pattern().search("TELKOMSEL")
