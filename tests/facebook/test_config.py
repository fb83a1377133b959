"""The channel's options, as admins write them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from connectors.facebook.config import FacebookOptions
from connectors.registry import connector_class


def test_registered_under_its_type_name():
    cls = connector_class("facebook")
    assert cls.type_name == "facebook" and cls.config_model is FacebookOptions


def test_every_option_is_described_for_kanal_channels():
    assert all(field.description for field in FacebookOptions.model_fields.values())


def test_tokens_must_be_references(monkeypatch):
    monkeypatch.setenv("KANAL_TEST_FB_TOKEN", "EAAvalue")
    ok = FacebookOptions.model_validate({"page_id": "1", "page_access_token": "${KANAL_TEST_FB_TOKEN}"})
    assert ok.page_access_token.get() == "EAAvalue"
    assert "EAAvalue" not in repr(ok)
    with pytest.raises(ValidationError, match="reference"):
        FacebookOptions.model_validate({"page_id": "1", "page_access_token": "EAAinline"})


@pytest.mark.parametrize("bad", [
    {"graph_api_version": "21.0"},
    {"graph_api_version": "3.1"},
    {"page_id": "pemprovdki"},
    {"app_secret": "${KANAL_TEST_FB_TOKEN}"},  # without verify_token
    {"graph_api_base_url": "graph.facebook.com"},
    {"unknown_option": 1},
])
def test_invalid_options_are_rejected(monkeypatch, bad):
    monkeypatch.setenv("KANAL_TEST_FB_TOKEN", "EAAvalue")
    values = {"page_id": "1", "page_access_token": "${KANAL_TEST_FB_TOKEN}", **bad}
    with pytest.raises(ValidationError):
        FacebookOptions.model_validate(values)
