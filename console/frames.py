"""The visitor's handoff frames on the conversation socket (chat.events names them):
`handoff.request {}`, `csat {score, comment?}`, `contact {email}`. Each handler runs in
the database thread and returns the frame to answer with; a ValidationError becomes an
`error` frame and the socket stays open."""

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from chat.models import Conversation
from console import handoff


def handoff_request_frame(*, conversation: Conversation, event: dict[str, Any]) -> dict[str, Any]:
    conversation.refresh_from_db()
    handoff.handoff_request(conversation=conversation)
    conversation.refresh_from_db()
    return handoff.handoff_state_json(conversation)


def csat_frame(*, conversation: Conversation, event: dict[str, Any]) -> dict[str, Any]:
    score, comment = event.get("score"), event.get("comment") or ""
    if isinstance(score, bool) or not isinstance(score, int):
        raise ValidationError(_("The score is a whole number from 1 to 5."), code="invalid_score")
    if not isinstance(comment, str):
        raise ValidationError(_("'%(name)s' must be a string.") % {"name": "comment"},
                              code="invalid_field")  # fmt: skip
    handoff.csat_record(conversation=conversation, score=score, comment=comment)
    return {"type": "csat.recorded", "score": score}


def contact_frame(*, conversation: Conversation, event: dict[str, Any]) -> dict[str, Any]:
    email = event.get("email")
    if not isinstance(email, str):
        raise ValidationError(_("Enter a valid email address."), code="invalid_email")
    handoff.contact_record(conversation=conversation, email=email)
    return {"type": "contact.recorded", "email": conversation.contact_email}


FRAME_HANDLERS: dict[str, Callable[..., dict[str, Any] | None]] = {
    "handoff.request": handoff_request_frame,
    "csat": csat_frame,
    "contact": contact_frame,
}
