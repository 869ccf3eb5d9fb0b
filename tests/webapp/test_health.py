"""/healthz names each part's state and never echoes an exception's text."""

import json

import pytest
import redis

from chat import worker
from webapp import health

pytestmark = pytest.mark.django_db


def test_an_unreachable_redis_is_reported_without_its_error_text(client, monkeypatch, caplog):
    dead = redis.Redis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=1)
    monkeypatch.setattr(health, "redis_sync", lambda: dead)
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["redis"] == {"ok": False, "state": "unreachable"}
    assert body["database"] == {"ok": True}
    assert body["model"]["state"] == "no_worker"
    text = json.dumps(body).lower()
    for leak in ("error", "refused", "127.0.0.1", "connect"):
        assert leak not in text
    assert "refused" in caplog.text.lower() or "connect" in caplog.text.lower()  # for staff


def test_a_worker_whose_model_failed_is_unavailable_without_detail(client, monkeypatch):
    failing = [{"model_ok": False, "model": "", "detail": "ConnectError: http://10.0.0.5:8001"}]
    monkeypatch.setattr(worker, "workers_alive", lambda: failing)
    body = client.get("/healthz").json()
    assert body["model"] == {"ok": False, "name": "", "state": "unavailable"}
    assert "10.0.0.5" not in json.dumps(body)


def test_every_error_text_has_its_chinese_translation():
    from django.utils import translation

    from webapp.errors import ERROR_TEXTS

    for code, text in ERROR_TEXTS.items():
        english = str(text)
        with translation.override("zh-hans"):
            chinese = str(text)
        assert chinese != english, f"{code} has no Chinese text (run compilemessages)"
