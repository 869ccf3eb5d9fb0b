from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"

    def ready(self) -> None:
        from chat import kinds, platform, worker  # noqa: F401  (worker: the Celery signals)
        from webapp.registry import health_register, metrics_register

        health_register(platform.health_parts)
        metrics_register(platform.metric_families)
