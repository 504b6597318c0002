"""Directory mode: a file that is no beamtime is skipped and reported; nested beamtimes by path."""

from __future__ import annotations

import logging

import httpx

from ._site import NOT_BEAMTIMES, build_site
from .conftest import API_KEY, serving

KEY = {"Authorization": f"Apikey {API_KEY}"}


def test_files_that_are_no_beamtime_are_skipped_and_the_listing_answers(site, site_url) -> None:
    listing = httpx.get(site_url.rstrip("/") + "/api/v1/search/", headers=KEY, timeout=60)
    assert listing.status_code == 200
    assert [entry["id"] for entry in listing.json()["data"]] == ["2026-03", "good"]


def test_the_other_beamtimes_read_beside_broken_files(site, site_url, open_client) -> None:
    client = open_client(site_url, api_key=API_KEY)
    assert list(client["good"]) == [site.backtracks, site.plain]
    assert client["good"][site.plain]["primary"].read().sizes["time"] == 2


def test_skipped_files_are_listed_with_their_reasons_in_the_directorys_metadata(
        site, site_url, open_client) -> None:
    skipped = open_client(site_url, api_key=API_KEY).metadata["skipped"]
    assert sorted(skipped) == sorted(NOT_BEAMTIMES)
    for name, word in NOT_BEAMTIMES.items():
        assert word in skipped[name] and skipped[name], (name, skipped[name])


def test_a_nested_beamtime_is_addressed_by_its_path_without_db(site, site_url, open_client) -> None:
    client = open_client(site_url, api_key=API_KEY)
    assert list(client["2026-03"]) == ["inner"]
    assert list(client["2026-03/inner"]) == [site.inner]
    assert list(client["2026-03"]["inner"]) == [site.inner]
    assert client["2026-03/inner"][site.inner].metadata["start"]["note"] == "nested"
    assert client["2026-03"].metadata["skipped"] == {}


def test_a_path_out_of_the_served_directory_is_not_found(site, site_url) -> None:
    # %2E%2E is "..": the server sees it as a path segment (a client would normalise "..").
    for path in ["outside", "%2E%2E", "2026-03/%2E%2E", "2026-03/%2E%2E%2Fgood", "folder", "pipe",
                 "notes", "%2E%2E%2Felsewhere%2Fsecret"]:
        got = httpx.get(site_url.rstrip("/") + f"/api/v1/metadata/{path}", headers=KEY,
                        timeout=60)
        assert got.status_code == 404, path


def test_each_skipped_file_is_logged_once_naming_it_and_its_reason(
        tmp_path, caplog, open_client) -> None:
    site = build_site(tmp_path)
    caplog.set_level(logging.WARNING, logger="resonance_callback.tiled_server")
    with serving(site.root) as url:
        client = open_client(url, api_key=API_KEY)
        for _ in range(3):
            assert list(client) == ["2026-03", "good"]
    lines = [r.getMessage() for r in caplog.records if r.name == "resonance_callback.tiled_server"]
    for name in NOT_BEAMTIMES:
        assert len([line for line in lines if str(site.root / name) in line]) == 1, name
