from django.apps import AppConfig


class TranslateConfig(AppConfig):
    name = "translate"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from chat.kinds import kind_register
        from translate.kinds import TranslationKind

        kind_register(TranslationKind())
