"""Helpers for the Twilio MMS fetch tests: the account, its media path on the fake
media server, and a signed MMS webhook post (all data made up)."""

from __future__ import annotations

from tests.sms.test_http_backends import post_twilio, twilio_form

ACCOUNT = "AC00000000000000000000000000000000"
MEDIA = f"/2010-04-01/Accounts/{ACCOUNT}/Messages/MM0001/Media"


def send_mms(url: str, sid: str, links: list[tuple[str, str]], body: str = "Ada kabel listrik putus") -> None:
    """POST a signed Twilio MMS with ``links`` ((url, content type), ...) to ``url``."""
    extra = {"NumMedia": str(len(links))}
    for i, (link, ctype) in enumerate(links):
        extra[f"MediaUrl{i}"] = link
        extra[f"MediaContentType{i}"] = ctype
    response = post_twilio(url, twilio_form(sid, body=body, **extra))
    assert response.status_code == 200, response.text
