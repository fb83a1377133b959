"""The Graph client: facebook-sdk with a current version, our base URL, usage headers, errors."""

from __future__ import annotations

import json
import socket

import facebook
import pytest

from connectors.errors import AuthFailed, NeedsReauthorisation, RateLimited, TransientError
from connectors.facebook.client import (
    BaseUrlAdapter,
    GraphClient,
    build_graph_api,
    build_session,
    redact,
)
from connectors.facebook.usage import UsageTracker


def client_for(graph, token: str | None = None, base_url: str | None = None) -> GraphClient:
    return GraphClient(token or graph.token, "v21.0", base_url or graph.url, 10, UsageTracker())


def test_facebook_sdk_refuses_current_versions_so_the_client_sets_it_after_construction(graph):
    with pytest.raises(facebook.GraphAPIError, match="#.#"):
        facebook.GraphAPI(access_token="x", version="21.0")

    session = build_session(graph.url, UsageTracker())
    api = build_graph_api(graph.token, "v21.0", session, timeout=10)

    assert api.version == "v21.0"
    assert api.get_object("me")["id"] == graph.page_id
    assert graph.paths() == ["/v21.0/me"]
    assert api.get_version() == "21.0"  # read from the facebook-api-version header


def test_base_url_is_per_client_and_leaves_the_sdk_global_alone(graph):
    default = build_session("https://graph.facebook.com/", UsageTracker())
    assert not isinstance(default.get_adapter("https://graph.facebook.com/v21.0/me"), BaseUrlAdapter)

    client = client_for(graph)
    assert list(client.edge(graph.page_id, "feed")) == []
    assert facebook.FACEBOOK_GRAPH_URL == "https://graph.facebook.com/"
    assert graph.paths() == [f"/v21.0/{graph.page_id}/feed"]
    client.close()


def test_usage_headers_reach_the_tracker_through_the_session_hook(graph):
    graph.usage_headers = {
        "X-App-Usage": json.dumps({"call_count": 12, "total_cputime": 3, "total_time": 4}),
        "X-Business-Use-Case-Usage": json.dumps({graph.page_id: [
            {"type": "pages", "call_count": 41, "total_cputime": 7, "total_time": 9,
             "estimated_time_to_regain_access": 0}]}),
    }
    client = client_for(graph)
    list(client.edge(graph.page_id, "feed"))

    assert client.usage.percent == 41
    assert client.usage.served_version == "v21.0"
    assert not client.usage.blocked
    client.close()


@pytest.mark.parametrize(("code", "subcode", "error", "words"), [
    (190, 460, NeedsReauthorisation, "password"),
    (190, 463, NeedsReauthorisation, "expired"),
    (10, None, AuthFailed, "permission"),
    (200, None, AuthFailed, "permission"),
    (368, None, AuthFailed, "policy"),
    (2, None, TransientError, "error 2"),
    (613, None, RateLimited, "throttling"),
])
def test_graph_errors_become_channel_states(graph, code, subcode, error, words):
    graph.fail(code, subcode, message="simulated")
    client = client_for(graph)
    with pytest.raises(error, match=words):
        list(client.edge(graph.page_id, "feed"))
    client.close()


def test_a_wrong_token_is_error_190(graph):
    client = client_for(graph, token="EAAsomeoldtoken")
    with pytest.raises(NeedsReauthorisation, match="190"):
        list(client.edge(graph.page_id, "conversations"))
    client.close()


def test_network_errors_are_transient_and_never_show_the_token():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    client = GraphClient("EAAsecretpagetoken", "v21.0", f"http://127.0.0.1:{port}/", 2, UsageTracker())
    with pytest.raises(TransientError) as caught:
        list(client.edge("100000000000001", "feed"))
    assert "EAAsecretpagetoken" not in str(caught.value)
    client.close()


def test_redact_removes_tokens_from_urls():
    assert redact("GET /v21.0/1/feed?limit=2&access_token=EAAabc123&after=x") == (
        "GET /v21.0/1/feed?limit=2&access_token=[redacted]&after=x")


def test_a_non_json_answer_is_transient(graph):
    graph.fail_with_html()  # an HTML error page from a proxy in front of the Graph API
    client = client_for(graph)
    with pytest.raises(TransientError, match="Maintype"):
        list(client.edge(graph.page_id, "feed"))
    assert list(client.edge(graph.page_id, "feed")) == []  # and the next call works
    client.close()
