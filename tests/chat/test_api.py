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


def test_create_on_a_named_site(client):
    site = SiteFactory.create(slug="acme")
    body = create(client, b'{"site": "acme"}').json()
    assert site.conversations.filter(id=body["id"]).exists()
    assert create(client, b'{"site": "nope"}').status_code == 404


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"title": 5}'])
def test_create_refuses_a_bad_body_clearly(client, body):
    response = create(client, body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] in {"invalid_json", "invalid_field"}


def test_messages_need_the_conversations_own_token(client):
    body = create(client).json()
    url = f"/api/v1/conversations/{body['id']}/messages"
    ok = client.get(url, headers={"Authorization": f"Bearer {body['token']}"})
    assert ok.status_code == 200 and ok.json() == {"messages": []}
    assert client.get(url).status_code == 401
    forged = body["token"][:-4] + "abcd"
    assert client.get(url, headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    other = conversation_token_issue(ConversationFactory.create().id)
    assert client.get(url, headers={"Authorization": f"Bearer {other}"}).status_code == 404
