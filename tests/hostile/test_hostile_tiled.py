"""Hostile requests to serve-tiled: each is refused or answered at once, and nothing changes.

The server (a real Tiled app over HTTP on 127.0.0.1, with an API key) serves a
directory of beamtimes beside files that are no beamtime (``tests.tiled_server._site``).
Each case sends one hostile request and checks: the answer (status, and the
reason it gives), that every stored file is byte for byte what it was, that
the server still answers a reader with the key, and that time and memory
stayed bounded (a generous timeout; the process's peak memory grew by less
than 200 MiB).
"""

from __future__ import annotations

import dataclasses
import resource
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.tiled_server._site import Site, build_site
from tests.tiled_server.conftest import API_KEY, serving

KEY = {"Authorization": f"Apikey {API_KEY}"}


@dataclasses.dataclass(frozen=True)
class Hostile:
    id: str
    path: str                  # with {plain} for a run's uid
    status: int
    reason: str                # in the answer's text
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    params: dict[str, str] = dataclasses.field(default_factory=dict)


def _query(name: str, **fields: str) -> dict[str, str]:
    return {f"filter[{name}][condition][{k}]": v for k, v in fields.items()}


CASES = [
    Hostile("zarr-listing-without-a-key", "/zarr/v2/good/", 401, "API key is required"),
    Hostile("zarr-chunk-with-a-wrong-key", "/zarr/v3/good/{plain}/primary/internal/c/0", 401,
            "API key is required", params={"api_key": "wrong1"}),
    Hostile("a-bearer-token-instead-of-the-key", "/api/v1/search/good", 401,
            "API key is required", headers={"Authorization": "Bearer forged"}),
    Hostile("backtracking-regex", "/api/v1/search/good", 200, '"data":[]', headers=KEY,
            params=_query("regex", key="note", pattern="(a+)+$", case_sensitive="true")),
    Hostile("like-of-many-wildcards", "/api/v1/search/good", 200, '"data":[]', headers=KEY,
            params=_query("like", key="note", pattern='"' + "%a" * 12 + '%b"')),
    Hostile("regex-with-a-backreference", "/api/v1/search/good", 400, "no backreferences",
            headers=KEY, params=_query("regex", key="note", pattern=r"(a+)+\1",
                                       case_sensitive="true")),
    Hostile("regex-of-12000-characters", "/api/v1/search/good", 400, "at most 10000",
            headers=KEY, params=_query("regex", key="note", pattern="a" * 12_000,
                                       case_sensitive="true")),
    Hostile("deep-search-of-every-beamtime", "/api/v1/search-deep/", 400,
            "deep search is not offered", headers=KEY),
    Hostile("a-path-out-of-the-served-directory", "/api/v1/metadata/%2E%2E%2Felsewhere%2Fsecret",
            404, "No such entry", headers=KEY),
    Hostile("a-listing-beside-broken-files", "/api/v1/metadata/", 200,
            "is not an SQLite database", headers=KEY),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    return build_site(tmp_path_factory.mktemp("hostile-tiled"))


@pytest.fixture(scope="module")
def url(site: Site) -> Iterator[str]:
    with serving(site.root) as base:
        yield base.rstrip("/")


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _still_serves(url: str, site: Site) -> None:
    listing = httpx.get(f"{url}/api/v1/search/", headers=KEY, timeout=60)
    assert [e["id"] for e in listing.json()["data"]] == ["2026-03", "good"]
    run = httpx.get(f"{url}/api/v1/metadata/good/{site.plain}", headers=KEY, timeout=60)
    assert run.json()["data"]["attributes"]["metadata"]["start"]["note"] == "plain"
    assert httpx.get(f"{url}/healthz", timeout=60).status_code == 200


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_a_hostile_request_costs_only_itself(case: Hostile, site: Site, url: str) -> None:
    before, peak = site.digest(), _peak_mib()
    params: dict[str, Any] = dict(case.params)
    got = httpx.get(url + case.path.format(plain=site.plain), headers=case.headers,
                    params=params, timeout=60)
    assert got.status_code == case.status, got.text[:300]
    assert case.reason in got.text, got.text[:300]
    assert site.digest() == before
    _still_serves(url, site)
    assert _peak_mib() - peak < 200

