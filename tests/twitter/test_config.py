"""The documented config block loads; mistakes are reported with channel and field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from config.loader import ConfigError, load_config
from connectors.registry import options_model
from connectors.twitter.config import TwitterOptions

DOC = Path(__file__).resolve().parents[2] / "docs" / "twitter.md"


def documented_block() -> str:
    return re.search(r"```yaml\n(.*?)```", DOC.read_text(), re.DOTALL).group(1)


def test_the_block_in_docs_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KANAL_X_BEARER_TOKEN", "bearer-for-tests")
    monkeypatch.setenv("KANAL_X_CONSUMER_SECRET", "secret-for-tests")
    path = tmp_path / "kanal.yaml"
    path.write_text("channels:\n" + documented_block())
    loaded = load_config(path, options_model)
    options = loaded.options["twitter-dkijakarta"]
    assert isinstance(options, TwitterOptions)
    assert options.accounts == ["dkijakarta", "gubernur_dki"]
    assert options.bearer_token.get() == "bearer-for-tests"
    assert "bearer-for-tests" not in repr(options)


def test_every_mistake_is_reported_with_the_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KANAL_X_MISSING", raising=False)
    path = tmp_path / "kanal.yaml"
    path.write_text("""
channels:
  - name: twitter-bad
    type: twitter
    options:
      accounts: ["@dki jakarta"]
      bearer_token: ${KANAL_X_MISSING}
      api_base_url: api.x.com/2
      max_results: 500
      webhook: {enabled: true}
      polling: fast
""")
    with pytest.raises(ConfigError) as error:
        load_config(path, options_model)
    text = str(error.value)
    for field in ("accounts", "bearer_token", "api_base_url", "max_results", "webhook", "polling"):
        assert f"channel 'twitter-bad' (channels[0]).options.{field}" in text, field
    assert "KANAL_X_MISSING is not set" in text
    assert "consumer_secret is required" in text


def test_a_leading_at_sign_is_accepted_and_duplicates_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KANAL_TEST_X_ANY", "token")
    options = TwitterOptions.model_validate({"accounts": ["@DKIJakarta"], "bearer_token": "${KANAL_TEST_X_ANY}"})
    assert options.accounts == ["DKIJakarta"]
    with pytest.raises(ValueError, match="listed twice"):
        TwitterOptions.model_validate({"accounts": ["dkijakarta", "DKIJakarta"], "bearer_token": "${KANAL_TEST_X_ANY}"})
