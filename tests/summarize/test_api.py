"""The summaries API: credentials, input errors with nothing stored, and the job shape."""

import io
import json

import docx
import pytest
from django.test import Client

from chat.tokens import job_token_read
from summarize.models import Summary
from tests.factories import ConversationFactory, SiteFactory, UserFactory
from tests.summarize.conftest import LONG_TEXT

pytestmark = pytest.mark.django_db
URL = "/api/v1/summaries"


def post_json(client, body, **headers):
    return client.post(URL, data=json.dumps(body), content_type="application/json", **headers)


def bearer(site):
    return {"HTTP_AUTHORIZATION": f"Bearer {site.secret_key}"}


def test_without_a_credential_it_answers_401_json_not_a_login_page(client):
    response = post_json(client, {"text": "Some text."})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert client.get(f"{URL}/00000000-0000-0000-0000-000000000000").status_code == 401
    assert not Summary.objects.exists()


def test_a_site_key_starts_a_job_and_reads_it_back(client):
    site = SiteFactory.create()
    response = post_json(client, {"text": LONG_TEXT, "length": "bullets"}, **bearer(site))
    assert response.status_code == 202
    job = response.json()
    assert job["status"] == "queued" and job["ws_url"].startswith("/ws/jobs/")
    token = job["ws_url"].split("token=")[1]
    assert str(job_token_read(token)) == job["generation_id"]
    detail = client.get(f"{URL}/{job['id']}", **bearer(site)).json()
    assert (detail["id"], detail["status"], detail["summary"]) == (job["id"], "queued", "")
    assert detail["progress"] == {"done": 0, "total": 0}
    other = SiteFactory.create()
    assert client.get(f"{URL}/{job['id']}", **bearer(other)).status_code == 404


def test_a_staff_session_needs_the_csrf_token_and_a_key_does_not():
    staff = UserFactory.create(is_staff=True)
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    assert post_json(client, {"text": "Some text."}).status_code == 403
    client.get("/summarize/")  # sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    assert post_json(client, {"text": "Some text."}, HTTP_X_CSRFTOKEN=token).status_code == 202
    site = SiteFactory.create()
    assert (
        post_json(Client(enforce_csrf_checks=True), {"text": "x y"}, **bearer(site)).status_code
        == 202
    )


def test_a_visitor_session_is_not_staff(client):
    client.force_login(UserFactory.create())
    assert post_json(client, {"text": "Some text."}).status_code == 403


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"text": "   "}, "empty_text"),
        ({}, "invalid_field"),
        ({"text": 12}, "invalid_field"),
        ({"text": "ok", "length": "epic"}, "invalid_field"),
        ({"text": "ok", "language": "fr"}, "invalid_field"),
        ({"text": "ok", "kind": "poem"}, "invalid_field"),
    ],
)
def test_bad_input_gets_400_and_nothing_is_stored(client, body, code):
    response = post_json(client, body, **bearer(SiteFactory.create()))
    assert response.status_code == 400 and response.json()["error"]["code"] == code
    assert not Summary.objects.exists()


def test_not_json_gets_400(client):
    response = client.post(
        URL, data="{nope", content_type="application/json", **bearer(SiteFactory.create())
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_json"


def test_text_over_the_limit_gets_413(client, settings):
    settings.SUMMARY_MAX_BYTES = 1000
    response = post_json(client, {"text": "word " * 400}, **bearer(SiteFactory.create()))
    assert response.status_code == 413 and response.json()["error"]["code"] == "text_too_large"
    assert not Summary.objects.exists()


def test_a_body_over_the_request_limit_gets_the_json_413_not_djangos_page(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = post_json(client, {"text": "word " * 400}, **bearer(SiteFactory.create()))
    assert response.status_code == 413 and response.json()["error"]["code"] == "body_too_large"


def _file(name, data):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data)


def test_files_are_read_with_the_knowledge_readers(client):
    site = SiteFactory.create()
    document = docx.Document()
    document.add_heading("Returns", level=1)
    document.add_paragraph("Items can be returned within 30 days.")
    buffer = io.BytesIO()
    document.save(buffer)
    response = client.post(
        URL,
        data={"file": _file("policy.docx", buffer.getvalue()), "kind": "document"},
        **bearer(site),
    )
    assert response.status_code == 202, response.content
    summary = Summary.objects.get()
    assert "returned within 30 days" in summary.source_text and summary.title == "policy.docx"


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("broken.pdf", b"%PDF-1.4 not really"),
        ("broken.docx", b"PK\x03\x04 broken"),
        ("image.png", b"\x89PNG"),
    ],
)
def test_broken_and_unsupported_files_get_400_and_nothing_is_stored(client, name, data):
    response = client.post(URL, data={"file": _file(name, data)}, **bearer(SiteFactory.create()))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unreadable_file"
    assert not Summary.objects.exists()


def test_a_file_over_the_limit_gets_413(client, settings):
    settings.SUMMARY_MAX_BYTES = 100
    response = client.post(
        URL, data={"file": _file("a.txt", b"x " * 200)}, **bearer(SiteFactory.create())
    )
    assert response.status_code == 413 and not Summary.objects.exists()


def test_a_conversation_summary_is_a_job_of_the_same_shape(client):
    conversation = ConversationFactory.create()
    conversation.messages.create(role="user", text="Where is my parcel?")
    url = f"/api/v1/conversations/{conversation.id}/summary"
    assert client.post(url, **bearer(SiteFactory.create())).status_code == 404  # another site's
    response = client.post(url, **bearer(conversation.site))
    assert response.status_code == 202
    job = response.json()
    assert job["kind"] == "dialogue" and job["ws_url"].startswith("/ws/jobs/")
    empty = ConversationFactory.create(site=conversation.site)
    response = client.post(f"/api/v1/conversations/{empty.id}/summary", **bearer(conversation.site))
    assert response.status_code == 400


def test_cancel_stops_a_queued_summary(client):
    site = SiteFactory.create()
    job = post_json(client, {"text": "Some text to summarize."}, **bearer(site)).json()
    response = client.post(f"{URL}/{job['id']}/cancel", **bearer(site))
    assert response.status_code == 202 and response.json()["status"] == "cancelled"
