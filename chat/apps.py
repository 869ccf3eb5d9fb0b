from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"

    def ready(self) -> None:
        from chat import worker  # noqa: F401  (connects the Celery worker signals)
