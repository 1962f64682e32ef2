"""The live page in a real browser (headless Chromium): each role signs in and sees what it may,
and a purchase posted to the receiver appears on the open page without a reload."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from ofhq_pipeline_tests.live.site import CREATOR_A, CREATOR_B, PASSWORD, Site, live_site

# Chromium and a whole site: the second CI step (`make test-slow`), where a missing browser
# fails under CI=true.
pytestmark = pytest.mark.slow

ALL = ["counts", "revenue", "purchases", "creators", "stages", "temperature", "actions", "flows"]
SHOWN = {
    "ann": set(ALL),
    "carl": {"counts", "revenue", "purchases", "creators", "flows"},
    "eve": set(ALL) - {"flows"},
}
WAIT_MS = 20_000  # bounds a hang only


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[Site]:
    # Secure session cookies, as deployed: Chromium keeps them from a loopback address.
    with live_site(tmp_path_factory.mktemp("browser") / "home") as running:
        yield running


def signed_in_page(chromium, site: Site, member: str):
    context = chromium.new_context()
    page = context.new_page()
    page.goto(site.url + "/")
    assert page.url.startswith(site.url + "/login")  # no page without a session
    page.fill("input[name=member]", member)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(site.url + "/")
    # The page's CSP allows no string evaluation: wait through locators, not wait_for_function.
    page.locator("#creators table").wait_for(timeout=WAIT_MS)
    return context, page


@pytest.mark.parametrize("member", ["ann", "carl", "eve"])
def test_each_role_sees_its_sections_and_creators(chromium, site, member):
    context, page = signed_in_page(chromium, site, member)
    try:
        cookie = next(c for c in context.cookies() if c["name"] == "ofhq_live_session")
        assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
        shown = {name for name in ALL if page.locator(f"section#{name}").count()}
        assert shown == SHOWN[member]
        creators = page.locator("#creators table").inner_text()
        assert CREATOR_A in creators
        assert (CREATOR_B in creators) == (member != "eve")
        if member == "carl":  # money only: no fan's temperature even in the purchases
            assert "temperature" not in page.locator("#purchases").inner_text().lower()
        assert member in page.locator("#member").inner_text()
    finally:
        context.close()


def test_a_purchase_appears_on_the_open_pages_it_belongs_to(chromium, site):
    ann_context, ann = signed_in_page(chromium, site, "ann")
    eve_context, eve = signed_in_page(chromium, site, "eve")
    try:
        posted = time.monotonic()
        site.purchase(CREATOR_A, 151, 42.5, "Zed <b>Live</b>")
        for page in (ann, eve):
            expect(page.locator("#purchases")).to_contain_text("Zed <b>Live</b>",
                                                              timeout=WAIT_MS)
        assert time.monotonic() - posted < 10  # a hang bound; `make bench` measures latency
        assert ann.locator("#purchases b").count() == 0  # the name is text, never markup
        assert "$42.50" in ann.locator("#purchases").inner_text()

        site.purchase(CREATOR_B, 251, 12, "Bea Other")
        expect(ann.locator("#purchases")).to_contain_text("Bea Other", timeout=WAIT_MS)
        eve.wait_for_timeout(500)  # the same push reached every open page
        assert "Bea Other" not in eve.locator("#purchases").inner_text()
    finally:
        ann_context.close()
        eve_context.close()


def test_sign_out_needs_the_form_and_ends_the_page(chromium, site):
    context, page = signed_in_page(chromium, site, "ann")
    try:
        page.click("text=Sign out")
        page.wait_for_url(lambda url: "/login" in url)
        page.goto(site.url + "/")
        assert "/login" in page.url
    finally:
        context.close()
