"""X behind an egress proxy with a path prefix, and OAuth 2.0 user-context tokens that
X expires and rotates: the real tweepy against the fake over HTTP, a real spool."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.attachments import LocalAttachmentStore
from connectors.errors import NeedsReauthorisation
from connectors.runner import ChannelRunner
from kanal.spool import Spool
from tests.twitter.conftest import BEARER, BEARER_ENV, make_connector, spooled_tweet_ids
from tests.twitter.fake_x_api import FakeXApi

CLIENT_ID = "a2FuYWwtdGVzdC1jbGllbnQ"
FIRST_REFRESH = "refresh-first-authorisation"


@pytest.fixture(name="user_x")
def _user_x(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeXApi]:
    """A fake X that takes no app bearer token: only user-context access tokens."""
    monkeypatch.setenv("KANAL_TEST_X_REFRESH", FIRST_REFRESH)
    monkeypatch.setenv("KANAL_TEST_X_CLIENT_SECRET", "client-secret-for-tests")
    with FakeXApi(bearer_token=None) as fake:
        fake.add_account("dkijakarta")
        fake.add_account("gubernur_contoh")
        fake.oauth2_client(CLIENT_ID, FIRST_REFRESH)
        yield fake


def user_runner(fake: FakeXApi, spool: Spool, tmp_path: Path, **oauth2: object) -> ChannelRunner:
    credentials = {"client_id": CLIENT_ID, "refresh_token": "${KANAL_TEST_X_REFRESH}", **oauth2}
    connector = make_connector(fake.url, bearer_token=None, oauth2=credentials)
    return ChannelRunner(connector, spool, LocalAttachmentStore(tmp_path / "att"))


def mention(fake: FakeXApi, text: str) -> str:
    return fake.mention("dkijakarta", fake.add_user("warga_contoh"), text)["id"]


def test_api_base_url_with_a_path_prefix_reaches_the_proxy(monkeypatch, spool, tmp_path) -> None:
    monkeypatch.setenv(BEARER_ENV, BEARER)
    with FakeXApi(bearer_token=BEARER, prefix="/x") as proxy:
        proxy.add_account("dkijakarta")
        proxy.add_account("gubernur_contoh")
        tweet_id = mention(proxy, "@dkijakarta lampu jalan mati di Jl. Contoh")
        connector = make_connector(proxy.url + "/")  # as an admin writes it: https://proxy.internal/x/
        runner = ChannelRunner(connector, spool, LocalAttachmentStore(tmp_path / "att"))

        runner.poll_once()

        assert spooled_tweet_ids(spool) == [tweet_id]
        assert [r.path for r in proxy.requests][:1] == ["/2/users/by/username/dkijakarta"]
        assert all(r.status in (0, 200) for r in proxy.requests), "every request reached the API under /x"


def test_user_token_is_refreshed_and_the_rotated_refresh_token_survives_a_restart(user_x, spool, tmp_path) -> None:
    first = mention(user_x, "@dkijakarta trotoar rusak")
    user_runner(user_x, spool, tmp_path).poll_once()
    assert spooled_tweet_ids(spool) == [first]
    assert len(user_x.token_requests) == 1 and user_x.token_requests[0]["refresh_token"] == FIRST_REFRESH
    assert FIRST_REFRESH not in user_x.refresh_tokens, "X rotated it: the configured one is spent"

    second = mention(user_x, "@dkijakarta banjir di Kel. Contoh")
    user_x.expire_access_tokens()
    restarted = user_runner(user_x, spool, tmp_path)  # a new process: only the spool remembers
    restarted.poll_once()

    assert spooled_tweet_ids(spool) == [first, second]
    assert user_x.token_requests[-1]["refresh_token"] != FIRST_REFRESH, "the stored, rotated token was used"
    assert FIRST_REFRESH not in str(spool.load_checkpoint(restarted.name)), "no token in the status checkpoint"


def test_an_access_token_x_expires_early_gets_401_then_a_refresh_and_one_retry(user_x, spool, tmp_path) -> None:
    runner = user_runner(user_x, spool, tmp_path)
    runner.poll_once()
    user_x.expire_access_tokens()
    tweet_id = mention(user_x, "@dkijakarta pohon tumbang")

    runner.poll_once()

    assert spooled_tweet_ids(spool) == [tweet_id]
    assert [r.status for r in user_x.requests].count(401) == 1
    assert len(user_x.token_requests) == 2


def test_a_confidential_client_authenticates_the_refresh_with_basic_auth(user_x, spool, tmp_path,
                                                                          monkeypatch) -> None:
    user_x.oauth2_client("confidential-client", "refresh-confidential", client_secret="client-secret-for-tests")
    monkeypatch.setenv("KANAL_TEST_X_REFRESH", "refresh-confidential")
    tweet_id = mention(user_x, "@dkijakarta parkir liar")
    runner = user_runner(user_x, spool, tmp_path, client_id="confidential-client",
                         client_secret="${KANAL_TEST_X_CLIENT_SECRET}")

    runner.poll_once()

    assert spooled_tweet_ids(spool) == [tweet_id]
    assert "client_id" not in user_x.token_requests[0], "the client is named by the Basic header"


def test_a_refused_refresh_token_means_reauthorisation(user_x, spool, tmp_path) -> None:
    user_x.refresh_tokens.clear()  # the user revoked the app
    runner = user_runner(user_x, spool, tmp_path)

    with pytest.raises(NeedsReauthorisation):
        runner.poll_once()
