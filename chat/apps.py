from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"

    def ready(self) -> None:
        from chat import engine, kinds, platform, worker  # noqa: F401  (worker: Celery signals)
        from webapp.registry import health_register, metrics_register

        health_register(platform.health_parts)
        health_register(engine.engines_health)
        metrics_register(platform.metric_families)
