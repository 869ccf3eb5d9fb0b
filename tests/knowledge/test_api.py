import pytest

from tests.factories import SiteFactory, UserFactory
from tests.knowledge import faq_add

pytestmark = pytest.mark.django_db

URL = "/api/v1/knowledge/search"


@pytest.fixture
def shop():
    site = SiteFactory.create(slug="shop")
    faq_add(site, "How do I reset my password?", "Use the sign-in page.", "I forgot my password")
    return site


def bearer(site):
    return {"Authorization": f"Bearer {site.secret_key}"}


def test_a_site_key_searches_its_own_site(client, shop):
    response = client.get(URL, {"q": "forgot password", "k": "3"}, headers=bearer(shop))
    assert response.status_code == 200
    body = response.json()
    assert body["results"][0]["question"] == "How do I reset my password?"
    assert body["route"] in {"fast_path", "grounded", "no_answer"} and body["passages"] == []


def test_staff_session_searches_the_named_site(client, shop):
    client.force_login(UserFactory.create(is_staff=True))
    body = client.get(URL, {"q": "forgot password", "site": "shop"}).json()
    assert body["results"][0]["question"] == "How do I reset my password?"
    assert client.get(URL, {"q": "x", "site": "nope"}).status_code == 404
    assert client.get(URL, {"q": "forgot password"}).json()["results"] == []  # default site


def test_without_credentials_or_with_a_wrong_key_401(client, shop):
    assert client.get(URL, {"q": "password"}).status_code == 401
    wrong = {"Authorization": "Bearer sk_not-a-key"}
    response = client.get(URL, {"q": "password"}, headers=wrong)
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"


def test_a_non_staff_session_is_refused(client, shop):
    client.force_login(UserFactory.create())
    assert client.get(URL, {"q": "password", "site": "shop"}).status_code == 403


def test_another_sites_key_cannot_read_this_site(client, shop):
    other = SiteFactory.create()
    response = client.get(URL, {"q": "forgot password", "site": "shop"}, headers=bearer(other))
    assert response.status_code == 403
    own = client.get(URL, {"q": "forgot password"}, headers=bearer(other)).json()
    assert own["results"] == []


@pytest.mark.parametrize(
    "params", [{}, {"q": "  "}, {"q": "x" * 1001}, {"q": "a", "k": "0"}, {"q": "a", "k": "51"},
               {"q": "a", "k": "two"}, {"q": "a", "k": "-1"}],
)  # fmt: skip
def test_bad_parameters_400(client, shop, params):
    response = client.get(URL, params, headers=bearer(shop))
    assert response.status_code == 400
    assert response.json()["error"]["code"] in {"invalid_query", "invalid_k"}


def test_only_get(client, shop):
    assert client.post(URL, {"q": "x"}, headers=bearer(shop)).status_code == 405
