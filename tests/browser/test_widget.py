"""The widget on an enterprise page of another origin, in Chromium, with the real web
server and worker: one script tag, a launcher, a streamed answer, the history after a
reload, the page's hostile CSS kept out; a page of a foreign origin gets no conversation."""

import http.server
import threading
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from chat.models import Conversation
from tests.conftest import free_port
from tests.factories import SiteFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

HOSTILE = "* { font-size: 3px !important; } button { display: none !important; }"


def page_server(port: int, html: str) -> http.server.ThreadingHTTPServer:
    """An enterprise's own page, served from an origin of its own."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def snippet(asgi_server: str, public_key: str) -> str:
    return f'<script src="{asgi_server}/widget.js" data-site="{public_key}" async></script>'


@pytest.fixture
def shop(asgi_server: str) -> Iterator[tuple[str, str]]:
    """(the shop page's URL, the site's public key): a page with hostile CSS and the snippet."""
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    site = SiteFactory.create(name="Acme", allowed_origins=origin, greeting="Hello from Acme!")
    server = page_server(
        port,
        f"<!doctype html><html lang='en'><head><style>{HOSTILE}</style></head><body>"
        f"<h1>Acme shop</h1>{snippet(asgi_server, site.public_key)}</body></html>",
    )
    try:
        yield f"{origin}/", site.public_key
    finally:
        server.shutdown()


def test_the_widget_answers_on_another_origin_and_keeps_its_history(
    page: Page, shop: tuple[str, str], worker
):
    url, _ = shop
    page.goto(url)
    launcher = page.get_by_role("button", name="Open chat")
    expect(launcher).to_be_visible()  # the page hides every button: not this one
    launcher.click()
    expect(page.get_by_text("Hello from Acme!")).to_be_visible()
    box = page.get_by_label("Message")
    assert float(box.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")) >= 16
    box.fill("Hello, who are you?")
    page.get_by_role("button", name="Send").click()
    log = page.get_by_role("log")
    answer = log.locator(".msg.assistant .body")
    expect(answer).not_to_be_empty(timeout=60_000)
    expect(log.locator('.msg.assistant[data-status="done"]')).to_have_count(1, timeout=90_000)
    text = answer.inner_text()
    size = answer.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert size >= 14  # the page's 3px does not leak in
    conversation = Conversation.objects.get()
    assert conversation.site.public_key == shop[1]

    page.reload()
    page.get_by_role("button", name="Open chat").click()
    expect(page.get_by_role("log").locator(".msg.user .body")).to_have_text("Hello, who are you?")
    expect(page.get_by_role("log").locator(".msg.assistant .body")).to_have_text(text.strip())
    assert Conversation.objects.count() == 1  # the same conversation, not a new one


def test_a_page_of_a_foreign_origin_gets_no_conversation(page: Page, asgi_server: str):
    site = SiteFactory.create(allowed_origins="https://shop.example.com")
    port = free_port()
    server = page_server(
        port, f"<!doctype html><body><h1>Not the shop</h1>{snippet(asgi_server, site.public_key)}"
    )
    try:
        page.goto(f"http://127.0.0.1:{port}/")
        page.get_by_role("button", name="Open chat").click()
        # the browser refuses the cross-origin call (no CORS for this origin): nothing opens
        expect(page.get_by_role("status")).to_have_text(
            "Something went wrong. Please try again.", timeout=15_000
        )
        assert not Conversation.objects.exists()
    finally:
        server.shutdown()


def test_a_verified_visitor_finds_their_conversation_in_another_browser(
    page: Page, browser, asgi_server: str, worker
):
    from sites.access import identity_hash

    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    site = SiteFactory.create(allowed_origins=origin, allow_anonymous=False)
    user_hash = identity_hash(site, "customer-42")
    identify = (
        "<script>(function ready(){ if (!window.Helpline) return setTimeout(ready, 20);"
        f' Helpline.identify({{user_id: "customer-42", user_hash: "{user_hash}"}});'
        " window.identified = true; })();</script>"
    )
    server = page_server(
        port, f"<!doctype html><body>{snippet(asgi_server, site.public_key)}{identify}</body>"
    )
    other = browser.new_context()
    try:
        page.goto(f"{origin}/")
        page.wait_for_function("window.identified === true")
        page.get_by_role("button", name="Open chat").click()
        page.get_by_label("Message").fill("Where is my order 1234?")
        page.get_by_role("button", name="Send").click()
        expect(page.locator('.msg.assistant[data-status="done"]')).to_have_count(1, timeout=90_000)
        conversation = Conversation.objects.get()
        assert conversation.visitor_id == "customer-42"

        elsewhere = other.new_page()  # another device: nothing in its storage
        elsewhere.goto(f"{origin}/")
        elsewhere.wait_for_function("window.identified === true")
        elsewhere.get_by_role("button", name="Open chat").click()
        expect(elsewhere.get_by_role("log").locator(".msg.user .body")).to_have_text(
            "Where is my order 1234?", timeout=15_000
        )
        assert Conversation.objects.count() == 1
    finally:
        other.close()
        server.shutdown()
