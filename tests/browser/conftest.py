"""A real ``herald dev`` and Debian's Chromium driven by Playwright: the console as an
operator uses it. Mail goes to an SMTP server of the test's that refuses one address
for good, so that a failed notification and a dead letter happen for real."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from tests.e2e.conftest import Dev
from tests.e2e.processes import environment
from tests.servers import IN_CI
from tests.smtp import SmtpServer, free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Chromium as a test browser on a closed network: no calls home (DESIGN.md's notes).
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ADMIN = ("ops@example.com", "correct horse battery")
REFUSED = "gone@example.com"


@dataclass
class Console:
    dev: Dev
    smtp: SmtpServer
    # Where screenshots go: docs/console with HERALD_SCREENSHOTS=1 (make screenshots).
    shots: Path
    # Every host a page asked for anything, across the whole run.
    hosts: set[str]

    @property
    def url(self) -> str:
        return self.dev.url

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.dev.url, headers=self.dev.auth, timeout=10)


def _browser_or_skip(p: Playwright) -> Browser:
    if not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail("chromium is not installed; CI needs it (apt-get install chromium)")
        pytest.skip("chromium is not installed")
    return p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)


def started(folder: Path, **values: str) -> Dev:
    """``herald dev`` in its own process, healthy."""
    env = environment(
        {
            "HERALD_DEV_SMTP_PORT": str(free_port()),
            "HERALD_BOOTSTRAP_ADMIN_EMAIL": ADMIN[0],
            "HERALD_BOOTSTRAP_ADMIN_PASSWORD": ADMIN[1],
            **values,
        }
    )
    dev = Dev(folder / ".herald", env)
    dev.process.start()
    try:
        _healthy(dev, timeout=60)
    except BaseException:
        dev.process.stop()
        raise
    return dev


def shots_folder(fallback: Path) -> Path:
    """docs/console with HERALD_SCREENSHOTS=1 (``make screenshots``), else ``fallback``."""
    folder = Path("docs/console") if os.environ.get("HERALD_SCREENSHOTS") else fallback
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    smtp = SmtpServer()
    smtp.rcpt_replies[REFUSED] = "550 5.1.1 no such mailbox here"
    smtp.start()
    folder = tmp_path_factory.mktemp("console")
    try:
        dev = started(folder, HERALD_SMTP_URL=smtp.url)
    except BaseException:
        smtp.stop()
        raise
    try:
        yield Console(dev, smtp, shots_folder(folder / "shots"), set())
    finally:
        dev.process.stop()
        smtp.stop()


def _healthy(dev: Dev, timeout: float) -> None:
    """Playwright's blocking API runs an event loop of its own: no asyncio here."""
    deadline = time.monotonic() + timeout
    while True:
        if dev.process.popen is not None and dev.process.popen.poll() is not None:
            raise AssertionError(f"herald dev exited:\n{dev.process.log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{dev.url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, dev.process.log.read_text()[-3000:]
        time.sleep(0.2)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        launched = _browser_or_skip(p)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def page(browser: Browser, console: Console) -> Iterator[Page]:
    """One tab for the whole module, as one operator's session."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.on("request", lambda r: console.hosts.add(urlsplit(r.url).netloc))
    tab.set_default_timeout(15_000)
    yield tab
    context.close()


@pytest.fixture(scope="module")
def tab(browser: Browser) -> Iterator[Page]:
    """One tab for a module's tests, with no tracking of its own."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()
