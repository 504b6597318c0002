"""Tiled's live streaming is not offered: a subscription is refused in one line."""

from __future__ import annotations

import json

import pytest
from tiled.client import from_uri
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from .conftest import API_KEY


@pytest.mark.parametrize("node", ["", "{scan}", "{scan}/primary", "{scan}/primary/internal",
                                  "{scan}/primary/img"])
def test_a_subscription_is_refused_501_naming_why_and_the_server_answers_on(
        served, rich, node) -> None:
    path = node.format(scan=rich.scan)
    url = served.replace("http://", "ws://").rstrip("/") + f"/api/v1/stream/single/{path}"
    with pytest.raises(InvalidStatus) as refused:
        connect(url, additional_headers={"Authorization": f"Apikey {API_KEY}"},
                open_timeout=30).close()
    answer = refused.value.response
    assert answer.status_code == 501
    assert "live streaming" in json.loads(answer.body)["detail"]
    assert rich.scan in from_uri(served, api_key=API_KEY)


def test_a_subscription_without_the_key_is_still_refused_401(served, rich) -> None:
    url = served.replace("http://", "ws://").rstrip("/") + f"/api/v1/stream/single/{rich.scan}"
    with pytest.raises(InvalidStatus) as refused:
        connect(url, open_timeout=30).close()
    assert refused.value.response.status_code == 401
