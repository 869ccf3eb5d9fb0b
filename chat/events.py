"""The socket's event vocabulary: what a client may send, and the frames we answer with."""

from typing import Any, Literal, TypedDict

from django.utils.translation import gettext as _

from chat.models import Message
from chat.selectors import person_name


class ErrorFrame(TypedDict, total=False):
    type: Literal["error"]
    code: str
    detail: str
    retry_after: int


class FrameError(Exception):
    """A client frame we cannot act on; the socket stays open."""

    def __init__(self, code: str, detail: str, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.retry_after = retry_after  # seconds, for rate_limited

    def frame(self) -> ErrorFrame:
        frame: ErrorFrame = {"type": "error", "code": self.code, "detail": self.detail}
        if self.retry_after is not None:
            frame["retry_after"] = self.retry_after
        return frame


CLIENT_EVENTS = (
    "user.message",
    "agent.message",
    "cancel",
    "resume",
    "typing",
    "ping",
    # the handoff (console.frames): ask for a person, the survey, an email to reply to
    "handoff.request",
    "csat",
    "contact",
)
# Server -> client, from the handoff (console.handoff): `handoff.state {state, position?,
# agent?, agents_online, business_open}`, `agent.joined {agent}`, `agent.typing {agent}`
# (to visitors), `visitor.typing` (to staff), `csat.recorded`, `contact.recorded`.


def field_str(event: dict[str, Any], name: str, *, required: bool = True, max_len: int = 0) -> str:
    value = event.get(name)
    if value is None:
        if required:
            raise FrameError(
                "missing_field",
                _("'%(name)s' is required for '%(type)s'.") % {"name": name, "type": event["type"]},
            )
        return ""
    if not isinstance(value, str):
        raise FrameError("invalid_field", _("'%(name)s' must be a string.") % {"name": name})
    if max_len and len(value) > max_len:
        raise FrameError(
            "invalid_field",
            _("'%(name)s' is longer than %(limit)d characters.") % {"name": name, "limit": max_len},
        )
    return value


def field_int(event: dict[str, Any], name: str, *, default: int | None = None) -> int:
    value = event.get(name, default)
    if value is None:
        raise FrameError(
            "missing_field",
            _("'%(name)s' is required for '%(type)s'.") % {"name": name, "type": event["type"]},
        )
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FrameError(
            "invalid_field", _("'%(name)s' must be a whole number >= 0.") % {"name": name}
        )
    return value


def message_created(message: Message, client_id: str = "") -> dict[str, Any]:
    generation = getattr(message, "generation", None) if message.role == "assistant" else None
    return {
        "type": "message.created",
        "message": {
            "id": message.id,
            "role": message.role,
            "text": message.text,
            "status": message.status,
            "created_at": message.created_at.isoformat(),
            "client_id": client_id or message.client_id,
            "generation_id": str(generation.id) if generation else None,
            "route": message.route,
            "sources": message.sources,
            "language": message.language,
            "author": person_name(message.author) if message.author_id else "",
            # A finished answer rendered and sanitized (nh3) as the chat page shows it: an
            # approved FAQ answer is often HTML, which a client must not render itself.
            "html": _rendered(message),
        },
    }


def _rendered(message: Message) -> str:
    if message.role != "assistant" or message.status != "done" or not message.text:
        return ""
    from chat.markdown import markdown_render

    return markdown_render(message.text)
