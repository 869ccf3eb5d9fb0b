"""What the widget reads from the server: its script, the site's public look, and a
verified visitor's conversation on another device."""

import pytest

from sites.access import identity_hash
from tests.factories import SiteFactory

pytestmark = pytest.mark.django_db
SHOP = "https://shop.example.com"


def test_the_script_and_the_public_config_reveal_nothing_secret(client):
    script = client.get("/widget.js")
    assert script.status_code == 200 and script["Content-Type"].startswith("text/javascript")
    assert b"customElements.define" in b"".join(script.streaming_content)
    site = SiteFactory.create(allowed_origins=SHOP, greeting="Hi!", language="zh")
    config = client.get(f"/api/v1/widget/{site.public_key}", headers={"Origin": SHOP})
    assert config.status_code == 200 and config["Access-Control-Allow-Origin"] == SHOP
    body = config.json()
    assert body["greeting"] == "Hi!" and body["language"] == "zh"
    assert site.secret_key not in str(body) and site.identity_secret not in str(body)
    assert client.get("/api/v1/widget/pk_nobody").status_code == 404


def test_a_verified_visitor_finds_their_conversation_on_another_device(client):
    site = SiteFactory.create(allowed_origins=SHOP)
    visitor = {
        "public_key": site.public_key, "user_id": "customer-7",
        "user_hash": identity_hash(site, "customer-7"), "resume": True,
    }  # fmt: skip

    def open_conversation(body):
        return client.post(
            "/api/v1/conversations", body, content_type="application/json",
            headers={"Origin": SHOP},
        )  # fmt: skip

    first = open_conversation(visitor)
    assert first.status_code == 201
    again = open_conversation(visitor)  # another browser, the same verified visitor
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert again.json()["token"]
    other = {**visitor, "user_id": "customer-8", "user_hash": identity_hash(site, "customer-8")}
    assert open_conversation(other).json()["id"] != first.json()["id"]
    anonymous = open_conversation({"public_key": site.public_key, "resume": True})
    assert anonymous.status_code == 201 and anonymous.json()["id"] != first.json()["id"]


def test_the_site_admin_shows_the_snippet_and_a_live_preview(client):
    from tests.factories import UserFactory

    client.force_login(UserFactory.create(is_staff=True, is_superuser=True))
    site = SiteFactory.create()
    page = client.get(f"/admin/tenants/site/{site.id}/change/").content.decode()
    assert f'data-site="{site.public_key}"' in page  # the preview runs the widget itself
    assert "http://testserver/widget.js" in page and "&lt;script" in page  # the snippet
