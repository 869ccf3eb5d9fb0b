"""Prometheus metrics. Generation timings are observed in the worker and kept in Redis so
that the web process can expose them; request counts are the web process's own."""

import logging
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, cast

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from redis.exceptions import RedisError

from webapp.redis import redis_key, redis_sync
from webapp.registry import metrics_providers

log = logging.getLogger(__name__)
HISTOGRAMS: dict[str, tuple[str, tuple[float, ...]]] = {
    "time_to_first_token_seconds": (
        "From the user's message to the first streamed token.",
        (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64),
    ),
    "inter_token_latency_seconds": (
        "Mean time between tokens of a generation.",
        (0.005, 0.01, 0.02, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1),
    ),
    "generation_tokens_per_second": (
        "Completion tokens per second of streaming, per generation.",
        (1, 2, 5, 10, 15, 20, 30, 50, 100, 200, 500),
    ),
}

registry = CollectorRegistry()
http_requests = Counter(
    "helpline_http_requests_total",
    "HTTP requests served.",
    ["method", "status"],
    registry=registry,
)


def histogram_observe(name: str, value: float) -> None:
    _, buckets = HISTOGRAMS[name]
    key = redis_key("metrics", name)
    pipe = redis_sync().pipeline()
    for bound in buckets:
        if value <= bound:
            pipe.hincrby(key, str(bound), 1)
    pipe.hincrby(key, "+Inf", 1)
    pipe.hincrbyfloat(key, "sum", value)
    pipe.execute()


def generation_observe(
    *,
    status: str,
    queued_at: datetime | None = None,
    first_token_at: datetime | None = None,
    completion_tokens: int = 0,
    streaming_seconds: float = 0.0,
) -> None:
    """Record a settled generation's timings (called by the worker). Metrics never fail an
    answer: while Redis is unreachable they are lost, and the log says so."""
    try:
        _generation_record(status, queued_at, first_token_at, completion_tokens, streaming_seconds)
    except RedisError as exc:
        log.warning("generation metrics not recorded: %s", exc)


def _generation_record(
    status: str,
    queued_at: datetime | None,
    first_token_at: datetime | None,
    completion_tokens: int,
    streaming_seconds: float,
) -> None:
    redis_sync().hincrby(redis_key("metrics", "generations"), status, 1)
    if queued_at and first_token_at:
        histogram_observe(
            "time_to_first_token_seconds", (first_token_at - queued_at).total_seconds()
        )
    if first_token_at and completion_tokens > 1:
        generating = max((timezone.now() - first_token_at).total_seconds(), 1e-6)
        histogram_observe("inter_token_latency_seconds", generating / (completion_tokens - 1))
        histogram_observe(
            "generation_tokens_per_second", completion_tokens / max(streaming_seconds, 1e-6)
        )
    if completion_tokens:
        redis_sync().hincrby(redis_key("metrics", "tokens"), "completion", completion_tokens)


class SharedCollector(Collector):
    def collect(self) -> Iterator[Any]:
        client = redis_sync()
        for name, (doc, buckets) in HISTOGRAMS.items():
            raw = cast(dict[str, str], client.hgetall(redis_key("metrics", name)))
            counts = [(str(b), float(raw.get(str(b), 0))) for b in buckets]
            counts.append(("+Inf", float(raw.get("+Inf", 0))))
            yield HistogramMetricFamily(
                f"helpline_{name}", doc, buckets=counts, sum_value=float(raw.get("sum", 0))
            )
        settled = CounterMetricFamily(
            "helpline_generations", "Generations settled, by final status.", labels=["status"]
        )
        statuses = cast(dict[str, str], client.hgetall(redis_key("metrics", "generations")))
        for status, count in statuses.items():
            settled.add_metric([status], float(count))
        yield settled
        tokens = cast(str | None, client.hget(redis_key("metrics", "tokens"), "completion")) or 0
        yield CounterMetricFamily(
            "helpline_completion_tokens", "Completion tokens generated.", value=float(tokens)
        )
        for provider in metrics_providers:  # the apps' own families
            yield from provider()


registry.register(SharedCollector())


def metrics_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse(generate_latest(registry), content_type="text/plain; version=0.0.4")


class RequestMetricsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        http_requests.labels(request.method, str(response.status_code)).inc()
        return response
