"""The browser view (``/view/``) in headless Chromium: what a scientist sees, without Python."""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator

import pytest

from resonance_callback import open_beamtime

from ._browser import MARKUP, POINTS, Viewed
from .conftest import API_KEY, serving


@pytest.fixture(scope="module")
def public_url(viewed: Viewed) -> Iterator[str]:
    with serving(viewed.db, api_key=None, public=True) as url:
        yield url.rstrip("/")


def _cells(page, selector: str) -> list[str]:
    return [cell.inner_text() for cell in page.locator(selector).all()]


def test_the_page_lists_runs_newest_first_by_scan_id_plan_sample_start_and_exit_status(
        viewed, public_url, open_page) -> None:
    page = open_page(public_url + "/")
    page.wait_for_selector("tr.run")
    assert page.url == public_url + "/view/"
    assert _cells(page, "tr.run td.scan-id") == ["3", "2", "1"]
    assert _cells(page, "tr.run td.plan") == ["failing_count", "scan", "count"]
    assert _cells(page, "tr.run td.sample") == ["gold", MARKUP, "silicon"]
    assert _cells(page, "tr.run td.exit-status") == ["fail", "success", "success"]
    with open_beamtime(viewed.db) as beamtime:
        starts = [beamtime[uid].start["time"] for uid in (viewed.failed, viewed.scanned,
                                                          viewed.counted)]
    assert _cells(page, "tr.run td.start") == [
        datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")
        for t in starts]


def test_a_sample_name_holding_markup_is_shown_as_text_and_never_run(
        viewed, public_url, open_page) -> None:
    page = open_page(public_url + "/view/")
    page.wait_for_selector("tr.run")
    row = page.locator(f'tr.run[data-uid="{viewed.scanned}"]')
    assert row.locator("td.sample").inner_text() == MARKUP
    assert row.locator("img, script").count() == 0
    row.locator("td.scan-id a").click()
    page.wait_for_selector("dd[data-fact=sample]")
    assert page.locator("dd[data-fact=sample]").inner_text() == MARKUP
    assert json.dumps(MARKUP) in page.locator("details pre").text_content()  # the note
    assert page.locator("main img, main script").count() == 0
    assert page.evaluate("window.__xss") is None


def test_opening_a_run_shows_its_facts_and_lists_its_streams(
        viewed, public_url, open_page) -> None:
    page = open_page(public_url + "/view/")
    page.locator(f'tr.run[data-uid="{viewed.counted}"] td.plan').click()
    page.wait_for_selector("li[data-stream]")
    assert page.url.endswith("/view/#/" + viewed.counted)
    assert [li.get_attribute("data-stream") for li in page.locator("li[data-stream]").all()] == [
        "primary"]
    assert page.locator("li[data-stream=primary]").inner_text() == "primary (3 events)"
    assert page.locator("dd[data-fact=plan]").inner_text() == "count"
    assert page.locator("dd[data-fact=uid]").inner_text() == viewed.counted


def test_a_scalar_stream_is_drawn_as_a_line_of_the_hinted_detector_against_the_motor(
        viewed, public_url, open_page) -> None:
    page = open_page(public_url + f"/view/#/{viewed.scanned}/primary")
    line = page.wait_for_selector("svg.plot polyline")
    assert page.locator("#x-field").input_value() == "motor"
    assert page.locator("#y-field").input_value() == "det"
    with open_beamtime(viewed.db) as beamtime:
        table = beamtime[viewed.scanned].table("primary")
    points = [tuple(map(float, p.split(","))) for p in line.get_attribute("points").split()]
    assert len(points) == POINTS == len(table)
    xs = [x for x, _ in points]
    assert xs == sorted(xs) and xs[0] < xs[-1]  # motor from -1 to 1, left to right
    ys = [y for _, y in points]  # SVG's y grows downwards: the peak of det is the smallest y
    assert ys.index(min(ys)) == int(table["det"].to_numpy().argmax())
    assert page.locator("figcaption").inner_text() == f"det against motor: {POINTS} points"


def test_choosing_another_x_redraws_the_line(viewed, public_url, open_page) -> None:
    page = open_page(public_url + f"/view/#/{viewed.scanned}/primary")
    page.wait_for_selector("svg.plot polyline")
    page.select_option("#x-field", "seq_num")
    page.wait_for_selector("figcaption:has-text('det against seq_num')")
    assert page.locator("svg.plot polyline").get_attribute("data-points") == str(POINTS)


def test_frames_are_stepped_through_one_image_each(viewed, public_url, open_page) -> None:
    page = open_page(public_url + f"/view/#/{viewed.scanned}/primary")
    frames = page.locator("section.frames[data-field=img]")
    image = frames.locator("img.frame-image")
    page.wait_for_function("() => document.querySelector('img.frame-image')?.complete && "
                           "document.querySelector('img.frame-image').naturalWidth > 0")
    assert frames.locator(".frame-counter").inner_text() == f"frame 1 / {POINTS}"
    first = image.get_attribute("src")
    assert first.startswith("blob:")
    assert frames.locator("button.prev").is_disabled()
    frames.locator("button.next").click()
    page.wait_for_function("first => document.querySelector('img.frame-image').src !== first",
                           arg=first)
    assert frames.locator(".frame-counter").inner_text() == f"frame 2 / {POINTS}"
    assert image.get_attribute("alt") == "img, frame 2"
    assert image.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [5, 6]
    frames.locator("button.prev").click()
    page.wait_for_selector(".frame-counter:has-text('frame 1 /')")


def test_a_served_directory_lists_its_beamtimes_each_opening_to_its_runs(
        site, site_url, open_page) -> None:
    page = open_page(site_url.rstrip("/") + "/view/")
    page.wait_for_selector("form.key-prompt")
    page.fill("#api-key", API_KEY)
    page.click("form.key-prompt button[type=submit]")
    page.wait_for_selector("tr.node")
    assert sorted(n.get_attribute("data-key") for n in page.locator("tr.node").all()) == [
        "2026-03", "good"]
    page.locator("tr.node[data-key=good] a").click()
    page.wait_for_selector("tr.run")
    assert page.url.endswith("/view/#/good")
    assert [c.inner_text() for c in page.locator("tr.run td.sample").all()] == ["Cu", "Si"]
    assert page.locator("tr.run").first.get_attribute("data-uid") == site.plain
