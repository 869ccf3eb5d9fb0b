import pytest

from chat.tokens import conversation_token_issue
from tests.factories import ConversationFactory, SiteFactory

pytestmark = pytest.mark.django_db


def create(client, body=b"{}"):
    return client.post("/api/v1/conversations", body, content_type="application/json")


def test_create_returns_id_token_and_socket_path(client):
    response = create(client, b'{"title": "Order 42"}')
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "token", "ws_url"}
    assert body["ws_url"] == f"/ws/conversations/{body['id']}/?token={body['token']}"


def test_a_named_site_needs_a_credential_and_a_wrong_one_is_refused(client):
    site = SiteFactory.create(slug="acme", allowed_origins="https://shop.example.com")
    anonymous = create(client, b'{"site": "acme"}')
    assert anonymous.status_code == 401 and not site.conversations.exists()
    # server to server: the secret key
    response = client.post(
        "/api/v1/conversations", b'{"site": "acme"}', content_type="application/json",
        headers={"Authorization": f"Bearer {site.secret_key}"},
    )  # fmt: skip
    assert response.status_code == 201
    assert site.conversations.filter(id=response.json()["id"]).exists()
    wrong = client.post(
        "/api/v1/conversations", b"{}", content_type="application/json",
        headers={"Authorization": "Bearer sk_wrong"},
    )  # fmt: skip
    assert wrong.status_code == 401
    # the widget: the public key, from an allowed origin only
    widget = {"public_key": site.public_key}
    ok = client.post(
        "/api/v1/conversations", widget, content_type="application/json",
        headers={"Origin": "https://shop.example.com"},
    )  # fmt: skip
    assert ok.status_code == 201
    foreign = client.post(
        "/api/v1/conversations", widget, content_type="application/json",
        headers={"Origin": "https://evil.example.net"},
    )  # fmt: skip
    assert foreign.status_code == 403 and foreign.json()["error"]["code"] == "origin_not_allowed"
    forged = client.post(
        "/api/v1/conversations", {"public_key": "pk_forged"}, content_type="application/json",
        headers={"Origin": "https://shop.example.com"},
    )  # fmt: skip
    assert forged.status_code == 403
    assert site.conversations.count() == 2


def test_the_default_site_takes_anonymous_visitors_only_while_it_allows_them(client):
    from sites.services import site_default_ensure

    assert create(client, b'{"site": "default"}').status_code == 201
    site = site_default_ensure()
    site.allow_anonymous = False
    site.save()
    refused = create(client)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "identity_required"


def test_a_verified_visitor_is_kept_and_a_wrong_hash_is_refused(client):
    from sites.access import identity_hash

    site = SiteFactory.create(allowed_origins="https://shop.example.com", allow_anonymous=False)
    headers = {"Origin": "https://shop.example.com"}

    def open_as(user_id, user_hash):
        body = {"public_key": site.public_key, "user_id": user_id, "user_hash": user_hash}
        return client.post(
            "/api/v1/conversations", body, content_type="application/json", headers=headers
        )

    good = open_as("customer-42", identity_hash(site, "customer-42"))
    assert good.status_code == 201
    assert site.conversations.get(id=good.json()["id"]).visitor_id == "customer-42"
    wrong = open_as("customer-42", identity_hash(site, "customer-43"))
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "identity_invalid"
    unverified = client.post(
        "/api/v1/conversations", {"public_key": site.public_key},
        content_type="application/json", headers=headers,
    )  # fmt: skip
    assert unverified.status_code == 401  # this site needs a verified visitor
    assert site.conversations.count() == 1


def test_a_cross_site_post_with_a_staff_cookie_owns_nothing(client):
    from django.test import Client

    from tests.factories import UserFactory

    staff = UserFactory.create(is_staff=True)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(staff)
    response = browser.post(
        "/api/v1/conversations", b"{}", content_type="application/json",
        headers={"Origin": "https://evil.example.net"},
    )  # fmt: skip
    assert response.status_code == 201  # the default site takes anonymous visitors...
    from chat.models import Conversation

    assert Conversation.objects.get(id=response.json()["id"]).owner is None  # ...as nobody's
    named = browser.post(
        "/api/v1/conversations", {"site": SiteFactory.create().slug},
        content_type="application/json", headers={"Origin": "https://evil.example.net"},
    )  # fmt: skip
    assert named.status_code == 401


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"title": 5}'])
def test_create_refuses_a_bad_body_clearly(client, body):
    response = create(client, body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] in {"invalid_json", "invalid_field"}


def test_messages_need_the_conversations_own_token(client):
    body = create(client).json()
    url = f"/api/v1/conversations/{body['id']}/messages"
    ok = client.get(url, headers={"Authorization": f"Bearer {body['token']}"})
    assert ok.status_code == 200
    assert ok.json() == {"messages": [], "handoff": {"state": "bot"}}
    assert client.get(url).status_code == 401
    forged = body["token"][:-4] + "abcd"
    assert client.get(url, headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    other = conversation_token_issue(ConversationFactory.create().id)
    assert client.get(url, headers={"Authorization": f"Bearer {other}"}).status_code == 404


def test_a_widget_origin_gets_cors_and_a_foreign_one_does_not(client):
    SiteFactory.create(allowed_origins="https://shop.example.com")
    preflight = client.options(
        "/api/v1/conversations",
        headers={"Origin": "https://shop.example.com", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 204
    assert preflight["Access-Control-Allow-Origin"] == "https://shop.example.com"
    foreign = client.options(
        "/api/v1/conversations",
        headers={"Origin": "https://evil.example.net", "Access-Control-Request-Method": "POST"},
    )
    assert foreign.status_code == 403 and "Access-Control-Allow-Origin" not in foreign


def test_a_finished_answer_comes_rendered_and_sanitized(client):
    from chat.models import Message

    body = create(client).json()
    Message.objects.create(
        conversation_id=body["id"], role="assistant", status="done",
        text='<p>Refunds take <b>5 days</b>.<script>alert(1)</script>'
        '<a href="javascript:x">x</a></p>',
    )  # fmt: skip
    url = f"/api/v1/conversations/{body['id']}/messages"
    [answer] = client.get(url, headers={"Authorization": f"Bearer {body['token']}"}).json()[
        "messages"
    ]
    assert "<b>5 days</b>" in answer["html"]
    assert "<script" not in answer["html"] and "javascript:" not in answer["html"]
