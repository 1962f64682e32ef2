"""A headless Chromium for browser tests: Debian's /usr/bin/chromium driven by Playwright.

`chromium` (session) is the launched Browser; `page` (per test) is a Page in a fresh context, so
no cookies or storage leak between tests. Playwright's own browser download needs the internet,
so the browser is Debian's package: `make browser` (which `make test` runs) installs it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")

# Test machines may have no internet: these keep Chromium from dialling Google's services
# (component updates, sync, background fetches, QUIC). Playwright passes most of them by default
# too; they are spelled out so the browser's behaviour does not hang on Playwright's defaults.
# --headless=new is the real browser, not the old separate headless shell.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_chromium() -> None:
    """Skip without Chromium, except under CI=true, where its absence is a failure."""
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} is missing: run `make browser` (deploy/install-chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI=true: failing, not skipping)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def chromium(tmp_path_factory) -> Iterator:
    """The headless Chromium, launched once per session with a fresh profile."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    # launch() gives Chromium a fresh --user-data-dir of its own (a playwright_chromiumdev_profile-*
    # directory in /tmp, deleted on close; passing --user-data-dir is refused). Chromium still
    # writes "Crash Reports" under $HOME/.config/chromium: point HOME at this session's tmp dir.
    home = tmp_path_factory.mktemp("chromium-home")
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
    }
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, env=env
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(chromium) -> Iterator:
    """A new page in a new browser context: fresh cookies and storage for every test."""
    context = chromium.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()
