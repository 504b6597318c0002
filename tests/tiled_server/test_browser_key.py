"""The browser view with --api-key: the page asks for the key, keeps it in the tab, never
in a URL; the page's own files are all that answers without the key."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from ._browser import CANDIDATES, Viewed, chromium
from .conftest import API_KEY, serving


@pytest.fixture(scope="module")
def keyed_url(viewed: Viewed) -> Iterator[str]:
    with serving(viewed.db) as url:
        yield url.rstrip("/")


def _enter(page, key: str) -> None:
    page.wait_for_selector("form.key-prompt")
    page.fill("#api-key", key)
    page.click("form.key-prompt button[type=submit]")


def test_the_page_asks_for_the_key_then_lists_the_runs(viewed, keyed_url, open_page) -> None:
    page = open_page(keyed_url + "/")
    page.wait_for_selector("form.key-prompt")
    assert page.locator("tr.run").count() == 0
    assert page.locator("form.key-prompt .error").count() == 0
    _enter(page, API_KEY)
    page.wait_for_selector("tr.run")
    assert [c.inner_text() for c in page.locator("tr.run td.scan-id").all()] == ["3", "2", "1"]
    assert page.evaluate("sessionStorage.getItem('resonance-callback-api-key')") == API_KEY


def test_a_wrong_key_is_refused_with_a_message_and_asked_again(keyed_url, open_page) -> None:
    page = open_page(keyed_url + "/view/")
    _enter(page, "wrong1")
    page.wait_for_selector("form.key-prompt .error")
    assert page.locator("form.key-prompt .error").inner_text() == (
        "The key was not accepted; check it and try again.")
    assert page.locator("tr.run").count() == 0
    assert page.evaluate("sessionStorage.getItem('resonance-callback-api-key')") is None
    _enter(page, API_KEY)
    page.wait_for_selector("tr.run")


def test_the_key_goes_in_the_authorization_header_and_never_in_a_url(
        viewed, keyed_url, open_page) -> None:
    page = open_page(keyed_url + "/view/")
    sent: list[tuple[str, str | None]] = []
    page.on("request", lambda r: sent.append((r.url, r.headers.get("authorization"))))
    _enter(page, API_KEY)
    page.wait_for_selector("tr.run")
    page.goto(keyed_url + f"/view/#/{viewed.scanned}/primary")
    page.wait_for_selector("svg.plot polyline")
    page.wait_for_selector("img.frame-image[src^='blob:']")
    api = [(url, auth) for url, auth in sent if "/api/v1/" in url]
    assert {"search", "metadata", "table", "array"} <= {
        url.split("/api/v1/")[1].split("/")[0] for url, _ in api}
    assert all(auth == f"Apikey {API_KEY}" for _, auth in api), api
    assert not [url for url, _ in sent if API_KEY in url]
    assert API_KEY not in page.url


def test_the_page_and_its_redirect_answer_without_the_key_and_nothing_else_does(
        keyed_url) -> None:
    with httpx.Client(base_url=keyed_url, timeout=60) as client:
        root = client.get("/")
        assert (root.status_code, root.headers["location"]) == (307, "view/")
        for path in ("/view/", "/view/view.js", "/view/api.js", "/view/draw.js",
                     "/view/stream.js", "/view/view.css"):
            answer = client.get(path)
            assert answer.status_code == 200, path
            assert "script-src 'self'" in answer.headers["content-security-policy"]
            assert answer.headers["x-content-type-options"] == "nosniff"
        for path in ("/view/missing.js", "/view/../api/v1/metadata/", "/ui/", "/favicon.ico"):
            assert client.get(path).status_code == 401, path
        assert client.post("/view/").status_code == 401


def test_the_browser_tests_fail_naming_chromium_when_it_is_missing(monkeypatch) -> None:
    monkeypatch.delenv("CHROMIUM", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(pytest.fail.Exception, match="chromium is missing"):
        chromium(candidates=())
    assert "/usr/bin/chromium" in CANDIDATES
