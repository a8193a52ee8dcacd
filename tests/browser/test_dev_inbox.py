"""The dev inbox in Chromium, as Mailpit's users expect it: a mail appears without a
reload, search finds it, its HTML, text, headers and raw source are a tab away, a push
is drawn as a phone shows it, and clearing empties it; and its JSON API, which
integration tests assert on."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import shots_folder, started
from tests.browser.test_console import check_axe
from tests.e2e.conftest import Dev

WELCOME = {"name": "Ada", "link": "https://example.com/start"}
PUSH_TOKEN = "fcm-token-" + "d" * 140


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dev]:
    running = started(tmp_path_factory.mktemp("inbox"))
    yield running
    running.process.stop()


def send(dev: Dev, **recipient: Any) -> str:
    with httpx.Client(base_url=dev.url, headers=dev.auth, timeout=10) as api:
        sent = api.post(
            "/api/v1/notifications/",
            json={
                "notification_type": (
                    "push" if "device" in recipient else "sms" if "phone" in recipient else "email"
                ),
                "to": recipient,
                "template_code": "welcome",
                "variables": WELCOME,
                "request_id": str(uuid.uuid4()),
            },
        )
        assert sent.status_code == 202, sent.text
        return str(sent.json()["data"]["notification_id"])


def test_a_mail_appears_live_and_is_read_in_every_view(tab: Page, dev: Dev) -> None:
    tab.goto(f"{dev.url}/dev/inbox")
    expect(tab.locator("#messages tbody")).to_contain_text("Nothing captured")
    send(dev, email="grace@example.com")
    row = tab.locator("#messages tbody tr", has_text="grace@example.com")
    expect(row).to_have_count(1)  # without a reload
    shots = shots_folder(Path(dev.home.parent / "shots"))
    check_axe(tab, shots, "dev-inbox")

    row.get_by_role("link").click()
    expect(tab.get_by_role("heading", level=1)).to_have_text("Welcome, Ada!")
    expect(tab.frame_locator("iframe.mail").locator("body")).to_contain_text("Hello Ada")
    tab.get_by_role("tab", name="Text").click()
    expect(tab.locator("#panel-text")).to_contain_text("https://example.com/start")
    expect(tab.locator("#panel-html")).to_be_hidden()
    tab.get_by_role("tab", name="Text").press("ArrowRight")  # the keyboard moves along
    expect(tab.get_by_role("tab", name="Headers")).to_have_attribute("aria-selected", "true")
    expect(tab.locator("#panel-headers")).to_contain_text("List-Unsubscribe")
    tab.get_by_role("tab", name="Raw").click()
    expect(tab.locator("#panel-raw")).to_contain_text("Content-Type: multipart/alternative")
    check_axe(tab, shots, "dev-inbox-message")


def test_search_and_a_push_drawn_as_a_phone_shows_it(tab: Page, dev: Dev) -> None:
    send(dev, device={"kind": "fcm", "token": PUSH_TOKEN})
    send(dev, email="linus@example.com")
    tab.goto(f"{dev.url}/dev/inbox")
    expect(tab.locator("#messages tbody tr")).to_have_count(3)
    tab.get_by_role("textbox", name="Search").fill("linus")
    tab.get_by_role("button", name="Search").click()
    expect(tab.locator("#messages tbody tr")).to_have_count(1)
    tab.goto(f"{dev.url}/dev/inbox?channel=push")
    push = tab.locator("#messages tbody tr")
    expect(push).to_have_count(1)
    push.get_by_role("link").click()
    phone = tab.get_by_label("The push as a phone shows it")
    expect(phone).to_contain_text("Welcome, Ada!")
    shots = shots_folder(Path(dev.home.parent / "shots"))
    check_axe(tab, shots, "dev-inbox-push")


def test_the_json_api_answers_what_a_test_asks(dev: Dev) -> None:
    before = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    send(dev, email="api@example.com")
    with httpx.Client(base_url=dev.url, timeout=10) as client:
        found: list[dict[str, Any]] = []
        for _ in range(100):
            found = client.get(
                "/dev/inbox/api/messages", params={"to": "API@example.com", "since": before}
            ).json()["data"]
            if found:
                break
            time.sleep(0.1)
        assert len(found) == 1
        mail = found[0]
        assert mail["channel"] == "email" and mail["to"] == "api@example.com"
        assert mail["content"]["headers"]["Subject"] == "Welcome, Ada!"
        assert "https://example.com/start" in mail["content"]["text"]
        one = client.get(f"/dev/inbox/api/messages/{mail['id']}").json()["data"]
        assert one == mail
        pushes = client.get("/dev/inbox/api/messages", params={"channel": "push"}).json()["data"]
        assert [p["content"]["payload"]["title"] for p in pushes] == ["Welcome, Ada!"]
        later = client.get("/dev/inbox/api/messages", params={"since": "2999-01-01T00:00:00Z"})
        assert later.json()["data"] == []
        bad = client.get("/dev/inbox/api/messages", params={"since": "yesterday"})
        assert bad.status_code == 422 and "since" in bad.json()["error"]
        assert client.get("/dev/inbox/api/messages/999999").status_code == 404

        deleted = client.delete("/dev/inbox/api/messages").json()["data"]["deleted"]
        assert deleted == 4
        assert client.get("/dev/inbox/api/messages").json()["data"] == []


def test_texts_and_chats_are_captured_too(tab: Page, dev: Dev) -> None:
    send(dev, phone="+447700900123")
    chat = {"kind": "slack", "webhook_url": "https://hooks.slack.example/services/T/B/X"}
    with httpx.Client(base_url=dev.url, headers=dev.auth, timeout=10) as api:
        made = api.post(
            "/api/v1/templates/",
            json={"code": "hello", "channel": "chat", "text": "Hello {{ name }}"},
        )
        assert made.status_code == 201, made.text
        sent = api.post(
            "/api/v1/notifications/",
            json={
                "notification_type": "chat",
                "to": {"device": chat},
                "template_code": "hello",
                "variables": {"name": "Ada"},
                "request_id": str(uuid.uuid4()),
            },
        )
        assert sent.status_code == 202, sent.text
    with httpx.Client(base_url=dev.url, timeout=10) as client:
        found: dict[str, list[dict[str, Any]]] = {}
        for _ in range(100):
            found = {
                c: client.get("/dev/inbox/api/messages", params={"channel": c}).json()["data"]
                for c in ("sms", "chat")
            }
            if all(found.values()):
                break
            time.sleep(0.1)
    [text], [message] = found["sms"], found["chat"]
    assert text["to"] == "+447700900123" and text["content"]["parts"] == 1
    assert text["content"]["body"].startswith("Welcome, Ada!")
    assert message["content"]["payload"] == {"text": "Hello Ada"}

    tab.goto(f"{dev.url}/dev/inbox/{text['id']}")
    expect(tab.get_by_label("The text as a phone shows it")).to_contain_text("Welcome, Ada!")
    shots = shots_folder(Path(dev.home.parent / "shots"))
    check_axe(tab, shots, "dev-inbox-sms")
    tab.goto(f"{dev.url}/dev/inbox/{message['id']}")
    expect(tab.get_by_label("The message as its chat shows it")).to_contain_text("Hello Ada")


def test_clearing_from_the_page_empties_it(tab: Page, dev: Dev) -> None:
    send(dev, email="last@example.com")
    tab.goto(f"{dev.url}/dev/inbox")
    expect(tab.locator("#messages tbody tr", has_text="last@example.com")).to_have_count(1)
    tab.once("dialog", lambda dialog: dialog.accept())
    tab.get_by_role("button", name="Clear the inbox").click()
    expect(tab.locator("#messages tbody")).to_contain_text("Nothing captured")
    expect(tab.locator("#count")).to_have_text(re.compile(r"^0 captured"))
