"""A person in Chromium: signs in, asks, watches the answer stream, stops it, reloads."""

import pytest
from playwright.sync_api import Page, expect

from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def sign_in(page: Page, base: str) -> None:
    UserFactory.create(username="agent")
    page.goto(f"{base}/")
    page.get_by_label("Username").fill("agent")
    page.get_by_label("Password").fill("secret-pass-123")
    page.get_by_role("button", name="Sign in").click()


def test_ask_watch_it_stream_stop_and_find_it_after_reload(page: Page, asgi_server, worker):
    sign_in(page, asgi_server)
    page.get_by_role("button", name="Start a conversation").click()
    expect(page.get_by_text("Ask anything to start.")).to_be_visible()

    page.get_by_label("Message").fill("Write a long story about a lighthouse keeper.")
    page.keyboard.press("Enter")
    expect(page.locator(".msg-user .body")).to_have_text(
        "Write a long story about a lighthouse keeper."
    )
    answer = page.locator(".msg-assistant .body")
    expect(answer).not_to_be_empty(timeout=30_000)
    first = answer.inner_text()
    page.wait_for_function(
        "n => document.querySelector('.msg-assistant .body').innerText.length > n",
        arg=len(first) + 20,
        timeout=30_000,
    )  # it grows while the user watches
    stop = page.get_by_role("button", name="Stop")
    expect(stop).to_be_visible()
    stop.click()
    expect(page.locator(".msg-assistant .note")).to_have_text("Stopped.", timeout=15_000)
    expect(stop).to_be_hidden()
    partial = answer.inner_text()
    assert len(partial) > len(first)

    page.reload()
    expect(page.locator(".msg-user .body")).to_have_text(
        "Write a long story about a lighthouse keeper."
    )
    expect(page.locator(".msg-assistant .note")).to_have_text("Stopped.")
    assert page.locator(".msg-assistant .body").inner_text().strip() == partial.strip()
    # The conversation is listed under the first words of its first message.
    expect(
        page.get_by_role("link", name="Write a long story about a lighthouse keeper.")
    ).to_be_visible()


def test_a_finished_answer_is_rendered_and_the_next_question_remembers(
    page: Page, asgi_server, worker
):
    sign_in(page, asgi_server)
    page.get_by_role("button", name="Start a conversation").click()
    page.get_by_label("Message").fill("Say hello in one short sentence.")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".msg-assistant")).to_have_attribute("data-status", "done", timeout=60_000)
    # The finished answer is swapped for the server's sanitized Markdown rendering.
    expect(page.locator(".msg-assistant .body p").first).to_be_visible()
    expect(page.get_by_role("button", name="Send")).to_be_enabled()
    page.get_by_label("Message").fill("Thanks!")
    page.keyboard.press("Enter")
    expect(page.locator(".msg-assistant")).to_have_count(2)
    expect(page.locator(".msg-assistant").nth(1)).to_have_attribute(
        "data-status", "done", timeout=60_000
    )
