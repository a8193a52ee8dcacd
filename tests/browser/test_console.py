"""The console in Chromium: sign in, send and follow a notification to ``delivered``,
filter the log, read a failure's error, edit a template with its live preview and
publish it, create and revoke a key, replay a dead letter, sign out; forms refused
without their CSRF token; each page checked by axe and photographed; and no request
leaving for another host.

The tests share one signed-in tab and run in file order, as one operator's visit."""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path

import httpx
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from tests.browser.conftest import ADMIN, REFUSED, Console

_axe = Axe()
WELCOME = '{"name": "Ada", "link": "https://example.com/start"}'


def check(page: Page, console: Console, name: str) -> None:
    check_axe(page, console.shots, name)


def check_axe(page: Page, shots: Path, name: str) -> None:
    """No serious or critical accessibility violation, and a screenshot."""
    results = _axe.run(page)
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not bad, f"{name}: {bad}"
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)


def sign_in(page: Page, console: Console, email: str, password: str) -> None:
    page.goto(f"{console.url}/console/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_only_an_admin_signs_in(page: Page, console: Console) -> None:
    page.goto(f"{console.url}/console/notifications")
    expect(page).to_have_url(re.compile(r"/console/login\?next="))
    check(page, console, "sign-in")

    sign_in(page, console, ADMIN[0], "not the password")
    expect(page.get_by_role("alert")).to_have_text("email or password is wrong")

    with console.api() as api:
        made = api.post(
            "/api/v1/users/",
            json={"name": "Not Admin", "email": "user@example.com", "password": "a-long-password"},
        )
        assert made.status_code == 201, made.text
    sign_in(page, console, "user@example.com", "a-long-password")
    expect(page.get_by_role("alert")).to_contain_text("not an admin")

    sign_in(page, console, *ADMIN)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    cookie = next(c for c in page.context.cookies() if c["name"] == "herald_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"


def test_a_test_notification_is_followed_to_delivered(page: Page, console: Console) -> None:
    page.goto(f"{console.url}/console/send")
    check(page, console, "send")
    page.get_by_label("Or an email address").fill("ada@example.com")
    page.get_by_label("Template").select_option("welcome")
    page.get_by_label("Variables (JSON)").fill(WELCOME)
    page.get_by_role("button", name="Send").click()
    expect(page).to_have_url(re.compile(r"/console/notifications/[0-9a-f-]{36}\?follow=1"))
    # The page was opened while it was pending; it shows delivered without a reload.
    expect(page.locator("#status")).to_have_text("delivered", timeout=20_000)
    expect(page.locator("#timeline li")).to_have_count(2)
    assert any(m["To"] == "ada@example.com" for m in console.smtp.received)
    expect(page.frame_locator("iframe.mail").locator("body")).to_contain_text("Ada")
    check(page, console, "notification")


def test_a_failure_shows_its_error(page: Page, console: Console) -> None:
    with console.api() as api:
        sent = api.post(
            "/api/v1/notifications/",
            json={
                "notification_type": "email",
                "to": {"email": REFUSED},
                "template_code": "welcome",
                "variables": json.loads(WELCOME),
                "request_id": str(uuid.uuid4()),
            },
        )
        assert sent.status_code == 202, sent.text
        wanted = sent.json()["data"]["notification_id"]
        _until(
            lambda: api.get(f"/api/v1/notifications/{wanted}").json()["data"]["status"] == "failed"
        )

    page.goto(f"{console.url}/console/notifications")
    page.get_by_label("Status").select_option("failed")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"status=failed"))
    rows = page.locator("table.list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(REFUSED)
    check(page, console, "notifications")

    rows.first.get_by_role("link").click()
    expect(page.locator("#status")).to_have_text("failed")
    expect(page.locator("#last-error")).to_contain_text("550")


def test_the_log_filters_by_template_and_request_id(page: Page, console: Console) -> None:
    page.goto(f"{console.url}/console/notifications?template=welcome")
    expect(page.locator("table.list tbody tr")).to_have_count(2)
    page.goto(f"{console.url}/console/notifications?template=nothing-by-this-name")
    expect(page.locator("table.list tbody")).to_contain_text("No notification matches")
    page.goto(f"{console.url}/console/notifications?since=yesterday")
    expect(page.get_by_role("alert")).to_contain_text("'since' is not a date and time")


def test_a_template_is_edited_with_a_live_preview_and_published(
    page: Page, console: Console
) -> None:
    page.goto(f"{console.url}/console/templates")
    check(page, console, "templates")
    page.get_by_role("link", name="welcome", exact=True).first.click()
    page.get_by_role("link", name="Edit and publish a new version").click()
    text = page.get_by_label("text_body")
    expect(page.locator("#p-text")).to_contain_text("[name]")
    page.get_by_label("Variables for the preview (JSON)").fill(WELCOME)
    text.fill("Hello {{ name }}, this is the edited welcome.")
    expect(page.locator("#p-text")).to_have_text("Hello Ada, this is the edited welcome.")
    text.fill("Hello {{ name }")
    expect(page.locator("#p-error")).to_be_visible()
    text.fill("Hello {{ name }}, published from the console.")
    expect(page.locator("#p-text")).to_have_text("Hello Ada, published from the console.")
    check(page, console, "template-editor")
    page.get_by_role("button", name="Publish a new version").click()
    expect(page.get_by_role("status")).to_contain_text("Published version 2")
    check(page, console, "template-versions")

    page.get_by_role("button", name="Compare").click()
    expect(page.locator("table.diff tr.changed").first).to_contain_text(
        "published from the console"
    )
    check(page, console, "template-diff")


def test_a_key_is_shown_once_and_revoked(page: Page, console: Console) -> None:
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{console.url}/console/keys")
    page.get_by_label("Name").fill("billing")
    page.get_by_role("button", name="Create key").click()
    key = page.locator("#new-key").inner_text()
    assert key.startswith("hk_")
    check(page, console, "keys")
    with httpx.Client(base_url=console.url) as anyone:
        auth = {"Authorization": f"Bearer {key}"}
        assert anyone.get("/api/v1/notifications/", headers=auth).status_code == 200
        page.goto(f"{console.url}/console/keys")
        expect(page.locator("#new-key")).to_have_count(0)
        assert key not in page.content()
        page.get_by_role("button", name="Revoke billing").click()
        expect(page.get_by_role("status")).to_contain_text("Key revoked")
        # The gateway's key cache keeps an answer up to 10 s.
        _until(lambda: anyone.get("/api/v1/notifications/", headers=auth).status_code == 401, 15)


def test_a_dead_letter_is_replayed(page: Page, console: Console) -> None:
    page.goto(f"{console.url}/console/dead-letters")
    rows = page.locator("table.list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("550")
    check(page, console, "dead-letters")
    console.smtp.rcpt_replies.clear()  # the mailbox exists now
    rows.first.get_by_role("button", name=re.compile("^Replay")).click()
    expect(page.get_by_role("status")).to_contain_text("1 sent back to their queue")
    _until(lambda: any(m["To"] == REFUSED for m in console.smtp.received))
    page.goto(f"{console.url}/console/dead-letters")
    expect(page.locator("table.list tbody")).to_contain_text("None.")


def test_the_other_pages_pass_axe(page: Page, console: Console) -> None:
    for name, path in [
        ("overview", "/console/"),
        ("users", "/console/users"),
        ("suppressions", "/console/suppressions"),
        ("webhooks", "/console/webhooks"),
    ]:
        page.goto(console.url + path)
        check(page, console, name)
    page.goto(f"{console.url}/console/users?q=not%20admin")
    page.get_by_role("link", name="Not Admin").click()
    expect(page.get_by_text("user@example.com").first).to_be_visible()
    check(page, console, "user")


def test_phone_width(page: Page, console: Console) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    try:
        for name, path in [
            ("overview-390", "/console/"),
            ("notifications-390", "/console/notifications"),
        ]:
            page.goto(console.url + path)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{path} is {width} px wide at 390"
            check(page, console, name)
    finally:
        page.set_viewport_size({"width": 1280, "height": 900})


def test_a_form_without_its_csrf_token_is_refused(page: Page, console: Console) -> None:
    refused = page.request.post(
        f"{console.url}/console/keys",
        form={"name": "forged", "scope": "admin"},
    )
    assert refused.status == 403
    assert "CSRF" in refused.text()
    page.goto(f"{console.url}/console/keys")
    expect(page.get_by_text("forged")).to_have_count(0)


def test_signing_out_ends_the_session(page: Page, console: Console) -> None:
    page.goto(f"{console.url}/console/")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/console/login"))
    page.goto(f"{console.url}/console/keys")
    expect(page).to_have_url(re.compile(r"/console/login\?next=/console/keys"))


def test_no_page_asked_another_host(console: Console) -> None:
    port = console.url.rsplit(":", 1)[1]
    assert console.hosts == {f"127.0.0.1:{port}"}


def _until(done: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():  # type: ignore[operator]
        assert time.monotonic() < deadline, "did not happen in time"
        time.sleep(0.2)
