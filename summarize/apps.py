from django.apps import AppConfig


class SummarizeConfig(AppConfig):
    name = "summarize"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from chat.kinds import kind_register
        from summarize.kinds import SummaryKind

        kind_register(SummaryKind())
