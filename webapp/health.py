from django.db import connection
from django.http import HttpRequest, JsonResponse

from chat.worker import workers_alive
from webapp.redis import redis_sync


def _check_database() -> dict[str, object]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return {"ok": True}


def _check_redis() -> dict[str, object]:
    redis_sync().ping()
    return {"ok": True}


def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database, Redis, a worker and its model all answer; 503 otherwise."""
    report: dict[str, dict[str, object]] = {}
    for name, check in (("database", _check_database), ("redis", _check_redis)):
        try:
            report[name] = check()
        except Exception as exc:
            report[name] = {"ok": False, "detail": str(exc)}
    workers = workers_alive() if report["redis"]["ok"] else []
    report["worker"] = {"ok": bool(workers), "count": len(workers)}
    models_ok = [w for w in workers if w.get("model_ok")]
    report["model"] = {
        "ok": bool(models_ok),
        "name": (models_ok or workers or [{}])[0].get("model", ""),
        "detail": ""
        if models_ok
        else "; ".join(str(w.get("detail")) for w in workers) or "no worker",
    }
    ok = all(part["ok"] for part in report.values())
    return JsonResponse({"ok": ok, **report}, status=200 if ok else 503)
