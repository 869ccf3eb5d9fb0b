import logging

from django.db import connection
from django.http import HttpRequest, JsonResponse

from chat.worker import workers_alive
from webapp.redis import redis_sync

log = logging.getLogger(__name__)


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_redis() -> None:
    redis_sync().ping()


def _model_state(workers: list[dict[str, object]]) -> dict[str, object]:
    ready = [w for w in workers if w.get("model_ok")]
    if ready:
        return {"ok": True, "name": ready[0].get("model", ""), "state": "ready"}
    if not workers:
        return {"ok": False, "name": "", "state": "no_worker"}
    loading = any(w.get("detail") == "loading" for w in workers)
    return {
        "ok": False,
        "name": workers[0].get("model", ""),
        "state": "loading" if loading else "unavailable",
    }


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
    workers = workers_alive() if report["redis"]["ok"] else []
    report["worker"] = {"ok": bool(workers), "count": len(workers)}
    report["model"] = _model_state(workers)
    ok = all(part["ok"] for part in report.values())
    return JsonResponse({"ok": ok, **report}, status=200 if ok else 503)
