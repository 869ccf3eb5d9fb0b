from django.apps import AppConfig


class TranslateConfig(AppConfig):
    name = "translate"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from chat.kinds import kind_register
        from translate.kinds import MessageBackfillKind, MessageTranslationKind, TranslationKind

        kind_register(TranslationKind())
        kind_register(MessageTranslationKind())
        kind_register(MessageBackfillKind())

        from chat import services
        from translate import live

        services.visitor_message_hooks.append(live.visitor_message_seen)
        services.staff_open_hooks.append(live.staff_watch)
        services.agent_message_writers.append(live.agent_message_translated)
