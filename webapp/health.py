import logging

from django.db import connection
from django.http import HttpRequest, JsonResponse

from webapp.redis import redis_sync
from webapp.registry import health_providers

log = logging.getLogger(__name__)


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_redis() -> None:
    redis_sync().ping()


def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database, Redis, a worker and its model all answer; 503 otherwise.

    Anyone may call it, so it names states only: why a part failed goes to the log."""
    report: dict[str, dict[str, object]] = {}
    for name, check in (("database", _check_database), ("redis", _check_redis)):
        try:
            check()
            report[name] = {"ok": True}
        except Exception as exc:
            log.warning("health: %s unreachable: %s", name, exc)
            report[name] = {"ok": False, "state": "unreachable"}
    for provider in health_providers:  # the apps' parts: the chat's workers and model
        report.update(provider(bool(report["redis"]["ok"])))
    ok = all(part["ok"] for part in report.values())
    return JsonResponse({"ok": ok, **report}, status=200 if ok else 503)
