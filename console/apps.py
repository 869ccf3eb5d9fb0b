from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "console"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from chat import services
        from chat.kinds import kind_register
        from console import frames, handoff
        from console.kinds import ReplySuggestionKind

        kind_register(ReplySuggestionKind())
        services.answer_deciders.append(handoff.handoff_decide)
        services.answer_settled_hooks.append(handoff.answer_settled)
        services.agent_message_hooks.append(handoff.agent_replied)
        services.visitor_message_hooks.append(handoff.console_message_seen)
        services.frame_handlers.update(frames.FRAME_HANDLERS)
        services.socket_open_frames.append(handoff.socket_open_frame)
