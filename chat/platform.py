"""What the chat tells /healthz and /metrics (webapp.registry): its workers, its model,
and the generations of every kind in flight."""

import logging
from collections.abc import Iterator
from typing import Any

from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily

log = logging.getLogger(__name__)


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


def health_parts(redis_ok: bool) -> dict[str, dict[str, object]]:
    from chat.worker import workers_alive

    workers: list[dict[str, Any]] = []
    if redis_ok:
        try:
            workers = workers_alive()
        except Exception as exc:
            log.warning("health: workers unreadable: %s", exc)
    return {
        "worker": {"ok": bool(workers), "count": len(workers)},
        "model": _model_state(workers),
    }


def metric_families() -> Iterator[Any]:
    from chat.models import Generation

    current = GaugeMetricFamily(
        "helpline_generations_current", "Generations now in each state.", labels=["status"]
    )
    by_status = dict(
        Generation.objects.filter(status__in=["queued", "streaming"])
        .values_list("status")
        .annotate(n=Count("id"))
    )
    for status in ("queued", "streaming"):
        current.add_metric([status], float(by_status.get(status, 0)))
    yield current
    yield GaugeMetricFamily(
        "helpline_queue_depth",
        "Generations waiting for the model.",
        value=float(by_status.get("queued", 0)),
    )
