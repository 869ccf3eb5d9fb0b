"""Two people in Chromium, through the real web server: a visitor on the widget of a shop's
page asks for a person; an agent with the console open sees the conversation arrive
without a reload, takes it and replies; the visitor reads the reply live."""

import pytest
from playwright.sync_api import Browser, Page, expect

from chat.models import Conversation
from console.models import AgentProfile
from tests.browser.test_widget import page_server, snippet
from tests.conftest import free_port
from tests.factories import SiteFactory, UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def sign_in(page: Page, base: str, username: str, next_path: str) -> None:
    page.goto(f"{base}/accounts/login/?next={next_path}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("secret-pass-123")
    page.get_by_role("button", name="Sign in").click()


def test_a_visitor_on_the_widget_and_an_agent_in_the_console_talk_live(
    page: Page, browser: Browser, asgi_server: str
):
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    site = SiteFactory.create(name="Acme", allowed_origins=origin)
    server = page_server(
        port,
        f"<!doctype html><html lang='en'><body><h1>Acme</h1>"
        f"{snippet(asgi_server, site.public_key)}</body></html>",
    )
    agent = UserFactory.create(username="ana")
    AgentProfile.objects.create(user=agent, display_name="Ana").sites.add(site)
    agent_context = browser.new_context()
    console = agent_context.new_page()
    try:
        sign_in(console, asgi_server, "ana", "/console/")
        expect(console.get_by_role("heading", name="Inbox")).to_be_visible()
        expect(console.get_by_text("Nobody is waiting.")).to_be_visible()
        expect(console.get_by_text("Live.")).to_be_visible()  # its socket is open: online

        page.goto(f"{origin}/")
        page.get_by_role("button", name="Open chat").click()
        page.get_by_label("Message").fill("I want to talk to a human")
        page.get_by_role("button", name="Send").click()
        log = page.get_by_role("log")
        expect(log).to_contain_text("connecting you with a person", timeout=30_000)

        # The conversation arrives in the open inbox without a reload, assigned to the only
        # online agent, who opens it.
        conversation = Conversation.objects.get(site=site)
        mine = console.get_by_role("link", name="Mine")
        expect(mine).to_contain_text("1", timeout=20_000)
        mine.click()
        console.get_by_role("link", name="I want to talk to a human").click()
        expect(console.get_by_role("log", name="Conversation")).to_contain_text(
            "I want to talk to a human"
        )
        console.get_by_label("Reply").fill("Hi, I'm Ana. How can I help?")
        console.get_by_role("button", name="Send reply").click()

        expect(log).to_contain_text("Hi, I'm Ana. How can I help?", timeout=20_000)
        expect(log).not_to_contain_text("private")
        conversation.refresh_from_db()
        assert conversation.state == "assigned" and conversation.assignee == agent
    finally:
        agent_context.close()
        server.shutdown()
