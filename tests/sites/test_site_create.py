"""`site_create`: one JSON line of working credentials, for scripted set-up."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from sites.models import Site

pytestmark = pytest.mark.django_db


def site_create(*args: str) -> dict[str, str]:
    out = io.StringIO()
    call_command("site_create", *args, stdout=out)
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 1
    return json.loads(lines[0])


def test_creates_a_site_then_adds_origins_and_renews_only_the_secret_key(client):
    first = site_create("Acme Shop", "--origin", "https://shop.example.com")
    assert set(first) == {"slug", "public_key", "secret_key", "identity_secret"}
    assert first["slug"] == "acme-shop"
    site = Site.objects.get(slug="acme-shop")
    assert site.allow_anonymous and site.origin_list() == ["https://shop.example.com"]
    again = site_create("Acme Shop", "--origin", "https://www.example.com/")
    assert again["public_key"] == first["public_key"]
    assert again["identity_secret"] == first["identity_secret"]
    assert again["secret_key"] != first["secret_key"]
    site.refresh_from_db()
    assert site.origin_list() == ["https://shop.example.com", "https://www.example.com"]

    def open_with(key: str) -> int:
        return client.post(
            "/api/v1/conversations", {"site": "acme-shop"}, content_type="application/json",
            headers={"Authorization": f"Bearer {key}"},
        ).status_code  # fmt: skip

    assert open_with(first["secret_key"]) == 401  # the old key stopped working
    assert open_with(again["secret_key"]) == 201


def test_a_bad_origin_is_refused_clearly():
    with pytest.raises(CommandError, match="not an origin"):
        call_command("site_create", "Acme", "--origin", "shop.example.com/path")
    assert not Site.objects.exists()
