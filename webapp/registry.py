"""What the apps tell the platform about themselves, so that webapp imports no app:
parts of /healthz and families of /metrics, registered in each app's AppConfig.ready."""

from collections.abc import Callable, Iterable
from typing import Any

# A provider returns {part name: {"ok": bool, ...}}; it must not raise for a part it
# cannot reach, but report it as not ok.
HealthProvider = Callable[[bool], dict[str, dict[str, object]]]  # arg: Redis answered
MetricsProvider = Callable[[], Iterable[Any]]  # prometheus metric families

health_providers: list[HealthProvider] = []
metrics_providers: list[MetricsProvider] = []


def health_register(provider: HealthProvider) -> None:
    if provider not in health_providers:
        health_providers.append(provider)


def metrics_register(provider: MetricsProvider) -> None:
    if provider not in metrics_providers:
        metrics_providers.append(provider)
