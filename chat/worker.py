"""Celery worker hooks: load the model at start, and announce the worker and model state."""

import contextlib
import json
import logging
import socket
import threading
import time
from typing import Any, cast

from celery.signals import worker_ready, worker_shutdown
from django.conf import settings
from django.db import connection

from chat.engine import engine_backend
from chat.services import generation_reap, generation_requeue
from inference.registry import backend_loaded
from webapp.redis import redis_key, redis_sync

log = logging.getLogger(__name__)
BEAT_SECONDS = 5
_stop = threading.Event()


def worker_key(hostname: str) -> str:
    return redis_key("worker", hostname)


def _state(model_error: str) -> dict[str, Any]:
    backend = backend_loaded(settings.INFERENCE_BACKEND)
    if backend is None:
        return {
            "backend": settings.INFERENCE_BACKEND,
            "model_ok": False,
            "model": "",
            "detail": model_error or "loading",
        }
    health = backend.health()
    return {
        "backend": settings.INFERENCE_BACKEND,
        "model_ok": health.ok,
        "model": health.model,
        "detail": health.detail,
    }


def _announce_once(hostname: str, holder: dict[str, str]) -> None:
    state = {**_state(holder.get("error", "")), "at": time.time()}
    try:
        redis_sync().set(worker_key(hostname), json.dumps(state), ex=BEAT_SECONDS * 3)
    except Exception as exc:
        log.warning("could not announce the worker: %s", exc)


def _announce(hostname: str, holder: dict[str, str]) -> None:
    """Every few seconds: say this worker is alive, settle generations of dead workers, and
    send again the tasks a broker lost."""
    while not _stop.is_set():
        _announce_once(hostname, holder)
        for chore in (generation_reap, generation_requeue):
            try:
                chore()
            except Exception as exc:  # Redis or the database away: try again next beat
                log.warning("%s failed: %s", chore.__name__, exc)
        connection.close()
        _stop.wait(BEAT_SECONDS)


@worker_ready.connect
def on_worker_ready(sender: Any = None, **_: Any) -> None:
    hostname = getattr(sender, "hostname", socket.gethostname())
    holder: dict[str, str] = {}
    threading.Thread(target=_announce, args=(hostname, holder), daemon=True).start()
    if settings.INFERENCE_PRELOAD:
        try:
            engine_backend()
            log.info("model loaded: %s", settings.INFERENCE_OPTIONS.get("model"))
        except Exception as exc:  # the worker still runs; healthz and each answer say why
            holder["error"] = type(exc).__name__
            log.exception("could not load the model")
        _announce_once(hostname, holder)


@worker_shutdown.connect
def on_worker_shutdown(sender: Any = None, **_: Any) -> None:
    _stop.set()
    hostname = getattr(sender, "hostname", socket.gethostname())
    with contextlib.suppress(Exception):  # Redis may be the reason for the shutdown
        redis_sync().delete(worker_key(hostname))


def workers_alive() -> list[dict[str, Any]]:
    client = redis_sync()
    keys = list(client.scan_iter(match=worker_key("*"), count=100))
    if not keys:
        return []
    return [json.loads(raw) for raw in cast(list[str | None], client.mget(keys)) if raw]
