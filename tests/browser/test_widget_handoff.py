"""What a visitor sees of the handoff to a person, in the widget on a shop's page (Chromium,
the real web server and worker): the "Talk to a person" offer under an answer the assistant
could not give, the place in the queue, the agent joining and replying live, the survey
after resolution stored with the conversation; with nobody online, the email form."""

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from chat.models import Conversation
from console.handoff import conversation_resolve
from console.models import AgentProfile
from knowledge.services import faq_create, faq_embed
from tests.browser.test_widget import page_server, snippet
from tests.conftest import free_port
from tests.factories import SiteFactory, UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


@pytest.fixture
def shop(asgi_server: str) -> Iterator[tuple[str, Any]]:
    """(the shop page's URL, its site): a site that answers from its FAQ only, agents taking
    waiting visitors from the inbox (no automatic assignment)."""
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    site = SiteFactory.create(name="Acme", allowed_origins=origin, auto_assign=False)
    faq = faq_create(
        site=site,
        question="How long does shipping take?",
        answer="Standard shipping takes 3-5 business days.",
    )
    faq_embed([faq.id])
    server = page_server(
        port, f"<!doctype html><body><h1>Acme shop</h1>{snippet(asgi_server, site.public_key)}"
    )
    try:
        yield f"{origin}/", site
    finally:
        server.shutdown()


def agent_online(site: Any, name: str) -> Any:
    user = UserFactory.create(username=name.split()[0].lower())
    profile = AgentProfile.objects.create(user=user, display_name=name, seen_at=timezone.now())
    profile.sites.add(site)
    return user


def server_side(fn: Callable[..., Any], **kwargs: Any) -> Any:
    """Call a server function as the console would, in a thread of its own: Playwright's
    sync API runs an event loop in this one, beside which the function's socket notices
    (async_to_sync) refuse to run."""

    def call() -> Any:
        try:
            return fn(**kwargs)
        finally:
            connection.close()  # the thread's own; the test database is dropped at the end

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call).result(timeout=60)


def ask_what_it_cannot_answer(page: Page, url: str, question: str, send: str) -> None:
    page.goto(url)
    page.locator("helpline-chat .launcher").click()
    page.locator("helpline-chat form.composer textarea").fill(question)
    page.get_by_role("button", name=send, exact=True).click()


def test_a_visitor_asks_for_a_person_is_answered_live_and_rates_it(
    page: Page, shop: tuple[str, Any], worker, tmp_path: Path
):
    from chat.services import agent_message_post

    url, site = shop
    agent = agent_online(site, "Mei Lin")
    ask_what_it_cannot_answer(page, url, "What is the best recipe for chocolate cake?", "Send")
    log = page.get_by_role("log")
    talk = log.get_by_role("button", name="Talk to a person", exact=True)
    expect(talk).to_be_visible(timeout=30_000)  # under the no-answer reply
    page.screenshot(path=tmp_path / "widget-1-no-answer.png")
    talk.click()

    expect(page.locator("helpline-chat .handoff-status")).to_have_text(
        "Connecting you to a person… You are number 1 in the queue.", timeout=15_000
    )
    expect(talk).to_be_hidden()
    survey = page.get_by_role("group", name="How did we do?")
    expect(survey).to_be_hidden()  # not yet
    expect(page.get_by_label("Your email")).to_be_hidden()  # an agent is online
    page.screenshot(path=tmp_path / "widget-2-waiting.png")
    conversation = Conversation.objects.get()
    assert conversation.state == Conversation.State.WAITING

    page.locator("helpline-chat form.composer textarea").fill("It's about my order 1234.")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(log.locator(".msg.user")).to_have_count(2)
    expect(page.get_by_role("button", name="Stop")).to_be_hidden()  # no answer is awaited

    server_side(
        agent_message_post,
        conversation=conversation,
        author=agent,
        text="Hi, I'm Mei. Let me look.",
    )
    expect(log.locator("li.system")).to_have_text("Mei Lin joined the conversation.")
    expect(log.locator(".msg.agent .body")).to_have_text("Hi, I'm Mei. Let me look.")
    expect(log.locator(".msg.agent .who")).to_have_text("Mei Lin")  # the name, not the login
    expect(page.locator("helpline-chat .handoff-status")).to_have_text(
        "Mei Lin joined the conversation."
    )
    page.screenshot(path=tmp_path / "widget-3-assigned.png")

    conversation.refresh_from_db()
    server_side(conversation_resolve, conversation=conversation, by=agent)
    expect(survey).to_be_visible(timeout=15_000)
    send = page.get_by_role("button", name="Send feedback")
    expect(send).to_be_disabled()  # a score first
    survey.get_by_role("button", name="4 of 5").click()
    page.get_by_label("Add a comment (optional)").fill("Quick and kind.")
    page.screenshot(path=tmp_path / "widget-4-survey.png")
    send.click()
    expect(page.locator("helpline-chat .handoff-status")).to_have_text(
        "Thanks for your feedback.", timeout=15_000
    )
    conversation.refresh_from_db()
    assert (conversation.csat_score, conversation.csat_comment) == (4, "Quick and kind.")

    page.reload()  # the state comes back with the history
    page.locator("helpline-chat .launcher").click()
    expect(page.locator("helpline-chat .handoff-status")).to_have_text("Thanks for your feedback.")


def test_with_nobody_online_a_visitor_in_chinese_leaves_an_email(
    browser: Browser, shop: tuple[str, Any], worker, tmp_path: Path
):
    url, site = shop
    away = agent_online(site, "Wang Fang")
    AgentProfile.objects.filter(user=away).update(seen_at=timezone.now() - timedelta(hours=1))
    context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 720})
    try:
        page = context.new_page()
        ask_what_it_cannot_answer(page, url, "火星上的天气怎么样？", "发送")
        talk = page.get_by_role("log").get_by_role("button", name="转人工", exact=True)
        expect(talk).to_be_visible(timeout=30_000)
        talk.click()
        status = page.locator("helpline-chat .handoff-status")
        expect(status).to_have_text(
            "目前没有客服在线。请留下您的邮箱，我们会尽快回复您。", timeout=15_000
        )
        page.screenshot(path=tmp_path / "widget-5-offline-zh-mobile.png")
        page.get_by_label("您的邮箱").fill("li.lei@example.com")
        page.get_by_role("button", name="发送邮箱").click()
        expect(status).to_have_text("谢谢！我们会尽快回复到 li.lei@example.com。")
        conversation = Conversation.objects.get()
        assert conversation.contact_email == "li.lei@example.com"
        assert conversation.state == Conversation.State.WAITING  # it waits in the inbox
    finally:
        context.close()
