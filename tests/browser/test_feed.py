"""``<herald-feed>`` in Chromium, as a user sees it: the bell's count rises when an
in-app notification is sent, without a reload; the feed opens; reading an item or all
of them lowers the count; and the element works from another site's page when that
site is allowed (HERALD_FEED_ORIGINS), and is refused when it is not."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import shots_folder, started
from tests.browser.test_console import check_axe
from tests.e2e.conftest import Dev


class Site:
    """A client's web site on loopback (Chromium lets a page reach Herald on loopback
    only from loopback), answering every path with the page the test gives it."""

    def __init__(self) -> None:
        self.page = ""
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = site.page.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def sites() -> Iterator[tuple[Site, Site]]:
    """A site allowed to read feeds (HERALD_FEED_ORIGINS), and one that is not."""
    shop, elsewhere = Site(), Site()
    yield shop, elsewhere
    shop.stop()
    elsewhere.stop()


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory, sites: tuple[Site, Site]) -> Iterator[Dev]:
    running = started(tmp_path_factory.mktemp("feed"), HERALD_FEED_ORIGINS=sites[0].url)
    yield running
    running.process.stop()


def api(dev: Dev) -> httpx.Client:
    return httpx.Client(base_url=dev.url, headers=dev.auth, timeout=10)


def user(dev: Dev) -> str:
    with api(dev) as client:
        made = client.post(
            "/api/v1/users/",
            json={
                "name": "Ada",
                "email": f"ada-{uuid.uuid4().hex[:8]}@example.com",
                "password": "correct horse",
            },
        )
        assert made.status_code == 201, made.text
        return str(made.json()["data"]["id"])


def notify(dev: Dev, user_id: str, name: str = "Ada") -> None:
    with api(dev) as client:
        sent = client.post(
            "/api/v1/notifications/",
            json={
                "notification_type": "in_app",
                "user_id": user_id,
                "template_code": "welcome",
                "variables": {"name": name, "link": "https://example.com/start"},
                "request_id": str(uuid.uuid4()),
            },
        )
        assert sent.status_code == 202, sent.text


def test_the_count_rises_live_and_reading_lowers_it(tab: Page, dev: Dev) -> None:
    ada = user(dev)
    tab.goto(f"{dev.url}/dev/feed?user_id={ada}")
    bell = tab.get_by_role("button", name="Notifications, 0 unread")
    expect(bell).to_be_visible()
    notify(dev, ada, "Ada")
    notify(dev, ada, "Grace")
    bell = tab.get_by_role("button", name="Notifications, 2 unread")
    expect(bell).to_be_visible()  # without a reload
    expect(tab.locator("herald-feed .badge")).to_have_text("2")

    bell.click()
    panel = tab.get_by_role("region", name="Notifications")
    expect(panel.get_by_role("listitem")).to_have_count(2)
    expect(panel).to_contain_text("Welcome, Grace!")  # in the order they were stored
    expect(panel).to_contain_text("Welcome, Ada!")
    shots = shots_folder(Path(dev.home.parent / "shots"))
    check_axe(tab, shots, "dev-feed")

    # Reading one without following its link: the count falls, live, to one.
    tab.route("https://example.com/**", lambda route: route.fulfill(body="the client's page"))
    panel.locator("button.item", has_text="Welcome, Ada!").click()
    tab.wait_for_url("https://example.com/start")
    tab.goto(f"{dev.url}/dev/feed?user_id={ada}")
    expect(tab.get_by_role("button", name="Notifications, 1 unread")).to_be_visible()
    tab.get_by_role("button", name="Notifications, 1 unread").click()
    tab.get_by_role("button", name="Mark all as read").click()
    expect(tab.locator("herald-feed .badge")).to_be_hidden()
    expect(tab.get_by_role("button", name="Notifications, 0 unread")).to_be_visible()
    with api(dev) as client:
        meta = client.get(f"/api/v1/users/{ada}/feed").json()["meta"]
    assert meta["unread"] == 0 and meta["total"] == 2


def _page_of(dev: Dev, user_id: str, token: str) -> str:
    """The page a client's backend renders: Herald's script, and the user's token."""
    return (
        "<!doctype html><html lang='en'><head><title>Shop</title>"
        f"<script type='module' src='{dev.url}/feed.js'></script></head>"
        f"<body><main><h1>Shop</h1><herald-feed user='{user_id}' token='{token}'>"
        "</herald-feed></main></body></html>"
    )


def test_another_sites_page_shows_the_feed_when_allowed(
    tab: Page, dev: Dev, sites: tuple[Site, Site]
) -> None:
    shop, elsewhere = sites
    ada = user(dev)
    with api(dev) as client:
        made = client.post(f"/api/v1/users/{ada}/feed/token", json={"ttl_seconds": 600})
        token = made.json()["data"]["token"]
    shop.page = elsewhere.page = _page_of(dev, ada, token)
    tab.goto(shop.url)
    expect(tab.get_by_role("button", name="Notifications, 0 unread")).to_be_visible()
    notify(dev, ada)
    expect(tab.get_by_role("button", name="Notifications, 1 unread")).to_be_visible()

    tab.goto(elsewhere.url)
    expect(tab.locator("herald-feed")).to_have_attribute("data-error", "Failed to fetch")
    expect(tab.locator("herald-feed .badge")).to_be_hidden()
